# What every tests/bench script shares; sourced after `set -euo pipefail`.
#   bench_setup NAME     a scratch directory $TMP, the array pids of processes
#                        to end on exit, exit 130 on SIGINT/SIGTERM, the
#                        descriptor limit raised to the hard limit
#   need TOOL...         exit 3 naming the first tool that is missing
#   free_port            a free TCP port on 127.0.0.1
#   median               the median of the numbers on stdin
#   ratio A B, per A B   A/B to two decimals (per: 0 when B is 0)
#   start_nginx PORT [LISTEN_PARAMS]
#                        one nginx worker on core 0 answering a 12-byte body
#                        without an access log; sets NGINX_MASTER and NGINX_PID

bench_setup() {
  BENCH=$1
  TMP=$(mktemp -d "/tmp/sockdrill-$BENCH-bench.XXXXXX")
  pids=()
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
  ulimit -n "$(ulimit -Hn)"
}
bench_cleanup() {
  for pid in "${pids[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
need() {
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$BENCH.sh: $tool is missing (make deps-bench installs it)" >&2; exit 3; }
  done
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
per() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0) ? a / b : 0}'; }

start_nginx() {
  local port=$1 params=${2:-}
  cat >"$TMP/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $TMP/nginx.pid;
error_log $TMP/nginx.err;
events { worker_connections 20000; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 120s;
  server {
    listen 127.0.0.1:$port $params;
    location / { default_type text/plain; return 200 "Hello world!"; }
  }
}
CONF
  taskset -c 0 nginx -c "$TMP/nginx.conf" -e "$TMP/nginx.err" &
  NGINX_MASTER=$!; pids+=("$NGINX_MASTER")
  NGINX_PID=
  for _ in $(seq 1 50); do
    NGINX_PID=$(pgrep -P "$NGINX_MASTER" | head -1 || true)
    [ -n "$NGINX_PID" ] && curl -sf "http://127.0.0.1:$port/" >/dev/null && return 0
    sleep 0.1
  done
  echo "$BENCH.sh: nginx did not start" >&2; cat "$TMP/nginx.err" >&2; exit 3
}
