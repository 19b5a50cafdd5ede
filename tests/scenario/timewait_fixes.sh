#!/usr/bin/env bash
# sockdrill-timewait in the sandbox: a 200-port range runs out at ports /
# rate with tcp_tw_reuse=0 (even ports first), and each fix behaves as the
# kernel predicts: tw-reuse recycles TIME-WAIT ports (TWRecycled), linger0
# leaves no TIME-WAIT but one RST per connection, server-closes moves
# TIME-WAIT to the server, keepalive uses far fewer connections, more
# sources and a wider range add 4-tuples, max-tw-buckets caps TIME-WAIT
# (TCPTimeWaitOverflow). Then the closed loop with echo, and the table.
. "$(dirname "$0")/common.sh"
require_root timewait_fixes
command -v jq >/dev/null || fail "jq is not installed"

j=$(timeout 60 sockdrill-timewait --fix all --port-range 40000-40199 --rate 150/s --duration 2s \
      --sources 3 --max-tw-buckets 50 --requests-per-conn 50 --json \
      --expect 'fixes.none.eaddrnotavail > 0' --expect 'fixes.tw_reuse.eaddrnotavail == 0') \
  || fail "sockdrill-timewait --fix all (or its --expect) failed"
assert_jq "$j" '.schema == "sockdrill.timewait/1" and .environment.mode == "sandbox" and .ok
                and (.expectations | length) == 2 and .results.order == ["none","tw-reuse","linger0","server-closes",
                "keepalive","more-sources","wider-range","max-tw-buckets"]' "runs every fix in the sandbox, --expect held"

assert_jq "$j" '.results.fixes.none | .ports == 200 and .sysctls["net.ipv4.tcp_tw_reuse"] == 0
                and .predicted_exhaustion_s > 1.3 and .predicted_exhaustion_s < 1.4
                and (.first_eaddrnotavail_s - .predicted_exhaustion_s | fabs) < 0.3
                and .errors.connect.EADDRNOTAVAIL == .eaddrnotavail and .eaddrnotavail > 0
                and .time_wait_peak.client == 200 and .time_wait_peak.server == 0 and .counters.client.TWRecycled == 0' \
  "none: EADDRNOTAVAIL at ports / rate (200 / 150 = 1.33 s), every port in TIME-WAIT on the client"
assert_jq "$j" '.results.why | .fix == "none" and .first_parity == "even" and .parity_sample.first_parity_share >= 0.9
                and .time_wait_s == 60' "connect() takes the even ports first (LO 40000 is even)"
assert_jq "$j" '[.results.fixes.none.samples[].time_wait_client] | (. == sort) and length >= 15' \
  "none: the 100 ms samples show the client's TIME-WAIT climbing"

assert_jq "$j" '.results.fixes.tw_reuse | .sysctls["net.ipv4.tcp_tw_reuse"] == 1 and .eaddrnotavail == 0
                and .errors_total == 0 and .tw_recycled > 0 and .counters.client.TWRecycled == .tw_recycled
                and .predicted_exhaustion_s == null and .completed > 250' \
  "tw-reuse: no EADDRNOTAVAIL, TWRecycled counts the ports taken back"
assert_jq "$j" '.results.fixes.linger0 | .close == "linger0" and .time_wait_peak.client == 0 and .time_wait_peak.server == 0
                and .eaddrnotavail == 0 and .counters.client.OutRsts == .completed and .rsts_sent == .completed
                and .counters.server.EstabResets == .completed' \
  "linger0: no TIME-WAIT anywhere, one RST per connection (the server counts EstabResets)"
assert_jq "$j" '.results.fixes.server_closes | .close == "server" and .time_wait_peak.client == 0
                and .time_wait_peak.server > 0 and .errors_total == 0' \
  "server-closes: TIME-WAIT lands on the server, the client runs free"
assert_jq "$j" '.results.fixes.keepalive | .exchanges_per_conn == 50 and .rate_per_s == 3 and .eaddrnotavail == 0
                and .conn_per_s < 10 and .transactions_per_s > 100 and .time_wait_peak.client < 20' \
  "keepalive: the same transactions on 50x fewer connections"
assert_jq "$j" '.results.fixes.more_sources | .sources == 3 and .eaddrnotavail == 0 and .time_wait_peak.client > 200' \
  "more-sources: 3 source addresses hold more than one range of TIME-WAIT, no EADDRNOTAVAIL"
assert_jq "$j" '.results.fixes.wider_range | .port_range == "32768-60999" and .ports == 28232 and .eaddrnotavail == 0
                and .time_wait_peak.client > 200' "wider-range: 28232 ports, no EADDRNOTAVAIL"
assert_jq "$j" '.results.fixes.max_tw_buckets | .sysctls["net.ipv4.tcp_max_tw_buckets"] == 50
                and .time_wait_peak.client <= 50 and .tw_overflow > 0 and .counters.client.TCPTimeWaitOverflow == .tw_overflow
                and .eaddrnotavail == 0' "max-tw-buckets: TIME-WAIT capped at 50, TCPTimeWaitOverflow moves"
assert_jq "$j" '.counters.client.TCPTimeWaitOverflow == .results.fixes.max_tw_buckets.tw_overflow
                and .errors.connect.EADDRNOTAVAIL == .results.fixes.none.eaddrnotavail' \
  "the frame's counters and errors sum the fixes"

# Closed loop, echo, several exchanges per connection.
j=$(timeout 30 sockdrill-timewait --rate max --concurrency 4 --exchanges 3 --payload echo --port-range 40000-40499 \
      --duration 1s --json) || fail "closed loop with echo"
assert_jq "$j" '.results.fixes.none | .rate_per_s == 0 and .churn.exchanges == 3 * .completed
                and .churn.sent_bytes == 64 * .churn.exchanges and .first_eaddrnotavail_s < 1
                and .time_wait_peak.client == 500' \
  "--rate max: closed loop runs out of 500 ports within a second; --exchanges 3 of 64-byte echoes each"
assert_jq "$j" '.config.concurrency == 4 and .config.payload == "echo"' "--concurrency and --payload reach the config"

out=$(timeout 30 sockdrill-timewait --port-range 40000-40099 --rate 200/s --duration 1s) || fail "the table"
grep -q "EADDRNOTAVAIL" <<<"$out" || fail "the table names EADDRNOTAVAIL: $out"
grep -q "^why: predicted first EADDRNOTAVAIL = 100 usable 4-tuples / 200 conn/s = 0.50 s" <<<"$out" \
  || fail "the table explains the prediction: $out"
grep -q "TIME-WAIT client" <<<"$out" && grep -q "connect time" <<<"$out" || fail "timeline and chart: $out"
pass "the_table_shows_the_timeline_chart_and_why"
