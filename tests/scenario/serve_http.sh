#!/usr/bin/env bash
# sockdrill-serve speaks HTTP/1.x as issue 3 section 4 says: GET, HEAD, POST
# (Content-Length and chunked), the keep-alive rules of 1.0 and 1.1,
# Connection: close, pipelining in order, the per-request path controls, and
# several listeners including IPv6; echo and discard modes.
. "$(dirname "$0")/common.sh"

start_server web --listen '[::1]:0' --json
P=$web_PORT

# --- listening lines ---------------------------------------------------------
mapfile -t lines < <(grep '^listening ' "$web_OUT")
[ "${#lines[@]}" -eq 2 ] || fail "two --listen give two listening lines, got: ${lines[*]}"
[[ ${lines[0]} =~ ^listening\ 127\.0\.0\.1:[1-9][0-9]*$ ]] || fail "first listening line is 127.0.0.1:PORT: ${lines[0]}"
[[ ${lines[1]} =~ ^listening\ \[::1\]:[1-9][0-9]*$ ]] || fail "second listening line is [::1]:PORT: ${lines[1]}"
P6=${lines[1]##*:}
[ "$P6" != 0 ] && [ "$P" != 0 ] || fail "port 0 was replaced by the port the kernel chose"
pass "listen_port_0_prints_one_listening_line_per_listener"

body=$(curl -sS --max-time 5 "http://127.0.0.1:$P/")
[ "$body" = "Hello world" ] || fail "GET / on 127.0.0.1 returns the 12-byte default body, got '$body'"
body6=$(curl -sS -g --max-time 5 "http://[::1]:$P6/")
[ "$body6" = "Hello world" ] || fail "GET / on [::1] returns the default body, got '$body6'"
pass "both_listeners_ipv4_and_ipv6_serve_requests"

# --- methods ----------------------------------------------------------------
r=$(client raw --port "$P" --timeout 1 --send 'HEAD / HTTP/1.1\r\nHost: t\r\n\r\nGET /bytes/5 HTTP/1.1\r\nHost: t\r\n\r\n')
assert_jq "$r" '.statuses == [200,200] and .responses[0].content_length == 12 and .responses[0].body_len == 0
  and .responses[1].body_len == 5 and .leftover_bytes == 0' \
  "head_sends_content_length_without_body_and_the_connection_stays_usable"

r=$(client raw --port "$P" --timeout 1 \
  --send 'POST /bytes/3 HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world' \
  --send 'GET /bytes/4 HTTP/1.1\r\nHost: t\r\n\r\n')
assert_jq "$r" '.statuses == [200,200] and .responses[0].body_len == 3 and .responses[1].body_len == 4 and .leftover_bytes == 0' \
  "post_with_content_length_body_is_consumed_and_the_next_request_answered"

# The body arrives in pieces, split inside the chunk-size line and the data.
r=$(client raw --port "$P" --timeout 1 --pause 0.05 \
  --send 'POST /bytes/2 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel' \
  --send 'lo\r\n1' --send '0\r\n0123456789abcdef\r\n0\r\n\r\n' \
  --send 'GET /bytes/6 HTTP/1.1\r\nHost: t\r\n\r\n')
assert_jq "$r" '.statuses == [200,200] and .responses[0].body_len == 2 and .responses[1].body_len == 6 and .leftover_bytes == 0' \
  "post_with_chunked_body_in_pieces_is_decoded_and_the_next_request_answered"

code=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' --data-binary @/dev/null -H 'Transfer-Encoding: chunked' "http://127.0.0.1:$P/")
[ "$code" = 200 ] || fail "curl chunked POST gets 200, got $code"
code=$(head -c 200000 /dev/zero | curl -sS --max-time 5 -o /dev/null -w '%{http_code}' --data-binary @- "http://127.0.0.1:$P/")
[ "$code" = 200 ] || fail "curl POST of 200000 bytes (Expect: 100-continue) gets 200, got $code"
pass "curl_post_chunked_and_large_body_with_expect_100_continue_get_200"

# --- keep-alive rules ----------------------------------------------------------
r=$(client raw --port "$P" --timeout 1 --send 'GET / HTTP/1.1\r\nHost: t\r\n\r\n' --pause 0.1 --send 'GET / HTTP/1.1\r\nHost: t\r\n\r\n')
assert_jq "$r" '.statuses == [200,200] and .end == "timeout" and (.responses[0].headers.connection // "") != "close"' \
  "http11_connection_stays_open_by_default_for_the_next_request"

r=$(client raw --port "$P" --timeout 3 --send 'GET / HTTP/1.0\r\n\r\n')
assert_jq "$r" '.statuses == [200] and .end == "eof" and .responses[0].version == "HTTP/1.0" and .elapsed_ms < 2000' \
  "http10_without_keep_alive_gets_one_response_and_eof"

r=$(client raw --port "$P" --timeout 1 --send 'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n' --pause 0.1 --send 'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n')
assert_jq "$r" '.statuses == [200,200] and .end == "timeout" and (.responses[0].headers.connection | ascii_downcase) == "keep-alive"' \
  "http10_with_connection_keep_alive_stays_open_and_says_keep_alive"

r=$(client raw --port "$P" --timeout 3 --send 'GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n')
assert_jq "$r" '.statuses == [200] and .end == "eof" and (.responses[0].headers.connection | ascii_downcase) == "close" and .leftover_bytes == 0' \
  "http11_connection_close_gets_one_response_then_eof_and_nothing_after"

# --- pipelining ----------------------------------------------------------------
r=$(client raw --port "$P" --timeout 1 \
  --send 'GET /bytes/5 HTTP/1.1\r\nHost: t\r\n\r\nGET /status/404 HTTP/1.1\r\nHost: t\r\n\r\nHEAD /bytes/9 HTTP/1.1\r\nHost: t\r\n\r\nGET /delay/50ms/bytes/100000 HTTP/1.1\r\nHost: t\r\n\r\nGET /bytes/7 HTTP/1.1\r\nHost: t\r\n\r\n')
assert_jq "$r" '.statuses == [200,404,200,200,200] and .responses[0].body_len == 5 and .responses[2].content_length == 9
  and .responses[2].body_len == 0 and .responses[3].body_len == 100000 and .responses[4].body_len == 7 and .leftover_bytes == 0' \
  "pipelined_requests_get_their_responses_in_order"

# 200 small requests in one write: all answered, in order, nothing lost.
r=$(client raw --port "$P" --timeout 2 --repeat 200 --send 'GET /bytes/3 HTTP/1.1\r\nHost: t\r\n\r\n')
assert_jq "$r" '(.statuses | length) == 200 and all(.responses[]; .status == 200 and .body_len == 3) and .leftover_bytes == 0' \
  "two_hundred_pipelined_requests_in_one_write_are_all_answered"

# --- path controls -------------------------------------------------------------
for n in 0 1 16384 100000 1048576; do
  size=$(curl -sS --max-time 10 -o /dev/null -w '%{size_download}' "http://127.0.0.1:$P/bytes/$n")
  [ "$size" = "$n" ] || fail "/bytes/$n gives a body of $n bytes, got $size"
done
size=$(curl -sS --max-time 10 -o /dev/null -w '%{size_download}' "http://127.0.0.1:$P/bytes/4KiB")
[ "$size" = 4096 ] || fail "/bytes/4KiB gives 4096 bytes, got $size"
pass "bytes_n_returns_exactly_n_body_bytes"

t=$(curl -sS --max-time 10 -o /dev/null -w '%{time_total}' "http://127.0.0.1:$P/delay/400ms")
awk -v t="$t" 'BEGIN { exit !(t >= 0.4 && t < 3) }' || fail "/delay/400ms answers after >= 0.4 s, took $t s"
t0=$(curl -sS --max-time 10 -o /dev/null -w '%{time_total}' "http://127.0.0.1:$P/")
awk -v t="$t0" 'BEGIN { exit !(t < 0.3) }' || fail "a plain GET is not delayed, took $t0 s"
pass "delay_d_answers_no_sooner_than_d"

for code in 201 204 404 418 503 599; do
  got=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P/status/$code")
  [ "$got" = "$code" ] || fail "/status/$code answers $code, got $got"
done
got=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P/status/99")
[ "$got" = 400 ] || fail "/status/99 (out of range) answers 400, got $got"
pass "status_code_answers_with_that_code"

r=$(client raw --port "$P" --timeout 3 --send 'GET /close HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n')
assert_jq "$r" '.statuses == [200] and .end == "eof" and (.responses[0].headers.connection | ascii_downcase) == "close"' \
  "close_path_closes_after_the_response_with_fin"

r=$(client raw --port "$P" --timeout 3 --read-delay 0.2 --send 'GET /abort HTTP/1.1\r\nHost: t\r\n\r\n')
assert_jq "$r" '.end == "reset" and .errno == "ECONNRESET"' \
  "abort_path_resets_the_connection_and_the_client_reads_econnreset"

stop_server web
j=$(final_json web)
assert_jq "$j" '.results.connections_closed.abort >= 1 and .results.connections_closed.server_close >= 3
  and .results.requests >= 220 and .results.responses["4xx"] >= 2 and .results.errors == {}
  and .results.listening == ["127.0.0.1:'"$P"'", "[::1]:'"$P6"'"]' \
  "final_statistics_count_the_closes_requests_and_listeners"

# --- echo and discard modes ------------------------------------------------------
start_server echo --mode echo
r=$(client raw --port "$echo_PORT" --timeout 1 --send 'ping\r\n' --pause 0.1 --send-bytes 300000)
assert_jq "$r" '.bytes == 300006 and (.text_head | startswith("ping"))' "echo_mode_sends_every_byte_back"
stop_server echo

start_server discard --mode discard --json
r=$(client raw --port "$discard_PORT" --timeout 2 --send-bytes 500000 --shut-wr)
assert_jq "$r" '.bytes == 0 and .end == "eof"' "discard_mode_reads_everything_and_answers_nothing"
stop_server discard
j=$(final_json discard)
assert_jq "$j" '.results.bytes_in == 500000 and .results.bytes_out == 0' "discard_mode_counts_the_bytes_it_read"
