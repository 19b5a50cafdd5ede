#include <doctest/doctest.h>

#include "net/error.hpp"
#include "kernel/tcp_timers.hpp"
#include "scenario/halfopen.hpp"

using namespace sockdrill;
using namespace sockdrill::scenario;
using sandbox::Vanish;

namespace {
int usage_error(std::vector<std::string> values) {
    try {
        parse_detectors(values);
    } catch (const Error& e) {
        CHECK(std::string(e.what()).find("--detect") != std::string::npos);
        return static_cast<int>(e.exit());
    }
    return 0;
}
double ms(std::optional<cli::Duration> d) { return cli::to_ms(*d); }
}  // namespace

TEST_CASE("--detect all is one connection per method, with demonstration values") {
    auto all = parse_detectors({"all"});
    REQUIRE(all.size() == 7);
    CHECK(all[0].spec() == "none");
    CHECK(all[3].spec() == "keepalive=5s,1s,3");
    CHECK(all[4].key() == "user_timeout");
    CHECK(all[4].needs_pending_data());
    CHECK(all[5].retries2 == 3);
}

TEST_CASE("--detect values parse with their units") {
    auto d = parse_detectors({"rcvtimeo=250ms", "keepalive=1,1,2", "retries2=4", "heartbeat=2s"});
    CHECK(d[0].timeout == std::chrono::milliseconds(250));
    CHECK(d[1].keepalive.idle.count() == 1);
    CHECK(d[1].keepalive.count == 2);
    CHECK(d[2].retries2 == 4);
    CHECK(d[3].spec() == "heartbeat=2s");
}

TEST_CASE("bad --detect values are usage errors naming the flag") {
    CHECK(usage_error({"telepathy"}) == 2);
    CHECK(usage_error({"keepalive=1,1"}) == 2);
    CHECK(usage_error({"keepalive=1,x,2"}) == 2);
    CHECK(usage_error({"rcvtimeo=-1s"}) == 2);
    CHECK(usage_error({"poll=0s"}) == 2);
    CHECK(usage_error({"retries2=0"}) == 2);
    CHECK(usage_error({"none=3"}) == 2);
    CHECK(usage_error({"poll=1s", "poll=2s"}) == 2);
}

TEST_CASE("predictions follow the kernel's formulas") {
    if (kernel::kernel_hz() != 250) return;  // the slack figures below are for HZ=250
    auto d = parse_detectors({"none", "rcvtimeo=2s", "poll=1s", "keepalive=1,1,2", "user-timeout=3s", "retries2=3",
                              "heartbeat=500ms"});
    auto rto = std::chrono::milliseconds(204);
    auto since = std::chrono::milliseconds(300);
    SUBCASE("a silent peer (cut, blackhole)") {
        CHECK_FALSE(predict(d[0], Vanish::cut, false, rto, since, 15).detect_after);
        // SO_RCVTIMEO sleeps on the timer wheel: 2 s lands on level 1 (32 ms ticks).
        CHECK(ms(predict(d[1], Vanish::cut, false, rto, since, 15).detect_after) == 2016);
        CHECK(predict(d[1], Vanish::cut, false, rto, since, 15).saw == "EAGAIN");
        CHECK(ms(predict(d[3], Vanish::blackhole, false, rto, since, 15).detect_after) == 716 + 2 * 1016);
        CHECK(predict(d[3], Vanish::cut, false, rto, since, 15).saw == "ETIMEDOUT");
        CHECK(ms(predict(d[4], Vanish::cut, true, rto, since, 15).detect_after) == 412 + 3000 + 2);
        CHECK(ms(predict(d[5], Vanish::cut, true, rto, since, 15).detect_after) == 412 + 2904 + 3392);
        CHECK(ms(predict(d[6], Vanish::cut, false, rto, since, 15).detect_after) == 500);
        // With data in flight, keepalive stays quiet and retransmission rules.
        CHECK(ms(predict(d[3], Vanish::cut, true, rto, since, 15).detect_after) > 900000);
    }
    SUBCASE("a forgetful peer answers our next segment with RST") {
        CHECK_FALSE(predict(d[0], Vanish::forget, false, rto, since, 15).detect_after);
        CHECK(ms(predict(d[0], Vanish::forget, true, rto, since, 15).detect_after) == 0);
        CHECK(ms(predict(d[3], Vanish::forget, false, rto, since, 15).detect_after) == 700);
        CHECK(predict(d[3], Vanish::forget, false, rto, since, 15).saw == "ECONNRESET");
        CHECK(ms(predict(d[6], Vanish::forget, false, rto, since, 15).detect_after) == 0);
        // With data in flight every method meets the RST at once, even the ones that only wait.
        CHECK(ms(predict(d[1], Vanish::forget, true, rto, since, 15).detect_after) == 0);
        CHECK(predict(d[2], Vanish::forget, true, rto, since, 15).saw == "ECONNRESET");
    }
    SUBCASE("a stalled peer's kernel answers every probe") {
        CHECK_FALSE(predict(d[3], Vanish::stall, false, rto, since, 15).detect_after);
        CHECK_FALSE(predict(d[5], Vanish::stall, true, rto, since, 15).detect_after);
        CHECK(ms(predict(d[2], Vanish::stall, false, rto, since, 15).detect_after) == 1000);
        CHECK(ms(predict(d[6], Vanish::stall, false, rto, since, 15).detect_after) == 500);
    }
}
