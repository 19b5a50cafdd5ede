#!/bin/bash
# The man pages move with the code: they are mandoc-lint clean, every command
# has a page with the sections a reader expects, and every long option a
# command declares (its --dump-cli-spec) appears in that command's page.
. "$(dirname "$0")/common.sh"

command -v mandoc >/dev/null || fail "mandoc is not installed (make deps installs it)"
command -v jq >/dev/null || fail "jq is not installed (make deps installs it)"

# The page as plain text: no overstrike, wide lines, so "--max-header-size"
# reads the same however the source spells it (Fl \-name, \-\-name, ...).
render() { mandoc -T ascii -O width=400 "$1" | sed 's/.\x08//g'; }

# has_option PAGE_TEXT NAME: "--NAME" appears as a whole option name.
has_option() { grep -qE -- "--$2([^A-Za-z0-9-]|\$)" <<<"$1"; }

pages=("$SRC"/man/*.1 "$SRC"/man/*.7)
[ -e "${pages[0]}" ] || fail "no man pages under $SRC/man"

# 1. mandoc -T lint at warning level prints nothing.
lint=$(mandoc -T lint -W warning "${pages[@]}" 2>&1) || true
[ -z "$lint" ] || fail "mandoc -T lint -W warning is not clean:"$'\n'"$lint"
pass "man_pages_are_mandoc_lint_clean"

# 2. Section 1 pages have the sections of a command page.
for page in "$SRC"/man/*.1; do
  for section in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" EXAMPLES "SEE ALSO"; do
    grep -qx "\.Sh $section" "$page" || fail "$(basename "$page") has no $section section"
  done
  text=$(render "$page")
  for status in 0 1 2 3 4 130; do
    grep -qE "^ +$status( |\$)" <<<"$text" ||
      fail "$(basename "$page"): EXIT STATUS does not list $status"
  done
done
pass "command_pages_have_every_section_and_exit_status"

# 3. Every command the dispatcher names, and whose binary is built, has a
#    page, and the page names each of its long options.
[ -x "$BIN/sockdrill" ] || fail "$BIN/sockdrill is not built"
dispatcher=$("$BIN/sockdrill" --dump-cli-spec) || fail "sockdrill --dump-cli-spec failed"
commands=(sockdrill)
while IFS= read -r sub; do
  [ -x "$BIN/sockdrill-$sub" ] && commands+=("sockdrill-$sub")
done < <(jq -r '.subcommands[]?.name' <<<"$dispatcher")
[ "${#commands[@]}" -gt 1 ] || fail "sockdrill --dump-cli-spec names no command with a built binary"

checked=0
for cmd in "${commands[@]}"; do
  page="$SRC/man/$cmd.1"
  [ -f "$page" ] || fail "$cmd has no man page: write man/$cmd.1"
  text=$(render "$page")
  spec=$("$BIN/$cmd" --dump-cli-spec) || fail "$cmd --dump-cli-spec failed"
  options=$(jq -r '.options[].long[]' <<<"$spec")
  # The dispatcher's builtins (suite) may describe their options inline.
  [ "$cmd" = sockdrill ] && options+=$'\n'$(jq -r '.subcommands[]?.options[]?.long[]' <<<"$spec")
  missing=()
  while IFS= read -r name; do
    [ -n "$name" ] || continue
    has_option "$text" "$name" || missing+=("--$name")
    checked=$((checked + 1))
  done <<<"$options"
  [ "${#missing[@]}" -eq 0 ] || fail "man/$cmd.1 does not document: ${missing[*]}"
done
pass "every_long_option_of_${#commands[@]}_commands_appears_in_its_man_page ($checked options)"

# 4. The overview names every command page.
overview=$(render "$SRC/man/sockdrill.7")
for cmd in "${commands[@]}"; do
  grep -qF "$cmd" <<<"$overview" || fail "sockdrill(7) does not mention $cmd"
done
pass "overview_mentions_every_command"
