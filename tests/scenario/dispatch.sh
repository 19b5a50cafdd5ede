#!/usr/bin/env bash
# The git-style dispatcher: list, help, suite, running a command, and an
# installed tree (binaries, man pages, completions) that works from PATH.
. "$(dirname "$0")/common.sh"

sockdrill list >"$TMP/list"
grep -q '^serve ' "$TMP/list" && grep -q '^census ' "$TMP/list" || fail "sockdrill list lacks serve or census"
pass list_names_every_command

[ "$(sockdrill serve --version)" = "$(sockdrill-serve --version)" ] || fail "sockdrill serve does not run sockdrill-serve"
pass sockdrill_cmd_runs_sockdrill_cmd

set +e
sockdrill no-such-command 2>"$TMP/err"; rc=$?
set -e
[ "$rc" = 2 ] || fail "unknown command exited $rc, want 2"
grep -q "'no-such-command' is not a sockdrill command" "$TMP/err" || fail "unknown command message: $(cat "$TMP/err")"
pass unknown_command_is_a_usage_error

MANPAGER=cat PAGER=cat MANWIDTH=80 sockdrill help serve >"$TMP/man" 2>&1 || fail "sockdrill help serve failed: $(head -3 "$TMP/man")"
grep -q -- "--keepalive-timeout" "$TMP/man" || fail "sockdrill help serve did not show the serve page"
pass help_opens_the_in_tree_man_page

sockdrill suite --json >"$TMP/suite.json" || fail "sockdrill suite failed"
jq -e '.schema == "sockdrill.suite/1" and .ok == true and .results.failed == 0 and (.results.checks | length) >= 8' \
  "$TMP/suite.json" >/dev/null || fail "suite JSON: $(jq -c '.results.failed, .ok' "$TMP/suite.json")"
pass suite_json_has_every_check_passing

set +e
sockdrill suite --expect 'passed < 1' >/dev/null 2>&1; rc=$?
set -e
[ "$rc" = 1 ] || fail "a failed --expect on the suite exited $rc, want 1"
pass suite_expect_failure_exits_1

# An installed tree: the dispatcher finds commands on PATH and pages through man.
cmake --install "$BIN" --prefix "$TMP/prefix" >/dev/null
for f in bin/sockdrill bin/sockdrill-serve bin/sockdrill-census share/man/man1/sockdrill-serve.1 \
         share/man/man7/sockdrill.7 share/bash-completion/completions/sockdrill \
         share/bash-completion/completions/sockdrill-serve share/zsh/vendor-completions/_sockdrill \
         share/fish/vendor_completions.d/sockdrill.fish; do
  [ -e "$TMP/prefix/$f" ] || fail "make install did not install $f"
done
out=$(env -i PATH="$TMP/prefix/bin:/usr/bin:/bin" MANPATH="$TMP/prefix/share/man" MANPAGER=cat PAGER=cat \
      "$TMP/prefix/bin/sockdrill" help serve 2>&1) || fail "installed sockdrill help serve: $out"
grep -q -- "--keepalive-timeout" <<<"$out" || fail "installed help did not find the installed page"
pass install_puts_binaries_pages_and_completions_in_place
