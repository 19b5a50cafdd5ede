#include <doctest/doctest.h>

#include "net/error.hpp"
#include "scenario/timewait.hpp"

using namespace sockdrill;
using namespace sockdrill::scenario;

namespace {
// The exit status and message of a usage error thrown by f, checking that it names the flag.
template <class F>
int usage_error(F&& f, const std::string& flag) {
    try {
        f();
    } catch (const Error& e) {
        CHECK(std::string(e.what()).find(flag) != std::string::npos);
        CHECK(std::string(e.what()).find('\n') == std::string::npos);
        return static_cast<int>(e.exit());
    }
    return 0;
}
}  // namespace

TEST_CASE("--fix all is every fix in the table's order, lists and repeats combine") {
    auto all = parse_fixes({"all"});
    REQUIRE(all.size() == 8);
    CHECK(all.front() == Fix::none);
    CHECK(all.back() == Fix::max_tw_buckets);
    auto some = parse_fixes({"tw-reuse,linger0", "server-closes"});
    REQUIRE(some.size() == 3);
    CHECK(some[2] == Fix::server_closes);
    CHECK(fix_name(Fix::more_sources) == "more-sources");
    CHECK(fix_key(Fix::max_tw_buckets) == "max_tw_buckets");
}

TEST_CASE("bad --fix values are usage errors naming the flag") {
    CHECK(usage_error([] { parse_fixes({"faster"}); }, "--fix") == 2);
    CHECK(usage_error([] { parse_fixes({"none,none"}); }, "--fix") == 2);
    CHECK(usage_error([] { parse_fixes({"none,"}); }, "--fix") == 2);
    CHECK(usage_error([] { parse_fixes({}); }, "--fix") == 2);
}

TEST_CASE("--port-range LO-HI: ports counted inclusively") {
    auto r = parse_port_range("40000-40999");
    CHECK(r.ports() == 1000);
    CHECK(r.text() == "40000-40999");
    CHECK(parse_port_range("50000-50000").ports() == 1);
    CHECK(parse_port_range("1024-65535").ports() == 64512);
}

TEST_CASE("inverted, out-of-range or malformed --port-range is a usage error") {
    for (const char* bad : {"40999-40000", "0-100", "40000-70000", "100-2000", "40000", "a-b", "40000-", "-40000",
                            "40000-40999-1"})
        CHECK_MESSAGE(usage_error([&] { parse_port_range(bad); }, "--port-range") == 2, bad);
}

TEST_CASE("--rate needs its unit: per second or per minute, or max") {
    CHECK(parse_churn_rate("500/s") == 500);
    CHECK(parse_churn_rate("2k/s") == 2000);
    CHECK(parse_churn_rate("1.5k/s") == 1500);
    CHECK(parse_churn_rate("600/min") == 10);
    CHECK(parse_churn_rate("max") == 0);
    for (const char* bad : {"500", "fast", "0/s", "-5/s", "500/d", "/s", "1e9/s"})
        CHECK_MESSAGE(usage_error([&] { parse_churn_rate(bad); }, "--rate") == 2, bad);
}

TEST_CASE("validate: zero concurrency, sandbox-only fixes and non-loopback targets are refused") {
    TimewaitConfig config;
    cli::CommonOptions common;
    CHECK_NOTHROW(validate(config, common));
    config.concurrency = 0;
    CHECK(usage_error([&] { validate(config, common); }, "--concurrency") == 2);
    config.concurrency = 10;

    common.target = "192.0.2.1:80";
    CHECK(usage_error([&] { validate(config, common); }, "--target") == 2);
    common.target = "127.0.0.1:8080";
    CHECK_NOTHROW(validate(config, common));
    // From the host's namespace 198.18.0.0/15 follows the default route: refused.
    for (const char* refused : {"198.18.0.2:80", "198.19.0.1:80", "127.0.0.1:0"}) {
        common.target = refused;
        CHECK_MESSAGE(usage_error([&] { validate(config, common); }, "--target") == 2, refused);
    }
    common.target = "[::1]:8080";
    CHECK_NOTHROW(validate(config, common));
    config.fixes = {Fix::tw_reuse};
    CHECK(usage_error([&] { validate(config, common); }, "--fix tw-reuse") == 2);
    config.fixes = {Fix::none, Fix::linger0, Fix::keepalive, Fix::server_closes};
    CHECK_NOTHROW(validate(config, common));
    config.port_range = PortRange{40000, 40999};
    CHECK(usage_error([&] { validate(config, common); }, "--port-range") == 2);

    common.target.clear();
    common.no_sandbox = true;
    CHECK(usage_error([&] { validate(config, common); }, "--port-range") == 2);
    config.port_range.reset();
    config.payload = load::Payload::echo;
    CHECK(usage_error([&] { validate(config, common); }, "--fix server-closes") == 2);
}

TEST_CASE("predicted exhaustion: ports / rate when they are used faster than they come back") {
    CHECK(*predicted_exhaustion_s(1000, 500, 60) == doctest::Approx(2.0));
    CHECK(*predicted_exhaustion_s(28232, 500, 60) == doctest::Approx(56.464));
    // tcp_tw_reuse: a port comes back after 1 s, so 500 conn/s fits in 1000 ports.
    CHECK_FALSE(predicted_exhaustion_s(1000, 500, 1).has_value());
    CHECK(*predicted_exhaustion_s(200, 500, 1) == doctest::Approx(0.4));
    // 10 conn/s for 60 s is 600 ports: never more than 1000 in TIME-WAIT.
    CHECK_FALSE(predicted_exhaustion_s(1000, 10, 60).has_value());
    CHECK_FALSE(predicted_exhaustion_s(1000, 0, 60).has_value());
}

TEST_CASE("sparkline: one character per slice, scaled to the peak") {
    CHECK(sparkline({}, 10) == "");
    CHECK(sparkline({0, 0, 0}, 10) == "   ");
    CHECK(sparkline({0, 5, 10}, 10) == " +@");
    CHECK(sparkline({1, 10}, 10) == ".@");
    // 100 values into 10 columns: each column is its slice's largest value.
    std::vector<double> ramp;
    for (int i = 0; i < 100; ++i) ramp.push_back(i < 50 ? 0 : 100);
    CHECK(sparkline(ramp, 10) == "     @@@@@");
    // An explicit peak scales several rows alike.
    CHECK(sparkline({50}, 10, 100) == "+");
}
