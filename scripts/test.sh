#!/usr/bin/env bash
# `npm test`: Rust unit tests, then the jest suites against the real local stack
# (started here when it is not running).
set -euo pipefail
cd "$(dirname "$0")/.."

phase() { printf '\n=== %s (%s)\n' "$1" "$(date +%T)"; }

phase "build the addon (incremental)"
npm run --silent build

phase "local stack"
bash stack/stack.sh up

phase "cargo test"
cargo test --profile fast --lib

phase "typecheck (tsc --noEmit)"
npx tsc --noEmit -p tsconfig.json

phase "jest"
npx jest --runInBand
