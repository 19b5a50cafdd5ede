#!/usr/bin/env bash
# Robustness (issue 3 section 6): slowloris, oversized and malformed input,
# descriptor exhaustion and a client that never reads. In every case the
# server answers what it should, keeps serving others, does not spin, and
# keeps its memory bounded.
. "$(dirname "$0")/common.sh"

GET='GET / HTTP/1.1\r\nHost: t\r\n\r\n'
# cpu_ticks PID: user + system CPU time of PID, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
serves() { [ "$(curl -s --max-time 2 "http://127.0.0.1:$1/")" = "Hello world" ]; }

# --- malformed and oversized input -------------------------------------------------------------
start_server bad --json
P=$bad_PORT
# expect_status NAME STATUS ARGS...: the raw client sees exactly one response, STATUS, then the end.
expect_status() {
  local name=$1 status=$2; shift 2
  local r
  r=$(client raw --port "$P" --timeout 3 "$@")
  assert_jq "$r" ".statuses == [$status] and .end != \"timeout\"" "$name"
  serves "$P" || fail "the server still serves others after: $name"
}
expect_status garbage_bytes_get_400_and_close 400 --send '\x00\x01\x02\xff garbage\r\n\r\n'
expect_status random_binary_gets_400 400 --send-random 4096 --seed 7
expect_status request_line_without_version_gets_400 400 --send 'GET /\r\n\r\n'
expect_status header_without_colon_gets_400 400 --send 'GET / HTTP/1.1\r\nHost t\r\n\r\n'
expect_status negative_content_length_gets_400 400 --send 'POST / HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n'
expect_status overflowing_content_length_gets_400 400 --send 'POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999999999\r\n\r\n'
expect_status content_length_2_pow_64_gets_400 400 --send 'POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 18446744073709551616\r\n\r\n'
expect_status content_length_2_pow_63_gets_400 400 --send 'POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 9223372036854775808\r\n\r\n'
expect_status non_numeric_content_length_gets_400 400 --send 'POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 12abc\r\n\r\n'
expect_status conflicting_content_lengths_get_400 400 --send 'POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd'
expect_status content_length_with_chunked_gets_400 400 --send 'POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
expect_status overflowing_chunk_size_gets_400 400 --send 'POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n'
expect_status chunk_size_2_pow_64_gets_400 400 --send 'POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n'
expect_status non_hex_chunk_size_gets_400 400 --send 'POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'
expect_status chunk_over_max_body_size_gets_413 413 --send 'POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFF\r\n'
expect_status content_length_over_max_body_size_gets_413 413 --send 'POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n'
expect_status http_2_0_gets_505 505 --send 'GET / HTTP/2.0\r\nHost: t\r\n\r\n'
expect_status http_1_2_gets_505 505 --send 'GET / HTTP/1.2\r\nHost: t\r\n\r\n'
# A 1 MiB header line: 431 once the head passes 8 KiB, however much more follows.
mib() { head -c 1048576 /dev/zero | tr '\0' a; }
{ printf 'GET / HTTP/1.1\r\nHost: t\r\nX-Big: '; mib; printf '\r\n\r\n'; } >"$TMP/bigheader"
{ printf 'GET /'; mib; printf ' HTTP/1.1\r\nHost: t\r\n\r\n'; } >"$TMP/bigtarget"
expect_status one_mib_header_line_gets_431 431 --send-file "$TMP/bigheader"
expect_status one_mib_request_target_gets_431 431 --send-file "$TMP/bigtarget"
expect_status many_small_headers_past_8kib_get_431 431 --repeat 1 --send "GET / HTTP/1.1\r\n$(for i in $(seq 1 800); do printf 'X-H%d: v\\r\\n' "$i"; done)\r\n"
# A bad request after a good one on the same connection: the good one is answered first.
r=$(client raw --port "$P" --timeout 3 --send 'GET /bytes/5 HTTP/1.1\r\nHost: t\r\n\r\nBAD REQUEST\r\n\r\n')
assert_jq "$r" '.statuses == [200,400] and .end == "eof"' "bad_request_after_a_good_pipelined_one_answers_both_in_order"
stop_server bad
[ "$bad_RC" = 0 ] || fail "the server exits 0 after all the bad input, got $bad_RC"
j=$(final_json bad)
assert_jq "$j" '.results.connections_closed.bad_request >= 21 and .results.responses["4xx"] >= 19
  and .results.responses["5xx"] >= 2 and .results.connections_current == 0' \
  "bad_requests_are_answered_counted_and_closed"

# --- slowloris: 1,000 connections that never finish their head ----------------------------------
start_server slow --header-timeout 2s --json
client slowloris --port "$slow_PORT" --n 1000 --interval 0.5 --duration 6 --timeout 5 >"$TMP/slow.json" &
slow_pid=$!
wait_until 10 bash -c "[ \$(ss -tnH state established '( sport = :$slow_PORT )' | wc -l) -ge 990 ]" \
  || fail "1,000 slow connections are open on the server"
pass "slowloris_1000_connections_are_accepted"
# Meanwhile a normal client keeps getting answers within its 1 s timeout.
for i in $(seq 1 8); do
  r=$(client seq --port "$slow_PORT" --n 5 --timeout 1)
  assert_jq "$r" '.count == 5 and .max_ms < 1000' "normal_client_answered_while_1000_slowloris_connections_are_open ($i)" >/dev/null
  sleep 0.2
done
pass "normal_client_answered_while_1000_slowloris_connections_are_open"
wait "$slow_pid"
r=$(cat "$TMP/slow.json")
assert_jq "$r" '.connections == 1000 and .got_408 >= 990 and .still_open == 0 and .elapsed_s < 5 and .got_other_response == 0' \
  "slowloris_connections_get_408_and_are_closed_after_the_header_timeout"
serves "$slow_PORT" || fail "the server serves after the slowloris wave"
stop_server slow
j=$(final_json slow)
assert_jq "$j" '.results.connections_closed.header_timeout >= 990 and .results.requests >= 40 and .results.connections_current == 0' \
  "slowloris_closes_are_counted_as_header_timeout"

# --- descriptor exhaustion: ulimit -n 256 and 1,000 connections ---------------------------------
for io in epoll threads; do
  ulimit -Sn 256
  start_server fds --io "$io" --json
  ulimit -Sn "$(ulimit -Hn)"
  cpu0=$(cpu_ticks "$fds_PID")
  client hold --port "$fds_PORT" --n 1000 --hold 3 --timeout 3 >"$TMP/fds.json" &
  hold_pid=$!
  wait_until 10 grep -q open "$TMP/fds.json" || fail "the 1,000 connect attempts were made"
  sleep 2
  kill -0 "$fds_PID" || fail "the server survives running out of descriptors"
  cpu1=$(cpu_ticks "$fds_PID")
  ticks=$(getconf CLK_TCK)
  # Two seconds out of descriptors; a level-triggered accept loop would burn ~2 s of CPU.
  [ $((cpu1 - cpu0)) -lt $((ticks / 2)) ] \
    || fail "out of descriptors the server backs off instead of spinning: used $(( (cpu1 - cpu0) * 1000 / ticks )) ms CPU in ~2 s"
  pass "io_${io}_out_of_descriptors_the_server_does_not_spin"
  kill -USR1 "$fds_PID"
  wait_until 5 grep -q '"interval":true' "$fds_OUT" || fail "SIGUSR1 printed statistics"
  snap=$(grep '"interval":true' "$fds_OUT" | tail -1)
  assert_jq "$snap" '.results.accept_backoffs > 0 and err("EMFILE") > 0 and .results.connections_current < 256' \
    "io_${io}_out_of_descriptors_the_server_counts_emfile_and_accept_backoffs"
  wait "$hold_pid"
  wait_until 5 serves "$fds_PORT" || fail "the server serves again once descriptors are free"
  r=$(client flood --port "$fds_PORT" --n 200 --timeout 10)
  assert_jq "$r" '.answered_200 == 200' "io_${io}_after_descriptor_exhaustion_the_server_serves_200_new_connections"
  stop_server fds
  [ "$fds_RC" = 0 ] || fail "exit 0 after descriptor exhaustion, got $fds_RC"
done

# --- a client that never reads a 1 GiB response ----------------------------------------------------
start_server big --json
serves "$big_PORT"
rss0=$(rss_kib "$big_PID")
for i in 1 2 3; do
  client noread --port "$big_PORT" --path /bytes/1GiB --hold 4 >"$TMP/noread$i.json" &
  eval "nr$i=\$!"
done
wait_until 5 bash -c "[ \$(ss -tnH state established '( sport = :$big_PORT )' | wc -l) -ge 3 ]" || fail "three non-reading clients are connected"
sleep 1.5
r=$(client seq --port "$big_PORT" --n 50 --timeout 2)
assert_jq "$r" '.count == 50' "other_clients_are_served_while_three_never_read_a_1gib_response"
rss1=$(rss_kib "$big_PID")
[ $((rss1 - rss0)) -lt 51200 ] || fail "server RSS grows < 50 MB with three 1 GiB responses unread: ${rss0} -> ${rss1} KiB"
pass "server_memory_stays_bounded_while_clients_never_read_1gib_responses"
wait "$nr1" "$nr2" "$nr3" || true
sleep 0.5
kill -0 "$big_PID" || fail "the server survives clients that close with a large response unsent"
serves "$big_PORT" || fail "the server serves after the non-reading clients left"
stop_server big
[ "$big_RC" = 0 ] || fail "exit 0, got $big_RC"
j=$(final_json big)
assert_jq "$j" '.results.bytes_out < 1073741824 and .results.connections_current == 0' \
  "a_non_reading_client_gets_only_what_the_socket_buffers_hold"
