#!/usr/bin/env bash
# sockdrill-serve --config FILE: a TOML file whose keys are the long option
# names; flags on the command line override it; an unknown key or a bad value
# is a one-line usage error (exit 2) naming the file, line and key.
. "$(dirname "$0")/common.sh"

cfg="$TMP/serve.toml"
cat >"$cfg" <<'EOF'
# a runbook's server
listen = ["127.0.0.1:0", "[::1]:0"]
io = "poll"
keepalive-timeout = "300ms"
max-requests = 2
response-size = "1KiB"
nodelay = true
cork = false
tcp-keepalive = "7,3,4"
header-timeout = "2s"
EOF

# --- every key is applied ------------------------------------------------------------
start_server_args cf --config "$cfg" --json
[ "$(grep -c '^listening ' "$cf_OUT")" = 2 ] || fail "listen = [two addresses] in the file opens two listeners"
grep -q '^listening \[::1\]:' "$cf_OUT" || fail "the file's [::1]:0 listener is open"
pass "config_file_listen_array_opens_every_listener"
r=$(client raw --port "$cf_PORT" --timeout 3 --repeat 3 --send 'GET / HTTP/1.1\r\nHost: t\r\n\r\n')
assert_jq "$r" '.statuses == [200,200] and .responses[0].body_len == 1024 and .end == "eof"' \
  "config_file_response_size_and_max_requests_take_effect"
r=$(client raw --port "$cf_PORT" --timeout 3 --send 'GET / HTTP/1.1\r\nHost: t\r\n\r\n')
assert_jq "$r" '.statuses == [200] and .end == "eof" and .elapsed_ms < 2000' \
  "config_file_keepalive_timeout_takes_effect"
stop_server cf
j=$(final_json cf)
assert_jq "$j" '.config.io == "poll" and .config.keepalive_timeout_ms == 300 and .config.max_requests == 2
  and .config.response_size_bytes == 1024 and .config.nodelay == true and .config.cork == false
  and .config.header_timeout_ms == 2000 and .config.tcp_keepalive.idle_s == 7
  and (.results.syscalls.poll // 0) > 0 and .results.connections_closed.idle_timeout == 1
  and .results.connections_closed.max_requests == 1' \
  "config_file_keys_are_the_long_option_names_and_show_in_the_effective_config"

# --- flags override the file ---------------------------------------------------------------
start_server_args ov --config "$cfg" --listen 127.0.0.1:0 --max-requests 5 --io epoll --response-size 7 --json
[ "$(grep -c '^listening ' "$ov_OUT")" = 1 ] || fail "--listen on the command line replaces the file's listen list"
r=$(client raw --port "$ov_PORT" --timeout 1 --repeat 3 --send 'GET / HTTP/1.1\r\nHost: t\r\n\r\n')
assert_jq "$r" '.statuses == [200,200,200] and .responses[0].body_len == 7' \
  "flags_override_the_config_file_max_requests_and_response_size"
stop_server ov
j=$(final_json ov)
assert_jq "$j" '.config.max_requests == 5 and .config.io == "epoll" and .config.response_size_bytes == 7
  and .config.listen == ["127.0.0.1:0"] and .config.keepalive_timeout_ms == 300' \
  "flags_win_over_the_file_and_the_other_file_keys_still_apply"

# --- errors name the file, the line and the key ------------------------------------------------
bad="$TMP/unknown.toml"
printf 'listen = "127.0.0.1:0"\nnodelay = true\nkeepalive-timout = "5s"\n' >"$bad"
expect_exit 2 "unknown\.toml:3" --config "$bad"
[[ $LAST_ERR == *keepalive-timout* ]] || fail "the unknown key is named: $LAST_ERR"
[[ $LAST_ERR == sockdrill-serve:* ]] || fail "the message starts with the command's name: $LAST_ERR"
pass "config_unknown_key_is_a_usage_error_naming_file_line_and_key"

bad="$TMP/badvalue.toml"
printf 'listen = "127.0.0.1:0"\n\nkeepalive-timeout = "fast"\n' >"$bad"
expect_exit 2 "badvalue\.toml:3" --config "$bad"
[[ $LAST_ERR == *keepalive-timeout* ]] || fail "the key with the bad value is named: $LAST_ERR"
pass "config_bad_duration_is_a_usage_error_naming_file_line_and_key"

bad="$TMP/badchoice.toml"
printf 'io = "kqueue"\n' >"$bad"
expect_exit 2 "badchoice\.toml:1.*io" --config "$bad"
pass "config_bad_choice_is_a_usage_error_naming_the_key"

bad="$TMP/badsize.toml"
printf '# sizes\nresponse-size = "1XB"\n' >"$bad"
expect_exit 2 "badsize\.toml:2.*response-size" --config "$bad"
pass "config_bad_size_is_a_usage_error_naming_the_key"

bad="$TMP/badflag.toml"
printf 'nodelay = "yes"\n' >"$bad"
expect_exit 2 "badflag\.toml:1.*nodelay" --config "$bad"
pass "config_flag_key_needs_true_or_false"

bad="$TMP/syntax.toml"
printf 'listen = "127.0.0.1:0"\nnodelay = \n' >"$bad"
expect_exit 2 "syntax\.toml:2" --config "$bad"
pass "config_toml_syntax_error_is_a_usage_error_with_the_line"

expect_exit 2 "config" --config "$TMP/does-not-exist.toml"
pass "config_missing_file_is_a_usage_error"

# A key that is fine on its own but invalid in combination (validate()).
bad="$TMP/zero.toml"
printf 'listen = "127.0.0.1:0"\nkeepalive-timeout = "0s"\n' >"$bad"
expect_exit 2 "keepalive-timeout" --config "$bad"
pass "config_value_out_of_range_is_a_usage_error_naming_the_option"
