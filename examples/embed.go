// Package examples ships the example topologies inside the binary, so
// `meridian sandbox up` works from any directory.
package examples

import "embed"

// Files holds every example topology, by file name.
//
//go:embed *.yaml
var Files embed.FS

// Default is the topology `meridian sandbox up` runs without -f: the seed's
// e-commerce case study.
const Default = "ecommerce.yaml"
