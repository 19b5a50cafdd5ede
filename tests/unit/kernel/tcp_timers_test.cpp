#include <doctest/doctest.h>

#include "kernel/tcp_timers.hpp"

using namespace sockdrill;
using namespace std::chrono_literals;

TEST_CASE("the timer wheel's slack grows 8x per level") {
    if (kernel::kernel_hz() != 250) return;  // the figures below are for HZ=250
    CHECK(kernel::timer_wheel_slack(200ms) == 2ms);     // level 0: 4 ms ticks
    CHECK(kernel::timer_wheel_slack(1s) == 16ms);       // level 1: 32 ms
    CHECK(kernel::timer_wheel_slack(5s) == 128ms);      // level 2: 256 ms
    CHECK(kernel::timer_wheel_slack(7200s) == 65536ms); // level 5: 131 s
}

TEST_CASE("keepalive gives up after idle + interval * count from the last receive") {
    if (kernel::kernel_hz() != 250) return;
    net::Keepalive k{1s, 1s, 2};
    CHECK(kernel::keepalive_detection(k) == 1016ms + 2 * 1016ms);
    CHECK(kernel::keepalive_detection(k, 400ms) == 616ms + 2 * 1016ms);
    // Idle already passed: the first probe goes at once.
    CHECK(kernel::keepalive_detection(k, 5s) == 2ms + 2 * 1016ms);
    // The kernel defaults: 2 h 11 min 15 s, plus the wheel's slack.
    CHECK(kernel::keepalive_detection(net::Keepalive{}) == 7875s + 65536ms + 9 * 1024ms);
}

TEST_CASE("tcp_retries2 follows tcp_model_timeout") {
    CHECK(kernel::retries_model_timeout(1) == 600ms);
    CHECK(kernel::retries_model_timeout(3) == 3000ms);
    CHECK(kernel::retries_model_timeout(9) == 204600ms);
    // The default 15: 924.6 s, the figure in ip-sysctl.rst.
    CHECK(kernel::retries_model_timeout(15) == 924600ms);
}

TEST_CASE("the retransmission timer aborts at the first expiry past the limit") {
    if (kernel::kernel_hz() != 250) return;
    // Loss probe at 1 RTO, first RTO retransmission at 2; the limits count from there.
    CHECK(kernel::first_rto_retransmission(204ms) == 412ms);
    // retries2=2: limit 1.4 s; expiries 424, 1256, 2904 ms after the first.
    CHECK(kernel::retransmission_giveup(204ms, 2) == 412ms + 2904ms);
    // retries2=3: one more doubling, 3264 ms plus the level-2 slack.
    CHECK(kernel::retransmission_giveup(204ms, 3) == 412ms + 2904ms + 3392ms);
    // The backoff is capped at 120 s per step.
    CHECK(kernel::retransmission_giveup(200ms, 15) > 924600ms);
    CHECK(kernel::retransmission_giveup(200ms, 15) < 924600ms + 2 * 120000ms);
    // The user timeout's last timer is clamped to what is left (2500 - 424 - 832 = 1244 ms: level 1).
    CHECK(kernel::retransmission_giveup(204ms, 15, 2500ms) == 412ms + 2500ms + 16ms);
    // Several segments in flight: the loss probe goes at once, the RTO follows.
    CHECK(kernel::first_rto_retransmission(204ms, kernel::LossProbe::several_segments) == 10ms + 206ms);
    CHECK(kernel::retransmission_giveup(204ms, 2, std::nullopt, kernel::LossProbe::several_segments) ==
          216ms + 2904ms);
    CHECK(kernel::retransmission_giveup(204ms, 15, 1000ms, kernel::LossProbe::none) == 206ms + 1000ms + 16ms);
}
