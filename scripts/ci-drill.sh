#!/bin/sh
# The short failover drill for CI: installs etcd-server, patroni and haproxy when missing (bounded
# in time, waiting at most a minute for the apt lock), runs `npm run drill:failover -- --rounds 1`
# under a time limit, and ends with exactly one verdict line:
#   drill: passed | drill: failed | drill: skipped (<reason>)
# Exit status 0 when passed or skipped, 1 when failed. Needs root (PostgreSQL runs as `postgres`).
# Bounded: apt-get 2 + 4 min at most, the drill 7 min (about 1.5 min on a quiet machine).
set -u
cd "$(dirname "$0")/.." || exit 1

skip() {
  echo "drill: skipped ($1)"
  exit 0
}

[ "$(uname -s)" = Linux ] || skip "not Linux"
[ "$(id -u)" = 0 ] || skip "needs root to install packages and run PostgreSQL as postgres"
id postgres >/dev/null 2>&1 || skip "no postgres user"
[ -x /usr/lib/postgresql/15/bin/postgres ] || skip "PostgreSQL 15 binaries not in /usr/lib/postgresql/15/bin"

missing=""
command -v etcd >/dev/null 2>&1 || missing="$missing etcd-server"
command -v patroni >/dev/null 2>&1 || missing="$missing patroni"
command -v haproxy >/dev/null 2>&1 || missing="$missing haproxy"
if [ -n "$missing" ]; then
  command -v apt-get >/dev/null 2>&1 || skip "no apt-get to install$missing"
  apt_log=$(mktemp)
  if ! { DEBIAN_FRONTEND=noninteractive timeout 120 apt-get -o DPkg::Lock::Timeout=60 update -qq &&
    DEBIAN_FRONTEND=noninteractive timeout 240 apt-get -o DPkg::Lock::Timeout=60 install -y -qq $missing; } \
    >"$apt_log" 2>&1; then
    tail -n 5 "$apt_log"
    rm -f "$apt_log"
    skip "apt-get could not install$missing"
  fi
  rm -f "$apt_log"
  # The packages' own services are not wanted: the drill runs its own processes.
  for service in etcd haproxy patroni; do
    timeout 15 systemctl stop "$service" >/dev/null 2>&1 || true
  done
fi

out=$(mktemp)
timeout -k 30 420 npm run -s drill:failover -- --rounds 1 >"$out" 2>&1
rc=$?
cat "$out"
last=$(tail -n 1 "$out")
rm -f "$out"
# Should the drill itself have been killed, stop what it left by its pid files.
for leftover in "${TMPDIR:-/tmp}"/movticket-drill-*; do
  [ -d "$leftover" ] || continue
  timeout 120 npm run -s cluster -- down --dir "$leftover" || true
done
case "$rc" in
  0)
    case "$last" in
      "failover: rounds=1 "*" lost=0 double=0 sms_dup=0 "*) echo "drill: passed" ;;
      *) echo "drill: failed" && exit 1 ;;
    esac
    ;;
  2)
    case "$last" in
      "failover: skipped ("*) skip "$(echo "$last" | sed 's/^failover: skipped (\(.*\))$/\1/')" ;;
      *) echo "drill: failed" && exit 1 ;;
    esac
    ;;
  *)
    [ "$rc" = 124 ] && echo "drill: the drill did not finish within 420 s"
    echo "drill: failed"
    exit 1
    ;;
esac
