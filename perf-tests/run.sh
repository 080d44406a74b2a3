#!/usr/bin/env bash
# Side-by-side benchmark (shared/BENCH.md): coregate vs nginx vs haproxy.
# Usage: perf-tests/run.sh [--quick] [--install] [--scenario NAME] [--rounds N] [--skip NAME]
#   --scenario tls runs the TLS scenarios (tls-keepalive, tls-resumed, tls-full, idle10k-tls).
#   --scenario ai runs the AI front end benchmark instead (the ai-bench binary:
#   coregate's AI route against ai-mock; [--quick] [--only NAME] [--no-build]).
set -euo pipefail
cd "$(dirname "$0")/.."
prev=""
for arg in "$@"; do
    if [[ "$arg" == "--scenario=ai" || ( "$prev" == "--scenario" && "$arg" == "ai" ) ]]; then
        exec cargo run --release -p perf-tests --bin ai-bench -- "$@"
    fi
    prev="$arg"
done
exec cargo run --release -p perf-tests --bin compare -- "$@"
