#!/usr/bin/env bash
# Builds the libFuzzer target for lib/http/request and runs it for $1 seconds
# (default 60). Exits non-zero when the fuzzer finds a crash, leak or
# sanitizer report; the reproducer is left in build-fuzz/crash-*.
# Called from the repo root by `make fuzz`; works from anywhere.
set -euo pipefail

seconds="${1:-60}"
cd "$(dirname "$0")/../.."

out=build-fuzz
fuzzer="$out/http_request_fuzz"
mkdir -p "$out/corpus"

# UBSan findings abort instead of printing and carrying on, so they count as crashes.
clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined -Ilib \
    lib/http/*.cpp tests/fuzz/http_request_fuzz.cpp -lfmt -o "$fuzzer"

# The corpus grows across runs; the seeds are only where it starts.
for seed in tests/fuzz/seeds/*; do
    [ -e "$out/corpus/${seed##*/}" ] || cp "$seed" "$out/corpus/"
done

exec "$fuzzer" -max_total_time="$seconds" -rss_limit_mb=1024 \
    -dict=tests/fuzz/http.dict -artifact_prefix="$out/" "$out/corpus"
