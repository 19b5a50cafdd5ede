#include <doctest/doctest.h>

#include "net/error.hpp"
#include "scenario/nagle.hpp"

using namespace sockdrill;
using namespace sockdrill::scenario;
using namespace std::chrono_literals;

namespace {

int variant_usage_error(std::vector<std::string> values) {
    try {
        parse_nagle_variants(values);
    } catch (const Error& e) {
        CHECK(std::string(e.what()).find("--variant") != std::string::npos);
        return static_cast<int>(e.exit());
    }
    return 0;
}

std::string validate_error(const NagleConfig& config, const cli::CommonOptions& common) {
    try {
        validate(config, common);
    } catch (const Error& e) {
        CHECK(e.exit() == Exit::usage);
        return e.what();
    }
    return "";
}

cli::CommonOptions common_with(std::string target = "") {
    cli::CommonOptions c;
    c.duration = 10s;
    c.target = std::move(target);
    return c;
}

// A segment of the tap, `ms` after a common start.
sandbox::Segment segment(const net::Address& src, const net::Address& dst, double ms, uint8_t flags, uint32_t seq,
                         uint32_t ack, uint32_t payload) {
    sandbox::Segment s;
    s.at = sandbox::Clock::time_point{} + std::chrono::microseconds(int64_t(ms * 1000));
    s.src = src;
    s.dst = dst;
    s.flags = flags;
    s.seq = seq;
    s.ack = ack;
    s.payload_bytes = payload;
    return s;
}

}  // namespace

TEST_CASE("--variant all is the five variants in order, names and JSON keys") {
    auto all = parse_nagle_variants({"all"});
    REQUIRE(all.size() == 5);
    CHECK(variant_name(all[0]) == "default");
    CHECK(variant_name(all[3]) == "one-write");
    CHECK(variant_key(all[3]) == "one_write");
    CHECK(variant_name(all[4]) == "quickack");
    auto two = parse_nagle_variants({"nodelay,default"});
    REQUIRE(two.size() == 2);
    CHECK(two[0] == NagleVariant::nodelay);
    CHECK(parse_nagle_variants({"cork", "one-write"}).size() == 2);
}

TEST_CASE("bad --variant values are usage errors naming the flag") {
    CHECK(variant_usage_error({"fast"}) == 2);
    CHECK(variant_usage_error({"one_write"}) == 2);
    CHECK(variant_usage_error({"default", "default"}) == 2);
    CHECK(variant_usage_error({"all", "cork"}) == 2);
    CHECK(variant_usage_error({""}) == 2);
    CHECK(variant_usage_error({}) == 2);
}

TEST_CASE("validate: zero requests, split writes out of range, a bad path, a zero duration") {
    NagleConfig config;
    config.variants = parse_nagle_variants({"all"});
    CHECK(validate_error(config, common_with()) == "");
    config.requests = 0;
    CHECK(validate_error(config, common_with()).rfind("--requests:", 0) == 0);
    config.requests = 5;
    config.split_writes = 0;
    CHECK(validate_error(config, common_with()).rfind("--split-writes:", 0) == 0);
    config.split_writes = 65;
    CHECK(validate_error(config, common_with()).rfind("--split-writes:", 0) == 0);
    config.split_writes = 2;
    config.path = "index.html";
    CHECK(validate_error(config, common_with()).rfind("--path:", 0) == 0);
    config.path = "/";
    auto zero = common_with();
    zero.duration = 0s;
    CHECK(validate_error(config, zero).rfind("--duration:", 0) == 0);
    config.stall_threshold = 0us;
    CHECK(validate_error(config, common_with()).rfind("--stall-threshold:", 0) == 0);
}

TEST_CASE("--target: loopback only (198.18.0.0/15 would leave the host), and only the client-side variants") {
    NagleConfig config;
    config.variants = parse_nagle_variants({"default", "quickack"});
    CHECK(validate_error(config, common_with("127.0.0.1:8080")) == "");
    CHECK(validate_error(config, common_with("127.5.5.5:80")) == "");
    CHECK(validate_error(config, common_with("[::1]:80")) == "");
    for (const char* refused : {"10.1.2.3:80", "198.18.0.2:80", "198.19.255.254:80", "198.20.0.1:80",
                                "[2001:db8::1]:80", "127.0.0.1:0", "nowhere"})
        CHECK_MESSAGE(validate_error(config, common_with(refused)).rfind("--target", 0) == 0, refused);
    CHECK(validate_error(config, common_with("198.18.0.2:80")).find("expected a loopback address") !=
          std::string::npos);
    config.variants = parse_nagle_variants({"nodelay"});
    CHECK(validate_error(config, common_with("127.0.0.1:8080")).rfind("--variant nodelay", 0) == 0);
}

TEST_CASE("validate: --requests and --warmup are bounded, so warmup + requests cannot overflow") {
    NagleConfig config;
    config.variants = parse_nagle_variants({"default"});
    config.requests = kMaxNagleRequests;
    config.warmup = kMaxNagleWarmup;
    CHECK(validate_error(config, common_with()) == "");
    config.requests = UINT64_MAX;
    CHECK(validate_error(config, common_with()).rfind("--requests: expected at most", 0) == 0);
    config.requests = 5;
    config.warmup = UINT64_MAX;
    CHECK(validate_error(config, common_with()).rfind("--warmup: expected at most", 0) == 0);
}

TEST_CASE("--variant all against --target is default and quickack, elsewhere all five") {
    NagleConfig config;
    config.variants = parse_nagle_variants({"all"});
    config.all_variants = true;
    CHECK(variants_to_run(config, common_with()).size() == 5);
    auto target = common_with("127.0.0.1:8080");
    CHECK(validate_error(config, target) == "");
    auto run = variants_to_run(config, target);
    REQUIRE(run.size() == 2);
    CHECK(run[0] == NagleVariant::default_);
    CHECK(run[1] == NagleVariant::quickack);
}

TEST_CASE("ack_timing: the stall, the delayed ACK, and the segment it releases") {
    auto client = net::Address::parse("198.18.0.1:40000");
    auto server = net::Address::parse("198.18.0.2:80");
    auto other = net::Address::parse("198.18.0.1:40001");
    using namespace sandbox;
    std::vector<Segment> s = {
        // request 1 (40 bytes), first half of the response, the client's
        // delayed ACK 40 ms later, the second half right after it.
        segment(client, server, 0.0, kPsh | kAck, 1000, 5000, 40),
        segment(server, client, 0.1, kPsh | kAck, 5000, 1040, 35),
        segment(other, server, 10.0, kPsh | kAck, 1, 1, 40),  // another connection: ignored
        segment(client, server, 40.1, kAck, 1040, 5035, 0),
        segment(server, client, 40.2, kPsh | kAck, 5035, 1040, 35),
        // request 2 carries the ACK of the second half; the response comes
        // in one segment, acknowledged by request 3 at once.
        segment(client, server, 40.3, kPsh | kAck, 1040, 5070, 40),
        segment(server, client, 40.4, kPsh | kAck, 5070, 1080, 70),
        segment(client, server, 40.6, kPsh | kAck, 1080, 5140, 40),
    };
    auto t = ack_timing(s, client, server);
    CHECK(t.responses == 2);
    CHECK(t.data_segments_in == 3);
    REQUIRE(t.ack_delay_ms.size() == 2);
    CHECK(t.ack_delay_ms[0] == doctest::Approx(40.0));
    CHECK(t.ack_delay_ms[1] == doctest::Approx(0.2));
    REQUIRE(t.released_after_ack_ms.size() == 1);
    CHECK(t.released_after_ack_ms[0] == doctest::Approx(0.1));
}

TEST_CASE("ack_timing: both halves before the ACK (TCP_NODELAY) release nothing") {
    auto client = net::Address::parse("127.0.0.1:40000");
    auto server = net::Address::parse("127.0.0.1:8080");
    using namespace sandbox;
    std::vector<Segment> s = {
        segment(client, server, 0.0, kPsh | kAck, 1000, 5000, 40),
        segment(server, client, 0.05, kPsh | kAck, 5000, 1040, 35),
        segment(server, client, 0.06, kPsh | kAck, 5035, 1040, 35),
        segment(client, server, 0.08, kAck, 1040, 5070, 0),
    };
    auto t = ack_timing(s, client, server);
    CHECK(t.responses == 1);
    REQUIRE(t.ack_delay_ms.size() == 1);
    CHECK(t.ack_delay_ms[0] == doctest::Approx(0.03));
    CHECK(t.released_after_ack_ms.empty());
}

TEST_CASE("ack_timing: sequence numbers wrap around 2^32") {
    auto client = net::Address::parse("127.0.0.1:40000");
    auto server = net::Address::parse("127.0.0.1:8080");
    using namespace sandbox;
    std::vector<Segment> s = {
        segment(client, server, 0.0, kPsh | kAck, 1, 0xfffffff0u, 40),
        segment(server, client, 0.1, kPsh | kAck, 0xfffffff0u, 41, 32),  // ends at 0x10 after the wrap
        segment(client, server, 0.2, kAck, 41, 0x00000005u, 0),          // acknowledges part only
        segment(client, server, 40.1, kAck, 41, 0x00000010u, 0),
    };
    auto t = ack_timing(s, client, server);
    REQUIRE(t.ack_delay_ms.size() == 1);
    CHECK(t.ack_delay_ms[0] == doctest::Approx(40.0));
}
