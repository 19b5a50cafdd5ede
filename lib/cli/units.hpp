#pragma once
// Values with units, parsed in one place so every flag and config key
// accepts the same spellings: durations "250us", "500ms", "2s", "1m", "1h"
// (a bare number is seconds, as sleep(1) reads it), sizes "512", "4KiB",
// "1MiB", "10k" (k/M/G = 1000, KiB/MiB/GiB = 1024), counts "10k", "1M".
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace sockdrill::cli {

using Duration = std::chrono::microseconds;

/// Parses a duration; throws std::invalid_argument("expected ...").
Duration parse_duration(std::string_view text);
/// Parses a byte size; throws std::invalid_argument("expected ...").
uint64_t parse_size(std::string_view text);
/// Parses a count with optional k/M/G suffix; throws std::invalid_argument.
uint64_t parse_count(std::string_view text);

/// Parses a rate, events per second: "500/s", "2.5k/s", "3000/min" (or
/// "/m"), "1/h"; the count may carry k or M. A bare number is refused: the
/// unit of time must be said. Throws std::invalid_argument("expected ...").
double parse_rate(std::string_view text);

/// Shortest exact spelling that parse_duration reads back: "500ms", "2s", "250us".
std::string format_duration(Duration d);
/// "4KiB", "1MiB", or plain bytes when not a whole multiple.
std::string format_size(uint64_t bytes);

/// Seconds as a double, for JSON "_s" keys and arithmetic.
inline double to_seconds(Duration d) { return std::chrono::duration<double>(d).count(); }
inline double to_ms(Duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

}  // namespace sockdrill::cli
