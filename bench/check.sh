#!/usr/bin/env bash
# Measures `meridian check` against its peer, pt-table-checksum (Debian's
# percona-toolkit), on the same sysbench table of ROWS rows (1,000,000) on a
# plain primary/replica pair (bench/check-pair.yaml), in one run: ROUNDS
# rounds (3), each running pt-table-checksum then meridian check, so both see
# the same drift of this shared machine. One row of the replica is changed
# with sql_log_bin=0 first: both tools must find it (pt-table-checksum as a
# differing chunk, Meridian as the row).
#
# Load on the primary is measured, per run, as the primary mariadbd's CPU
# time (utime + stime from /proc/PID/stat) and its status counters:
# Rows_read (MariaDB 10.11 has no Innodb_rows_read), the Handler_read_*
# calls, and Binlog_bytes_written
# (pt-table-checksum writes its checksums through the binary log so that
# replicas recompute them).
#
# pt-table-checksum needs two options here: --recursion-method=dsn (the
# replica's address, in percona.dsns) and --skip-check-slave-lag for the
# replica, which it reads as stopped: it looks at SHOW SLAVE STATUS, the
# default connection, and Meridian names its replication connections (the
# source region), so without the option it waits forever ("Replica ... is
# stopped. Waiting."). --no-check-binlog-format: the replica logs ROW events
# and has no replica of its own, which is safe.
# Writes docs/BENCHMARKS.md. Run under `flock /tmp/meridian-bench.lock`.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
rows=${ROWS:-1000000}
rounds=${ROUNDS:-3}
work=$(mktemp -d /tmp/meridian-check-bench-XXXXXX)
chmod 755 "$work"
up_pid=
cleanup() {
  if [ -n "$up_pid" ] && kill -0 "$up_pid" 2>/dev/null; then kill -INT "$up_pid"; wait "$up_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

go build -o "$work/meridian" ./cmd/meridian
"$work/meridian" sandbox up -f bench/check-pair.yaml --dir "$work/sandbox" --fresh --no-controller >"$work/up.log" 2>&1 &
up_pid=$!
until [ -f "$work/sandbox/sandbox.json" ]; do
  kill -0 "$up_pid" 2>/dev/null || { cat "$work/up.log" >&2; exit 1; }
  sleep 0.2
done
node() { python3 -c "import json,sys; n=[n for n in json.load(open(sys.argv[1]))['nodes'] if n['name']==sys.argv[2]][0]; print(n[sys.argv[3]])" "$work/sandbox/sandbox.json" "$1" "$2"; }
pport=$(node eu-1 port) ppid=$(node eu-1 pid) rport=$(node eu-2 port)
user=$(awk '/^admin:/{f=1} f&&/user:/{print $2; exit}' "$work/sandbox/credentials.yaml")
password=$(awk '/^admin:/{f=1} f&&/password:/{print $2; exit}' "$work/sandbox/credentials.yaml")
client() { # client PORT SQL...
  local port=$1; shift
  mariadb --no-defaults -h127.0.0.1 -P"$port" -u"$user" -p"$password" -N -B -e "$*"
}

client "$pport" "CREATE DATABASE sbtest"
sysbench oltp_read_only --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$pport" --mysql-user="$user" \
  --mysql-password="$password" --mysql-db=sbtest --tables=1 --table-size="$rows" prepare >"$work/prepare.log"
until [ "$(client "$rport" "SELECT COUNT(*) FROM sbtest.sbtest1" 2>/dev/null)" = "$rows" ]; do sleep 1; done
client "$pport" "CREATE DATABASE percona; CREATE TABLE percona.dsns (id INT AUTO_INCREMENT PRIMARY KEY, parent_id INT, dsn VARCHAR(255) NOT NULL);
  INSERT INTO percona.dsns (dsn) VALUES ('h=127.0.0.1,P=$rport')"
changed=$((rows / 2))
client "$rport" "SET SESSION sql_log_bin = 0; UPDATE sbtest.sbtest1 SET k = k + 1 WHERE id = $changed"

ticks=$(getconf CLK_TCK)
cpu() { awk -v t="$ticks" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$ppid/stat"; }
counters() {
  client "$pport" "SHOW GLOBAL STATUS WHERE Variable_name IN ('Rows_read','Binlog_bytes_written')
    OR Variable_name LIKE 'Handler_read%'" | awk '$1 ~ /^Handler_read/ {h += $2} $1 == "Rows_read" {r = $2} $1 == "Binlog_bytes_written" {b = $2} END {print r + 0, h + 0, b + 0}'
}
# measure NAME COMMAND...: appends "seconds cpu rows_read handler_reads binlog_bytes" to $work/NAME.res
measure() {
  local name=$1; shift
  local c0 s0 t0 t1 c1 s1
  c0=$(cpu); s0=$(counters); t0=$(date +%s.%N)
  "$@" >"$work/$name.out" 2>&1 || true
  t1=$(date +%s.%N); c1=$(cpu); s1=$(counters)
  echo "$t0 $t1 $c0 $c1 $s0 $s1" | awk '{ printf "%.2f %.2f %d %d %d\n", $2 - $1, $4 - $3, $8 - $5, $9 - $6, $10 - $7 }' >>"$work/$name.res"
}
pt() {
  pt-table-checksum "h=127.0.0.1,P=$pport,u=$user,p=$password" --databases=sbtest --recursion-method=dsn=D=percona,t=dsns \
    --no-check-binlog-format --skip-check-slave-lag "h=127.0.0.1,P=$rport"
}
mer() { "$work/meridian" check --sandbox "$work/sandbox" --tables sbtest --checkpoint "$work/checkpoint.json"; }

for round in $(seq "$rounds"); do
  measure pt pt
  grep -Eq '^[0-9-]+T[0-9:]+ +0 +1 +'"$rows"' ' "$work/pt.out" || { echo "round $round: pt-table-checksum did not find the changed chunk:" >&2; cat "$work/pt.out" >&2; exit 1; }
  measure meridian mer
  grep -q "id=$changed: eu-1: k=" "$work/meridian.out" || { echo "round $round: meridian check did not find the changed row:" >&2; cat "$work/meridian.out" >&2; exit 1; }
done

for name in pt meridian; do sed "s/^/$name: /" "$work/$name.res" >&2; done
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
col() { awk -v c="$2" '{ print $c }' "$work/$1.res" | median; }
row() { # row NAME LABEL
  local secs; secs=$(col "$1" 1)
  printf '| %s | %s s | %s | %s s | %s | %s | %s |\n' "$2" "$secs" \
    "$(awk -v r="$rows" -v s="$secs" 'BEGIN { printf "%d", r / s }')" "$(col "$1" 2)" "$(col "$1" 3)" "$(col "$1" 4)" "$(col "$1" 5)"
}
ratio() { awk -v a="$(col meridian "$1")" -v b="$(col pt "$1")" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

table="<!-- check:begin -->
Measured $(date -u +%Y-%m-%d) on $(nproc) cores with \`bench/check.sh\`: one sysbench table of $rows rows on a
primary with one replica (\`bench/check-pair.yaml\`, no controller), one row changed on the replica outside the
binary log. $rounds rounds, each running pt-table-checksum $(pt-table-checksum --version | awk '{print $2}') then
\`meridian check\`, both with their default chunk time (0.5 s); medians of the rounds. Load columns are the
primary's: its mariadbd's CPU time during the run, and deltas of its status counters.

| tool | wall time | rows/s | primary CPU | Rows_read | Handler_read_* | binlog bytes written |
|---|---|---|---|---|---|---|
$(row pt "baseline: pt-table-checksum (finds the chunk)")
$(row meridian "\`meridian check\` (finds the row)")

Meridian ÷ pt-table-checksum: wall time $(ratio 1) ×, primary CPU $(ratio 2) ×, rows read on the primary $(ratio 3) ×.
<!-- check:end -->"
publish_block check "## Consistency checker" "$table"
echo "$table"
