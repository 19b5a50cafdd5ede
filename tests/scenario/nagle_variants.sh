#!/usr/bin/env bash
# sockdrill-nagle in the sandbox (veth between two namespaces): the server's
# two small writes wait for the client's delayed ACK, about 40 ms a request,
# and the tap shows it: the first segment's ACK leaves ~40 ms late and the
# second segment follows it at once. TCP_NODELAY, TCP_CORK and one write
# (writev) do not stall; the options change what they say.
. "$(dirname "$0")/common.sh"
require_root nagle_variants
command -v jq >/dev/null || fail "jq is not installed"

j=$(timeout 60 sockdrill-nagle --requests 25 --json) || fail "sockdrill-nagle (all variants)"
assert_jq "$j" '.schema == "sockdrill.nagle/1" and .environment.mode == "sandbox"
                and .config.variant == ["default", "nodelay", "cork", "one-write", "quickack"]' "runs every variant in the sandbox"
assert_jq "$j" '.results.default | .requests == 25 and .stalled == 25 and .p50_ms > 30 and .p50_ms < 250
                and .server_writes == 2 and .requests_per_s < 30' \
  "default: every request waits about 40 ms"
assert_jq "$j" '.results.default.tap | .responses >= 25 and .ack_delay_ms_p50 > 30 and .ack_delay_ms_p50 < 250
                and .released_by_ack >= 25 and .released_after_ack_ms_p50 < 5' \
  "default, the tap: the client ACKs the first segment ~40 ms late and the second segment follows that ACK"
assert_jq "$j" '.results.default.counters.DelayedACKs >= 25' "default: the client's delayed-ACK timer fired (DelayedACKs)"
for v in nodelay cork one_write; do
  assert_jq "$j" ".results.$v | .requests == 25 and .stalled == 0 and .p50_ms < 5 and .requests_per_s > 200" \
    "$v: no stall"
done
assert_jq "$j" '.results.nodelay.tap | .released_by_ack * 2 < .responses and .data_segments_per_response >= 2' \
  "nodelay, the tap: both segments leave before any ACK"
# One segment per response against the default's two; a loaded machine can
# add a stray one (a retransmission counts as a segment), so "one" is
# "closer to 1 than to 2".
assert_jq "$j" '[.results.cork.tap, .results.one_write.tap] | all(.responses > 0 and .data_segments_per_response < 1.5)' \
  "cork and one-write, the tap: one segment per response"
assert_jq "$j" '.results.quickack | .requests == 25 and .stalled == 0 and .p50_ms < 5' \
  "quickack: TCP_QUICKACK re-armed after every read removes the stall"
assert_jq "$j" '.counters.DelayedACKs >= 25 and .environment.sysctls["net.ipv4.tcp_autocorking"] != null' \
  "frame: counter totals and the sysctl"

# The options do what they say.
j=$(timeout 60 sockdrill-nagle --variant default --split-writes 1 --requests 10 --json) || fail "--split-writes 1"
assert_jq "$j" '.results.default | .server_writes == 1 and .stalled == 0 and .p50_ms < 5' "--split-writes 1: one write, no stall"
j=$(timeout 60 sockdrill-nagle --variant default --split-writes 3 --requests 10 --json) || fail "--split-writes 3"
assert_jq "$j" '.results.default | .server_writes == 3 and .p50_ms > 30 and .tap.data_segments_per_response >= 2' \
  "--split-writes 3: still a stall"
j=$(timeout 60 sockdrill-nagle --variant default --requests 8 --stall-threshold 1h --json) || fail "--stall-threshold"
assert_jq "$j" '.config.stall_threshold_ms == 3600000 and (.results.default | .stalled == 0 and .p50_ms > 30)' \
  "--stall-threshold 1h: the stall is still there, but nothing counts as stalled"
j=$(timeout 60 sockdrill-nagle --variant nodelay --requests 5 --warmup 0 --path /delay/60ms --json) || fail "--path"
assert_jq "$j" '.results.nodelay | .p50_ms >= 60 and .p50_ms < 200' "--path /delay/60ms: the server delays each response"
j=$(timeout 60 sockdrill-nagle --variant default --requests 1000 --duration 500ms --json) || fail "--duration"
assert_jq "$j" '.results.default | .ended == "duration" and .requests < 20 and .requests > 0' \
  "--duration bounds a variant: fewer requests than asked"
assert_jq "$j" '.elapsed_s < 5' "--duration: the run ends in time"
j=$(timeout 60 sockdrill-nagle --variant one-write --requests 10 --response-size 64KiB --json) || fail "--response-size"
assert_jq "$j" '.results.one_write.tap.data_segments_per_response > 1 and .results.one_write.latency.count == 10' \
  "--response-size 64KiB: the response takes several segments"
