#!/usr/bin/env bash
# Measures what the controller costs: CPU of a `meridian run` process and the
# queries it sends each node per probe interval, on the e-commerce sandbox
# (nine Galera nodes in three regions). The baseline, measured in the same
# run, is the same sandbox with no controller at all. Writes docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bin=bin/meridian
seconds=${SECONDS_PER_PHASE:-60}
work=$(mktemp -d /tmp/meridian-bench-XXXXXX)
chmod 755 "$work"
dir="$work/sb"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

"$bin" sandbox up -f examples/ecommerce.yaml --dir "$dir" --fresh --no-controller >"$work/up.log" 2>&1 &
pids+=($!)
until [ -f "$dir/sandbox.json" ]; do kill -0 "${pids[0]}" || { cat "$work/up.log" >&2; exit 1; }; sleep 0.2; done

sockets=$(python3 -c 'import json,sys; print(" ".join(n["socket"] for n in json.load(open(sys.argv[1]))["nodes"]))' "$dir/sandbox.json")
questions() {  # total Questions over all nodes (each read adds one, subtracted below)
  local total=0
  for s in $sockets; do
    q=$(mariadb --no-defaults -uroot --socket="$s" -N -e "SHOW GLOBAL STATUS LIKE 'Questions'" | awk '{print $2}')
    total=$((total + q))
  done
  echo "$total"
}
nodes=$(echo "$sockets" | wc -w)

q0=$(questions); sleep "$seconds"; q1=$(questions)
baseline=$(awk -v d=$((q1 - q0 - nodes)) -v n="$nodes" -v s="$seconds" 'BEGIN{printf "%.2f", d/n/s}')

"$bin" run --sandbox "$dir" --listen 127.0.0.1:0 --interval 1s >"$work/run.log" 2>&1 &
ctl=$!; pids+=($ctl)
sleep 5
ticks() { awk '{print $14 + $15}' "/proc/$ctl/stat"; }
hz=$(getconf CLK_TCK)
c0=$(ticks); q0=$(questions); sleep "$seconds"; c1=$(ticks); q1=$(questions)
cpu=$(awk -v d=$((c1 - c0)) -v hz="$hz" -v s="$seconds" 'BEGIN{printf "%.1f", 100*d/hz/s}')
rss=$(awk '/VmRSS/{printf "%.0f", $2/1024}' "/proc/$ctl/status")
per_node=$(awk -v d=$((q1 - q0 - nodes)) -v n="$nodes" -v s="$seconds" 'BEGIN{printf "%.2f", d/n/s}')
regions=$(python3 -c 'import json,sys; print(len({n["region"] for n in json.load(open(sys.argv[1]))["nodes"]}))' "$dir/sandbox.json")

table=$(cat <<MD
<!-- controller-cost:begin -->
Measured $(date -u +%Y-%m-%d) on $(nproc) cores with \`bench/controller-cost.sh\`: the e-commerce sandbox ($nodes Galera nodes, $regions regions, 80–250 ms WAN links), ${seconds} s per phase, probe interval 1 s, heartbeat every 100 ms.

| what | controller CPU | controller RSS | queries per node per second (all nodes' \`Questions\`) |
|---|---|---|---|
| baseline: sandbox without a controller | — | — | $baseline |
| \`meridian run\` (monitor, heartbeats, history, API) | ${cpu} % of one core | ${rss} MiB | $per_node |

A probe is 3 queries per node per interval (4 on Galera members: the wsrep status), run in
parallel on persistent connections; the rest is the heartbeat writer of each writable
region (10 writes/s on its link node) and, once a minute, the history insert.
<!-- controller-cost:end -->
MD
)
publish_block controller-cost "## Controller cost" "$table"
echo "$table"
