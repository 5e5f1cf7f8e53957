#!/usr/bin/env bash
# One command after cloning: system packages, npm install (which builds the addon from
# source), the local Kafka + Cassandra + Redis stack, then the demo workflow.
set -euo pipefail
cd "$(dirname "$0")/.."

phase() { printf '\n=== %s (%s)\n' "$1" "$(date +%T)"; }

phase "system packages"
bash scripts/install-system-deps.sh

phase "npm install (builds the native addon)"
npm install --no-audit --no-fund

phase "local stack"
bash stack/stack.sh up

phase "demo"
npm run --silent demo
