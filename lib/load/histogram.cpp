#include "load/histogram.hpp"

#include <algorithm>
#include <cmath>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "net/error.hpp"

namespace sockdrill::load {

// --- buckets -------------------------------------------------------------

uint64_t Histogram::bucket_lower(size_t index) {
    if (index < kSubBuckets) return index;
    size_t shift = index / kSubBuckets - 1;
    return (index % kSubBuckets + kSubBuckets) << shift;
}

uint64_t Histogram::bucket_width(size_t index) {
    if (index < kSubBuckets) return 1;
    return uint64_t{1} << (index / kSubBuckets - 1);
}

void Histogram::merge(const Histogram& other) {
    for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    sum_us_ += other.sum_us_;
    min_us_ = std::min(min_us_, other.min_us_);
    max_us_ = std::max(max_us_, other.max_us_);
    clamped_ += other.clamped_;
}

uint64_t Histogram::percentile(double p) const {
    if (count_ == 0) return 0;
    p = std::clamp(p, 0.0, 100.0);
    auto rank = static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
    rank = std::clamp<uint64_t>(rank, 1, count_);
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
        seen += counts_[i];
        if (seen >= rank) {
            uint64_t middle = bucket_lower(i) + bucket_width(i) / 2;
            return std::clamp(middle, min(), max());
        }
    }
    return max();
}

// --- JSON ----------------------------------------------------------------

void to_json(nlohmann::json& j, const Histogram& h) {
    nlohmann::json buckets = nlohmann::json::array();
    for (size_t i = 0; i < Histogram::kBuckets; ++i)
        if (h.bucket_count(i)) buckets.push_back({Histogram::bucket_lower(i), h.bucket_count(i)});
    j = nlohmann::json{{"count", h.count()},
                       {"min_us", h.min()},
                       {"mean_us", std::round(h.mean() * 10) / 10},
                       {"p50_us", h.percentile(50)},
                       {"p90_us", h.percentile(90)},
                       {"p99_us", h.percentile(99)},
                       {"p999_us", h.percentile(99.9)},
                       {"max_us", h.max()},
                       {"sum_us", h.sum()},
                       {"sub_buckets", Histogram::kSubBuckets},
                       {"buckets_us", std::move(buckets)}};
    if (h.clamped()) j["clamped"] = h.clamped();
}

namespace {

[[noreturn]] void bad_histogram(std::string_view what) {
    throw Error::usage(fmt::format("histogram: {}", what));
}

uint64_t unsigned_field(const nlohmann::json& j, const char* key) {
    const auto& value = j.at(key);
    if (!value.is_number_unsigned())
        bad_histogram(fmt::format("\"{}\" must be a non-negative integer", key));
    return value.get<uint64_t>();
}

}  // namespace

void from_json(const nlohmann::json& j, Histogram& h) {
    if (!j.is_object()) bad_histogram("expected an object");
    if (!j.contains("buckets_us") || !j["buckets_us"].is_array())
        bad_histogram("\"buckets_us\" must be an array of [value_us, count] pairs");
    Histogram read;
    for (const auto& pair : j["buckets_us"]) {
        if (!pair.is_array() || pair.size() != 2 || !pair[0].is_number_unsigned() ||
            !pair[1].is_number_unsigned())
            bad_histogram("each bucket must be [value_us, count] with non-negative integers");
        read.record_n(pair[0].get<uint64_t>(), pair[1].get<uint64_t>());
    }
    // The buckets hold each value's bucket, not the value: the exact extremes
    // and sum come from the summary when it is there.
    if (j.contains("count") && unsigned_field(j, "count") != read.count_)
        bad_histogram(fmt::format("\"count\" is {} but the buckets hold {}",
                                  unsigned_field(j, "count"), read.count_));
    if (read.count_) {
        if (j.contains("min_us")) read.min_us_ = unsigned_field(j, "min_us");
        if (j.contains("max_us")) read.max_us_ = unsigned_field(j, "max_us");
        if (j.contains("sum_us")) read.sum_us_ = unsigned_field(j, "sum_us");
        if (read.min_us_ > read.max_us_) bad_histogram("\"min_us\" is above \"max_us\"");
    }
    if (j.contains("clamped")) read.clamped_ = unsigned_field(j, "clamped");
    h = read;
}

// --- chart ---------------------------------------------------------------

namespace {

// Row starts of the time axis: 1, 1.5, 2, 3, 5, 7 times each power of ten,
// in microseconds. Ratios of 1.33 to 1.67 between rows keep modes a factor
// of three apart (1 s and 3 s) two empty rows apart.
const std::vector<double>& row_starts() {
    static const std::vector<double> starts = [] {
        std::vector<double> s = {0};
        for (double decade = 1; decade <= 1e11; decade *= 10)
            for (double m : {1.0, 1.5, 2.0, 3.0, 5.0, 7.0})
                if (decade * m >= 1.5) s.push_back(decade * m);
        return s;
    }();
    return starts;
}

size_t row_of(double value_us) {
    const auto& starts = row_starts();
    auto it = std::upper_bound(starts.begin(), starts.end(), value_us);
    return static_cast<size_t>(it - starts.begin()) - 1;
}

std::string bar(uint64_t count, uint64_t largest, const ChartOptions& options) {
    if (count == 0) return {};
    double length = static_cast<double>(count) / static_cast<double>(largest) * options.bar_width;
    if (!options.unicode) {
        auto chars = std::max<size_t>(1, static_cast<size_t>(std::lround(length)));
        return std::string(chars, '#');
    }
    // Eighth blocks: U+2588 full, U+2589..U+258F seven eighths down to one.
    static constexpr std::string_view kEighths[] = {"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"};
    auto eighths = std::max<long>(1, std::lround(length * 8));
    std::string out;
    for (long i = 0; i < eighths / 8; ++i) out += "█";
    out += kEighths[eighths % 8];
    return out;
}

// Columns a bar occupies on the terminal (each block character is one).
size_t columns(const std::string& bar_text, bool unicode) {
    if (!unicode) return bar_text.size();
    size_t n = 0;
    for (unsigned char c : bar_text) n += (c & 0xC0) != 0x80;
    return n;
}

}  // namespace

std::string format_us(double value_us) {
    auto trimmed = [](double v, std::string_view unit) {
        std::string s = fmt::format("{:.2f}", v);
        while (s.back() == '0') s.pop_back();
        if (s.back() == '.') s.pop_back();
        return s + std::string(unit);
    };
    if (value_us < 1000) return trimmed(value_us, "us");
    if (value_us < 1e6) return trimmed(value_us / 1e3, "ms");
    return trimmed(value_us / 1e6, "s");
}

std::string render_chart(const Histogram& h, const ChartOptions& options) {
    if (h.count() == 0) return "(no samples)\n";
    const auto& starts = row_starts();
    std::vector<uint64_t> rows(starts.size(), 0);
    for (size_t i = 0; i < Histogram::kBuckets; ++i) {
        if (!h.bucket_count(i)) continue;
        // A bucket goes in the row of its highest value (within [min, max]),
        // so a value of exactly 10 s is drawn at "10s", not at "7s".
        uint64_t highest = Histogram::bucket_lower(i) + Histogram::bucket_width(i) - 1;
        rows[row_of(static_cast<double>(std::clamp(highest, h.min(), h.max())))] +=
            h.bucket_count(i);
    }
    size_t first = 0, last = rows.size() - 1;
    while (rows[first] == 0) ++first;
    while (rows[last] == 0) --last;
    uint64_t largest = *std::max_element(rows.begin(), rows.end());

    std::string out;
    auto line = [&](std::string_view label, uint64_t count) {
        std::string b = bar(count, largest, options);
        size_t used = std::min<size_t>(columns(b, options.unicode), options.bar_width + 1);
        std::string pad(options.bar_width + 1 - used, ' ');
        double percent = 100.0 * static_cast<double>(count) / static_cast<double>(h.count());
        if (count)
            out += fmt::format("{:>8} |{}{}{:>10} {:>6.2f}%\n", label, b, pad, count, percent);
        else
            out += fmt::format("{:>8} |\n", label);
    };
    for (size_t r = first; r <= last; ++r) {
        size_t empty_run = 0;
        while (r + empty_run <= last && rows[r + empty_run] == 0) ++empty_run;
        if (empty_run > 3) {
            out += fmt::format("{:>8} |\n", "~");
            r += empty_run - 1;
            continue;
        }
        line(format_us(starts[r]), rows[r]);
    }
    return out;
}

}  // namespace sockdrill::load
