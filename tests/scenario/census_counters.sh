#!/bin/bash
# sockdrill-census --counters and --watch against the real kernel: counter
# deltas over a window see an accept queue overflow made during it; --explain,
# --all; --watch prints one line or one JSON object per sample and ends with
# exit 0 on --count or SIGINT.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/lib/census.sh"

command -v jq >/dev/null || fail "jq is not installed"

# --- deltas over --duration see what happened in the window -------------------
# A listen(1) socket that never accepts, and 5 connects: the third SYN on
# finds the accept queue full and is dropped (ListenOverflows, ListenDrops).
# The helper starts first and waits for a trigger, so the connects fall
# inside the 1 s window however slow Python is to start.
python3 "$SRC/tests/scenario/lib/sockets.py" --full-queue 5 --lifetime 20 --wait-for "$TMP/go" \
  >"$TMP/overflow.json" 2>"$TMP/overflow.err" &
_pids+=("$!")
sleep 0.5
census --counters --duration 1s --json >"$TMP/window.json" 2>"$TMP/window.err" &
census_pid=$!
_pids+=("$census_pid")
sleep 0.1
touch "$TMP/go"
rc=0
wait "$census_pid" || rc=$?
[ "$rc" = 0 ] || fail "--counters --duration 1s exited $rc: $(cat "$TMP/window.err")"
j=$(cat "$TMP/window.json")
assert_jq "$j" '.counters.ListenOverflows >= 1' "listen_overflows_moves_when_a_backlog_1_listener_overflows_in_the_window"
assert_jq "$j" '.counters.ListenDrops >= .counters.ListenOverflows' "listen_drops_include_the_overflows"
assert_jq "$j" '.counters | has("TCPAbortOnData") and has("TW") and has("ActiveOpens") and has("RetransSegs")' \
  "curated_counters_are_in_the_frame"
assert_jq "$j" '.counters.ActiveOpens >= 5' "active_opens_count_the_connects_of_the_window"
assert_jq "$j" '.config.counters == true and .elapsed_s >= 0.9' "the_window_lasts_the_duration"

# The same window as a table names the counter and its delta.
out=$(census --counters --duration 200ms)
grep -q "delta over" <<<"$out" || fail "--counters --duration table has no 'delta over' title: $out"
grep -Eq "^ *ListenOverflows +-?[0-9]+" <<<"$out" || fail "--counters table lacks ListenOverflows: $out"
pass "counters_table_shows_deltas"

# Without --duration: values since boot.
out=$(census --counters)
grep -q "since boot" <<<"$out" || fail "--counters without --duration does not say 'since boot': $out"
j=$(census_json --counters)
assert_jq "$j" '.counters.ActiveOpens > 0' "counters_without_duration_are_values_since_boot"

# --- --explain and --all ----------------------------------------------------------
out=$(census --counters --explain)
grep -q "meaning" <<<"$out" || fail "--explain adds no meaning column: $out"
grep -Eq "ListenOverflows +[0-9]+ +accept queue full" <<<"$out" || fail "--explain does not explain ListenOverflows: $out"
grep -Eq "TCPAbortOnData +[0-9]+ +RST" <<<"$out" || fail "--explain does not explain TCPAbortOnData: $out"
pass "explain_adds_what_each_counter_means"
out=$(census --counters)
grep -q "accept queue full" <<<"$out" && fail "meanings shown without --explain: $out"
pass "meanings_only_with_explain"

curated=$(census_json --counters | jq '.counters | length')
every=$(census_json --counters --all | jq '.counters | length')
[ "$every" -gt "$curated" ] || fail "--all shows $every counters, the curated set $curated"
j=$(census_json --counters --all)
assert_jq "$j" '.counters | has("Udp.InDatagrams") and has("ListenOverflows") and has("InSegs")' \
  "all_shows_every_counter_of_the_three_files"
[ ! -r /proc/net/snmp6 ] || assert_jq "$j" '.counters | has("Ip6.InReceives")' "all_includes_snmp6"
pass "all_shows_more_counters ($every > $curated)"

# --- --watch ------------------------------------------------------------------------
# JSON: one object per sample, then the final object; samples are numbered.
census --watch 200ms --count 3 --json --counters >"$TMP/watch.jsonl" || fail "--watch --count 3 --json failed"
lines=$(wc -l <"$TMP/watch.jsonl")
[ "$lines" = 4 ] || fail "--watch 200ms --count 3 --json: 3 samples + final object, got $lines lines: $(cut -c1-200 "$TMP/watch.jsonl")"
jq -e . "$TMP/watch.jsonl" >/dev/null || fail "--watch --json lines are not JSON"
[ "$(jq -s '[.[].results.sample]' "$TMP/watch.jsonl" | jq -c .)" = "[1,2,3,3]" ] ||
  fail "samples are not numbered 1,2,3 then the final: $(jq -sc '[.[].results.sample]' "$TMP/watch.jsonl")"
[ "$(jq -s '[.[] | .schema == "sockdrill.census/1" and (.results.tcp.by_state | has("TIME-WAIT")) and (.results.counter_rates_per_s | type == "object")] | all' "$TMP/watch.jsonl")" = true ] ||
  fail "watch samples lack the schema, the state counts or the counter rates"
pass "watch_json_prints_one_object_per_sample_then_the_final"

# Text, not on a terminal: one line per sample, nothing else.
start_sockets watched --established 2 --lifetime 20
P=$(jq -r .port <<<"$watched_JSON")
census --watch 200ms --count 3 --port "$P" >"$TMP/watch.txt" || fail "--watch --count 3 failed"
[ "$(wc -l <"$TMP/watch.txt")" = 3 ] || fail "--watch text: 3 lines expected, got: $(cat "$TMP/watch.txt")"
grep -Evq '^[0-9]{2}:[0-9]{2}:[0-9]{2} ' "$TMP/watch.txt" && fail "--watch lines start with the time: $(cat "$TMP/watch.txt")"
[ "$(grep -c 'ESTABLISHED=4 LISTEN=1' "$TMP/watch.txt")" = 3 ] || fail "--watch lines lack the state counts: $(cat "$TMP/watch.txt")"
pass "watch_text_prints_one_line_per_sample"

# --duration bounds a watch: 200ms samples for 700ms is 3 or 4 samples.
census --watch 200ms --duration 700ms --port "$P" --json >"$TMP/bounded.jsonl" || fail "--watch --duration failed"
n=$(($(wc -l <"$TMP/bounded.jsonl") - 1))
[ "$n" -ge 3 ] && [ "$n" -le 4 ] || fail "--watch 200ms --duration 700ms took $n samples"
pass "duration_bounds_a_watch ($n samples)"

# SIGINT ends a watch with exit 0 (as watch(1)); elsewhere SIGINT is 130.
rc=0
timeout --preserve-status -s INT 1s sockdrill-census --watch 200ms --counters --port "$P" >"$TMP/int.txt" 2>"$TMP/int.err" || rc=$?
[ "$rc" = 0 ] || fail "--watch ended by SIGINT exits $rc, expected 0 ($(cat "$TMP/int.err"))"
[ "$(wc -l <"$TMP/int.txt")" -ge 2 ] || fail "--watch printed no samples before SIGINT: $(cat "$TMP/int.txt")"
pass "sigint_ends_watch_with_exit_0"
rc=0
timeout --preserve-status -s INT 1s sockdrill-census --watch 200ms --json --port "$P" >"$TMP/int.jsonl" 2>/dev/null || rc=$?
[ "$rc" = 0 ] || fail "--watch --json ended by SIGINT exits $rc"
jq -e -s 'length >= 2 and (.[-1].results.sample == .[-2].results.sample)' "$TMP/int.jsonl" >/dev/null ||
  fail "--watch --json: after SIGINT the final object repeats the last sample: $(cut -c1-200 "$TMP/int.jsonl")"
pass "sigint_ends_watch_json_with_the_final_object"
rc=0
timeout --preserve-status -s INT 0.5s sockdrill-census --counters --duration 10s >"$TMP/cut.txt" 2>/dev/null || rc=$?
[ "$rc" = 130 ] || fail "--counters --duration 10s interrupted by SIGINT exits $rc, expected 130"
grep -q ListenOverflows "$TMP/cut.txt" || fail "interrupted --counters printed no partial result"
pass "sigint_outside_watch_exits_130_with_the_partial_result"

stop_sockets watched
