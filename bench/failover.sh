#!/usr/bin/env bash
# Measures failover and switchover on the active-passive sandbox through the
# controller's own chaos tests (real mariadbd, routers, an 80 ms link):
# RTO after the whole primary region is killed, with Meridian's default
# confirmation (3 one-second intervals) and, as the baseline in the same
# run, the seed's naive "check, sleep 30 s, check again" (30 intervals);
# and the write pause of a switchover each way under a write load.
# Writes docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
log=$(mktemp /tmp/meridian-failover-XXXXXX.log)
trap 'rm -f "$log"' EXIT

run() { go test -count=1 -run "$1" -v ./internal/controller/ "${@:2}" 2>&1 | grep -E 'RTO|failover to|switchover .*→|writes acknowledged' | sed 's/^ *chaos_test.go:[0-9]*: //'; }
meridian=$(run 'TestChaosRegionLoss$')
naive=$(run 'TestChaosRegionLoss$' -args -confirmations=30)
switch=$(run 'TestChaosSwitchover$')
txs=$(go test -count=1 -run 'TestChaosTransactions$' -v ./internal/controller/ -args -transactions 2>&1 |
  grep -E 'chaos_transactions_test.go' | sed 's/^ *chaos_transactions_test.go:[0-9]*: //')
echo "$meridian" "$naive" "$switch" "$txs" >"$log"

rto() { echo "$1" | sed -n 's/^RTO.*: \([0-9.]*m\?s\)$/\1/p' | head -1; }
acked() { echo "$1" | sed -n 's/.* \([0-9]*\) writes acknowledged, \([0-9]*\) of them missing.*/\1 acknowledged, \2 missing/p' | head -1; }
pause() { echo "$switch" | sed -n "s/^switchover $1 → $2: write pause \([0-9.]*m\?s\).*longest gap between acknowledged writes \([0-9.]*m\?s\), took \([0-9.]*m\?s\)/| $1 → $2 | \1 | \2 | \3 |/p"; }

table="<!-- failover:begin -->
Measured by \`bench/failover.sh\` ($(date -u +%Y-%m-%d), $(nproc) cores): the controller's chaos
tests on the active-passive sandbox, a writer committing numbered rows through the DR
region's router (\`us-rw\`). RTO is from \`meridian sandbox kill eu\` (the whole primary
region) to the first write acknowledged in us.

| region loss | confirmation | RTO | writes (missing on the new primary) |
|---|---|---|---|
| Meridian (default) | 3 failed 1 s intervals, witnesses in parallel | $(rto "$meridian") | $(acked "$meridian") |
| baseline: the seed's script | 30 failed 1 s intervals (check, sleep 30 s, check) | $(rto "$naive") | $(acked "$naive") |

Switchover under the same write load, across the 80 ms link (routers hold writes, so
clients see a pause, not errors; none of the acknowledged writes is lost):

| switchover | write pause (lease revoked → new lease) | longest gap between acknowledgements | whole switchover |
|---|---|---|---|
$(pause eu-1 us-1)
$(pause us-1 eu-1)

Transactions through a switchover and then a region failover (\`TestChaosTransactions\`, \`-transactions\`):
a writer commits small transactions (an insert and an update of a running total) about
100 times a second through \`us-rw\`; the switchover eu-1 → us-1, then region us killed
(failover back to eu-1). The routers hold statements and replay a transaction open on
the old primary; a COMMIT whose answer was lost cannot be replayed.

\`\`\`
$txs
\`\`\`
<!-- failover:end -->"
publish_block failover "## Failover and switchover" "$table"
echo "$table"
