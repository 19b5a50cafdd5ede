#include "cli/units.hpp"

#include <charconv>
#include <cmath>
#include <fmt/format.h>
#include <limits>
#include <stdexcept>

namespace sockdrill::cli {

namespace {

struct Suffix {
    std::string_view name;
    double factor;
};

// Splits "2.5ms" into 2.5 and "ms"; the number must be finite and >= 0.
std::pair<double, std::string_view> split_number(std::string_view text, std::string_view expected) {
    auto fail = [&] {
        return std::invalid_argument(fmt::format("expected {}, got \"{}\"", expected, text));
    };
    if (text.empty()) throw fail();
    double value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || !std::isfinite(value) || value < 0 || text.front() == '-' ||
        text.front() == '+')
        throw fail();
    return {value, text.substr(end - text.data())};
}

uint64_t scaled(std::string_view text, std::string_view expected, const Suffix* suffixes,
                size_t n, bool whole) {
    auto [value, unit] = split_number(text, expected);
    for (size_t i = 0; i < n; ++i) {
        if (unit != suffixes[i].name) continue;
        double result = value * suffixes[i].factor;
        if (result >= 0x1p63 || (whole && result != std::floor(result)))
            throw std::invalid_argument(fmt::format("expected {}, got \"{}\"", expected, text));
        return static_cast<uint64_t>(std::llround(result));
    }
    throw std::invalid_argument(fmt::format("expected {}, got \"{}\"", expected, text));
}

}  // namespace

Duration parse_duration(std::string_view text) {
    static constexpr Suffix units[] = {{"", 1e6},      {"us", 1},       {"ms", 1e3},
                                       {"s", 1e6},     {"m", 60e6},     {"min", 60e6},
                                       {"h", 3600e6}};
    return Duration(static_cast<int64_t>(
        scaled(text, "a duration like 250us, 500ms, 2s or 1m", units, std::size(units), true)));
}

uint64_t parse_size(std::string_view text) {
    static constexpr Suffix units[] = {
        {"", 1},          {"B", 1},        {"k", 1e3},   {"K", 1e3},  {"KB", 1e3},
        {"KiB", 1024.0},  {"M", 1e6},      {"MB", 1e6},  {"MiB", 1048576.0},
        {"G", 1e9},       {"GB", 1e9},     {"GiB", 1073741824.0}};
    return scaled(text, "a size like 512, 4KiB or 1MiB", units, std::size(units), true);
}

uint64_t parse_count(std::string_view text) {
    static constexpr Suffix units[] = {{"", 1}, {"k", 1e3}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}};
    return scaled(text, "a count like 100, 10k or 1M", units, std::size(units), true);
}

double parse_rate(std::string_view text) {
    static constexpr std::string_view expected = "a rate like 500/s, 2.5k/s or 3000/min";
    auto fail = [&] { return std::invalid_argument(fmt::format("expected {}, got \"{}\"", expected, text)); };
    auto slash = text.find('/');
    if (slash == std::string_view::npos) throw fail();
    std::string_view unit = text.substr(slash + 1);
    double per_s = unit == "s" ? 1 : unit == "m" || unit == "min" ? 60 : unit == "h" ? 3600 : 0;
    if (per_s == 0) throw fail();
    auto [value, suffix] = split_number(text.substr(0, slash), expected);
    double scale = suffix.empty() ? 1 : suffix == "k" || suffix == "K" ? 1e3 : suffix == "M" ? 1e6 : 0;
    if (scale == 0 || value == 0) throw fail();
    return value * scale / per_s;
}

std::string format_duration(Duration d) {
    auto us = d.count();
    if (us == 0) return "0s";
    if (us % 60000000 == 0) return fmt::format("{}m", us / 60000000);
    if (us % 1000000 == 0) return fmt::format("{}s", us / 1000000);
    if (us % 1000 == 0) return fmt::format("{}ms", us / 1000);
    return fmt::format("{}us", us);
}

std::string format_size(uint64_t bytes) {
    if (bytes != 0 && bytes % (1 << 30) == 0) return fmt::format("{}GiB", bytes >> 30);
    if (bytes != 0 && bytes % (1 << 20) == 0) return fmt::format("{}MiB", bytes >> 20);
    if (bytes != 0 && bytes % 1024 == 0) return fmt::format("{}KiB", bytes >> 10);
    return fmt::format("{}", bytes);
}

}  // namespace sockdrill::cli
