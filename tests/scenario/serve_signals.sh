#!/usr/bin/env bash
# Statistics on SIGUSR1 and every --stats-interval (JSON Lines with --json);
# SIGTERM and SIGINT stop accepting, let in-flight requests finish within
# --drain-timeout, print the final statistics and exit 0.
. "$(dirname "$0")/common.sh"

GET='GET / HTTP/1.1\r\nHost: t\r\n\r\n'
now_ms() { date +%s%3N; }

# --- SIGUSR1: statistics now, and the server goes on ---------------------------------------
start_server u1
client seq --port "$u1_PORT" --n 3 >/dev/null
kill -USR1 "$u1_PID"
wait_until 5 grep -q 'syscalls' "$u1_OUT" || fail "SIGUSR1 prints the statistics table"
kill -0 "$u1_PID" || fail "the server is still running after SIGUSR1"
r=$(client seq --port "$u1_PORT" --n 3)
assert_jq "$r" '.count == 3' "sigusr1_prints_statistics_and_the_server_goes_on_serving"
stop_server u1
[ "$u1_RC" = 0 ] || fail "exit 0 after SIGTERM, got $u1_RC"
# The table printed twice: once on SIGUSR1, once at exit; the second counts 6 requests.
[ "$(grep -c 'syscalls' "$u1_OUT")" -ge 2 ] || fail "statistics printed on SIGUSR1 and again on exit"
pass "sigusr1_table_and_final_table_both_printed"

start_server u2 --json
client seq --port "$u2_PORT" --n 4 >/dev/null
kill -USR1 "$u2_PID"
wait_until 5 grep -q '"interval":true' "$u2_OUT" || fail "SIGUSR1 with --json prints one JSON line"
line=$(grep '"interval":true' "$u2_OUT")
assert_jq "$line" '.schema == "sockdrill.serve/1" and .results.requests == 4 and .results.connections_current == 0' \
  "sigusr1_with_json_prints_one_json_line_with_the_counts_so_far"
stop_server u2
j=$(final_json u2)
assert_jq "$j" '.schema == "sockdrill.serve/1" and (.interval // false) == false and .results.requests == 4' \
  "final_json_after_sigusr1_is_a_whole_object_without_interval"

# --- --stats-interval: JSON Lines ------------------------------------------------------------
start_server si --stats-interval 200ms --json
client seq --port "$si_PORT" --n 5 >/dev/null
sleep 1.3
stop_server si
[ "$si_RC" = 0 ] || fail "exit 0, got $si_RC"
n=0
while IFS= read -r line; do
  jq -e '.schema == "sockdrill.serve/1" and .command == "serve" and (.results.requests | type) == "number"' \
    <<<"$line" >/dev/null || fail "every stats line is a JSON object with schema sockdrill.serve/1: $line"
  n=$((n + 1))
done < <(grep -v '^listening ' "$si_OUT")
[ "$n" -ge 5 ] || fail "--stats-interval 200ms over ~1.4 s prints at least 4 interval lines and a final one, got $n"
intervals=$(grep -c '"interval":true' "$si_OUT")
[ "$intervals" -ge 4 ] && [ "$intervals" -le 12 ] || fail "about 7 interval lines in 1.4 s at 200 ms, got $intervals"
last=$(grep -v '^listening ' "$si_OUT" | tail -1)
assert_jq "$last" '(.interval // false) == false and .results.requests == 5 and .ok == true' \
  "stats_interval_with_json_streams_json_lines_and_ends_with_the_final_object"

# --- statistics: connections closed by reason, traffic, syscalls -----------------------------------
start_server cr --keepalive-timeout 400ms --max-requests 2 --json
client seq --port "$cr_PORT" --n 1 >/dev/null                                       # peer_fin
client raw --port "$cr_PORT" --timeout 0.2 --send "$GET" --rst >/dev/null          # peer_rst
client raw --port "$cr_PORT" --timeout 2 --send "$GET" >/dev/null                  # idle_timeout
client raw --port "$cr_PORT" --timeout 2 --repeat 2 --send "$GET" >/dev/null       # max_requests
client raw --port "$cr_PORT" --timeout 2 --send 'GET /close HTTP/1.1\r\n\r\n' >/dev/null  # server_close
client raw --port "$cr_PORT" --timeout 2 --send 'GET /abort HTTP/1.1\r\n\r\n' >/dev/null  # abort
client raw --port "$cr_PORT" --timeout 2 --send 'BAD\r\n\r\n' >/dev/null                 # bad_request
client hold --port "$cr_PORT" --n 1 --hold 3 >/dev/null &                          # server_shutdown
hold_pid=$!
wait_until 5 bash -c "[ \$(ss -tnH state established '( sport = :$cr_PORT )' | wc -l) = 1 ]" || fail "one connection left open"
kill -USR1 "$cr_PID"
wait_until 5 grep -q '"interval":true' "$cr_OUT" || fail "SIGUSR1 printed statistics"
snap=$(grep '"interval":true' "$cr_OUT" | tail -1)
assert_jq "$snap" '.results.connections_current == 1 and .results.connections_accepted == 8' \
  "statistics_show_current_connections"
stop_server cr
kill "$hold_pid" 2>/dev/null || true
j=$(final_json cr)
assert_jq "$j" '.results.connections_closed == {"peer_fin": 1, "peer_rst": 1, "idle_timeout": 1, "max_requests": 1,
    "server_close": 1, "abort": 1, "bad_request": 1, "server_shutdown": 1, "header_timeout": 0, "error": 0}
  and .results.connections_accepted == 8 and .results.connections_current == 0
  and .results.requests == 7 and .results.responses["2xx"] == 7 and .results.responses["4xx"] == 1
  and .results.bytes_in > 0 and .results.bytes_out > 0 and err("ECONNRESET") == 1
  and .results.syscalls.accept4 >= 8 and .results.syscalls.read >= 8 and .results.syscalls.close == 8
  and .results.syscalls_per_request.close == (8 / 7 * 1000 | round / 1000)' \
  "statistics_count_every_close_reason_requests_bytes_errors_and_syscalls"

# --- SIGTERM while a request is in flight ----------------------------------------------------------
for io in epoll threads; do
  start_server dr --io "$io" --json
  client raw --port "$dr_PORT" --timeout 5 --send 'GET /delay/1s HTTP/1.1\r\nHost: t\r\n\r\n' >"$TMP/inflight.json" &
  c1=$!
  client hold --port "$dr_PORT" --n 3 --hold 4 >"$TMP/idle.json" &   # idle keep-alive connections
  c2=$!
  wait_until 5 bash -c "[ \$(ss -tnH state established '( sport = :$dr_PORT )' | wc -l) = 4 ]" \
    || fail "four connections are open before SIGTERM"
  sleep 0.2
  t0=$(now_ms)
  kill -TERM "$dr_PID"
  sleep 0.2
  r=$(client raw --port "$dr_PORT" --timeout 3 --send "$GET")
  assert_jq "$r" '.statuses == []' "io_${io}_after_sigterm_new_connections_are_not_served"
  rc=0
  timeout 10 tail --pid="$dr_PID" -f /dev/null
  wait "$dr_PID" || rc=$?
  t1=$(now_ms)
  [ "$rc" = 0 ] || fail "SIGTERM: exit 0, got $rc"
  wait "$c1" || true
  r=$(cat "$TMP/inflight.json")
  assert_jq "$r" '.statuses == [200] and .responses[0].complete and .end == "eof"
    and (.responses[0].headers.connection | ascii_downcase) == "close"' \
    "io_${io}_sigterm_lets_the_in_flight_delayed_request_finish_with_connection_close"
  [ $((t1 - t0)) -ge 500 ] && [ $((t1 - t0)) -lt 3000 ] \
    || fail "the server exits once the in-flight request is done (~0.8 s), took $((t1 - t0)) ms"
  pass "io_${io}_sigterm_exits_0_as_soon_as_the_in_flight_request_is_answered"
  kill "$c2" 2>/dev/null || true
  wait "$c2" 2>/dev/null || true
  j=$(final_json dr)
  assert_jq "$j" '.results.requests == 1 and .results.responses["2xx"] == 1 and .results.connections_current == 0
    and .results.connections_closed.server_shutdown >= 3' \
    "io_${io}_sigterm_prints_final_statistics_with_idle_connections_closed_by_shutdown"
done

# --- SIGINT also stops cleanly with exit 0 -------------------------------------------------------------
start_server si2 --json
client seq --port "$si2_PORT" --n 2 >/dev/null
t0=$(now_ms)
kill -INT "$si2_PID"
rc=0
timeout 10 tail --pid="$si2_PID" -f /dev/null
wait "$si2_PID" || rc=$?
t1=$(now_ms)
[ "$rc" = 0 ] || fail "SIGINT: sockdrill-serve exits 0 (stopping is its normal end), got $rc"
[ $((t1 - t0)) -lt 1500 ] || fail "SIGINT with no connection open stops at once, took $((t1 - t0)) ms"
j=$(final_json si2)
assert_jq "$j" '.results.requests == 2 and .ok == true' "sigint_exits_0_and_prints_final_statistics"

# --- --drain-timeout bounds the wait ----------------------------------------------------------------
for io in epoll threads; do
  start_server dt --io "$io" --drain-timeout 500ms --json
  client raw --port "$dt_PORT" --timeout 8 --send 'GET /delay/6s HTTP/1.1\r\nHost: t\r\n\r\n' >"$TMP/long.json" &
  c1=$!
  wait_until 5 bash -c "[ \$(ss -tnH state established '( sport = :$dt_PORT )' | wc -l) = 1 ]" || fail "the slow request is in flight"
  t0=$(now_ms)
  kill -TERM "$dt_PID"
  rc=0
  timeout 10 tail --pid="$dt_PID" -f /dev/null
  wait "$dt_PID" || rc=$?
  t1=$(now_ms)
  [ "$rc" = 0 ] || fail "drain timeout: exit 0, got $rc"
  [ $((t1 - t0)) -ge 400 ] && [ $((t1 - t0)) -lt 2500 ] \
    || fail "io $io: --drain-timeout 500ms: the server exits ~0.5 s after SIGTERM with a 6 s request in flight, took $((t1 - t0)) ms"
  wait "$c1" || true
  r=$(cat "$TMP/long.json")
  assert_jq "$r" '.statuses == [] and (.end == "eof" or .end == "reset")' \
    "io_${io}_drain_timeout_closes_the_unfinished_request_without_a_response"
  j=$(final_json dt)
  assert_jq "$j" '.results.connections_closed.server_shutdown == 1 and .results.connections_current == 0' \
    "io_${io}_drain_timeout_bounds_shutdown_and_counts_the_cut_connection"
done
