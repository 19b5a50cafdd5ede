#!/bin/bash
# Bad input to sockdrill-census: one line on stderr that names the flag,
# nothing on stdout, and the exit status DESIGN.md gives: 2 for usage, 3 for
# the environment (a namespace or process that is not there).
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/lib/census.sh"

# --- usage: exit 2 ------------------------------------------------------------
expect_census_exit 2 '^sockdrill-census: .*--state.*"bogus"' --state bogus
expect_census_exit 2 '^sockdrill-census: .*--state.*"time_wait"' --state established,time_wait
expect_census_exit 2 '^sockdrill-census: .*--src.*bad prefix' --src 300.1.1.1
expect_census_exit 2 '^sockdrill-census: .*--dst.*bad prefix' --dst 10.0.0.0/33
expect_census_exit 2 '^sockdrill-census: .*--src.*bad prefix' --src not-an-address
expect_census_exit 2 '^sockdrill-census: .*--columns.*"bogus"' --sockets --columns local,bogus
expect_census_exit 2 '^sockdrill-census: .*--kill.*filter' --kill
expect_census_exit 2 '^sockdrill-census: .*--kill.*filter' --kill --dry-run
expect_census_exit 2 '^sockdrill-census: .*--dry-run.*--kill' --dry-run
expect_census_exit 2 '^sockdrill-census: .*--dry-run.*--kill' --dry-run --state established
expect_census_exit 2 '^sockdrill-census: .*--group-by.*"owner"' --group-by owner
expect_census_exit 2 '^sockdrill-census: .*(-4|-6)' -4 -6
expect_census_exit 2 '^sockdrill-census: .*--sport' --sport 70000
expect_census_exit 2 '^sockdrill-census: .*--watch' --watch soon
expect_census_exit 2 '^sockdrill-census: .*--record.*--replay' --record "$TMP/a.diag" --replay "$TMP/a.diag"
expect_census_exit 2 '^sockdrill-census: .*--replay.*/nonexistent' --replay /nonexistent/dump.diag
printf 'hello\n' >"$TMP/not-a-dump"
expect_census_exit 2 "^sockdrill-census: .*--replay.*$TMP/not-a-dump" --replay "$TMP/not-a-dump"
expect_census_exit 2 '^sockdrill-census: .*--kill.*--replay' --kill --state established --replay "$TMP/not-a-dump"

# --- environment: exit 3 ---------------------------------------------------------
expect_census_exit 3 "^sockdrill-census: .*--netns sdnope-$$" --netns "sdnope-$$"
expect_census_exit 3 '^sockdrill-census: .*--netns pid:999999' --netns pid:999999
expect_census_exit 3 '^sockdrill-census: .*--netns /nonexistent/ns' --netns /nonexistent/ns
expect_census_exit 2 '^sockdrill-census: .*--netns.*pid:' --netns pid:abc
