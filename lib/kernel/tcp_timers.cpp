#include "kernel/tcp_timers.hpp"

#include <sys/utsname.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <string>

namespace sockdrill::kernel {

int kernel_hz() {
    static const int hz = [] {
        // The build configuration, where the distribution ships it; HZ is
        // not exposed at run time otherwise (CLK_TCK is USER_HZ, always 100).
        utsname u{};
        if (::uname(&u) == 0) {
            std::ifstream config(std::string("/boot/config-") + u.release);
            std::string line;
            while (std::getline(config, line))
                if (line.rfind("CONFIG_HZ=", 0) == 0) return std::max(100, std::atoi(line.c_str() + 10));
        }
        return 250;  // Debian's default
    }();
    return hz;
}

milliseconds timer_wheel_slack(milliseconds delay) {
    const double jiffy_ms = 1000.0 / kernel_hz();
    auto jiffies = int64_t(std::ceil(double(delay.count()) / jiffy_ms));
    // Level n starts at LVL_START(n) = 63 << 3(n-1) jiffies and ticks every 8^n.
    int64_t granularity = 1;
    while (jiffies >= 63 * granularity && granularity < (int64_t(1) << 24)) granularity *= 8;
    return milliseconds(int64_t(double(granularity) * jiffy_ms / 2));
}

milliseconds keepalive_detection(const net::Keepalive& keepalive, milliseconds since_last_ack) {
    milliseconds idle = keepalive.idle;
    // The first probe leaves idle after the last segment received, or at once
    // when that moment has already passed.
    milliseconds first_probe = std::max(idle - since_last_ack, milliseconds{0});
    milliseconds interval = keepalive.interval;
    return first_probe + timer_wheel_slack(first_probe) +
           (interval + timer_wheel_slack(interval)) * keepalive.count;
}

milliseconds retries_model_timeout(int retries) {
    // tcp_model_timeout(): linear_backoff_thresh = ilog2(TCP_RTO_MAX / rto_base).
    int threshold = 0;
    while ((kRtoMin.count() << (threshold + 1)) <= kRtoMax.count()) ++threshold;
    if (retries <= threshold) return kRtoMin * ((2LL << retries) - 1);
    return kRtoMin * ((2LL << threshold) - 1) + kRtoMax * (retries - threshold);
}

milliseconds first_rto_retransmission(milliseconds rto, LossProbe probe) {
    // The loss probe's timeout is 2 srtt plus TCP_RTO_MIN with one segment
    // in flight, plus TCP_TIMEOUT_MIN (2 jiffies) with several, and never
    // later than the RTO; the RTO timer is re-armed when the probe goes.
    // On a LAN (srtt << 1 ms) that puts the probe one RTO or 8 ms out.
    milliseconds slack = timer_wheel_slack(rto);
    switch (probe) {
    case LossProbe::one_segment: return 2 * (rto + slack);
    case LossProbe::several_segments: return milliseconds{10} + rto + slack;
    case LossProbe::none: break;
    }
    return rto + slack;
}

milliseconds retransmission_giveup(milliseconds rto, int retries, std::optional<milliseconds> user_timeout,
                                   LossProbe probe) {
    rto = std::max(rto, milliseconds{1});
    milliseconds first = first_rto_retransmission(rto, probe);
    bool by_user_timeout = user_timeout && user_timeout->count() > 0;
    milliseconds limit = by_user_timeout ? *user_timeout : retries_model_timeout(retries);
    // Walk the timer's expiries after the first retransmission: the RTO
    // doubles each time, up to TCP_RTO_MAX. With a user timeout the last
    // timer is clamped to what is left of it, and lands on the wheel too.
    milliseconds elapsed{0}, backoff = std::min(rto * 2, kRtoMax);
    while (elapsed < limit) {
        if (by_user_timeout && elapsed + backoff >= limit) {
            milliseconds last = limit - elapsed;
            return first + limit + timer_wheel_slack(last);
        }
        elapsed += backoff + timer_wheel_slack(backoff);
        backoff = std::min(backoff * 2, kRtoMax);
    }
    return first + elapsed;
}

}  // namespace sockdrill::kernel
