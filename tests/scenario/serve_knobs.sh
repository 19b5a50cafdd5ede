#!/usr/bin/env bash
# The response and connection knobs of sockdrill-serve (issue 3 section 4)
# have the effect they promise, seen by a client, by ss, or in the server's
# own --json statistics: --nodelay/--split-writes (Nagle), --cork,
# --check-closed, --peername, --linger, --close, --keepalive-timeout,
# --max-requests, --header-timeout, --response-size, --response-delay.
. "$(dirname "$0")/common.sh"

GET='GET / HTTP/1.1\r\nHost: t\r\n\r\n'

# --- baseline: the lean server makes no optional syscalls ----------------------
start_server lean --json
r=$(client seq --port "$lean_PORT" --n 10)
assert_jq "$r" '.count == 10' "lean_server_answers_10_keep_alive_requests"
stop_server lean
j=$(final_json lean)
assert_jq "$j" '(.results.syscalls.setsockopt // 0) == 0 and (.results.syscalls.getsockopt // 0) == 0
  and (.results.syscalls.getpeername // 0) == 0 and .results.syscalls.write == 10' \
  "lean_server_makes_no_setsockopt_getsockopt_or_getpeername_and_one_write_per_response"

# --- Nagle: --split-writes 2 without and with --nodelay -----------------------------
start_server nagle --split-writes 2 --json
r=$(client seq --port "$nagle_PORT" --n 20)
assert_jq "$r" '.count == 20 and .tail_median_ms >= 30 and .tail_median_ms < 250' \
  "split_writes_2_without_nodelay_stalls_about_40ms_per_request_on_delayed_ack"
stop_server nagle
j=$(final_json nagle)
assert_jq "$j" '((.results.syscalls.write // 0) + (.results.syscalls.writev // 0)) == 40' \
  "split_writes_2_makes_two_writes_per_response"

start_server nodelay --split-writes 2 --nodelay --json
r=$(client seq --port "$nodelay_PORT" --n 20)
assert_jq "$r" '.count == 20 and .tail_median_ms < 10' "split_writes_2_with_nodelay_answers_at_once"
stop_server nodelay
j=$(final_json nodelay)
assert_jq "$j" '.results.syscalls.setsockopt == 1 and .config.nodelay == true' \
  "nodelay_is_one_setsockopt_per_connection"

start_server split --split-writes 3 --json
r=$(client seq --port "$split_PORT" --n 10 --path /bytes/100)
assert_jq "$r" '.count == 10' "split_writes_3_responses_arrive_whole"
stop_server split
j=$(final_json split)
assert_jq "$j" '((.results.syscalls.write // 0) + (.results.syscalls.writev // 0)) == 30' \
  "split_writes_3_makes_three_writes_per_response"

# --- --cork, --check-closed, --peername: per-request syscalls -------------------------
start_server cork --cork --json
r=$(client seq --port "$cork_PORT" --n 10)
assert_jq "$r" '.count == 10' "cork_server_answers"
stop_server cork
j=$(final_json cork)
assert_jq "$j" '.results.syscalls.setsockopt == 20 and .results.syscalls_per_request.setsockopt == 2' \
  "cork_costs_two_setsockopt_per_request"

start_server puma --check-closed --peername --json
r=$(client seq --port "$puma_PORT" --n 10)
assert_jq "$r" '.count == 10' "check_closed_peername_server_answers"
stop_server puma
j=$(final_json puma)
assert_jq "$j" '.results.syscalls.getsockopt == 10 and .results.syscalls.getpeername == 10
  and .results.syscalls_per_request.getsockopt == 1 and .results.syscalls_per_request.getpeername == 1' \
  "check_closed_and_peername_cost_one_getsockopt_and_one_getpeername_per_request"

# --- --linger 0 and --close: RST or FIN, who holds TIME_WAIT ----------------------------
start_server l0 --linger 0 --json
r=$(client raw --port "$l0_PORT" --timeout 3 --read-delay 0.2 --send 'GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n')
assert_jq "$r" '.statuses == [200] and .end == "reset" and .errno == "ECONNRESET"' \
  "linger_0_close_sends_rst_the_client_reads_the_response_then_econnreset"
tw=$(ss -tanH state time-wait "( sport = :$l0_PORT )" | wc -l)
[ "$tw" = 0 ] || fail "linger 0 leaves no TIME-WAIT on the server side, ss shows $tw"
pass "linger_0_close_leaves_no_time_wait"
stop_server l0

start_server cn --close normal --json
r=$(client raw --port "$cn_PORT" --timeout 3 --read-delay 0.2 --send 'GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n')
assert_jq "$r" '.statuses == [200] and .end == "eof"' "close_normal_sends_fin_the_client_reads_eof"
tw=$(ss -tanH state time-wait "( sport = :$cn_PORT )" | wc -l)
[ "$tw" -ge 1 ] || fail "close normal: the server, closing first, holds TIME-WAIT (ss shows $tw)"
pass "close_normal_leaves_the_server_in_time_wait"
stop_server cn

start_server ca --close abortive --json
r=$(client raw --port "$ca_PORT" --timeout 3 --read-delay 0.2 --send 'GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n')
assert_jq "$r" '.statuses == [200] and .end == "reset" and .errno == "ECONNRESET"' \
  "close_abortive_sends_rst_the_client_reads_econnreset"
stop_server ca

# The Apache case: a 4 MiB response with Connection: close, and more input
# arriving while the server writes (unread when it closes). A plain close()
# then sends RST and throws the unsent response away; a lingering close
# (shutdown SHUT_WR, drain, close) delivers all of it and a clean EOF.
APACHE=(--timeout 5 --rcvbuf 65536 --send 'GET /bytes/4MiB HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n'
        --then-sleep 0.3 --then-send 'GET / HTTP/1.1\r\nHost: t\r\n\r\n' --read-delay 0.2)
for io in epoll threads; do
  start_server ln --io "$io" --close normal
  r=$(client raw --port "$ln_PORT" "${APACHE[@]}")
  assert_jq "$r" '.end == "reset" and .errno == "ECONNRESET" and .responses[0].complete == false and .bytes < 4194304' \
    "io_${io}_close_normal_with_unread_input_truncates_the_response_with_econnreset"
  stop_server ln
  start_server ll --io "$io" --close lingering --json
  r=$(client raw --port "$ll_PORT" "${APACHE[@]}")
  assert_jq "$r" '.end == "eof" and .responses[0].complete == true and .responses[0].body_len == 4194304 and .leftover_bytes == 0' \
    "io_${io}_close_lingering_with_unread_input_delivers_the_whole_response_and_eof"
  stop_server ll
  j=$(final_json ll)
  assert_jq "$j" '.results.syscalls.shutdown == 1 and .results.connections_closed.server_close == 1' \
    "io_${io}_close_lingering_shuts_down_writes_once"
done

# --- timeouts and limits, in the event loop and in blocking threads --------------------------
for io in epoll threads; do
  start_server ka --io "$io" --keepalive-timeout 300ms --json
  r=$(client raw --port "$ka_PORT" --timeout 5 --send "$GET")
  assert_jq "$r" '.statuses == [200] and .end == "eof" and .elapsed_ms >= 250 and .elapsed_ms < 2000' \
    "io_${io}_keepalive_timeout_closes_an_idle_connection_after_the_timeout"
  stop_server ka
  j=$(final_json ka)
  assert_jq "$j" '.results.connections_closed.idle_timeout == 1' "io_${io}_keepalive_timeout_close_is_counted_as_idle_timeout"

  start_server mr --io "$io" --max-requests 3 --json
  r=$(client raw --port "$mr_PORT" --timeout 3 --repeat 5 --send "$GET")
  assert_jq "$r" '.statuses == [200,200,200] and .end == "eof" and (.responses[2].headers.connection | ascii_downcase) == "close"
    and (.responses[0].headers.connection // "") != "close"' \
    "io_${io}_max_requests_3_answers_three_then_says_close_and_closes"
  stop_server mr
  j=$(final_json mr)
  assert_jq "$j" '.results.connections_closed.max_requests == 1 and .results.requests == 3' \
    "io_${io}_max_requests_close_is_counted"

  start_server ht --io "$io" --header-timeout 500ms --json
  r=$(client raw --port "$ht_PORT" --timeout 5 --send 'GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ')
  assert_jq "$r" '.statuses == [408] and .end == "eof" and .elapsed_ms >= 400 and .elapsed_ms < 2500' \
    "io_${io}_header_timeout_answers_408_and_closes_an_incomplete_head"
  r=$(client raw --port "$ht_PORT" --timeout 5 --send 'POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc')
  assert_jq "$r" '.statuses == [408] and .end == "eof" and .elapsed_ms < 2500' \
    "io_${io}_header_timeout_also_bounds_a_body_that_stops_arriving"
  stop_server ht
  j=$(final_json ht)
  assert_jq "$j" '.results.connections_closed.header_timeout == 2 and .results.responses["4xx"] == 2' \
    "io_${io}_header_timeouts_are_counted"
done

# --- response shape ------------------------------------------------------------------
start_server rs --response-size 1000 --response-delay 300ms
size=$(curl -sS --max-time 5 -o /dev/null -w '%{size_download}' "http://127.0.0.1:$rs_PORT/")
[ "$size" = 1000 ] || fail "--response-size 1000: GET / has a 1000-byte body, got $size"
pass "response_size_sets_the_body_of_a_plain_get"
t=$(curl -sS --max-time 5 -o /dev/null -w '%{time_total}' "http://127.0.0.1:$rs_PORT/bytes/1")
awk -v t="$t" 'BEGIN { exit !(t >= 0.3 && t < 2) }' || fail "--response-delay 300ms: a response takes >= 0.3 s, took $t"
pass "response_delay_delays_every_response"
stop_server rs

