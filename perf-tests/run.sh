#!/usr/bin/env bash
# Side-by-side benchmark (shared/BENCH.md): coregate vs nginx vs haproxy.
# Usage: perf-tests/run.sh [--quick] [--install] [--scenario NAME] [--rounds N] [--skip NAME]
#   --scenario tls runs the TLS scenarios (tls-keepalive, tls-resumed, tls-full, idle10k-tls).
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --release -p perf-tests --bin compare -- "$@"
