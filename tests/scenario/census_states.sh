#!/bin/bash
# sockdrill-census against the real kernel: a known set of loopback sockets
# (listeners, established pairs, TIME-WAIT, CLOSE-WAIT, a full accept queue,
# UDP, IPv6), and every count, filter, listener, column and group checked
# through --json; the counts agree with ss's; the kernel does the filtering.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/lib/census.sh"

command -v jq >/dev/null || fail "jq is not installed"
command -v ss >/dev/null || fail "ss is not installed (iproute2)"

E=3 T=4 C=2 K=1 Q=5
ipv6=()
if ip -6 addr show dev lo 2>/dev/null | grep -q 'inet6 ::1/128'; then ipv6=(--ipv6); fi
start_sockets set --established $E --time-wait $T --close-wait $C --keepalive $K \
  --full-queue $Q --listeners 2 --udp 2 --udp-connected "${ipv6[@]}" --lifetime 60
P=$(jq -r .port <<<"$set_JSON")          # the main listener
QP=$(jq -r .queue_port <<<"$set_JSON")   # backlog 1, never accepts
U=$(jq -r '.udp_ports[0]' <<<"$set_JSON")
KA=$(jq -r '.keepalive_clients[0]' <<<"$set_JSON")
echo "sockets: $set_JSON"

# --- counts by state -----------------------------------------------------
# Around port P: 1 listener; E+K pairs (both ends ESTAB); T TIME-WAIT
# clients; C CLOSE-WAIT servers and their C FIN-WAIT-2 clients.
j=$(census_json --port "$P")
assert_jq "$j" ".schema == \"sockdrill.census/1\" and .command == \"census\"" "census_json_has_the_census_schema"
assert_jq "$j" ".results.tcp.by_state.LISTEN == 1" "one_listener_on_the_main_port"
assert_jq "$j" ".results.tcp.by_state.ESTABLISHED == $((2 * (E + K)))" "established_pairs_count_both_ends"
assert_jq "$j" ".results.tcp.by_state[\"TIME-WAIT\"] == $T" "client_that_closes_first_holds_time_wait"
assert_jq "$j" ".results.tcp.by_state[\"CLOSE-WAIT\"] == $C" "server_that_never_closes_sits_in_close_wait"
assert_jq "$j" ".results.tcp.by_state[\"FIN-WAIT-2\"] == $C" "half_closed_clients_sit_in_fin_wait_2"
assert_jq "$j" "[.results.tcp.by_state[\"SYN-SENT\",\"SYN-RECV\",\"FIN-WAIT-1\",\"CLOSE\",\"LAST-ACK\",\"CLOSING\"]] | add == 0" \
  "no_other_states_on_the_main_port"
assert_jq "$j" ".results.tcp.total == $((1 + 2 * (E + K) + T + 2 * C))" "tcp_total_is_the_sum_of_the_states"
assert_jq "$j" ".results.tcp.ipv4.ESTABLISHED == $((2 * (E + K))) and .results.tcp.ipv6.ESTABLISHED == 0" \
  "ipv4_and_ipv6_are_counted_apart"
assert_jq "$j" '.results.udp.total == 0' "no_udp_socket_uses_the_tcp_port"

# The full queue: listen(1) holds 2 completed connections (the kernel lets
# the accept queue reach backlog + 1); the other connects' SYNs are dropped
# and they stay in SYN-SENT.
j=$(census_json --port "$QP")
assert_jq "$j" ".results.tcp.by_state.LISTEN == 1 and .results.tcp.by_state.ESTABLISHED == 4" \
  "two_connections_complete_into_a_backlog_1_queue"
assert_jq "$j" ".results.tcp.by_state[\"SYN-SENT\"] == $((Q - 2))" "connects_beyond_a_full_queue_stay_in_syn_sent"

# --- the same counts as ss ---------------------------------------------------
for port in "$P" "$QP"; do
  j=$(census_json --tcp --port "$port")
  for state in established syn-sent syn-recv fin-wait-1 fin-wait-2 time-wait closed close-wait last-ack listening closing; do
    key=$(jq -rn --arg s "$state" '{"established":"ESTABLISHED","syn-sent":"SYN-SENT","syn-recv":"SYN-RECV",
      "fin-wait-1":"FIN-WAIT-1","fin-wait-2":"FIN-WAIT-2","time-wait":"TIME-WAIT","closed":"CLOSE",
      "close-wait":"CLOSE-WAIT","last-ack":"LAST-ACK","listening":"LISTEN","closing":"CLOSING"}[$s]')
    ours=$(tcp_count "$j" "$key")
    theirs=$(ss_count "$state" "$port")
    [ "$ours" = "$theirs" ] || fail "port $port state $state: census counts $ours, ss counts $theirs"
  done
done
pass "state_counts_equal_ss_for_the_same_sockets"

# --- filters -----------------------------------------------------------------
j=$(census_json --port "$P" --state time-wait)
assert_jq "$j" ".results.tcp.total == $T and .results.tcp.by_state[\"TIME-WAIT\"] == $T" "state_filter_keeps_only_that_state"
j=$(census_json --port "$P" --state established,close-wait)
assert_jq "$j" ".results.tcp.total == $((2 * (E + K) + C))" "state_filter_takes_a_list"
j=$(census_json --port "$P" --state connected)
assert_jq "$j" ".results.tcp.total == $((2 * (E + K) + 2 * C))" "connected_group_leaves_out_listen_and_time_wait"
j=$(census_json --port "$P" --state synchronized)
assert_jq "$j" ".results.tcp.total == $((2 * (E + K) + 2 * C))" "synchronized_group_is_connected_without_syn_sent"
j=$(census_json --port "$QP" --state synchronized)
assert_jq "$j" ".results.tcp.total == 4" "synchronized_group_drops_syn_sent"
j=$(census_json --port "$P" --state bucket)
assert_jq "$j" ".results.tcp.total == $T" "bucket_group_is_time_wait_and_syn_recv"
j=$(census_json --port "$P" --state big)
assert_jq "$j" ".results.tcp.total == $((1 + 2 * (E + K) + 2 * C))" "big_group_is_everything_but_bucket"
j=$(census_json --port "$P" --state all)
assert_jq "$j" ".results.tcp.total == $((1 + 2 * (E + K) + T + 2 * C))" "all_group_is_everything"
j=$(census_json --port "$P" --state LISTEN,Estab)
assert_jq "$j" ".results.tcp.total == $((1 + 2 * (E + K)))" "state_names_are_case_insensitive_with_ss_aliases"

j=$(census_json --sport "$P")
assert_jq "$j" ".results.tcp.total == $((1 + E + K + C))" "sport_selects_the_server_side"
assert_jq "$j" ".results.tcp.by_state[\"TIME-WAIT\"] == 0 and .results.tcp.by_state[\"CLOSE-WAIT\"] == $C" \
  "sport_side_holds_close_wait_not_time_wait"
j=$(census_json --dport "$P")
assert_jq "$j" ".results.tcp.total == $((E + K + T + C))" "dport_selects_the_client_side"
assert_jq "$j" ".results.tcp.by_state.LISTEN == 0 and .results.tcp.by_state[\"FIN-WAIT-2\"] == $C" \
  "dport_side_holds_fin_wait_2_and_no_listener"
j=$(census_json --sport "$P" --dport "$P")
assert_jq "$j" ".results.tcp.total == 0" "filters_combine_with_and"

j=$(census_json --port "$P" --src 127.0.0.0/8)
assert_jq "$j" ".results.tcp.total == $((1 + 2 * (E + K) + T + 2 * C))" "src_prefix_containing_loopback_keeps_all"
j=$(census_json --port "$P" --src 127.0.0.1)
assert_jq "$j" ".results.tcp.total == $((1 + 2 * (E + K) + T + 2 * C))" "src_host_address_is_a_full_prefix"
j=$(census_json --port "$P" --src 10.0.0.0/8)
assert_jq "$j" ".results.tcp.total == 0" "src_prefix_elsewhere_keeps_none"
j=$(census_json --port "$P" --dst 127.0.0.0/8)
assert_jq "$j" ".results.tcp.total == $((2 * (E + K) + T + 2 * C))" "dst_prefix_leaves_out_the_listener_with_no_peer"
j=$(census_json --port "$P" --dst 0.0.0.0/32)
assert_jq "$j" ".results.tcp.total == 1 and .results.tcp.by_state.LISTEN == 1" "dst_any_address_is_the_listener"

j=$(census_json -4 --port "$P")
assert_jq "$j" ".results.tcp.total == $((1 + 2 * (E + K) + T + 2 * C))" "ipv4_only_keeps_the_ipv4_sockets"
j=$(census_json -6 --port "$P")
assert_jq "$j" ".results.tcp.total == 0" "ipv6_only_drops_the_ipv4_sockets"
if [ "${#ipv6[@]}" -gt 0 ]; then
  P6=$(jq -r .ipv6_port <<<"$set_JSON")
  j=$(census_json --sport "$P6")
  assert_jq "$j" ".results.tcp.ipv6.LISTEN == 1 and .results.tcp.ipv4.LISTEN == 0" "ipv6_listener_counts_as_ipv6"
  j=$(census_json -6 --sport "$P6" --src ::1)
  assert_jq "$j" ".results.tcp.total == 1" "ipv6_prefix_and_family_filter_keep_the_ipv6_listener"
  j=$(census_json -4 --sport "$P6")
  assert_jq "$j" ".results.tcp.total == 0" "ipv4_only_drops_the_ipv6_listener"
else
  echo "skip: no ::1 on lo, IPv6 checks left out"
fi

# UDP: the summary counts UDP unless --tcp; --udp alone counts only UDP.
# (No claim on TCP here: a TCP socket elsewhere on the host may hold the
# same port number, e.g. a TIME-WAIT left by another test.)
j=$(census_json --sport "$U")
assert_jq "$j" ".results.udp.total == 1 and .results.udp.ipv4 == 1" "summary_counts_udp_sockets"
j=$(census_json --udp --sport "$U")
assert_jq "$j" ".results.udp.total == 1 and .results.tcp.total == 0" "udp_flag_counts_udp"
j=$(census_json --tcp --sport "$U")
assert_jq "$j" ".results.udp.total == 0" "tcp_flag_leaves_out_udp"
j=$(census_json --udp --port "$U" --state established)
assert_jq "$j" ".results.udp.total == 1" "connected_udp_socket_is_established"
j=$(census_json --udp --sport "$U" --state closed)
assert_jq "$j" ".results.udp.total == 1" "unconnected_udp_socket_is_closed"
j=$(census_json --udp --sockets --sport "$U")
assert_jq "$j" ".results.sockets | length == 1 and .[0].proto == \"udp\" and .[0].state == \"CLOSE\"" \
  "udp_socket_rows_say_udp"

# --- listeners -----------------------------------------------------------------
j=$(census_json --listeners --sport "$QP")
assert_jq "$j" ".results.listeners | length == 1" "one_listener_row_for_the_queue_port"
assert_jq "$j" ".results.listeners[0] | .accept_queue == 2 and .backlog == 1 and .full == true" \
  "backlog_1_listener_with_two_waiting_is_full"
j=$(census_json --listeners --sport "$P")
assert_jq "$j" ".results.listeners[0] | .accept_queue == 0 and .backlog == 16 and .full == false and .local == \"127.0.0.1:$P\"" \
  "accepting_listener_is_empty_and_shows_its_backlog"
j=$(census_json --listeners)
for lp in $(jq -r '.listen_ports[]' <<<"$set_JSON") "$P" "$QP"; do
  assert_jq "$j" "[.results.listeners[].local] | index(\"127.0.0.1:$lp\") != null" "listeners_lists_port_$lp"
done
out=$(census --listeners --sport "$QP")
grep -q "FULL" <<<"$out" || fail "--listeners table does not flag the full queue: $out"
pass "listeners_table_flags_the_full_queue"

# --- sockets and columns -------------------------------------------------------
j=$(census_json --sockets --port "$P")
assert_jq "$j" ".results.sockets | length == $((1 + 2 * (E + K) + T + 2 * C))" "one_row_per_socket"
assert_jq "$j" "[.results.sockets[] | select(.state == \"ESTABLISHED\") | .tcp_info | has(\"rtt_us\") and has(\"rto_us\") and has(\"snd_cwnd\") and has(\"bytes_acked\") and has(\"bytes_received\") and has(\"delivery_rate_bytes_per_s\") and has(\"last_data_sent_ms\")] | length == $((2 * (E + K))) and all" \
  "json_rows_carry_tcp_info"
assert_jq "$j" "[.results.sockets[] | select(.state == \"ESTABLISHED\") | .tcp_info.rto_us > 0 and .inode > 0] | all" \
  "tcp_info_fields_are_filled"
assert_jq "$j" "[.results.sockets[] | select(.state == \"TIME-WAIT\") | .timer.name == \"time-wait\" and .inode == 0] | length == $T and all" \
  "time_wait_rows_have_the_time_wait_timer_and_no_inode"
j=$(census_json --sockets --sport "$KA" --dport "$P")  # a client port: other tests may reuse it toward other peers
assert_jq "$j" ".results.sockets | length == 1 and .[0].timer.name == \"keepalive\" and .[0].timer.expires_ms > 0" \
  "keepalive_socket_shows_the_keepalive_timer"
out=$(census --sockets --sport "$KA" --dport "$P")
grep -q "keepalive," <<<"$out" || fail "--sockets table does not show the keepalive timer: $out"
pass "sockets_table_shows_keepalive_timer"

out=$(census --sockets --port "$P" --columns peer,state,inode)
header=$(head -n 1 <<<"$out")
[ "$(wc -w <<<"$header")" = 3 ] && grep -q "peer" <<<"$header" && grep -q "state" <<<"$header" &&
  grep -q "inode" <<<"$header" || fail "--columns peer,state,inode: header is '$header'"
grep -q "rtt" <<<"$out" && fail "--columns peer,state,inode still shows rtt: $out"
[ "$(sed 1d <<<"$out" | grep -c .)" -ge $((1 + 2 * (E + K) + T + 2 * C)) ] || fail "--columns: too few rows: $out"
pass "columns_choose_what_sockets_shows"
out=$(census --sockets --sport "$KA" --dport "$P" --columns local,timer,rtt_ms,cwnd,bytes_acked,delivery_rate,uid)
header=$(head -n 1 <<<"$out")
[ "$(wc -w <<<"$header")" = 7 ] || fail "seven columns asked, header is '$header'"
row=$(sed -n 2p <<<"$out")
grep -q "127.0.0.1:$KA" <<<"$row" && grep -q "keepalive," <<<"$row" || fail "keepalive row: '$row'"
pass "tcp_info_columns_are_shown_when_asked"
out=$(census --sockets --port "$P")
header=$(head -n 1 <<<"$out")
for col in local peer state recv_q send_q timer rtt_ms rto_ms cwnd retrans; do
  grep -qw "$col" <<<"$header" || fail "default --sockets columns lack $col: '$header'"
done
pass "default_sockets_columns_are_like_ss_tanoi"

# --- group-by -----------------------------------------------------------------
j=$(census_json --state time-wait --port "$P" --group-by peer)
assert_jq "$j" ".results.groups == [{\"key\": \"127.0.0.1:$P\", \"sockets\": $T, \"by_state\": {\"TIME-WAIT\": $T}}]" \
  "group_by_peer_says_who_holds_the_time_waits"
j=$(census_json --state time-wait --port "$P" --group-by peer-addr)
assert_jq "$j" ".results.groups == [{\"key\": \"127.0.0.1\", \"sockets\": $T, \"by_state\": {\"TIME-WAIT\": $T}}]" \
  "group_by_peer_addr_drops_the_port"
j=$(census_json --state close-wait --port "$P" --group-by local-port)
assert_jq "$j" ".results.groups == [{\"key\": \"$P\", \"sockets\": $C, \"by_state\": {\"CLOSE-WAIT\": $C}}]" \
  "group_by_local_port_names_the_leaking_service"
j=$(census_json --port "$P" --group-by state)
assert_jq "$j" ".results.groups[0] == {\"key\": \"ESTAB\", \"sockets\": $((2 * (E + K))), \"by_state\": {\"ESTABLISHED\": $((2 * (E + K)))}}" \
  "group_by_state_biggest_first"
assert_jq "$j" "([.results.groups[] | {key, value: .sockets}] | from_entries) == {\"ESTAB\": $((2 * (E + K))), \"TIME-WAIT\": $T, \"CLOSE-WAIT\": $C, \"FIN-WAIT-2\": $C, \"LISTEN\": 1}" \
  "group_by_state_counts_each_state"
j=$(census_json --port "$P" --group-by state --top 2)
assert_jq "$j" ".results.groups | length == 2" "top_limits_the_groups"
j=$(census_json --sport "$P" --state established,close-wait,listening --group-by process)
assert_jq "$j" ".results.groups == [{\"key\": \"$set_PID/python3\", \"sockets\": $((1 + E + K + C)), \"by_state\": {\"ESTABLISHED\": $((E + K)), \"CLOSE-WAIT\": $C, \"LISTEN\": 1}}]" \
  "group_by_process_finds_the_owner_by_inode"
j=$(census_json --port "$P" --state time-wait --group-by process)
assert_jq "$j" ".results.groups[0].key == \"(no process: kernel-held)\" and .results.groups[0].sockets == $T" \
  "time_wait_sockets_belong_to_no_process"
out=$(census --state time-wait --port "$P" --group-by peer)
grep -q "127.0.0.1:$P" <<<"$out" || fail "--group-by table lacks the peer: $out"
pass "group_by_table_shows_the_key"

# --- the kernel filters --------------------------------------------------------
# --record keeps what the kernel sent, before any filtering in user space:
# replaying it without filters shows only the sockets that matched.
census --sockets --port "$P" --state time-wait --record "$TMP/tw.diag" >/dev/null || fail "--record failed"
j=$(census_json --replay "$TMP/tw.diag" --sockets)
assert_jq "$j" ".results.sockets | length == $T" "kernel_state_and_port_filter_sent_only_matches"
assert_jq "$j" "[.results.sockets[] | .state == \"TIME-WAIT\" and (.peer | endswith(\":$P\"))] | all" \
  "recorded_sockets_are_the_time_waits_of_the_port"
census --sockets --dport "$P" --src 127.0.0.1/32 --record "$TMP/dport.diag" >/dev/null || fail "--record failed"
j=$(census_json --replay "$TMP/dport.diag" --sockets)
assert_jq "$j" "(.results.sockets | length == $((E + K + T + C))) and ([.results.sockets[].peer | endswith(\":$P\")] | all)" \
  "kernel_bytecode_filters_ports_and_prefixes"
census --port "$QP" --record "$TMP/q.diag" >/dev/null || fail "--record failed"
j=$(census_json --replay "$TMP/q.diag")
assert_jq "$j" ".results.tcp.total == $((Q + 3)) and .results.tcp.by_state[\"SYN-SENT\"] == $((Q - 2))" \
  "port_either_end_filter_runs_in_the_kernel"
census --sockets --sport "$P" --state established,listening --record "$TMP/ip.diag" -6 >/dev/null || fail "--record failed"
j=$(census_json --replay "$TMP/ip.diag" --sockets)
assert_jq "$j" ".results.sockets | length == 0" "family_choice_reaches_the_kernel"

# --- --expect: runbook assertions on the census -----------------------------------
census --port "$P" --expect "tcp.by_state.TIME-WAIT == $T" --expect "tcp.by_state.CLOSE-WAIT < 10" >/dev/null ||
  fail "--expect on the state counts failed though they hold"
pass "expect_holds_on_state_counts"
rc=0
census --port "$P" --expect "tcp.by_state.CLOSE-WAIT == 0" >/dev/null 2>"$TMP/expect.err" || rc=$?
[ "$rc" = 1 ] || fail "a failed --expect exits $rc, expected 1"
grep -q "CLOSE-WAIT" "$TMP/expect.err" || fail "a failed --expect does not say which: $(cat "$TMP/expect.err")"
pass "failed_expect_exits_1_naming_it"
census --listeners --sport "$QP" --expect "listeners.0.full == true" --expect "listeners.0.accept_queue == 2" >/dev/null ||
  fail "--expect listeners.0.full == true does not hold on a full queue"
rc=0
census --listeners --sport "$QP" --expect "listeners.0.full == false" >/dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "--expect listeners.0.full == false on a full queue exits $rc, expected 1"
pass "expect_catches_a_full_accept_queue"

stop_sockets set
