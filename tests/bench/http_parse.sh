#!/usr/bin/env bash
# Builds and runs the HTTP parsing microbenchmark (tests/bench/http_parse.cpp):
# sockdrill's parse_request_head against libhttp-parser, ns per request.
# Pinned to CPU 1 when taskset can, so the scheduler does not move it mid-run.
set -euo pipefail

cd "$(dirname "$0")/../.."
out=build/bench
mkdir -p "$out"

g++ -std=c++20 -O2 -DNDEBUG -Ilib \
    tests/bench/http_parse.cpp lib/http/request.cpp lib/http/response.cpp \
    -lhttp_parser -lfmt -o "$out/http_parse"

pin=()
if command -v taskset >/dev/null && taskset -c 1 true 2>/dev/null; then
    pin=(taskset -c 1)
else
    echo "http_parse.sh: taskset -c 1 unavailable; running unpinned" >&2
fi
exec "${pin[@]}" "$out/http_parse"
