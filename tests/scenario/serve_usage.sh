#!/usr/bin/env bash
# sockdrill-serve's command line: a bad value is one line on stderr that
# names the flag, exit 2; --version and --help; a port already in use or an
# address that is not local is an environment error, exit 3, said clearly.
. "$(dirname "$0")/common.sh"

# flag VALUE -> the error names the flag
bad_values=(
  "--keepalive-timeout fast"
  "--header-timeout 5parsecs"
  "--response-size 1XB"
  "--stall-after -5"
  "--io kqueue"
  "--mode gopher"
  "--close gently"
  "--linger maybe"
  "--listen nonsense"
  "--listen 127.0.0.1:99999"
  "--tcp-keepalive 1,2"
  "--tcp-keepalive a,b,c"
  "--workers 0"
  "--split-writes 0"
  "--max-requests lots"
  "--backlog -1"
  "--keepalive-timeout 0s"
)
for spec in "${bad_values[@]}"; do
  flag=${spec%% *}
  value=${spec#* }
  expect_exit 2 "^sockdrill-serve: .*${flag}" --listen 127.0.0.1:0 "$flag" "$value"
done
pass "each_bad_value_is_one_line_naming_the_flag_and_exit_2"

expect_exit 2 "^sockdrill-serve: .*--no-such-flag" --no-such-flag
pass "unknown_flag_is_a_usage_error_naming_it"

expect_exit 2 "^sockdrill-serve: .*--response-size" --response-size
pass "missing_value_is_a_usage_error_naming_the_flag"

out=$(timeout 5 sockdrill-serve --version)
[[ $out =~ ^sockdrill-serve\ [0-9]+\.[0-9]+\.[0-9]+ ]] || fail "--version prints 'sockdrill-serve X.Y.Z', got '$out'"
pass "version_prints_the_command_and_version"

help=$(timeout 5 sockdrill-serve --help)
for opt in --listen --io --workers --reuseport --backlog --nodelay --cork --split-writes --linger --close \
           --keepalive-timeout --max-requests --header-timeout --response-size --response-delay --accept-delay \
           --pause-accept --stall-after --check-closed --peername --tcp-keepalive --user-timeout --rcvbuf \
           --sndbuf --max-conns --max-header-size --max-body-size --drain-timeout --stats-interval --config --json --mode; do
  grep -q -- "$opt" <<<"$help" || fail "--help lists $opt"
done
pass "help_lists_every_option_of_issue_3"

# --- environment errors: exit 3 ----------------------------------------------------------------
start_server busy
expect_exit 3 "^sockdrill-serve: .*(127\.0\.0\.1:$busy_PORT).*(EADDRINUSE|in use)|^sockdrill-serve: .*(EADDRINUSE|in use).*127\.0\.0\.1:$busy_PORT" \
  --listen "127.0.0.1:$busy_PORT"
pass "port_in_use_exits_3_naming_the_address_and_eaddrinuse"

# The second listener is the one in use: nothing is announced, nothing is left listening.
expect_exit 3 "(EADDRINUSE|in use)" --listen 127.0.0.1:0 --listen "127.0.0.1:$busy_PORT"
pass "port_in_use_on_a_later_listener_exits_3_before_announcing_any"

expect_exit 3 "(EADDRNOTAVAIL|not available|assign)" --listen 192.0.2.1:0
pass "non_local_address_exits_3"
kill -0 "$busy_PID" || fail "the first server still runs"
stop_server busy
