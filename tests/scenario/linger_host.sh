#!/usr/bin/env bash
# sockdrill-linger without the sandbox: unprivileged, the cases still run on
# loopback and the notes say which column stays empty (no tap); bad input is
# one line naming the flag, exit 2; against --target, a server that closes
# with a plain close() cuts the response, and nginx (lingering_close) does not.
. "$(dirname "$0")/common.sh"
command -v jq >/dev/null || fail "jq is not installed"
EXPECT_CMD=sockdrill-linger

for spec in "--case gentle" "--case linger=-1" "--case linger=0" "--closer nobody" "--server-close slam" \
            "--write-size lots" "--unread-size -1"; do
  flag=${spec%% *}
  expect_exit 2 "^sockdrill-linger: .*${flag}" $spec
done
expect_exit 2 "^sockdrill-linger: --case normal: against --target" --target 127.0.0.1:80 --case normal
pass "bad_input_is_one_line_naming_the_flag_and_exit_2"

if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  unpriv() { setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all "$@"; }
  j=$(unpriv "$BIN/sockdrill-linger" --case normal linger0 unread --json --write-size 1MiB) || fail "unprivileged run"
  assert_jq "$j" '.environment.mode == "host"' "unprivileged: host mode on loopback"
  assert_jq "$j" '.results.linger0.closer_sent == null and .results.linger0.peer_read == "ECONNRESET" and .results.linger0.data_lost' \
    "unprivileged linger0: no wire column, but the errno and the data loss"
  assert_jq "$j" '.results.normal.time_wait.client == 1' "unprivileged normal: the census still sees TIME-WAIT"
  unpriv "$BIN/sockdrill-linger" --case linger0 --write-size 1MiB | grep -q "no packet tap" ||
    fail "unprivileged: a note says the tap column is empty"
  pass "unprivileged_says_which_column_it_could_not_fill"
elif [ "${CI:-}" = true ]; then
  fail "linger_host needs root and setpriv to test the unprivileged path under CI=true"
fi

# --target: sockdrill-serve closing plainly with a big send buffer.
start_server plain --close normal --sndbuf 4MiB
j=$(timeout 60 sockdrill-linger --target "127.0.0.1:$plain_PORT" --case pipeline linger0 --path /bytes/4194304 --json)
assert_jq "$j" '.environment.mode == "target" and .results.pipeline.data_lost and .results.pipeline.peer_read == "ECONNRESET"' \
  "--target with a plain close: the pipelined response is cut by RST"
assert_jq "$j" '.results.linger0.server_socket_gone and .results.linger0.server_still_serves' \
  "--target linger0: the server drops the reset connection and keeps serving"

if command -v nginx >/dev/null; then
  mkdir -p "$TMP/nginx/logs" "$TMP/nginx/html"
  head -c 4194304 /dev/zero >"$TMP/nginx/html/big"
  chmod 755 "$TMP" "$TMP/nginx" "$TMP/nginx/html"; chmod 644 "$TMP/nginx/html/big"  # nginx workers run as nobody
  NPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat >"$TMP/nginx/nginx.conf" <<CONF
daemon off; worker_processes 1; pid $TMP/nginx/nginx.pid; error_log $TMP/nginx/logs/error.log;
events { worker_connections 64; }
http { access_log off; server { listen 127.0.0.1:$NPORT; root $TMP/nginx/html; } }
CONF
  nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" &
  _pids+=($!)
  wait_until 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$NPORT" 2>/dev/null || fail "nginx did not start"
  j=$(timeout 60 sockdrill-linger --target "127.0.0.1:$NPORT" --case pipeline linger0 --path /big --json)
  assert_jq "$j" '.results.pipeline.data_lost == false and .results.pipeline.peer_read == "EOF" and
                  .results.pipeline.delivered_bytes == 4194304' "--target nginx: lingering_close keeps the whole response"
  assert_jq "$j" '.results.linger0.server_still_serves' "--target nginx: still serves after a client's RST"
else
  echo "skip: nginx is not installed (make deps-bench installs it)"
fi
