#!/usr/bin/env bash
# sockdrill-linger in the sandbox: each case's wire (FIN or RST, from the
# tap), the peer's errno, who holds TIME-WAIT (census of both namespaces),
# and the counters, for either closer; the pipeline case loses the response
# with a plain close and keeps it with a lingering close.
. "$(dirname "$0")/common.sh"
require_root linger_cases
command -v jq >/dev/null || fail "jq is not installed"

j=$(timeout 120 sockdrill-linger --case all --json --write-size 1MiB --response-size 1MiB) || fail "sockdrill-linger --case all"
assert_jq "$j" '.schema == "sockdrill.linger/1" and .environment.mode == "sandbox"' "runs in the sandbox"

assert_jq "$j" '.results.normal | .closer_sent == "FIN" and .peer_read == "EOF" and .data_lost == false
                and .time_wait.client == 1 and .time_wait.server == 0' "normal: FIN, everything delivered, the closer holds TIME-WAIT"
assert_jq "$j" '.results.linger0 | .closer_sent == "RST" and .peer_read == "ECONNRESET" and .peer_write == "EPIPE"
                and .data_lost and .delivered_bytes < .written_bytes
                and .time_wait.client == 0 and .time_wait.server == 0
                and .counters.client.TCPAbortOnData == 1 and .counters.server.EstabResets == 1' \
  "linger0: RST, ECONNRESET then EPIPE, queued data lost, no TIME-WAIT, TCPAbortOnData"
assert_jq "$j" '.results.linger_1 | .close_ms > 950 and .close_ms < 1300 and .closer_sent == "FIN"
                and .peer_read == "EOF" and .data_lost == false' \
  "linger=1: close() blocks about 1 s against a peer that does not read; Linux still delivers it all afterwards"
assert_jq "$j" '.results.unread | .closer_sent == "RST" and .peer_read == "ECONNRESET" and .data_lost
                and .counters.client.TCPAbortOnClose == 1 and .counters.client.TCPAbortOnData == 0
                and .rst_cause == "input unread at close() (TCPAbortOnClose)"' \
  "unread: RST without SO_LINGER, TCPAbortOnClose"
assert_jq "$j" '.results.pipeline_normal | .closer_sent == "RST" and .peer_read == "ECONNRESET" and .data_lost
                and .delivered_bytes < .expected_bytes
                and (.counters.server.TCPAbortOnClose + .counters.server.TCPAbortOnData) == 1
                and (.rst_cause | test("input (unread at|arrived after) close"))' \
  "pipeline, plain close: the RST (input unread at close, or arriving after it) cuts the response"
assert_jq "$j" '.results.pipeline_lingering | .closer_sent == "FIN" and .peer_read == "EOF" and .data_lost == false
                and .delivered_bytes == .expected_bytes and .time_wait.server == 1' \
  "pipeline, lingering close: the whole response, then EOF; the server holds TIME-WAIT"

j=$(timeout 60 sockdrill-linger --closer server --case normal linger0 --json --write-size 1MiB) || fail "--closer server"
assert_jq "$j" '.results.normal | .closer == "server" and .closer_sent == "FIN" and .time_wait.server == 1 and .time_wait.client == 0' \
  "--closer server: the server sends FIN and holds TIME-WAIT"
assert_jq "$j" '.results.linger0 | .closer_sent == "RST" and .counters.server.TCPAbortOnData == 1 and .peer_read == "ECONNRESET"' \
  "--closer server linger0: the server's RST, counted on its side"

out=$(timeout 60 sockdrill-linger --case linger0 --write-size 1MiB) || fail "the table"
grep -q "LOST" <<<"$out" || fail "the table marks lost data: $out"
pass "the_table_marks_lost_data"
