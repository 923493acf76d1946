#!/usr/bin/env bash
# One-time setup of what the tests need beside node_modules: the Kafka jars (from Maven Central),
# promtool, which the metrics tests use to validate the Prometheus output, and chromium, in which
# the status page test renders the page (headless).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/kafka/broker.sh install

apt_updated=0
# apt_install <package> <what it provides>: installs a Debian package, or says how to get it.
apt_install() {
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "setup: installing $2 (Debian package $1)"
    if [ "$apt_updated" = 0 ]; then apt-get update -qq; apt_updated=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" >/dev/null
  else
    echo "setup: $2 is missing: install the Debian package '$1' (or set $3=/path/to/$2)" >&2
    exit 1
  fi
}

if ! command -v promtool >/dev/null 2>&1 && [ -z "${PROMTOOL:-}" ]; then
  apt_install prometheus promtool PROMTOOL
  # The package starts a Prometheus server we do not want running.
  (systemctl stop prometheus 2>/dev/null || service prometheus stop 2>/dev/null || pkill -x prometheus) >/dev/null 2>&1 || true
fi
if ! command -v chromium >/dev/null 2>&1 && [ -z "${CHROMIUM:-}" ]; then
  apt_install chromium chromium CHROMIUM
fi
echo "setup: ok (kafka jars cached, promtool at ${PROMTOOL:-$(command -v promtool)}, chromium at ${CHROMIUM:-$(command -v chromium)})"
