#!/bin/bash
# sockdrill-census where it needs privilege: --netns by name, pid:PID and
# path sees the sockets of a namespace we create and the host census does
# not; --kill destroys a loopback connection with SOCK_DESTROY (the peer sees
# the reset) and --dry-run destroys nothing; --record/--replay round trips.
# Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN): skipped without it, failed
# without it when CI=true (STYLE.md).
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/lib/census.sh"

if [ "$(id -u)" != 0 ]; then
  [ "${CI:-}" = true ] && fail "census_privileged needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) and CI=true"
  echo "skip: census_privileged needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN)"
  exit 0
fi
command -v jq >/dev/null || fail "jq is not installed"
command -v ip >/dev/null || fail "ip (iproute2) is not installed"

# --- a namespace of our own ---------------------------------------------------
NS=sdtest-$$
ip netns add "$NS" || fail "ip netns add $NS failed"
trap 'ip netns del "$NS" 2>/dev/null || true; cleanup' EXIT
ip netns exec "$NS" ip link set lo up || fail "cannot bring lo up in $NS"

SOCKETS_PREFIX="ip netns exec $NS" start_sockets ns --established 1 --lifetime 25
NP=$(jq -r .port <<<"$ns_JSON")
NPID=$(jq -r .pid <<<"$ns_JSON")
[ "$(ip netns identify "$NPID")" = "$NS" ] || fail "the socket helper is not in $NS"

j=$(census_json --netns "$NS" --listeners)
assert_jq "$j" "[.results.listeners[].local] == [\"127.0.0.1:$NP\"]" "netns_by_name_sees_only_the_namespace_listener"
assert_jq "$j" '.environment.mode == "netns" and .config.netns != ""' "netns_mode_is_reported"
j=$(census_json --netns "$NS" --sockets --sport "$NP" --state listening)
inode=$(jq -r '.results.sockets[0].inode' <<<"$j")
[ -n "$inode" ] && [ "$inode" != null ] && [ "$inode" != 0 ] || fail "no inode for the namespace listener: $j"
j=$(census_json --sockets --sport "$NP")
assert_jq "$j" "[.results.sockets[].inode] | index($inode) == null" "host_census_does_not_see_the_namespace_listener"
j=$(census_json --netns "$NS")
assert_jq "$j" '.results.tcp.by_state.LISTEN == 1 and .results.tcp.by_state.ESTABLISHED == 2 and .results.tcp.total == 3 and .results.udp.total == 0' \
  "namespace_summary_counts_only_its_sockets"

for spec in "pid:$NPID" "/proc/$NPID/ns/net" "/run/netns/$NS"; do
  j=$(census_json --netns "$spec" --listeners)
  assert_jq "$j" "[.results.listeners[].local] == [\"127.0.0.1:$NP\"]" "netns_${spec//[^a-z0-9]/_}_sees_the_namespace_listener"
done

# /proc/net follows the namespace: a fresh one has made exactly one connect.
j=$(census_json --netns "$NS" --counters)
assert_jq "$j" '.counters.ActiveOpens == 1 and .counters.PassiveOpens == 1' "counters_are_the_namespace_counters"
host_opens=$(census_json --counters | jq .counters.ActiveOpens)
[ "$host_opens" -gt 1 ] || fail "host ActiveOpens is $host_opens: not the host's counters?"
pass "host_counters_differ_from_the_namespace_counters"

# Without CAP_SYS_ADMIN --netns is an environment error, named.
if command -v setpriv >/dev/null; then
  rc=0
  setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
    "$BIN/sockdrill-census" --netns "$NS" >/dev/null 2>"$TMP/unpriv.err" || rc=$?
  [ "$rc" = 3 ] || fail "--netns without privilege exits $rc, expected 3: $(cat "$TMP/unpriv.err")"
  [ "$(wc -l <"$TMP/unpriv.err")" = 1 ] || fail "--netns without privilege: one line expected: $(cat "$TMP/unpriv.err")"
  grep -Eq -- "--netns.*(EPERM|EACCES)" "$TMP/unpriv.err" || fail "--netns without privilege: $(cat "$TMP/unpriv.err")"
  pass "netns_without_privilege_exits_3: $(cat "$TMP/unpriv.err")"
fi

# Record inside the namespace, replay anywhere: the same results.
census --netns "$NS" --sockets --record "$TMP/ns.diag" --json >"$TMP/ns-live.json" || fail "--netns --record failed"
census --replay "$TMP/ns.diag" --sockets --json >"$TMP/ns-replay.json" || fail "--replay of a namespace dump failed"
[ "$(jq -S .results "$TMP/ns-live.json")" = "$(jq -S .results "$TMP/ns-replay.json")" ] ||
  fail "namespace dump replays differently: $(diff <(jq -S .results "$TMP/ns-live.json") <(jq -S .results "$TMP/ns-replay.json") | head -20)"
pass "namespace_dump_replays_on_the_host"
stop_sockets ns

# --- --kill ---------------------------------------------------------------------
# Kill the server's end of an established loopback pair: SOCK_DESTROY resets
# it, the client blocked in recv() gets the RST.
start_sockets victim --established 1 --pair-client-report "$TMP/client.report" --lifetime 25
P=$(jq -r .port <<<"$victim_JSON")
C=$(jq -r '.established_clients[0]' <<<"$victim_JSON")

j=$(census_json --kill --sport "$P" --dry-run)
assert_jq "$j" ".results.count == 1 and (.results.would_destroy | length) == 1 and .results.would_destroy[0].peer == \"127.0.0.1:$C\"" \
  "dry_run_lists_the_established_socket_not_the_listener"
assert_jq "$j" '.results | has("destroyed") | not' "dry_run_destroys_nothing_by_its_own_account"
sleep 0.3
j=$(census_json --port "$P")
assert_jq "$j" '.results.tcp.by_state.ESTABLISHED == 2 and .results.tcp.by_state.LISTEN == 1' "dry_run_leaves_the_connection_up"
[ ! -s "$TMP/client.report" ] || fail "the client saw '$(cat "$TMP/client.report")' after a dry run"
pass "client_sees_nothing_after_a_dry_run"
out=$(census --kill --sport "$P" --dry-run)
grep -q "would destroy" <<<"$out" && grep -q "127.0.0.1:$C" <<<"$out" || fail "--dry-run table: $out"
pass "dry_run_table_says_would_destroy"

j=$(census_json --kill --sport "$P")
assert_jq "$j" ".results.count == 1 and .results.destroyed[0].local == \"127.0.0.1:$P\" and .results.destroyed[0].peer == \"127.0.0.1:$C\"" \
  "kill_destroys_the_matching_socket"
wait_until 5 test -s "$TMP/client.report" || fail "the client saw nothing within 5 s of --kill"
seen=$(cat "$TMP/client.report")
case "$seen" in
  ECONNRESET | EOF) pass "client_sees_the_reset_of_a_destroyed_peer ($seen)" ;;
  *) fail "the client of a destroyed connection saw $seen, expected ECONNRESET or EOF" ;;
esac
j=$(census_json --port "$P")
assert_jq "$j" '.results.tcp.by_state.ESTABLISHED == 0' "no_established_socket_left_after_kill"
assert_jq "$j" '.results.tcp.by_state.LISTEN == 1' "kill_leaves_listeners_alone"

# The client's own end: its next call fails.
start_sockets own --established 1 --pair-client-report "$TMP/own.report" --lifetime 25
P2=$(jq -r .port <<<"$own_JSON")
j=$(census_json --kill --dport "$P2")
assert_jq "$j" '.results.count == 1' "kill_dport_destroys_the_client_end"
wait_until 5 test -s "$TMP/own.report" || fail "the destroyed client saw nothing within 5 s"
seen=$(cat "$TMP/own.report")
case "$seen" in
  ECONNABORTED | ECONNRESET | EOF) pass "destroyed_socket_owner_sees_$seen" ;;
  *) fail "the owner of a destroyed socket saw $seen" ;;
esac
j=$(census_json --port "$P2")
assert_jq "$j" '.results.tcp.by_state.ESTABLISHED == 0' "both_ends_are_gone_after_killing_one"

# Without CAP_NET_ADMIN --kill is an environment error; --dry-run needs none.
if command -v setpriv >/dev/null; then
  start_sockets noperm --established 1 --lifetime 25
  P3=$(jq -r .port <<<"$noperm_JSON")
  rc=0
  setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
    "$BIN/sockdrill-census" --kill --sport "$P3" >/dev/null 2>"$TMP/nokill.err" || rc=$?
  [ "$rc" = 3 ] || fail "--kill without CAP_NET_ADMIN exits $rc, expected 3: $(cat "$TMP/nokill.err")"
  grep -q "CAP_NET_ADMIN" "$TMP/nokill.err" || fail "--kill without privilege does not name CAP_NET_ADMIN: $(cat "$TMP/nokill.err")"
  [ "$(wc -l <"$TMP/nokill.err")" = 1 ] || fail "--kill without privilege: one line expected: $(cat "$TMP/nokill.err")"
  pass "kill_without_cap_net_admin_exits_3: $(cat "$TMP/nokill.err")"
  j=$(census_json --port "$P3")
  assert_jq "$j" '.results.tcp.by_state.ESTABLISHED == 2' "refused_kill_destroys_nothing"
  setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
    "$BIN/sockdrill-census" --kill --sport "$P3" --dry-run >/dev/null || fail "--dry-run needs no privilege"
  pass "dry_run_needs_no_privilege"
  stop_sockets noperm
fi

# --- --record / --replay round trip ------------------------------------------------
start_sockets rt --established 2 --time-wait 2 --close-wait 1 --full-queue 3 --udp 1 --lifetime 25
P=$(jq -r .port <<<"$rt_JSON")
QP=$(jq -r .queue_port <<<"$rt_JSON")
U=$(jq -r '.udp_ports[0]' <<<"$rt_JSON")
round_trip() {
  local what=$1; shift
  census --json "$@" --record "$TMP/rt.diag" >"$TMP/rt-live.json" || fail "$what: --record failed"
  census --json "$@" --replay "$TMP/rt.diag" >"$TMP/rt-replay.json" || fail "$what: --replay failed"
  local live replay
  live=$(jq -S .results "$TMP/rt-live.json")
  replay=$(jq -S .results "$TMP/rt-replay.json")
  [ "$live" = "$replay" ] || fail "$what: replay differs from live: $(diff <(echo "$live") <(echo "$replay") | head -20)"
  pass "record_replay_round_trip_$what"
}
round_trip summary --port "$P"
round_trip summary_with_udp --sport "$U"
round_trip sockets --sockets --port "$P"
round_trip listeners --listeners --sport "$QP"
round_trip groups --group-by state --port "$P"
round_trip states --state time-wait,close-wait --port "$P" --sockets
round_trip full_queue --port "$QP"
# A dump replays under narrower filters the way the kernel would have filtered.
census --json --sockets --port "$P" --record "$TMP/wide.diag" >/dev/null || fail "--record failed"
# (timers and tcp_info ages move between runs: compare the endpoints)
rows='[.results.sockets[] | {local, peer, state}] | sort'
a=$(census_json --replay "$TMP/wide.diag" --sockets --state time-wait | jq -S "$rows")
b=$(census_json --sockets --port "$P" --state time-wait | jq -S "$rows")
[ "$(jq length <<<"$a")" = 2 ] || fail "replay with --state time-wait: 2 rows expected: $a"
[ "$a" = "$b" ] || fail "replay with --state time-wait differs from the live filter: $(diff <(echo "$a") <(echo "$b") | head)"
pass "replay_filters_like_the_kernel"

# A run that dumps more than once (two views, or a --watch) must still replay
# as it ran: each view's figures, not the sum of every dump in the file.
start_sockets multi --established 1 --lifetime 25
MP=$(jq -r .port <<<"$multi_JSON")
round_trip listeners_and_sockets --listeners --sockets --port "$MP"
census --json --watch 100ms --count 2 --port "$MP" --record "$TMP/watch.diag" | tail -n 1 >"$TMP/watch-live.json" ||
  fail "--watch --record failed"
j=$(census_json --port "$MP" --replay "$TMP/watch.diag")
live_total=$(jq .results.tcp.total "$TMP/watch-live.json")
assert_jq "$j" ".results.tcp.total == $live_total" "a_recorded_watch_replays_one_sample_not_their_sum"
stop_sockets multi
stop_sockets rt
