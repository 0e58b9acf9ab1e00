#!/usr/bin/env bash
# Runs real client libraries' own integration test suites, from their
# published source, against the active-passive sandbox: once directly
# against the primary eu-1 and once through the eu-rw router with its
# default options, with the sandbox's admin account (the suites create
# users, databases and set globals). Compares which tests pass on each side
# and how long each run takes, and writes the table into docs/BENCHMARKS.md.
#
#   - go-sql-driver/mysql (Go): `go test` of the driver's package;
#   - MariaDB Connector/Node.js (`mariadb` on npm): its vitest integration
#     suite (bulk, ed25519, pipelining, ...).
#
# The sources are git repositories outside this one (never copied into
# it): GO_DRIVER_GIT and NODE_CONNECTOR_GIT name their git directories
# (a clone, or the search tool's fetch mirror), GO_DRIVER_REF and
# NODE_CONNECTOR_REF the commit or tag to test. SUITES=go or SUITES=node
# runs one of them. Tests that dial hosts on the internet are skipped (go)
# or pointed at an unused loopback address (node): test traffic stays on
# 127.0.0.0/8. Run it under the bench lock:
#   flock /tmp/meridian-bench.lock bench/client-suites.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
go_git=${GO_DRIVER_GIT:-/work/.mirror/go-sql-driver+mysql/repo}
go_ref=${GO_DRIVER_REF:-HEAD}
node_git=${NODE_CONNECTOR_GIT:-/work/.mirror/mariadb-corporation+mariadb-connector-nodejs/repo}
node_ref=${NODE_CONNECTOR_REF:-HEAD}
suites=${SUITES:-go node}
work=$(mktemp -d /tmp/meridian-suites-XXXXXX)
chmod 755 "$work"
sandbox_pid=
cleanup() {
  if [ -n "$sandbox_pid" ] && kill -0 "$sandbox_pid" 2>/dev/null; then kill -INT "$sandbox_pid"; wait "$sandbox_pid" 2>/dev/null || true; fi
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT INT TERM

go build -o "$work/meridian" ./cmd/meridian
"$work/meridian" sandbox up -f examples/active-passive.yaml --dir "$work/sandbox" >"$work/sandbox.log" 2>&1 &
sandbox_pid=$!
until [ -f "$work/sandbox/sandbox.json" ]; do
  kill -0 "$sandbox_pid" 2>/dev/null || { cat "$work/sandbox.log" >&2; exit 1; }
  sleep 0.5
done
info() { python3 -c "$1" "$work/sandbox/sandbox.json"; }
primary=$(info 'import json,sys; d=json.load(open(sys.argv[1])); n=[n for n in d["nodes"] if n["name"]=="eu-1"][0]; print("%s:%d" % (n["host"], n["port"]))')
router=$(info 'import json,sys; d=json.load(open(sys.argv[1])); s=[s for s in d["services"] if s["name"]=="eu-rw"][0]; print("%s:%d" % (s["host"], s["port"]))')
user=$(sed -n '/^admin:/,/^[a-z]/s/^ *user: *//p' "$work/sandbox/credentials.yaml" | head -1)
password=$(sed -n '/^admin:/,/^[a-z]/s/^ *password: *//p' "$work/sandbox/credentials.yaml" | head -1)
sql() { mariadb --no-defaults -h"${primary%:*}" -P"${primary##*:}" -u"$user" -p"$password" -N -B -e "$1"; }
sql "CREATE DATABASE IF NOT EXISTS gotest; CREATE DATABASE IF NOT EXISTS testn; INSTALL SONAME 'auth_ed25519'" 2>/dev/null ||
  sql "CREATE DATABASE IF NOT EXISTS gotest; CREATE DATABASE IF NOT EXISTS testn"
for node in eu-2 us-1; do # the replicas need the plugin to apply CREATE USER ... VIA ed25519
  addr=$(info "import json,sys; d=json.load(open(sys.argv[1])); n=[n for n in d['nodes'] if n['name']=='$node'][0]; print('%s:%d' % (n['host'], n['port']))")
  mariadb --no-defaults -h"${addr%:*}" -P"${addr##*:}" -u"$user" -p"$password" -e "INSTALL SONAME 'auth_ed25519'" 2>/dev/null || true
done

declare -A seconds
run_go() { # run_go SIDE ADDR (the test binary is built beforehand, so that neither side pays for it)
  local start end
  start=$(date +%s.%N)
  (cd "$work/go-driver" && MYSQL_TEST_USER=$user MYSQL_TEST_PASS=$password MYSQL_TEST_ADDR=$2 MYSQL_TEST_DBNAME=gotest \
    go tool test2json -p mysql ./mysql.test -test.v=test2json -test.count=1 -test.timeout=30m \
      -test.skip '^TestConnectorReturnsTimeout$' >"$work/go-$1.json" 2>"$work/go-$1.err" || true)
  end=$(date +%s.%N)
  seconds[go/$1]=$(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.1f", b-a}')
}
run_node() { # run_node SIDE ADDR
  local start end
  start=$(date +%s.%N)
  (cd "$work/node-connector" && TEST_DB_HOST=${2%:*} TEST_DB_PORT=${2##*:} TEST_DB_USER=$user TEST_DB_PASSWORD=$password \
    TEST_DB_DATABASE=testn npx vitest --no-file-parallelism --isolate run test/integration --reporter=json \
    --outputFile="$work/node-$1.json" >"$work/node-$1.log" 2>&1 || true)
  end=$(date +%s.%N)
  seconds[node/$1]=$(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.1f", b-a}')
}

rows=""
for suite in $suites; do
  case $suite in
    go)
      mkdir -p "$work/go-driver"
      git --git-dir="$go_git" archive "$go_ref" | tar -x -C "$work/go-driver"
      rev=$(git --git-dir="$go_git" rev-parse --short "$go_ref")
      (cd "$work/go-driver" && go test -c -o mysql.test .)
      run_go direct "$primary"; run_go router "$router"
      name="go-sql-driver/mysql @ $rev (\`go test\`)"
      ;;
    node)
      mkdir -p "$work/node-connector"
      # A fetched mirror may lack its largest files (a test's data dump):
      # they are left out, and the tests that need them fail alike on both
      # sides.
      git --git-dir="$node_git" ls-tree -r "$node_ref" | while read -r _ _ object path; do
        [ -n "$(git --git-dir="$node_git" cat-file blob "$object" 2>/dev/null | head -c1)" ] && printf '%s\0' "$path"
      done | xargs -0 git --git-dir="$node_git" archive "$node_ref" -- 2>/dev/null | tar -x -C "$work/node-connector" || true
      [ -f "$work/node-connector/package.json" ] || { echo "cannot unpack $node_git at $node_ref" >&2; exit 1; }
      rev=$(git --git-dir="$node_git" rev-parse --short "$node_ref")
      # Its connection-timeout tests dial hosts on the internet: they are
      # pointed at a loopback address nothing listens on (they then fail
      # alike on both sides), so that no test traffic leaves the machine.
      sed -i -e "s/www\.google\.com/127.0.0.2/g" -e "s/www\.facebook\.com/127.0.0.2/g" -e "s/'wrong host'/'127.0.0.2'/g" \
        -e "s/'wronghost'/'127.0.0.2'/g" -e "s/mariadb\.example\.com/127.0.0.2/g" -e "s/192\.168\.3\.19/127.0.0.2/g" \
        "$work"/node-connector/test/integration/*.test.js
      (cd "$work/node-connector" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
      run_node direct "$primary"; run_node router "$router"
      name="MariaDB Connector/Node.js @ $rev (vitest \`test/integration\`)"
      ;;
  esac
  row=$(python3 bench/suite-compare.py "$suite" "$work/$suite-direct.json" "$work/$suite-router.json" \
    "${seconds[$suite/direct]}" "${seconds[$suite/router]}" "$name" "$work/$suite-differences.txt")
  echo "$row"
  echo "--- tests whose outcome differs ($suite):" >&2
  cat "$work/$suite-differences.txt" >&2
  rows="$rows$row"$'\n'
done

table="<!-- client-suites:begin -->
Measured $(date -u +%Y-%m-%d) on $(nproc) cores with \`bench/client-suites.sh\`: each library's own integration suite, from its published source, run against the active-passive sandbox's primary eu-1 directly and then through the \`eu-rw\` router with default options, with the sandbox's admin account, one after the other in the same run. Tests that need what the sandbox lacks fail or skip alike on both sides.

| suite | tests | passed directly | passed through the router | differ | direct | router | router ÷ direct time (target ≤ 1.2) |
|---|---|---|---|---|---|---|---|
${rows%$'\n'}
<!-- client-suites:end -->"
publish_block client-suites "## Client libraries' own test suites" "$table"
echo "$table"
