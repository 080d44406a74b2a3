#!/usr/bin/env bash
# Side-by-side: nginx proxy vs engine/examples/forwarder, per shared/BENCH.md.
# origin nginx + wrk on CPU 0, proxy under test alone on CPU 1; proxies
# restarted every run; interleaved; CPU from /proc/PID/task/*/schedstat.
# Ports shifted by +10000 so other benches on this host do not collide.
# Build first: cargo build --release -p engine --example forwarder
# Usage: perf-tests/forwarder.sh [ROUNDS] [SECONDS]   (TARGETS="nginx fwd" by default;
#   also glh2 (GLH2=path) and ep/ur/urm (EXP=dir) for reference forwarders)
set -euo pipefail
rounds=${1:-5}; dur=${2:-10}; fwd=${FWD:-$(cd "$(dirname "$0")/.." && pwd)/target/release/examples/forwarder}
run=$(mktemp -d /tmp/iobench.XXXXXX)
mkdir -p $run/run/origin/tmp $run/run/nginx-proxy/tmp $run/www $run/tls
head -c 16384 /dev/zero | tr '\0' 'a' > $run/www/16k.txt
openssl req -x509 -newkey rsa:2048 -nodes -keyout $run/tls/key.pem -out $run/tls/cert.pem -days 1 -subj /CN=x 2>/dev/null
shift_ports() { sed -e "s#@RUN@#$run#g" -e 's/8081/18081/g; s/8082/18082/g; s/8090/18090/g; s/8443/18443/g' "$1"; }
shift_ports ${SHARED_BENCH:-$(cd "$(dirname "$0")/.." && pwd)/perf-tests/configs}/origin.conf > $run/origin.conf
shift_ports ${SHARED_BENCH:-$(cd "$(dirname "$0")/.." && pwd)/perf-tests/configs}/nginx-proxy.conf > $run/proxy.conf
taskset -c 0 nginx -c $run/origin.conf -p $run/run/origin/ -e $run/run/origin/error.log > /dev/null 2>&1 & origin=$!
trap 'kill -TERM $origin 2>/dev/null; wait $origin 2>/dev/null; rm -rf $run' EXIT
waitport() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }
waitport 18081
# ns on CPU of the given pids and all their threads
cpu_ns() { local t=0; for p in "$@"; do for f in /proc/$p/task/*/schedstat; do read -r a _ < $f; t=$((t + a)); done; done; echo $t; }
echo "round target req_s requests cpu_us_per_req busy"
for r in $(seq $rounds); do
  for target in ${TARGETS:-nginx fwd}; do
    if [ $target = nginx ]; then
      taskset -c 1 nginx -c $run/proxy.conf -p $run/run/nginx-proxy/ -e $run/run/nginx-proxy/error.log > /dev/null 2>&1 & pid=$!
      port=18082
    elif [ $target = glh2 ]; then
      taskset -c 1 ${GLH2:-glh2} 127.0.0.1:18098 127.0.0.1:18081 > /dev/null 2>&1 & pid=$!
      port=18098
    elif [ $target = ep ] || [ $target = ur ] || [ $target = urm ]; then
      # the io-floor experiment's reference forwarders (EXP=its target/release)
      bin=$target; opts=; [ $target = urm ] && { bin=ur; opts=multi; }
      taskset -c 1 ${EXP:?set EXP to the experiment binaries}/$bin 127.0.0.1:18097 127.0.0.1:18081 $opts > /dev/null 2>&1 & pid=$!
      port=18097
    elif [ $target = fwd0 ]; then
      # the forwarder with the driver's direct wait turned off
      FWD_DIRECT_US=0 taskset -c 1 $fwd 127.0.0.1:18099 127.0.0.1:18081 > /dev/null 2>&1 & pid=$!
      port=18099
    else
      taskset -c 1 $fwd 127.0.0.1:18099 127.0.0.1:18081 > /dev/null 2>&1 & pid=$!
      port=18099
    fi
    waitport $port; sleep 0.2
    pids="$pid $(pgrep -P $pid | tr "\n" " " || true)"
    taskset -c 0 wrk -t1 -c64 -d3s http://127.0.0.1:$port/ > /dev/null
    c0=$(cpu_ns $pids); t0=$(date +%s%N)
    taskset -c 0 wrk -t1 -c64 -d${dur}s http://127.0.0.1:$port/ > $run/out
    c1=$(cpu_ns $pids); t1=$(date +%s%N)
    n=$(awk '/requests in/ {print $1}' $run/out); rps=$(awk '/Requests\/sec/ {print $2}' $run/out)
    errs=$(grep -E "Non-2xx|Socket errors" $run/out || true)
    awk -v r=$r -v t=$target -v n=$n -v rps=$rps -v c=$((c1-c0)) -v w=$((t1-t0)) \
      'BEGIN { printf "%s %s %.0f %d %.2f %.2f\n", r, t, rps, n, c/1000/n, c/w }'
    [ -n "$errs" ] && echo "  $errs"
    kill -TERM $pid; wait $pid 2>/dev/null || true
    sleep 0.5
  done
done
