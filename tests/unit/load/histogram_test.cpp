// load::Histogram: percentiles against the exact sorted values, merging,
// the JSON round trip and the terminal chart.
#include "load/histogram.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "net/error.hpp"

using sockdrill::load::Histogram;
using sockdrill::load::render_chart;

namespace {

// Log-uniform values from 1 us to about an hour: every bucket size is used.
std::vector<uint64_t> log_uniform(size_t n, uint32_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> exponent(0, std::log(3.6e9));
    std::vector<uint64_t> values(n);
    for (auto& v : values) v = static_cast<uint64_t>(std::exp(exponent(rng)));
    return values;
}

// Values spread by +-spread around a centre, in microseconds.
void record_mode(Histogram& h, uint64_t centre_us, double spread, int n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> jitter(1 - spread, 1 + spread);
    for (int i = 0; i < n; ++i) h.record(static_cast<uint64_t>(centre_us * jitter(rng)));
}

// The exact value at percentile p: the ceil(p% * n)-th smallest.
uint64_t exact_percentile(const std::vector<uint64_t>& sorted, double p) {
    auto rank = static_cast<size_t>(std::ceil(p / 100.0 * sorted.size()));
    return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

std::string label_of(const std::string& line) {
    auto bar = line.find('|');
    std::string label = line.substr(0, bar);
    label.erase(0, label.find_first_not_of(' '));
    label.erase(label.find_last_not_of(' ') + 1);
    return label;
}

bool has_bar(const std::string& line) {
    return line.find('#') != std::string::npos;
}

}  // namespace

TEST_CASE("every value lands in the bucket whose range holds it, each under 1/128 wide") {
    for (size_t i = 0; i < Histogram::kBuckets; ++i) {
        uint64_t lower = Histogram::bucket_lower(i), width = Histogram::bucket_width(i);
        CHECK(Histogram::bucket_index(lower) == i);
        CHECK(Histogram::bucket_index(lower + width - 1) == i);
        if (lower >= Histogram::kSubBuckets) CHECK(width * Histogram::kSubBuckets <= lower);
    }
    CHECK(Histogram::bucket_index(Histogram::kMaxValueUs) == Histogram::kBuckets - 1);
    CHECK(Histogram::kMaxValueUs >= 3'600'000'000ull);  // at least one hour
}

TEST_CASE("percentiles agree with the exact sorted values within the bucket resolution") {
    auto values = log_uniform(200'000, 7);
    Histogram h;
    for (auto v : values) h.record(v);
    std::sort(values.begin(), values.end());

    CHECK(h.count() == values.size());
    CHECK(h.min() == values.front());
    CHECK(h.max() == values.back());
    double mean = 0;
    for (auto v : values) mean += static_cast<double>(v);
    CHECK(h.mean() == doctest::Approx(mean / values.size()).epsilon(1e-9));
    for (double p : {0.0, 0.1, 1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
        CAPTURE(p);
        auto exact = static_cast<double>(exact_percentile(values, p));
        auto estimate = static_cast<double>(h.percentile(p));
        CHECK(std::abs(estimate - exact) <= std::max(1.0, exact / 128));
    }
}

TEST_CASE("merging histograms is the same as recording every value into one") {
    auto a_values = log_uniform(50'000, 1), b_values = log_uniform(30'000, 2);
    Histogram a, b, both;
    for (auto v : a_values) a.record(v), both.record(v);
    for (auto v : b_values) b.record(v), both.record(v);
    a.merge(b);
    CHECK(a.count() == both.count());
    CHECK(a.min() == both.min());
    CHECK(a.max() == both.max());
    CHECK(a.sum() == both.sum());
    for (size_t i = 0; i < Histogram::kBuckets; ++i)
        CHECK(a.bucket_count(i) == both.bucket_count(i));
    for (double p : {50.0, 99.0, 99.9}) CHECK(a.percentile(p) == both.percentile(p));
}

TEST_CASE("JSON keeps only non-empty buckets and reads back into the same histogram") {
    Histogram h;
    record_mode(h, 1'000, 0.1, 5'000, 3);
    record_mode(h, 1'020'000, 0.02, 300, 4);
    h.record(0);
    nlohmann::json j = h;
    CHECK(j["count"] == 5'301);
    CHECK(j["min_us"] == 0);
    CHECK(j["p50_us"] == h.percentile(50));
    CHECK(j["p999_us"] == h.percentile(99.9));
    CHECK(j["max_us"] == h.max());
    size_t non_empty = 0;
    for (size_t i = 0; i < Histogram::kBuckets; ++i) non_empty += h.bucket_count(i) != 0;
    CHECK(j["buckets_us"].size() == non_empty);
    CHECK(non_empty < 500);  // compact: ~200 values-wide modes, not 3,840 buckets

    // Through text, as a file from another host would arrive.
    Histogram back = nlohmann::json::parse(j.dump()).get<Histogram>();
    CHECK(back.count() == h.count());
    CHECK(back.min() == h.min());
    CHECK(back.max() == h.max());
    CHECK(back.sum() == h.sum());
    for (size_t i = 0; i < Histogram::kBuckets; ++i)
        CHECK(back.bucket_count(i) == h.bucket_count(i));
    CHECK(nlohmann::json(back) == j);
}

TEST_CASE("histograms from JSON merge like the originals (results from several hosts)") {
    Histogram host_a, host_b;
    record_mode(host_a, 2'000, 0.2, 1'000, 5);
    record_mode(host_b, 9'000, 0.2, 1'000, 6);
    Histogram merged = nlohmann::json(host_a).get<Histogram>();
    merged.merge(nlohmann::json(host_b).get<Histogram>());
    host_a.merge(host_b);
    CHECK(nlohmann::json(merged) == nlohmann::json(host_a));
}

TEST_CASE("malformed histogram JSON is a usage error that says what is wrong") {
    using sockdrill::Error;
    using sockdrill::Exit;
    auto read = [](const char* text) { return nlohmann::json::parse(text).get<Histogram>(); };
    CHECK_THROWS_WITH_AS(read(R"({"count": 1})"), doctest::Contains("buckets_us"), Error);
    CHECK_THROWS_WITH_AS(read(R"({"buckets_us": [[10, -1]]})"), doctest::Contains("non-negative"),
                         Error);
    CHECK_THROWS_WITH_AS(read(R"({"count": 3, "buckets_us": [[10, 1]]})"),
                         doctest::Contains("count"), Error);
    try {
        read(R"([1, 2])");
        FAIL("no throw");
    } catch (const Error& e) {
        CHECK(e.exit() == Exit::usage);
    }
}

TEST_CASE("the chart shows modes at 1 ms, 1 s and 3 s as separate bars with empty rows between") {
    Histogram h;
    record_mode(h, 1'100, 0.1, 10'000, 8);    // the fast path
    record_mode(h, 1'020'000, 0.01, 150, 9);  // one SYN retransmit: ~1 s
    record_mode(h, 3'030'000, 0.01, 40, 10);  // two: ~3 s
    std::string chart = render_chart(h);
    INFO(chart);
    auto lines = lines_of(chart);

    // Bars come in exactly three runs of consecutive rows.
    int runs = 0;
    bool in_run = false;
    for (const auto& line : lines) {
        if (has_bar(line) && !in_run) ++runs;
        in_run = has_bar(line);
    }
    CHECK(runs == 3);
    auto row = [&](const std::string& label) {
        for (const auto& line : lines)
            if (label_of(line) == label) return line;
        return std::string();
    };
    CHECK(has_bar(row("1ms")));
    CHECK(has_bar(row("1s")));
    CHECK(has_bar(row("3s")));
    CHECK(!row("1.5s").empty());  // the rows between the modes are drawn, empty
    CHECK(!has_bar(row("1.5s")));
    CHECK(!has_bar(row("2s")));
    // The biggest mode has the longest bar; a 0.4 % mode still gets a mark.
    auto marks = [](const std::string& line) { return std::count(line.begin(), line.end(), '#'); };
    CHECK(marks(row("1ms")) == 40);
    CHECK(marks(row("3s")) >= 1);
}

TEST_CASE("the chart's time axis is logarithmic and long empty stretches shrink to one line") {
    Histogram h;
    h.record(100);
    h.record(10'000'000);
    auto lines = lines_of(render_chart(h));
    CHECK(label_of(lines.front()) == "100us");
    CHECK(label_of(lines.back()) == "10s");
    CHECK(lines.size() < 10);
    CHECK(std::count_if(lines.begin(), lines.end(), [](auto& l) { return label_of(l) == "~"; }) ==
          1);
    CHECK(render_chart(Histogram{}) == "(no samples)\n");
    sockdrill::load::ChartOptions unicode;
    unicode.unicode = true;
    CHECK(render_chart(h, unicode).find("█") != std::string::npos);
}

TEST_CASE("memory is one fixed array: huge values are clamped, not stored") {
    CHECK(sizeof(Histogram) <= 32 * 1024);
    Histogram h;
    h.record(3'600'000'000ull);               // one hour: held
    h.record(Histogram::kMaxValueUs + 1000);  // beyond ~19 h: clamped
    CHECK(h.count() == 2);
    CHECK(h.clamped() == 1);
    CHECK(h.max() == Histogram::kMaxValueUs);
    CHECK(std::abs(static_cast<double>(h.percentile(50)) - 3.6e9) <= 3.6e9 / 128);
    h.record(std::chrono::microseconds(-5));  // a clock that went backwards counts as 0
    CHECK(h.min() == 0);
}

TEST_CASE("an empty histogram reports zeros") {
    Histogram h;
    CHECK(h.count() == 0);
    CHECK(h.min() == 0);
    CHECK(h.max() == 0);
    CHECK(h.mean() == 0);
    CHECK(h.percentile(99) == 0);
}

TEST_CASE("format_us picks the unit a person reads") {
    using sockdrill::load::format_us;
    CHECK(format_us(850) == "850us");
    CHECK(format_us(1500) == "1.5ms");
    CHECK(format_us(3'000'000) == "3s");
    CHECK(format_us(1.5) == "1.5us");
}
