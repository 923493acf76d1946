#!/usr/bin/env bash
# One-time setup of what the tests need beside node_modules: the Kafka jars (from Maven Central)
# and promtool, which the metrics tests use to validate the Prometheus output.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/kafka/broker.sh install

if ! command -v promtool >/dev/null 2>&1 && [ -z "${PROMTOOL:-}" ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "setup: installing promtool (Debian package prometheus)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    # The package starts a Prometheus server we do not want running.
    (systemctl stop prometheus 2>/dev/null || service prometheus stop 2>/dev/null || pkill -x prometheus) >/dev/null 2>&1 || true
  else
    echo "setup: promtool is missing: install the Debian package 'prometheus' (or set PROMTOOL=/path/to/promtool)" >&2
    exit 1
  fi
fi
echo "setup: ok (kafka jars cached, promtool at ${PROMTOOL:-$(command -v promtool)})"
