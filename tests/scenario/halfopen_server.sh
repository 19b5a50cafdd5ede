#!/usr/bin/env bash
# sockdrill-halfopen --side server: sockdrill is the client that vanishes and
# the census of the server's namespace times how long the server keeps its
# half: the embedded server's idle timeout and keepalive as predicted, a
# server with neither keeps it past --max-wait, and a real server on
# loopback (sockdrill-serve as a separate process, and nginx when installed)
# is measured the same way.
. "$(dirname "$0")/common.sh"
require_root halfopen_server
command -v jq >/dev/null || fail "jq is not installed"

halfopen() { timeout 60 sockdrill-halfopen --side server --json "$@"; }

# forget: the server's FIN at its idle timeout meets our RST.
j=$(halfopen --vanish forget --after 200ms --server-idle-timeout 1s --max-wait 3s)
assert_jq "$j" '.environment.mode == "sandbox" and .results.server_half.reaped and .results.server_half.as_predicted' \
  "forget: the idle timeout reaps the server's half as predicted"
assert_jq "$j" '.results.server_half.reaped_ms > 700 and .results.server_half.reaped_ms < 1100' \
  "forget: reaped about 1 s - 0.2 s after the vanish"

# forget with server keepalive shorter than the idle timeout: the probe meets RST.
j=$(halfopen --vanish forget --after 200ms --server-idle-timeout 10s --server-keepalive 1,1,2 --max-wait 3s)
assert_jq "$j" '.results.server_half.reaped and .results.server_half.as_predicted and .results.server_half.reaped_ms < 1100' \
  "forget: the server's first keepalive probe meets RST"

# cut: nothing answers; the server's keepalive gives up after idle + intvl * cnt.
j=$(halfopen --vanish cut --after 200ms --server-idle-timeout 30s --server-keepalive 1,1,2 --max-wait 5s)
assert_jq "$j" '.results.server_half.reaped and .results.server_half.as_predicted' \
  "cut: the server's keepalive reaps its half as predicted"
assert_jq "$j" '.results.server_half.reaped_ms > 2500 and .results.server_half.reaped_ms < 3300' \
  "cut: about 3 s - 0.2 s"

# A server with neither (idle timeout 60 s, no keepalive) keeps its half.
j=$(halfopen --vanish forget --after 100ms --max-wait 1500ms)
assert_jq "$j" '.results.server_half.reaped == false and .results.server_half.as_predicted and
                .results.server_half.states[0].state == "ESTABLISHED"' "a server without timeouts still holds its half at --max-wait"

# --target: a real server process on loopback.
start_server real --keepalive-timeout 1s
j=$(halfopen --vanish forget --after 100ms --max-wait 3s --target "127.0.0.1:$real_PORT")
assert_jq "$j" '.environment.mode == "target" and .results.server == "127.0.0.1:'"$real_PORT"'" and
                .results.server_half.reaped and .results.server_half.reaped_ms < 1500' \
  "--target: sockdrill-serve's 1 s idle timeout reaps the dead client"

if command -v nginx >/dev/null; then
  mkdir -p "$TMP/nginx/logs"
  NPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat >"$TMP/nginx/nginx.conf" <<CONF
daemon off; worker_processes 1; pid $TMP/nginx/nginx.pid; error_log $TMP/nginx/logs/error.log;
events { worker_connections 64; }
http { access_log off; keepalive_timeout 2s;
       server { listen 127.0.0.1:$NPORT; location / { return 200 "ok\n"; } } }
CONF
  nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" &
  _pids+=($!)
  wait_until 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$NPORT" 2>/dev/null || fail "nginx did not start"
  j=$(halfopen --vanish forget --after 100ms --max-wait 4s --target "127.0.0.1:$NPORT")
  assert_jq "$j" '.results.server_half.reaped and .results.server_half.reaped_ms > 1500 and .results.server_half.reaped_ms < 2600' \
    "--target nginx: keepalive_timeout 2s reaps the dead client after about 2 s"
else
  echo "skip: nginx is not installed (make deps-bench installs it)"
fi
