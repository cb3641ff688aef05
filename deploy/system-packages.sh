#!/usr/bin/env bash
# Debian packages the test suite needs, installed only when missing (quietly, once).
#   mosquitto   the MQTT broker the tests start on a free loopback port
#   mmdebstrap  builds the trixie chroot that provides TimescaleDB (deploy/timescaledb.sh)
#   chromium    the browser the web tests drive with Playwright
#   prometheus  for promtool: the tests check /metrics with `promtool check metrics`
#   python3-venv  only when the python3 in use is Debian's and lacks ensurepip
# Usage: deploy/system-packages.sh [--run-only] [PYTHON]
#   PYTHON: the interpreter `make venv` will use; --run-only: only what running mda needs
#   (python3-venv where missing), not the test services.
set -euo pipefail

want=(mosquitto mmdebstrap chromium prometheus)
if [[ ${1:-} == --run-only ]]; then
  want=()
  shift
fi
python=${1:-python3}
if [[ $(command -v "$python" || true) == /usr/bin/* ]] && ! "$python" -c 'import ensurepip' 2>/dev/null; then
  want+=(python3-venv)
fi

missing=()
for pkg in ${want[@]+"${want[@]}"}; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [[ $status == installed ]] || missing+=("$pkg")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
  echo "system-packages.sh: error: missing Debian packages: ${missing[*]}; install them as root:" \
    "apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "system-packages.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt_log=$(mktemp /tmp/mda-apt.XXXXXX.log)
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" $([[ " ${missing[*]} " == *" chromium "* ]] && echo fonts-liberation); } \
    >"$apt_log" 2>&1; then
  echo "system-packages.sh: error: apt-get could not install ${missing[*]}:" \
    "$(grep -m1 '^E:' "$apt_log" || tail -n1 "$apt_log") (full log: $apt_log)" >&2
  exit 1
fi
rm -f "$apt_log"
# Debian starts its own mosquitto on port 1883; the tests never use it, leave it as it is.
# Debian's prometheus may start its own server on port 9090; the tests only use its promtool.
