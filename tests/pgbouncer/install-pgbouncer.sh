#!/usr/bin/env bash
# Installs Debian's pgbouncer for the PgBouncer smoke test (tests/service/test_pgbouncer.py), when it is missing and
# this is a Debian-like machine on which we are root. Anywhere else it only says why it did nothing: the test then
# skips with the same reason. Never fails the caller (CI goes on; the test reports the outcome). Only the binary is
# used: the test writes its own configuration and runs its own pgbouncer on a free port, so the package's service
# is stopped and left disabled.
set -uo pipefail

for candidate in "${PGBOUNCER_PATH:-}" /usr/sbin/pgbouncer /usr/bin/pgbouncer; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then
    echo "pgbouncer: $candidate ($("$candidate" --version 2>/dev/null | head -n 1 || echo 'version unknown'))"
    exit 0
  fi
done
if ! command -v apt-get >/dev/null; then
  echo "pgbouncer: not installed and no apt-get here; the PgBouncer test will be skipped"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "pgbouncer: not installed and not root (cannot apt-get install); the PgBouncer test will be skipped"
  exit 0
fi
echo "pgbouncer: installing Debian's package"
export DEBIAN_FRONTEND=noninteractive
if apt-get update -qq && apt-get install -y -qq --no-install-recommends pgbouncer >/dev/null; then
  # The package starts a system pgbouncer on port 6432; the test needs none of it.
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl disable --now pgbouncer >/dev/null 2>&1 || true
  elif [ -x /etc/init.d/pgbouncer ]; then
    /etc/init.d/pgbouncer stop >/dev/null 2>&1 || true
  fi
  echo "pgbouncer: $(/usr/sbin/pgbouncer --version | head -n 1)"
else
  echo "pgbouncer: apt-get install failed; the PgBouncer test will be skipped"
fi
exit 0
