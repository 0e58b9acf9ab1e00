#!/usr/bin/env bash
# Measures the router against a plain TCP proxy in one run: sysbench
# oltp_point_select and oltp_read_only (16 threads, 4 tables x 20000 rows)
# straight to the server, through HAProxy in TCP mode, through the plainest
# Go TCP proxy, and through Meridian's readwritesplit router (default
# options: causal_reads local); point selects again over TLS (HAProxy
# terminating TLS as the baseline); and causal-read sessions, autocommit
# writes each followed by reads (oltp_read_write without transactions),
# where the router's reads wait on the replica for the session's writes;
# then the router's memory per idle client connection (1000 held).
# Writes the table into docs/BENCHMARKS.md.
#
# The machine is shared by sysbench, the servers and the proxy, and its
# throughput drifts by 10-20 % from one minute to the next, so each target
# runs in ROUNDS short runs interleaved with the others' rather than in one
# long run: every target sees the same drift.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
threads=${THREADS:-16}
duration=${DURATION:-21} # seconds per target and workload, split over the rounds
rounds=${ROUNDS:-3}
idle_conns=${IDLE_CONNS:-1000}
work=$(mktemp -d /tmp/meridian-router-bench-XXXXXX)
chmod 755 "$work"
serve_pid= haproxy_pid= goproxy_pid= idle_pid=
stop() { # stop PID: SIGTERM, then wait for it
  if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then kill -TERM "$1"; wait "$1" 2>/dev/null || true; fi
}
cleanup() {
  stop "$idle_pid"; stop "$goproxy_pid"; stop "$haproxy_pid"; stop "$serve_pid"
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# TLS: a throwaway CA signs the certificate HAProxy and the router serve;
# sysbench (libmariadb) verifies it with cacert.pem and presents
# client-cert.pem, all read from its working directory.
(
  cd "$work"
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=bench-ca -keyout ca.key -out cacert.pem
  openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out server.csr
  printf 'subjectAltName=IP:127.0.0.1\n' >san.ext
  openssl x509 -req -in server.csr -CA cacert.pem -CAkey ca.key -CAcreateserial -days 1 -extfile san.ext -out server.crt
  cp server.crt client-cert.pem
  cp server.key client-key.pem
) 2>/dev/null
go build -o "$work/routerbench" ./bench/routerbench
"$work/routerbench" serve -dir "$work/sandbox" -info "$work/info.json" -cert "$work/server.crt" -key "$work/server.key" 2>"$work/serve.log" &
serve_pid=$!
until [ -f "$work/info.json" ]; do
  kill -0 "$serve_pid" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
  sleep 0.1
done
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$work/info.json" "$1"; }
router=$(field router) primary=$(field primary) replica=$(field replica)
user=$(field user) password=$(field password) memory=$(field memory)

client() { # client HOST:PORT SQL...
  local addr=$1; shift
  mariadb --no-defaults -h"${addr%:*}" -P"${addr##*:}" -u"$user" -p"$password" -N -B -e "$*"
}
sb() { # sb WORKLOAD HOST:PORT COMMAND [options]
  local workload=$1 addr=$2 cmd=$3; shift 3
  (cd "$work" && sysbench "$workload" --db-driver=mysql --mysql-host="${addr%:*}" --mysql-port="${addr##*:}" \
    --mysql-user="$user" --mysql-password="$password" --mysql-db=sbtest \
    --tables=4 --table-size=20000 "$@" "$cmd")
}
# The cases: a sysbench workload, its options, and whether clients use TLS.
cases=(point_select read_only point_select_tls causal)
declare -A workload=([point_select]=oltp_point_select [read_only]=oltp_read_only
  [point_select_tls]=oltp_point_select [causal]=oltp_read_write)
declare -A options=([point_select]="" [read_only]="" [point_select_tls]="--mysql-ssl=on"
  [causal]="--skip_trx=on")
declare -A label=([point_select]='`oltp_point_select`' [read_only]='`oltp_read_only`'
  [point_select_tls]='`oltp_point_select`, TLS (HAProxy terminates it)'
  [causal]='`oltp_read_write --skip_trx=on` (causal reads: a read after a write waits on the replica)')
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

client "$primary" "CREATE DATABASE sbtest"
sb oltp_read_only "$primary" prepare --threads=4 >"$work/prepare.log"
until [ "$(client "$replica" "SELECT COUNT(*) FROM sbtest.sbtest4" 2>/dev/null)" = 20000 ]; do sleep 0.2; done

# The baselines go to the server the router uses for the workload: the
# replica serves point selects, the primary serves read-only transactions
# (a plain BEGIN is a read-write transaction to the router).
# (The causal case writes: its baselines go to the primary, which serves
# its writes and, when a replica wait would exceed the timeout, its reads.)
declare -A server=([point_select]=$replica [read_only]=$primary [point_select_tls]=$replica [causal]=$primary)
declare -A haproxy_addr goproxy_addr
for c in "${cases[@]}"; do
  haproxy_addr[$c]=127.0.0.1:$(free_port)
  goproxy_addr[$c]=127.0.0.1:$(free_port)
done
cat "$work/server.crt" "$work/server.key" >"$work/haproxy.pem"
{
  printf 'global\n  maxconn 4096\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 1h\n  timeout server 1h\n'
  for c in "${cases[@]}"; do
    ssl=
    [ "$c" = point_select_tls ] && ssl=" ssl crt $work/haproxy.pem"
    printf 'listen %s\n  bind %s%s\n  server db %s\n' "$c" "${haproxy_addr[$c]}" "$ssl" "${server[$c]}"
  done
} >"$work/haproxy.cfg"
haproxy -db -f "$work/haproxy.cfg" 2>"$work/haproxy.log" &
haproxy_pid=$!
"$work/routerbench" tcpproxy "${goproxy_addr[point_select]}=$replica" "${goproxy_addr[read_only]}=$primary" \
  "${goproxy_addr[causal]}=$primary" 2>"$work/goproxy.log" &
goproxy_pid=$!
for c in point_select read_only causal; do
  for addr in "${haproxy_addr[$c]}" "${goproxy_addr[$c]}"; do
    until client "$addr" "SELECT 1" >/dev/null 2>&1; do
      kill -0 "$haproxy_pid" && kill -0 "$goproxy_pid" || { cat "$work/haproxy.log" "$work/goproxy.log" >&2; exit 1; }
      sleep 0.1
    done
  done
done

targets=(direct haproxy goproxy router)
targets_of() { # targets_of CASE: the Go proxy does not speak TLS
  if [ "$1" = point_select_tls ]; then echo direct haproxy router; else echo "${targets[@]}"; fi
}
target_addr() { # target_addr CASE TARGET
  case $2 in
    direct) echo "${server[$1]}" ;;
    haproxy) echo "${haproxy_addr[$1]}" ;;
    goproxy) echo "${goproxy_addr[$1]}" ;;
    router) echo "$router" ;;
  esac
}
# The proxies' CPU time per statement is the steadiest measure on a shared
# machine: other processes slow a run down but do not add to it. The
# router's process also holds the idle sandbox's WAN proxies (nothing
# crosses them during these read-only workloads).
declare -A proxy_pid=([haproxy]=$haproxy_pid [goproxy]=$goproxy_pid [router]=$(field pid))
cpu_ticks() { # cpu_ticks TARGET: user+system clock ticks of its proxy so far
  local pid=${proxy_pid[$1]:-}
  if [ -n "$pid" ]; then awk '{print $14 + $15}' "/proc/$pid/stat"; else echo 0; fi
}
declare -A txs secs p95s queries ticks
slice=$((duration / rounds))
for w in "${cases[@]}"; do
  opts() { # opts TARGET: the case's options (no TLS straight to the server)
    if [ "$1" = direct ]; then echo "${options[$w]}" | sed 's/--mysql-ssl=on//'; else echo "${options[$w]}"; fi
  }
  for t in $(targets_of "$w"); do
    # shellcheck disable=SC2046
    sb "${workload[$w]}" "$(target_addr "$w" "$t")" run --threads="$threads" --time=3 $(opts "$t") >/dev/null # warm-up
  done
  for r in $(seq "$rounds"); do
    for t in $(targets_of "$w"); do
      before=$(cpu_ticks "$t")
      # shellcheck disable=SC2046
      out=$(sb "${workload[$w]}" "$(target_addr "$w" "$t")" run --threads="$threads" --time="$slice" --percentile=95 $(opts "$t"))
      ticks[$w/$t]=$(( ${ticks[$w/$t]:-0} + $(cpu_ticks "$t") - before ))
      queries[$w/$t]=$(( ${queries[$w/$t]:-0} + $(sed -n 's/.*queries: *\([0-9]*\) .*/\1/p' <<<"$out") ))
      n=$(sed -n 's/.*transactions: *\([0-9]*\) .*/\1/p' <<<"$out")
      s=$(sed -n 's/.*total time: *\([0-9.]*\)s.*/\1/p' <<<"$out")
      p=$(sed -n 's/.*95th percentile: *\([0-9.]*\).*/\1/p' <<<"$out")
      txs[$w/$t]=$(( ${txs[$w/$t]:-0} + n ))
      secs[$w/$t]=$(awk -v a="${secs[$w/$t]:-0}" -v b="$s" 'BEGIN{print a+b}')
      p95s[$w/$t]="${p95s[$w/$t]:-} $p"
      echo "$w round $r via $t: $n transactions in $s s, p95 $p ms" >&2
    done
  done
done
tps() { awk -v n="${txs[$1]}" -v s="${secs[$1]}" 'BEGIN{printf "%.0f", n/s}'; }
clk_tck=$(getconf CLK_TCK)
cpu_us() { awk -v t="${ticks[$1]}" -v q="${queries[$1]}" -v hz="$clk_tck" 'BEGIN{printf "%.1f", t*1e6/hz/q}'; }
p95() { tr ' ' '\n' <<<"${p95s[$1]}" | sed '/^$/d' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

mem() { curl -s "$memory" | python3 -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }
go_before=$(mem go_total) rss_before=$(mem rss)
"$work/routerbench" idle -addr "$router" -user "$user" -password "$password" -n "$idle_conns" >"$work/idle.out" 2>&1 &
idle_pid=$!
until grep -qs ready "$work/idle.out"; do
  kill -0 "$idle_pid" 2>/dev/null || { cat "$work/idle.out" >&2; exit 1; }
  sleep 0.2
done
go_after=$(mem go_total) rss_after=$(mem rss) goroutines=$(mem goroutines)
stop "$idle_pid"; idle_pid=
per_conn() { awk -v a="$1" -v b="$2" -v n="$idle_conns" 'BEGIN{printf "%.1f", (a-b)/n/1024}'; }
go_per=$(per_conn "$go_after" "$go_before") rss_per=$(per_conn "$rss_after" "$rss_before")
echo "idle connections: $idle_conns held, $goroutines goroutines; Go heap+stacks ${go_per} KiB/conn, RSS ${rss_per} KiB/conn" >&2

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }
cell() { echo "$(tps "$1/$2") / $(p95 "$1/$2") ms"; }
row() { # row CASE
  local w=$1 go="—" gocpu="—"
  if [ -n "${txs[$w/goproxy]:-}" ]; then go=$(cell "$w" goproxy) gocpu=$(cpu_us "$w/goproxy"); fi
  echo "| ${label[$w]} | $(cell "$w" direct) | $(cell "$w" haproxy) | $go | $(cell "$w" router) | $(ratio "$(tps "$w/router")" "$(tps "$w/haproxy")") × | $(ratio "$(p95 "$w/router")" "$(p95 "$w/haproxy")") × | $(cpu_us "$w/haproxy") / $gocpu / $(cpu_us "$w/router") |"
}
table=$(cat <<MD
<!-- router:begin -->
Measured $(date -u +%Y-%m-%d) on $(nproc) cores with \`bench/router.sh\`: sysbench $(sysbench --version | cut -d' ' -f2), $threads threads, 4 tables × 20000 rows, server-side prepared statements. Every target ran $rounds × ${slice} s per workload, the targets interleaved round by round after a 3 s warm-up each, all against the same active-passive sandbox. The router (region eu, default options: \`causal_reads: local\`) serves point selects from the replica eu-2 and read-only transactions (\`BEGIN\` … \`COMMIT\`, read-write to a router) from the primary eu-1; every baseline goes to that same server. In the TLS row sysbench connects with TLS to HAProxy (which terminates it) and to the router; the direct cell is plain. In the causal row each session's autocommit writes go to eu-1 and its reads to eu-2 after waiting there for the session's last write (or to eu-1 after 0.5 s); the baselines send everything to eu-1. Cells: transactions per second / median of the rounds' 95th-percentile latency; the last column is each proxy process's CPU time (user + system, from \`/proc/PID/stat\`) per statement.

| workload | direct | HAProxy 2.6 (TCP mode) | plain Go TCP proxy (\`io.Copy\`) | Meridian router | router ÷ HAProxy throughput (targets: plain ≥ 1.0, TLS ≥ 0.9) | router ÷ HAProxy p95 (target: plain ≤ 1.0) | proxy CPU µs per statement: HAProxy / Go proxy / router |
|---|---|---|---|---|---|---|---|
$(row point_select)
$(row read_only)
$(row point_select_tls)
$(row causal)

Idle client connections: $idle_conns held open through the router at once (logged in, pinged, no backend connection yet): **${go_per} KiB** of Go heap and stacks and **${rss_per} KiB** of resident memory per connection (target < 64 KiB).
<!-- router:end -->
MD
)
publish_block router "$(printf '## Router\n\nThroughput and latency of the readwritesplit router next to no proxy, HAProxy and the plainest Go\nproxy, measured in the same run on the same servers, and what an idle client connection costs.')" "$table"
echo "$table"
