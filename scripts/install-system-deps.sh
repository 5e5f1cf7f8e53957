#!/usr/bin/env bash
# Debian packages the build and the local stack need beyond a stock Debian 12 with
# Rust, Node >= 18 and Java 17. Safe to run again: installs only what is missing.
set -euo pipefail

needed=()
command -v redis-server >/dev/null 2>&1 || needed+=(redis-server)
command -v make >/dev/null 2>&1 || needed+=(make)
command -v g++ >/dev/null 2>&1 || needed+=(g++)
command -v mvn >/dev/null 2>&1 || needed+=(maven)
command -v perl >/dev/null 2>&1 || needed+=(perl)
command -v pkg-config >/dev/null 2>&1 || needed+=(pkg-config)
# The metrics tests read /metrics with the Prometheus project's Python parser.
/usr/bin/python3 -c 'import prometheus_client' >/dev/null 2>&1 || needed+=(python3-prometheus-client)
# librdkafka links OpenSSL for TLS and SASL/SCRAM.
pkg-config --exists openssl 2>/dev/null || needed+=(libssl-dev)

if [ ${#needed[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi
echo "system packages: installing ${needed[*]}"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${needed[@]}"
# The package starts a system-wide Redis on 6379; the stack runs its own.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet redis-server 2>/dev/null; then
  "${sudo_cmd[@]}" systemctl stop redis-server || true
  "${sudo_cmd[@]}" systemctl disable redis-server >/dev/null 2>&1 || true
fi
