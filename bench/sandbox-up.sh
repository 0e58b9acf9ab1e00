#!/usr/bin/env bash
# Measures how long `meridian sandbox up` takes to be ready (sandbox.json written)
# for the active-passive and e-commerce topologies, next to a baseline measured in
# the same run: one bare mariadbd initialised and started by hand, the floor any
# sandbox pays per node. Writes the table into docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bin=bin/meridian
runs=${RUNS:-3}
work=$(mktemp -d /tmp/meridian-bench-XXXXXX)
chmod 755 "$work"
owner_pid=
cleanup() {
  if [ -n "$owner_pid" ] && kill -0 "$owner_pid" 2>/dev/null; then kill -TERM "$owner_pid"; wait "$owner_pid" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

now() { date +%s.%N; }

# time_up FILE: seconds from launch to sandbox.json, then a clean SIGTERM stop.
time_up() {
  local file=$1 dir="$work/sb"
  rm -rf "$dir"
  local start; start=$(now)
  "$bin" sandbox up -f "$file" --dir "$dir" --fresh >"$work/up.log" 2>&1 &
  owner_pid=$!
  until [ -f "$dir/sandbox.json" ]; do
    kill -0 "$owner_pid" 2>/dev/null || { cat "$work/up.log" >&2; exit 1; }
    sleep 0.05
  done
  local took; took=$(awk -v a="$(now)" -v b="$start" 'BEGIN{printf "%.3f", a-b}')
  kill -TERM "$owner_pid"; wait "$owner_pid" || true; owner_pid=
  echo "$took"
}

# time_bare: install a datadir and start one mariadbd until it answers.
time_bare() {
  local d="$work/bare" port=$((20000 + RANDOM % 20000))
  rm -rf "$d"; mkdir -p "$d"
  local user=(); [ "$(id -u)" -eq 0 ] && { user=(--user=mysql); chown mysql: "$d"; }
  local start; start=$(now)
  mariadb-install-db --no-defaults --datadir="$d/data" --auth-root-authentication-method=normal --skip-test-db "${user[@]}" >/dev/null 2>&1
  mariadbd --no-defaults --datadir="$d/data" --port=$port --bind-address=127.0.0.1 --socket="$d/s.sock" \
    --pid-file="$d/m.pid" --innodb-buffer-pool-size=32M --performance-schema=OFF --skip-name-resolve "${user[@]}" >/dev/null 2>&1 &
  local pid=$!
  until mariadb-admin --no-defaults --socket="$d/s.sock" -uroot ping >/dev/null 2>&1; do sleep 0.05; done
  local took; took=$(awk -v a="$(now)" -v b="$start" 'BEGIN{printf "%.3f", a-b}')
  kill -TERM "$pid"; wait "$pid" || true
  echo "$took"
}

nodes() { "$bin" validate "examples/$1.yaml" | sed -n 's/.* \([0-9]*\) nodes.*/\1/p'; }

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A result
for name in bare active-passive ecommerce; do
  samples=()
  for _ in $(seq "$runs"); do
    case $name in
      bare) samples+=("$(time_bare)") ;;
      *) samples+=("$(time_up "examples/$name.yaml")") ;;
    esac
  done
  result[$name]=$(printf '%s\n' "${samples[@]}" | median)
  echo "$name: ${samples[*]} -> median ${result[$name]} s" >&2
done

table=$(cat <<MD
<!-- sandbox-up:begin -->
Measured $(date -u +%Y-%m-%d) on $(nproc) cores with \`bench/sandbox-up.sh\` (median of $runs runs, time until \`sandbox.json\` is written):

| what | nodes | ready in | target |
|---|---|---|---|
| baseline: one bare \`mariadbd\` (install-db + start) | 1 | $(printf '%.1f' "${result[bare]}") s | — |
| \`sandbox up -f examples/active-passive.yaml\` | $(nodes active-passive) | $(printf '%.1f' "${result[active-passive]}") s | under 10 s |
| \`sandbox up -f examples/ecommerce.yaml\` (3 × Galera(3)) | $(nodes ecommerce) | $(printf '%.1f' "${result[ecommerce]}") s | under 60 s |
<!-- sandbox-up:end -->
MD
)
publish_block sandbox-up "" "$table"
echo "$table"
