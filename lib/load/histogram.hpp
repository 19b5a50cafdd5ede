#pragma once
// A mergeable latency histogram with HdrHistogram's log-linear layout: every
// power of two is split into 128 equal sub-buckets, so any value is held to
// within 1/128 of itself (under 0.8 %; percentiles report the bucket's
// middle, within 0.4 %) from 1 us up to about 19 hours, in one fixed array.
// Recording is an index computation and an increment: no allocation, no
// lock. Each thread records into its own histogram and the results are
// merged at the end, as wrk does; JSON keeps only the non-empty buckets, so
// runs on several hosts merge later (sockdrill-storm merge).
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace sockdrill::load {

/// Latencies in microseconds, log-linear buckets, fixed memory.
class Histogram {
public:
    /// 2^7 = 128 sub-buckets per power of two: relative bucket width <= 1/128.
    static constexpr int kSubBucketBits = 7;
    static constexpr uint64_t kSubBuckets = uint64_t{1} << kSubBucketBits;
    /// The largest value held (2^36 - 1 us, about 19 h); larger ones are clamped to it.
    static constexpr int kMaxValueBits = 36;
    static constexpr uint64_t kMaxValueUs = (uint64_t{1} << kMaxValueBits) - 1;
    /// Values below 2 * kSubBuckets get a bucket each; above, 128 per power of two.
    static constexpr size_t kBuckets = kSubBuckets * (kMaxValueBits - kSubBucketBits + 1);

    /// Counts one value, in microseconds.
    void record(uint64_t value_us) { record_n(value_us, 1); }
    /// Counts one duration (negative ones as 0).
    void record(std::chrono::microseconds value) {
        record(value.count() < 0 ? 0 : static_cast<uint64_t>(value.count()));
    }
    /// Counts a value n times.
    void record_n(uint64_t value_us, uint64_t n) {
        if (n == 0) return;
        if (value_us > kMaxValueUs) {
            value_us = kMaxValueUs;
            clamped_ += n;
        }
        counts_[bucket_index(value_us)] += n;
        count_ += n;
        sum_us_ += value_us * n;
        if (value_us < min_us_) min_us_ = value_us;
        if (value_us > max_us_) max_us_ = value_us;
    }
    /// Adds another histogram's counts: the same as having recorded its values here.
    void merge(const Histogram& other);
    void reset() { *this = Histogram{}; }

    uint64_t count() const { return count_; }
    /// Exact smallest and largest recorded values (0 when empty).
    uint64_t min() const { return count_ ? min_us_ : 0; }
    uint64_t max() const { return max_us_; }
    /// Exact mean of the recorded values (0 when empty).
    double mean() const { return count_ ? static_cast<double>(sum_us_) / count_ : 0.0; }
    uint64_t sum() const { return sum_us_; }
    /// Values above kMaxValueUs that were recorded as kMaxValueUs.
    uint64_t clamped() const { return clamped_; }
    /// The value at percentile p (0..100): the middle of the bucket holding
    /// the ceil(p% * count)-th smallest value, kept within [min, max]. 0 when empty.
    uint64_t percentile(double p) const;

    /// Which bucket holds a value (<= kMaxValueUs).
    static size_t bucket_index(uint64_t value_us) {
        if (value_us < kSubBuckets) return static_cast<size_t>(value_us);
        int top_bit = 63 - __builtin_clzll(value_us);  // >= kSubBucketBits
        int shift = top_bit - kSubBucketBits;
        return static_cast<size_t>((shift + 1) * kSubBuckets + ((value_us >> shift) - kSubBuckets));
    }
    /// The smallest value a bucket holds, and how many consecutive values it holds.
    static uint64_t bucket_lower(size_t index);
    static uint64_t bucket_width(size_t index);
    uint64_t bucket_count(size_t index) const { return counts_[index]; }

private:
    friend void from_json(const nlohmann::json& j, Histogram& histogram);

    std::array<uint64_t, kBuckets> counts_{};
    uint64_t count_ = 0;
    uint64_t sum_us_ = 0;
    uint64_t min_us_ = std::numeric_limits<uint64_t>::max();
    uint64_t max_us_ = 0;
    uint64_t clamped_ = 0;
};

/// {"count", "min_us", "mean_us", "p50_us", "p90_us", "p99_us", "p999_us",
///  "max_us", "sum_us", "sub_buckets", "buckets_us": [[lowest value, count], ...]}
/// with only the non-empty buckets listed.
void to_json(nlohmann::json& j, const Histogram& histogram);
/// Reads what to_json wrote (the summary keys are derived again from the
/// buckets; min, max and sum are taken as written). Throws Error(usage)
/// naming what is wrong.
void from_json(const nlohmann::json& j, Histogram& histogram);

/// How render_chart draws.
struct ChartOptions {
    unsigned bar_width = 40;  ///< characters of the longest bar
    bool unicode = false;     ///< block characters instead of '#'
};

/// A terminal chart, one line per row of a log-scaled time axis whose rows
/// start at 1, 1.5, 2, 3, 5 and 7 times each power of ten (1ms, 1.5ms, 2ms,
/// 3ms, 5ms, 7ms, 10ms, ...), from the row of the smallest value to that of
/// the largest. A bar is proportional to its row's count, and at least one
/// character when the row is not empty, so a small mode still shows; empty
/// rows between modes stay in the chart (a run of more than three becomes
/// one "~" line), so the 1 s and 3 s SYN-retransmit modes appear as separate
/// bars with blank rows between them. Each line ends with '\n'; an empty
/// histogram renders as "(no samples)\n".
std::string render_chart(const Histogram& histogram, const ChartOptions& options = {});

/// A duration in microseconds the way the chart labels it: "850us", "1.5ms", "3s".
std::string format_us(double value_us);

}  // namespace sockdrill::load
