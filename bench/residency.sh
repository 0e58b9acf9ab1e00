#!/usr/bin/env bash
# The residency canary test on the whole e-commerce estate (three Galera
# regions of three nodes, routers, relays, an EU failover), then the time
# to erase one user, next to a plain delete of the same rows on the primary
# in the same run. Writes docs/BENCHMARKS.md. Run it alone:
#   flock /tmp/meridian-bench.lock bench/residency.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
out=$(go test -count=1 -timeout 60m -run 'TestResidencyEcommerce$' -v ./internal/census/ -args -ecommerce -erasures "${ERASURES:-5}" 2>&1) || {
  echo "$out" > "${BENCH_LOG:-/tmp/meridian-residency-bench.log}"; echo "$out" | grep -v "INFO applied" | tail -50
  exit 1
}
echo "$out" | grep -E '^(SANDBOX|CANARY|FAILOVER|ERASE|PURGE):'
line() { echo "$out" | sed -n "s/^ERASE: $1: \(.*\)$/\1/p" | head -1; }
purge() { echo "$out" | sed -n 's/^ERASE: --purge-logs \(.*\)$/\1/p' | head -1; }
table="<!-- residency:begin -->
Measured by \`bench/residency.sh\` ($(date -u +%Y-%m-%d), $(nproc) cores, under the machine's load at the time):
the e-commerce sandbox (nine Galera nodes, three regions, relays in front of every node,
replication uncompressed so that the WAN links' byte scan sees the streams), canary users of
FR, DE, US, CA, SG and JP created through their region's router: $(echo "$out" | grep -c '^CANARY:') canary checks passed
(no canary on any link, none in another region's files), before and after an EU failover
($(echo "$out" | sed -n 's/^FAILOVER: \(.*\)$/\1/p' | head -1)). Then one EU user erased at a time;
the baseline, in the same run, deletes the same rows by hand on the primary in one transaction.

| erasing one user (region eu, 9 nodes) | time |
|---|---|
| baseline: DELETE of the user's rows on the primary | $(line "plain delete on the primary, median of [0-9]*") |
| \`meridian erase\` (one transaction, awaited and counted on all 9 nodes) | $(line "meridian erase, median of [0-9]*") |
| \`meridian erase\` + search of every node's files for the user's values | $(line "meridian erase with the file search, median of [0-9]*") |
| \`meridian erase --purge-logs\` (binary and relay logs purged, InnoDB scrubbed, redo rewritten, Galera cache overwritten) | $(purge) |
<!-- residency:end -->"
publish_block residency "## Data residency: erasure time" "$table"
