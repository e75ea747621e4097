#!/usr/bin/env bash
# Installs Autobahn|Testsuite's conformance tool (wstest) and prints the path of its executable.
#
#   WSTEST=$(bash scripts/install-wstest.sh)     # idempotent; a few minutes the first time
#   $WSTEST -m fuzzingclient -s spec.json        # tests a server under test
#   $WSTEST -m fuzzingserver -s spec.json        # serves the cases to a client under test
#
# wstest runs on Python 2.7 only. Debian 12 no longer ships it, so Python 2.7 comes from Debian
# 11's packages, through the archive the machine's own apt sources already name (suite
# bullseye), and autobahntestsuite with its dependencies from PyPI into a Python 2 virtualenv.
# Everything goes under $WSTEST_HOME (default /opt/wstest); a copy an earlier run left there is
# reused. Needs root for apt when python2.7 is missing. tests/conformance/run_autobahn.py calls it.
set -euo pipefail
home=${WSTEST_HOME:-/opt/wstest}
mkdir -p "$(dirname "$home")"
# One install at a time: parallel runs (CI legs, developers) wait for the first one.
exec 9>"$home.lock"
flock -w 900 9 || { echo "install-wstest: another install held $home.lock for 15 minutes" >&2; exit 1; }
if [ -x "$home/py2/bin/wstest" ] && "$home/py2/bin/wstest" --help >/dev/null 2>&1; then
  echo "$home/py2/bin/wstest"; exit 0
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
fail() { echo "install-wstest: $*; log follows" >&2; cat "$log" >&2; exit 1; }
{
  if [ ! -x /usr/bin/python2.7 ]; then
    [ "$(id -u)" = 0 ] || { echo "python2.7 is missing and installing it needs root"; exit 1; }
    src=/etc/apt/sources.list.d/wsfast-bullseye-python2.sources
    if [ ! -f "$src" ]; then
      # The archive this machine already uses (its first URIs line, or its first deb line).
      uri=$(grep -h -m1 '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 | awk '{print $2}' || true)
      [ -n "$uri" ] || uri=$(grep -h -m1 '^deb ' /etc/apt/sources.list 2>/dev/null | head -1 | awk '{print $2}' || true)
      [ -n "$uri" ] || { echo "no Debian archive found in the apt sources"; exit 1; }
      printf 'Types: deb\nURIs: %s\nSuites: bullseye\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" > "$src"
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python2.7 python2.7-dev
  fi
  mkdir -p "$home"
  [ -x "$home/boot/bin/virtualenv" ] || {
    python3 -m venv "$home/boot"
    # The last virtualenv release that still creates Python 2.7 environments.
    "$home/boot/bin/pip" install -q --disable-pip-version-check "virtualenv==20.21.1"
  }
  rm -rf "$home/py2"
  "$home/boot/bin/virtualenv" -q -p /usr/bin/python2.7 "$home/py2"
  "$home/py2/bin/pip" install -q autobahntestsuite
} >"$log" 2>&1 || fail "installing failed"
"$home/py2/bin/wstest" --help >/dev/null 2>&1 || fail "wstest does not start"
echo "$home/py2/bin/wstest"
