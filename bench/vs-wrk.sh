#!/usr/bin/env bash
# coregate-bench against wrk, same nginx origin, same load (-t1 -c64), interleaved.
# Reports each generator's req/s and its own CPU µs per request (utime+stime of
# the generator process / requests, from the waiting shell's cutime+cstime).
#
# usage: bench/vs-wrk.sh [ROUNDS=5] [DURATION=10] [ORIGIN_CPU=0] [PATH=/]
#   ORIGIN_CPU=0: generator and origin share CPU 0 (shared/BENCH.md layout)
#   ORIGIN_CPU=1: generator alone on CPU 0, origin on CPU 1
# Needs nginx and wrk (apt-get install -y nginx-light wrk) and a release build
# of coregate-bench (cargo build --release -p bench). Load goes to 127.0.0.1 only;
# every run is bounded by its duration.
set -euo pipefail
rounds=${1:-5}
duration=${2:-10}
origin_cpu=${3:-0}
path=${4:-/}
root=$(cd "$(dirname "$0")/.." && pwd)
bench=${CARGO_TARGET_DIR:-$root/target}/release/coregate-bench
[ -x "$bench" ] || { echo "build it first: cargo build --release -p bench" >&2; exit 1; }
command -v wrk >/dev/null && command -v nginx >/dev/null || {
  echo "needs wrk and nginx: apt-get install -y nginx-light wrk" >&2; exit 1; }

run=$(mktemp -d /tmp/vs-wrk.XXXXXX)
mkdir -p "$run/run/origin/tmp" "$run/www" "$run/tls"
head -c 16384 /dev/zero | tr '\0' 'a' > "$run/www/16k.txt"
# The reference origin without its status listener's neighbours changed.
sed "s#@RUN@#$run#g" "$root/perf-tests/configs/origin.conf" > "$run/origin.conf"
taskset -c "$origin_cpu" nginx -c "$run/origin.conf" -p "$run/run/origin/" -e "$run/run/origin/error.log" &
origin=$!
trap 'kill -TERM $origin 2>/dev/null; wait $origin 2>/dev/null; rm -rf "$run"' EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/8081) 2>/dev/null && break; sleep 0.1; done

# Runs "$@" pinned to CPU 0 with stdout to $run/out; prints the CPU ticks it used.
cpu_ticks() {
  bash -c 'taskset -c 0 "$@" > "'"$run"'/out" 2>&1; read -r -a f < /proc/$$/stat; echo $(( f[15] + f[16] ))' _ "$@"
}
hz=$(getconf CLK_TCK)
url="http://127.0.0.1:8081$path"
printf '%-15s %6s %12s %12s %14s\n' generator round req/s requests "CPU µs/req"
for round in $(seq "$rounds"); do
  for gen in wrk coregate-bench; do
    if [ "$gen" = wrk ]; then
      cmd=(wrk -t1 -c64 -d"${duration}s" "$url"); warm=(wrk -t1 -c64 -d2s "$url")
    else
      cmd=("$bench" -t1 -c64 -d"${duration}s" "$url"); warm=("$bench" -t1 -c64 -d2s "$url")
    fi
    taskset -c 0 "${warm[@]}" > /dev/null
    ticks=$(cpu_ticks "${cmd[@]}")
    if [ "$gen" = wrk ]; then
      rps=$(awk '/Requests\/sec/ {print $2}' "$run/out")
      n=$(awk '/requests in/ {print $1}' "$run/out")
    else
      rps=$(awk '$1 == "requests" {print $3}' "$run/out")
      n=$(awk '$1 == "requests" {print $2}' "$run/out")
    fi
    us=$(awk -v t="$ticks" -v hz="$hz" -v n="$n" 'BEGIN { printf "%.2f", t * 1e6 / hz / n }')
    printf '%-15s %6s %12.0f %12s %14s\n' "$gen" "$round" "$rps" "$n" "$us"
  done
done
