#include "cli/units.hpp"

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

using namespace std::chrono_literals;
using sockdrill::cli::Duration;
using sockdrill::cli::format_duration;
using sockdrill::cli::format_size;
using sockdrill::cli::parse_count;
using sockdrill::cli::parse_duration;
using sockdrill::cli::parse_size;

TEST_CASE("durations accept us, ms, s, m, min and h suffixes") {
    CHECK(parse_duration("250us") == 250us);
    CHECK(parse_duration("500ms") == 500ms);
    CHECK(parse_duration("2s") == 2s);
    CHECK(parse_duration("1m") == 1min);
    CHECK(parse_duration("1min") == 1min);
    CHECK(parse_duration("1h") == 1h);
}

TEST_CASE("a bare number is a duration in seconds, as sleep reads it") {
    CHECK(parse_duration("3") == 3s);
    CHECK(parse_duration("0") == 0s);
    CHECK(parse_duration("0.25") == 250ms);
}

TEST_CASE("fractional durations are accepted when they come to whole microseconds") {
    CHECK(parse_duration("1.5s") == 1500ms);
    CHECK(parse_duration("2.5ms") == 2500us);
    CHECK_THROWS_AS(parse_duration("0.5us"), std::invalid_argument);
}

TEST_CASE("a bad duration names the expected forms and echoes the input") {
    for (auto text : {"", "fast", "1x", "5 s", " 5s", "-1s", "+1s", "s", "1S", "inf", "nan"}) {
        CAPTURE(text);
        try {
            parse_duration(text);
            FAIL("accepted");
        } catch (const std::invalid_argument& e) {
            std::string message = e.what();
            CHECK(message.find("expected a duration like 250us, 500ms, 2s or 1m") == 0);
            CHECK(message.find(std::string("got \"") + text + "\"") != std::string::npos);
        }
    }
}

TEST_CASE("a duration too long for the clock is refused rather than wrapping negative") {
    // 3e9 hours is 1.08e19 us: below the parser's 1.8e19 cap, above INT64_MAX.
    Duration parsed{0};
    bool refused = false;
    try {
        parsed = parse_duration("3000000000h");
    } catch (const std::invalid_argument&) {
        refused = true;
    }
    CAPTURE(parsed.count());
    CHECK((refused || parsed.count() > 0));
}

TEST_CASE("a size between 2^63 and the parser's cap is refused or exact, never rounded to 2^63") {
    // llround() of a value >= 2^63 overflows long long.
    uint64_t parsed = 0;
    bool refused = false;
    try {
        parsed = parse_size("10000000000GB");
    } catch (const std::invalid_argument&) {
        refused = true;
    }
    CAPTURE(parsed);
    CHECK((refused || parsed == 10000000000000000000ull));
}

TEST_CASE("sizes use k/M/G for powers of 1000 and KiB/MiB/GiB for powers of 1024") {
    CHECK(parse_size("512") == 512);
    CHECK(parse_size("512B") == 512);
    CHECK(parse_size("10k") == 10000);
    CHECK(parse_size("10K") == 10000);
    CHECK(parse_size("10KB") == 10000);
    CHECK(parse_size("4KiB") == 4096);
    CHECK(parse_size("2M") == 2000000);
    CHECK(parse_size("2MB") == 2000000);
    CHECK(parse_size("1MiB") == 1048576);
    CHECK(parse_size("1G") == 1000000000);
    CHECK(parse_size("1GB") == 1000000000);
    CHECK(parse_size("1GiB") == 1073741824);
    CHECK(parse_size("1.5KiB") == 1536);
}

TEST_CASE("a bad size names the expected forms") {
    for (auto text : {"", "big", "1.5", "-1", "1kib", "1 KiB", "1TB", "1e20"}) {
        CAPTURE(text);
        CHECK_THROWS_WITH_AS(parse_size(text), doctest::Contains("expected a size like 512, 4KiB or 1MiB"),
                             std::invalid_argument);
    }
}

TEST_CASE("counts take k, M and G multipliers but no binary suffixes") {
    CHECK(parse_count("100") == 100);
    CHECK(parse_count("10k") == 10000);
    CHECK(parse_count("10K") == 10000);
    CHECK(parse_count("1M") == 1000000);
    CHECK(parse_count("2G") == 2000000000);
    CHECK(parse_count("1.5k") == 1500);
    for (auto text : {"", "1KiB", "1.5", "many", "-3", "1MB"}) {
        CAPTURE(text);
        CHECK_THROWS_WITH_AS(parse_count(text), doctest::Contains("expected a count like 100, 10k or 1M"),
                             std::invalid_argument);
    }
}

TEST_CASE("format_duration writes the shortest exact unit") {
    CHECK(format_duration(0us) == "0s");
    CHECK(format_duration(250us) == "250us");
    CHECK(format_duration(500ms) == "500ms");
    CHECK(format_duration(1500ms) == "1500ms");
    CHECK(format_duration(2s) == "2s");
    CHECK(format_duration(90s) == "90s");
    CHECK(format_duration(2min) == "2m");
    CHECK(format_duration(1h) == "60m");
}

TEST_CASE("format_duration output parses back to the same duration") {
    for (Duration d : {Duration(0), Duration(1), Duration(999), Duration(1000), Duration(1001),
                       Duration(1500000), Duration(60000000), Duration(3600000000),
                       Duration(123456789)}) {
        CAPTURE(d.count());
        CHECK(parse_duration(format_duration(d)) == d);
    }
}

TEST_CASE("format_size uses the largest whole binary unit, else plain bytes") {
    CHECK(format_size(0) == "0");
    CHECK(format_size(12) == "12");
    CHECK(format_size(1000) == "1000");
    CHECK(format_size(1024) == "1KiB");
    CHECK(format_size(1536) == "1536");
    CHECK(format_size(1048576) == "1MiB");
    CHECK(format_size(3 * 1048576 + 1024) == "3073KiB");
    CHECK(format_size(1073741824) == "1GiB");
    CHECK(format_size(8ull << 30) == "8GiB");
}

TEST_CASE("format_size output parses back to the same size") {
    for (uint64_t bytes : {0ull, 1ull, 1023ull, 1024ull, 4096ull, 1048576ull, 5ull << 30, 123457ull}) {
        CAPTURE(bytes);
        CHECK(parse_size(format_size(bytes)) == bytes);
    }
}

TEST_CASE("to_seconds and to_ms convert microseconds to doubles") {
    CHECK(sockdrill::cli::to_seconds(1500ms) == doctest::Approx(1.5));
    CHECK(sockdrill::cli::to_ms(250us) == doctest::Approx(0.25));
}

TEST_CASE("parse_rate reads events per unit of time and insists on the unit") {
    using sockdrill::cli::parse_rate;
    CHECK(parse_rate("500/s") == doctest::Approx(500));
    CHECK(parse_rate("2.5k/s") == doctest::Approx(2500));
    CHECK(parse_rate("1M/s") == doctest::Approx(1e6));
    CHECK(parse_rate("3000/min") == doctest::Approx(50));
    CHECK(parse_rate("600/m") == doctest::Approx(10));
    CHECK(parse_rate("36/h") == doctest::Approx(0.01));
    for (const char* bad : {"500", "", "/s", "0/s", "-5/s", "5/", "5/d", "fast/s", "5x/s", "5 /s"}) {
        CAPTURE(bad);
        CHECK_THROWS_AS(parse_rate(bad), std::invalid_argument);
    }
}
