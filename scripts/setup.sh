#!/usr/bin/env bash
# Installs what Meridian's sandbox and tests need on a Debian machine, only when missing.
# As root it runs apt-get; otherwise it prints the exact command to run.
set -euo pipefail

packages=(mariadb-server mariadb-client mariadb-backup galera-4 rsync sysbench prometheus haproxy chromium percona-toolkit)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm run the router's mysql2 client test; a Node.js installed
# another way (nodesource, nvm) is used as it is.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if ! command -v go >/dev/null 2>&1 && [ ! -x /usr/local/go/bin/go ]; then
  echo "setup: Go 1.26 or newer is required (https://go.dev/dl/); it is not on PATH" >&2
  exit 1
fi
if [ ${#missing[@]} -gt 0 ]; then
  cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages: ${missing[*]}" >&2
    echo "setup: run as root:  $cmd" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}" >&2
  # The distribution's service scripts must not start a system-wide MariaDB: the sandbox runs its own.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Node's mysql2 driver for the router's client tests, exactly as the lock file pins it.
node_dir="$(cd "$(dirname "$0")/.." && pwd)/internal/router/testdata/node"
if [ ! -d "$node_dir/node_modules" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "setup: npm is required for $node_dir (Debian: apt-get install nodejs npm)" >&2
    exit 1
  fi
  echo "setup: npm ci in $node_dir" >&2
  (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi
