// Package deploy holds what watches a Meridian estate from outside: the
// Prometheus alert rules (prometheus/alerts.yaml, unit-tested by
// prometheus/alerts_test.yaml) and the Grafana dashboard
// (grafana/meridian.json), both built on the metrics the controller serves
// at /metrics. It has no Go code; its tests check the files with promtool
// and keep the dashboard well-formed.
package deploy
