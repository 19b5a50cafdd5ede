#include <doctest/doctest.h>

#include "net/error.hpp"
#include "usage_error.hpp"
#include "scenario/backlog.hpp"

using namespace sockdrill;
using namespace sockdrill::scenario;
using sockdrill::testing::usage_message;
using namespace std::chrono_literals;


TEST_CASE("syn retransmissions are predicted at 1, 3, 7, 15, 31, 63 s and give up at 127 s") {
    auto t = predicted_syn_retransmits_s(6);
    REQUIRE(t.size() == 6);
    CHECK(t[0] == 1.0);
    CHECK(t[1] == 3.0);
    CHECK(t[2] == 7.0);
    CHECK(t[5] == 63.0);
    CHECK(syn_giveup_s(6) == 127.0);
    CHECK(syn_giveup_s(2) == 7.0);
    CHECK(predicted_syn_retransmits_s(2).size() == 2);
}

TEST_CASE("with tcp_syn_linear_timeouts the first retransmissions are 1 s apart and add to the retries") {
    auto t = predicted_syn_retransmits_s(6, 4);
    REQUIRE(t.size() == 10);
    CHECK(t == std::vector<double>{1, 2, 3, 4, 5, 7, 11, 19, 35, 67});
    CHECK(syn_giveup_s(6, 4) == 131.0);
    CHECK(predicted_syn_retransmits_s(2, 0) == std::vector<double>{1, 3});
}

TEST_CASE("connect times cluster around the nearest predicted retransmission") {
    load::Histogram h;
    for (int i = 0; i < 5; ++i) h.record(uint64_t(300 + i));  // first SYN, microseconds
    h.record(uint64_t(1'010'000));
    h.record(uint64_t(1'030'000));
    h.record(uint64_t(1'050'000));
    h.record(uint64_t(3'020'000));
    auto modes = cluster_modes(h, predicted_syn_retransmits_s(3));
    REQUIRE(modes.size() == 4);
    CHECK(modes[0].predicted_s == 0);
    CHECK(modes[0].count == 5);
    CHECK(modes[0].median_ms < 1);
    CHECK(modes[1].count == 3);
    CHECK(modes[1].median_ms == doctest::Approx(1030).epsilon(0.01));
    CHECK(modes[2].count == 1);
    CHECK(modes[3].count == 0);
    CHECK(modes[3].median_ms == 0);
}

TEST_CASE("a value between two predictions goes to the nearer on a log scale") {
    load::Histogram h;
    h.record(uint64_t(1'600'000));  // below sqrt(1*3) = 1.73 s: the 1 s mode
    h.record(uint64_t(1'900'000));  // above: the 3 s mode
    h.record(uint64_t(400'000));    // below half of 1 s: the first SYN
    auto modes = cluster_modes(h, {1.0, 3.0});
    CHECK(modes[0].count == 1);
    CHECK(modes[1].count == 1);
    CHECK(modes[2].count == 1);
}

TEST_CASE("the accept-queue timeline marks a full queue at backlog + 1") {
    std::vector<QueueSample> s = {{0, 0, 1}, {0.1, 1, 1}, {0.2, 2, 1}, {0.3, 1, 128}, {0.4, 100, 128}, {0.5, 129, 128}};
    CHECK(queue_timeline(s) == "_o#.o#");
}

TEST_CASE("--accept takes normal, serial, slow=DURATION and paused") {
    CHECK(parse_accept_mode("serial").kind == AcceptMode::serial);
    CHECK(parse_accept_mode("paused").kind == AcceptMode::paused);
    auto slow = parse_accept_mode("slow=250ms");
    CHECK(slow.kind == AcceptMode::slow);
    CHECK(slow.delay == 250ms);
    CHECK(slow.name() == "slow=250ms");
    for (const char* bad : {"slow", "slow=", "slow=0", "slow=1m", "fast", ""})
        CHECK(usage_message([&] { parse_accept_mode(bad); }).find("--accept") == 0);
}

TEST_CASE("--rate needs a unit") {
    CHECK(parse_rate("50/s") == 50);
    CHECK(parse_rate("3000/min") == 50);
    CHECK(parse_rate("10k/s") == 10000);
    for (const char* bad : {"50", "50/", "/s", "0/s", "fast/s", "50/day"})
        CHECK(usage_message([&] { parse_rate(bad); }).find("--rate") == 0);
}

TEST_CASE("--compare variants, all, and bad ones") {
    auto all = parse_compare({"all"});
    REQUIRE(all.size() == 7);
    CHECK(all[0].key() == "backlog_1");
    CHECK(all[4].key() == "abort_on_overflow");
    CHECK(all[5].backlog == 100000);
    CHECK(all[6].seed);
    auto some = parse_compare({"backlog=16,somaxconn=8", "syncookies=2"});
    REQUIRE(some.size() == 3);
    CHECK(some[0].backlog == 16);
    CHECK(some[1].somaxconn == 8);
    CHECK(some[1].backlog == 100000);
    CHECK(some[2].syncookies == 2);
    for (const char* bad : {"backlog=-1", "backlog=x", "syncookies=3", "bogus", "backlog", "seed,seed"})
        CHECK(usage_message([&] { parse_compare({bad}); }).find("--compare") == 0);
}

TEST_CASE("validate: bad backlog, zero concurrency, targets off loopback or the 198.18/15 sandbox range") {
    cli::CommonOptions common;
    common.duration = 5s;
    BacklogConfig c;
    CHECK_NOTHROW(validate(c, common));
    c.backlog = -1;
    CHECK(usage_message([&] { validate(c, common); }).find("--backlog") == 0);
    c = {};
    c.concurrency = 0;
    CHECK(usage_message([&] { validate(c, common); }).find("--concurrency") == 0);
    c = {};
    common.target = "127.0.0.1:8080";
    CHECK_NOTHROW(validate(c, common));
    common.target = "[::1]:8080";
    CHECK_NOTHROW(validate(c, common));
    // The sandbox range would leave the machine from the host's namespace.
    for (const char* off_machine : {"198.18.0.2:80", "198.19.1.2:80", "10.0.0.1:80"}) {
        common.target = off_machine;
        auto message = usage_message([&] { validate(c, common); });
        CHECK(message.find("--target") == 0);
        CHECK(message.find("loopback") != std::string::npos);
    }
    common.target = "127.0.0.1:0";
    CHECK(usage_message([&] { validate(c, common); }).find("--target") == 0);
    common.target = "127.0.0.1:8080";
    c.syn_retries = 2;
    CHECK(usage_message([&] { validate(c, common); }).find("--target") == 0);
    c = {};
    c.compare = parse_compare({"seed"});
    CHECK(usage_message([&] { validate(c, common); }).find("--compare") == 0);
}

TEST_CASE("--count without --duration needs no duration, with a count, no duration is checked") {
    cli::CommonOptions common;
    common.duration = cli::Duration{0};
    BacklogConfig c;
    CHECK(usage_message([&] { validate(c, common); }).find("--duration") == 0);
    c.count = 10000;
    c.count_ends_run = true;
    CHECK_NOTHROW(validate(c, common));
}
