#!/usr/bin/env bash
# Every --io model serves keep-alive and pipelined requests and waits in its
# own syscall; --workers N shares one listener or, with --reuseport, opens
# one listener per worker; select() refuses descriptors past FD_SETSIZE
# cleanly instead of corrupting memory.
. "$(dirname "$0")/common.sh"

listeners_on() { ss -ltnH "sport = :$1" | wc -l; }

for io in epoll poll select threads; do
  start_server m --io "$io" --json
  r=$(client seq --port "$m_PORT" --n 50)
  assert_jq "$r" '.count == 50 and .error == null and all(.statuses[]; . == 200)' \
    "io_${io}_serves_50_keep_alive_requests_on_one_connection"
  r=$(client raw --port "$m_PORT" --timeout 2 --repeat 20 --send 'GET /bytes/3 HTTP/1.1\r\nHost: t\r\n\r\n' \
        --send 'GET /bytes/100000 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n')
  assert_jq "$r" '(.statuses | length) == 21 and .responses[20].body_len == 100000 and .end == "eof"' \
    "io_${io}_answers_pipelined_requests_in_order_then_closes"
  r=$(client flood --port "$m_PORT" --n 200 --timeout 10)
  assert_jq "$r" '.answered_200 == 200' "io_${io}_answers_200_concurrent_connections"
  stop_server m
  [ "$m_RC" = 0 ] || fail "io $io: server exits 0 on SIGTERM, got $m_RC"
  j=$(final_json m)
  case $io in
    epoll) wait_call=epoll_wait ;;
    poll) wait_call=poll ;;
    select) wait_call=select ;;
    threads) wait_call=read ;;
  esac
  assert_jq "$j" '.config.io == "'"$io"'" and .results.requests == 271 and .results.syscalls.'"$wait_call"' > 0
    and .results.connections_current == 0 and .results.errors == {}' \
    "io_${io}_counts_its_requests_and_its_own_wait_syscall"
  if [ "$io" != epoll ]; then
    assert_jq "$j" '(.results.syscalls.epoll_wait // 0) == 0' "io_${io}_does_not_use_epoll"
  fi
done

# --- workers sharing one listener, or one listener each with SO_REUSEPORT -------
for io in epoll threads; do
  start_server shared --io "$io" --workers 2 --json
  [ "$(listeners_on "$shared_PORT")" = 1 ] || fail "--workers 2 without --reuseport: one listening socket"
  r=$(client flood --port "$shared_PORT" --n 300 --timeout 10)
  assert_jq "$r" '.answered_200 == 300' "io_${io}_two_workers_sharing_one_listener_answer_300_connections"
  stop_server shared
  j=$(final_json shared)
  assert_jq "$j" '.config.workers == 2 and .results.connections_accepted == 300 and .results.requests == 300' \
    "io_${io}_two_workers_statistics_sum_both_workers"

  start_server rp --io "$io" --workers 2 --reuseport --json
  n=$(listeners_on "$rp_PORT")
  [ "$n" = 2 ] || { ss -ltn >&2; fail "--workers 2 --reuseport: ss -ltn shows 2 listeners on port $rp_PORT, got $n"; }
  r=$(client flood --port "$rp_PORT" --n 300 --timeout 10)
  assert_jq "$r" '.answered_200 == 300' "io_${io}_reuseport_two_listeners_on_one_port_answer_300_connections"
  stop_server rp
  j=$(final_json rp)
  assert_jq "$j" '.config.reuseport == true and .results.requests == 300 and (.results.listening | length) == 1' \
    "io_${io}_reuseport_reports_one_address"
done

# --- select() past FD_SETSIZE -------------------------------------------------------
# With 2048 descriptors allowed, connection 1,100 gets an fd past 1024, which
# FD_SET cannot hold: the server must refuse it (close) and go on serving.
ulimit -Sn 2048
start_server sel --io select --json
ulimit -Sn "$(ulimit -Hn)"
hold_out="$TMP/hold.json"
client hold --port "$sel_PORT" --n 1100 --hold 4 --timeout 5 >"$hold_out" &
hold_pid=$!
wait_until 15 grep -q open "$hold_out" || fail "1,100 connections were opened"
assert_jq "$(cat "$hold_out")" '.open == 1100' "select_server_keeps_its_listener_while_1100_clients_connect"
kill -0 "$sel_PID" || fail "the select server is still running with 1,100 connections"
kill -USR1 "$sel_PID"
wait_until 5 grep -q '"interval":true' "$sel_OUT" || fail "SIGUSR1 printed statistics"
snap=$(grep '"interval":true' "$sel_OUT" | tail -1)
assert_jq "$snap" '.results.fd_setsize_refusals > 0 and .results.connections_current <= 1024
  and .results.connections_closed.error == .results.fd_setsize_refusals' \
  "select_refuses_connections_past_fd_setsize_and_counts_them"
wait "$hold_pid"
# Descriptors are free again: the same server answers.
wait_until 5 bash -c "[ \"\$(curl -s --max-time 2 http://127.0.0.1:$sel_PORT/)\" = 'Hello world' ]" \
  || fail "the select server serves again once the clients left"
r=$(client seq --port "$sel_PORT" --n 20)
assert_jq "$r" '.count == 20 and all(.statuses[]; . == 200)' "select_server_serves_keep_alive_again_after_refusals"
stop_server sel
[ "$sel_RC" = 0 ] || fail "the select server exits 0, got $sel_RC (a crash would be 134/139)"
j=$(final_json sel)
assert_jq "$j" '.results.fd_setsize_refusals > 0 and .results.connections_current == 0' \
  "select_server_exits_cleanly_after_refusing_fds_past_fd_setsize"
grep -qi 'FD_SETSIZE' "$sel_OUT" || fail "the select refusal is explained (FD_SETSIZE) in the output"
