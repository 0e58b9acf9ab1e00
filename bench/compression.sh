#!/usr/bin/env bash
# Measures the compressed protocol on the router's own connections across
# the WAN: a router in us reads from the primary eu-1 across the sandbox's
# eu-us link (80 ms, then 250 ms), once over a plain connection and once
# compressed (links[].compress), counting the bytes that cross the link and
# timing each read transaction (BEGIN, 100 rows of ~500 bytes, COMMIT).
# Writes the table into docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
work=$(mktemp -d /tmp/meridian-compress-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
go build -o "$work/routerbench" ./bench/routerbench
rows=$("$work/routerbench" compress -dir "$work/sandbox" -rtts 80ms,250ms -n "${N:-40}")
table="<!-- compression:begin -->
Measured $(date -u +%Y-%m-%d) on $(nproc) cores with \`bench/compression.sh\`: a router in us runs read transactions (\`BEGIN\`, 100 rows of about 500 bytes of text, \`COMMIT\`) against the primary eu-1 across the sandbox's eu–us link, plain and then with the compressed protocol on its backend connection, in the same run. Bytes are both directions across the link per transaction; latency is the median transaction.

| link RTT | router's connection to eu-1 | bytes across the link per transaction | median transaction |
|---|---|---|---|
$rows
<!-- compression:end -->"
publish_block compression "## Compressed protocol across the WAN" "$table"
echo "$table"
