#!/bin/bash
# The checked-in completions are what the generator makes from the built
# commands' own option definitions, and bash really completes with them:
# `sockdrill-serve --lis<TAB>` gives --listen, `sockdrill <TAB>` the commands.
. "$(dirname "$0")/common.sh"

[ -x "$BIN/sockdrill-gencomp" ] || fail "$BIN/sockdrill-gencomp is not built"

# 1. Regenerating changes nothing.
"$BIN/sockdrill-gencomp" --bin-dir "$BIN" --out-dir "$TMP/completions" ||
  fail "sockdrill-gencomp failed"
for file in bash/sockdrill zsh/_sockdrill fish/sockdrill.fish; do
  [ -f "$TMP/completions/$file" ] || fail "sockdrill-gencomp did not write $file"
done
if ! diff -ru "$SRC/completions" "$TMP/completions" >"$TMP/drift.diff"; then
  cat "$TMP/drift.diff" >&2
  fail "completions/ differs from the commands' options: run \`make completions\` and commit the result"
fi
pass "checked_in_completions_match_the_generator"

# 2. Generating twice gives the same bytes (no timestamps, no directory order).
"$BIN/sockdrill-gencomp" --bin-dir "$BIN" --out-dir "$TMP/again" || fail "second run failed"
diff -r "$TMP/completions" "$TMP/again" >/dev/null || fail "sockdrill-gencomp output is not deterministic"
pass "generator_output_is_deterministic"

# 3. Drive bash's completion the way readline does: set COMP_WORDS and
#    friends, call the function `complete -p` names, read COMPREPLY.
# complete_in_bash LINE: prints the candidates for LINE, one per line. A LINE
# ending in a space completes an empty word.
complete_in_bash() {
  bash --norc --noprofile -s -- "$SRC/completions/bash/sockdrill" "$1" <<'EOF'
set -u
if [ -f /usr/share/bash-completion/bash_completion ]; then
  . /usr/share/bash-completion/bash_completion
fi
. "$1"
line=$2
read -r -a COMP_WORDS <<<"$line"
[[ $line == *' ' ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
COMP_LINE=$line
COMP_POINT=${#line}
spec=$(complete -p "${COMP_WORDS[0]}" 2>/dev/null) || { echo "no completion for ${COMP_WORDS[0]}" >&2; exit 1; }
fn=$(sed -n 's/.*-F \([^ ]*\) .*/\1/p' <<<"$spec")
[ -n "$fn" ] || { echo "no -F function in: $spec" >&2; exit 1; }
COMPREPLY=()
prev=
(( COMP_CWORD > 0 )) && prev=${COMP_WORDS[COMP_CWORD-1]}
"$fn" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "$prev"
printf '%s\n' "${COMPREPLY[@]}"
EOF
}

# expect_candidates LINE WORD...: each WORD is among the candidates for LINE.
expect_candidates() {
  local line=$1; shift
  local got
  got=$(complete_in_bash "$line") || fail "bash completion of '$line' failed"
  for word in "$@"; do
    grep -qxF -- "$word" <<<"$got" ||
      fail "bash completion of '$line' lacks '$word'; got: $(echo $got)"
  done
  pass "bash completes '$line' with $*"
}

expect_candidates "sockdrill-serve --lis" --listen
expect_candidates "sockdrill " serve list help suite
expect_candidates "sockdrill se" serve
expect_candidates "sockdrill serve --lis" --listen
expect_candidates "sockdrill-serve --mode " http echo discard
expect_candidates "sockdrill-serve --io " epoll poll select threads
expect_candidates "sockdrill help " serve
mkdir -p "$TMP/conf.d" && touch "$TMP/conf.d/serve.toml"
expect_candidates "sockdrill-serve --config $TMP/conf.d/se" "$TMP/conf.d/serve.toml"

# Nothing but --listen for --lis: the word list is the command's, not a mix.
got=$(complete_in_bash "sockdrill-serve --lis")
[ "$got" = "--listen" ] || fail "expected only --listen for 'sockdrill-serve --lis', got: $(echo $got)"
pass "bash_completion_of_a_prefix_is_exact"

# 4. The other shells parse their files, when they are installed.
if command -v zsh >/dev/null; then
  zsh -n "$SRC/completions/zsh/_sockdrill" || fail "zsh cannot parse completions/zsh/_sockdrill"
  pass "zsh_parses_its_completion"
fi
if command -v fish >/dev/null; then
  fish -n "$SRC/completions/fish/sockdrill.fish" || fail "fish cannot parse completions/fish/sockdrill.fish"
  got=$(fish --no-config -c "source '$SRC/completions/fish/sockdrill.fish'; complete -C 'sockdrill-serve --lis'") ||
    fail "fish completion failed"
  grep -q -- '^--listen' <<<"$got" || fail "fish does not complete 'sockdrill-serve --lis' to --listen; got: $got"
  pass "fish_completes_listen"
fi
