#!/usr/bin/env bash
# The socket-level knobs of sockdrill-serve (issue 3 section 4) seen from
# outside: the listen queue (--backlog, --accept-delay, --pause-accept,
# --max-conns), --stall-after, and the options set on accepted sockets
# (--tcp-keepalive, --rcvbuf/--sndbuf, --user-timeout), checked with ss and
# the server's --json statistics.
. "$(dirname "$0")/common.sh"

# listen_queue PORT FIELD: Recv-Q (2: connections waiting for accept) or
# Send-Q (3: the backlog) of the listener on PORT.
listen_queue() { ss -ltnH "sport = :$1" | awk -v f="$2" 'NR == 1 { print $f }'; }
# server_sockets PORT [ss options]: established sockets whose local port is PORT.
server_sockets() { local port=$1; shift; ss -tnH "$@" state established "( sport = :$port )"; }
GET='GET / HTTP/1.1\r\nHost: t\r\n\r\n'

# --- --backlog ---------------------------------------------------------------------
start_server bl --backlog 7
[ "$(listen_queue "$bl_PORT" 3)" = 7 ] || fail "--backlog 7: ss -ltn Send-Q is 7, got $(listen_queue "$bl_PORT" 3)"
stop_server bl
start_server bl --backlog 0
# listen(fd, 0) still allows one pending connection; ss shows the 0 asked for.
[ "$(listen_queue "$bl_PORT" 3)" = 0 ] || fail "--backlog 0: ss -ltn Send-Q is 0"
stop_server bl
pass "backlog_sets_the_listen_queue_length_ss_shows"

# --- accepting: --accept-delay, --pause-accept, --max-conns -----------------------------
start_server ad --accept-delay 400ms --json
client flood --port "$ad_PORT" --n 6 --timeout 10 >"$TMP/ad.json" &
flood_pid=$!
wait_until 5 bash -c "[ \"\$(ss -ltnH 'sport = :$ad_PORT' | awk '{print \$2}')\" -ge 3 ]" \
  || fail "--accept-delay 400ms: connections wait in the listener's Recv-Q (ss shows $(listen_queue "$ad_PORT" 2))"
pass "accept_delay_leaves_connections_in_the_accept_queue"
wait "$flood_pid"
r=$(cat "$TMP/ad.json")
assert_jq "$r" '.answered_200 == 6' "accept_delay_still_accepts_every_connection_in_the_end"
stop_server ad
j=$(final_json ad)
assert_jq "$j" '.results.connections_accepted == 6 and .results.elapsed_s >= 1.8' \
  "accept_delay_spaces_six_accepts_400ms_apart"

start_server pa --pause-accept --backlog 16 --json
client hold --port "$pa_PORT" --n 5 --hold 2 --send "$GET" >"$TMP/pa.json" &
hold_pid=$!
wait_until 5 bash -c "[ \"\$(ss -ltnH 'sport = :$pa_PORT' | awk '{print \$2}')\" = 5 ]" \
  || fail "--pause-accept: 5 connections pile up in the listener's Recv-Q (ss shows $(listen_queue "$pa_PORT" 2))"
pass "pause_accept_leaves_every_connection_in_the_accept_queue"
wait "$hold_pid"
stop_server pa
j=$(final_json pa)
assert_jq "$j" '.results.connections_accepted == 0 and .results.requests == 0 and (.results.syscalls.accept4 // 0) == 0' \
  "pause_accept_never_calls_accept"

start_server mc --max-conns 2 --json
client hold --port "$mc_PORT" --n 2 --hold 2.5 >"$TMP/mc.json" &
hold_pid=$!
wait_until 5 grep -q open "$TMP/mc.json" || fail "two connections opened"
client raw --port "$mc_PORT" --timeout 8 --send 'GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n' >"$TMP/mc3.json" &
raw_pid=$!
wait_until 5 bash -c "[ \"\$(ss -ltnH 'sport = :$mc_PORT' | awk '{print \$2}')\" = 1 ]" \
  || fail "--max-conns 2: the third connection waits in the listener's Recv-Q (ss shows $(listen_queue "$mc_PORT" 2))"
kill -USR1 "$mc_PID"
wait_until 5 grep -q '"interval":true' "$mc_OUT" || fail "SIGUSR1 printed statistics"
assert_jq "$(grep '"interval":true' "$mc_OUT" | tail -1)" '.results.connections_accepted == 2 and .results.connections_current == 2' \
  "max_conns_2_does_not_accept_a_third_connection_while_two_are_open"
wait "$hold_pid"
wait "$raw_pid" || true
assert_jq "$(cat "$TMP/mc3.json")" '.statuses == [200] and .elapsed_ms >= 1000' \
  "max_conns_2_serves_the_third_client_once_one_of_two_closes"
stop_server mc

# --- --stall-after: the server stops reading; its Recv-Q fills and the client blocks -----
start_server st --stall-after 1000 --drain-timeout 300ms --json
client raw --port "$st_PORT" --timeout 3 --send "$GET" --send-bytes 20000000 >"$TMP/st.json" &
raw_pid=$!
sleep 1
recvq=$(server_sockets "$st_PORT" | awk 'NR == 1 { print $1 }')
[ -n "$recvq" ] && [ "$recvq" -gt 10000 ] || fail "--stall-after: the server socket's Recv-Q grows (ss shows '${recvq}')"
pass "stall_after_leaves_input_in_the_server_sockets_receive_queue"
wait "$raw_pid" || true
r=$(cat "$TMP/st.json")
assert_jq "$r" '.send_error == "TimeoutError"' "stall_after_blocks_the_clients_send"
stop_server st
j=$(final_json st)
assert_jq "$j" '.results.bytes_in == 1000' "stall_after_1000_reads_exactly_1000_bytes"

# --- --tcp-keepalive: the server's socket runs the keepalive timer -----------------------
start_server tk --tcp-keepalive 7,3,4 --json
client hold --port "$tk_PORT" --n 1 --hold 1.5 >/dev/null &
hold_pid=$!
wait_until 5 bash -c "ss -tnoH state established '( sport = :$tk_PORT )' | grep -q 'timer:(keepalive'" \
  || fail "--tcp-keepalive: ss -tno shows timer:(keepalive,...) on the server's socket: $(server_sockets "$tk_PORT" -o)"
pass "tcp_keepalive_starts_the_keepalive_timer_on_accepted_sockets"
wait "$hold_pid"
stop_server tk
j=$(final_json tk)
assert_jq "$j" '.results.syscalls.setsockopt == 4 and .config.tcp_keepalive == {"idle_s": 7, "interval_s": 3, "count": 4}' \
  "tcp_keepalive_sets_four_options_per_connection"

# --- --rcvbuf / --sndbuf: the kernel doubles what it is given (ss -tm skmem rb/tb) ----------
start_server buf --rcvbuf 40000 --sndbuf 50000
client hold --port "$buf_PORT" --n 1 --hold 1.5 >/dev/null &
hold_pid=$!
wait_until 5 bash -c "ss -tmnH state established '( sport = :$buf_PORT )' | grep -q skmem" || fail "the connection shows up in ss"
sleep 0.2
skmem=$(server_sockets "$buf_PORT" -m | grep -o 'skmem:([^)]*)')
[[ $skmem == *rb80000,* ]] || fail "--rcvbuf 40000: ss -tm shows rb80000, got $skmem"
[[ $skmem == *tb100000,* ]] || fail "--sndbuf 50000: ss -tm shows tb100000, got $skmem"
pass "rcvbuf_and_sndbuf_set_the_socket_buffers_ss_shows"
wait "$hold_pid"
stop_server buf

# --- --user-timeout: unacknowledged data (a peer that never reads) bounds the connection ---
start_server ut --user-timeout 1s --json
client noread --port "$ut_PORT" --path /bytes/64MiB --rcvbuf 65536 --hold 4 >/dev/null &
nr_pid=$!
wait_until 3 bash -c "[ \$(ss -tnH state established '( sport = :$ut_PORT )' | wc -l) = 1 ]" || fail "the non-reading client is connected"
wait_until 6 bash -c "[ \$(ss -tnH state established '( sport = :$ut_PORT )' | wc -l) = 0 ]" \
  || fail "--user-timeout 1s: the server drops a peer that does not read within a few seconds"
pass "user_timeout_drops_a_connection_whose_peer_never_reads"
kill -0 "$ut_PID" || fail "the server survives dropping the connection (still running)"
wait "$nr_pid" || true
stop_server ut
[ "$ut_RC" = 0 ] || fail "--user-timeout: server exits 0 after SIGTERM, got $ut_RC"
j=$(final_json ut)
assert_jq "$j" 'err("ETIMEDOUT") >= 1 and .results.connections_closed.error >= 1' \
  "user_timeout_drop_is_counted_as_etimedout"

start_server nut --json
client noread --port "$nut_PORT" --path /bytes/64MiB --rcvbuf 65536 --hold 3 >/dev/null &
nr_pid=$!
wait_until 3 bash -c "[ \$(ss -tnH state established '( sport = :$nut_PORT )' | wc -l) = 1 ]" || fail "the non-reading client is connected"
sleep 2.5
n=$(server_sockets "$nut_PORT" | wc -l)
[ "$n" = 1 ] || fail "without --user-timeout the connection to a non-reading peer stays (ss shows $n)"
pass "without_user_timeout_the_connection_to_a_non_reading_peer_stays"
wait "$nr_pid" || true
stop_server nut
[ "$nut_RC" = 0 ] || fail "server exits 0 after a client closed with a response pending, got $nut_RC"

# --- --max-conns across SO_REUSEPORT workers ------------------------------------------------------
# Each worker has its own listener; the kernel hashes new connections over
# them. A worker that stopped accepting at the limit must start again when
# the limit frees up, even when the connection that closed was another
# worker's: otherwise connections hashed to its listener wait forever.
for io in epoll threads; do
  start_server mcr --io "$io" --workers 2 --reuseport --max-conns 1 --json
  client hold --port "$mcr_PORT" --n 1 --hold 1 >"$TMP/mcr.json" &
  hold_pid=$!
  wait_until 5 grep -q open "$TMP/mcr.json" || fail "one connection is open"
  r=$(client flood --port "$mcr_PORT" --n 12 --timeout 6)
  wait "$hold_pid"
  assert_jq "$r" '.answered_200 == 12' \
    "io_${io}_max_conns_with_reuseport_workers_serves_connections_on_every_listener_once_the_limit_frees"
  stop_server mcr
done
