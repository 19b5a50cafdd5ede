// sockdrill-halfopen: detectors, the kernel's predictions, and the checks
// shared by both sides. The runs are in halfopen_client.cpp (we are the
// victim) and halfopen_server.cpp (we are the client that vanishes).
#include "scenario/halfopen.hpp"

#include <fmt/format.h>

#include "kernel/sysctl.hpp"
#include "kernel/tcp_timers.hpp"
#include "net/error.hpp"
#include "scenario/halfopen_parts.hpp"

namespace sockdrill::scenario {

namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

struct MethodName {
    Method method;
    std::string_view name;  ///< as written in --detect
    std::string_view example;
};
// The demonstration values of `--detect all`: each finishes well inside
// the default --max-wait of 30 s, so one run shows every method.
constexpr MethodName kMethods[] = {
    {Method::none, "none", ""},
    {Method::rcvtimeo, "rcvtimeo", "5s"},
    {Method::poll, "poll", "5s"},
    {Method::keepalive, "keepalive", "5s,1s,3"},
    {Method::user_timeout, "user-timeout", "5s"},
    {Method::retries2, "retries2", "3"},
    {Method::heartbeat, "heartbeat", "2s"},
};

std::string_view method_name(Method method) {
    for (const auto& m : kMethods)
        if (m.method == method) return m.name;
    return "?";
}

[[noreturn]] void bad_detect(std::string_view value, std::string_view why) {
    throw Error::usage(fmt::format(
        "--detect: {} in \"{}\" (expected all, none, rcvtimeo=D, poll=D, keepalive=IDLE,INTVL,CNT, "
        "user-timeout=D, retries2=N or heartbeat=D)",
        why, value));
}

Detector parse_one(std::string_view value) {
    auto eq = value.find('=');
    std::string_view name = value.substr(0, eq);
    const MethodName* known = nullptr;
    for (const auto& m : kMethods)
        if (m.name == name) known = &m;
    if (!known) bad_detect(value, fmt::format("unknown method \"{}\"", name));
    std::string setting(eq == std::string_view::npos ? known->example : value.substr(eq + 1));
    Detector d;
    d.method = known->method;
    if (d.method == Method::none) {
        if (eq != std::string_view::npos) bad_detect(value, "none takes no value");
        return d;
    }
    try {
        switch (d.method) {
        case Method::keepalive: d.keepalive = cli::parse_keepalive(setting); break;
        case Method::retries2: {
            uint64_t n = cli::parse_count(setting);
            if (n < 1 || n > 255) throw std::invalid_argument("expected a count from 1 to 255");
            d.retries2 = static_cast<int>(n);
            break;
        }
        default:
            d.timeout = cli::parse_duration(setting);
            if (d.timeout < 1ms) throw std::invalid_argument("expected a duration of at least 1ms");
            break;
        }
    } catch (const std::invalid_argument& e) {
        bad_detect(value, e.what());
    }
    return d;
}

}  // namespace

std::string Detector::key() const {
    std::string key(method_name(method));
    for (char& c : key)
        if (c == '-') c = '_';
    return key;
}

std::string Detector::spec() const {
    std::string name(method_name(method));
    switch (method) {
    case Method::none: return name;
    case Method::keepalive:
        return fmt::format("{}={}s,{}s,{}", name, keepalive.idle.count(), keepalive.interval.count(), keepalive.count);
    case Method::retries2: return fmt::format("{}={}", name, retries2);
    default: return fmt::format("{}={}", name, cli::format_duration(timeout));
    }
}

bool Detector::needs_pending_data() const { return method == Method::user_timeout || method == Method::retries2; }

std::vector<Detector> parse_detectors(const std::vector<std::string>& values) {
    std::vector<Detector> detectors;
    for (const auto& value : values) {
        if (value == "all") {
            for (const auto& m : kMethods) detectors.push_back(parse_one(m.name));
        } else {
            detectors.push_back(parse_one(value));
        }
    }
    if (detectors.empty()) bad_detect("", "no method");
    for (size_t i = 0; i < detectors.size(); ++i)
        for (size_t j = i + 1; j < detectors.size(); ++j)
            if (detectors[i].method == detectors[j].method)
                throw Error::usage(fmt::format("--detect: {} given twice (one connection per method)",
                                               method_name(detectors[i].method)));
    return detectors;
}

Theory predict(const Detector& d, sandbox::Vanish vanish, bool pending, cli::Duration rto,
               cli::Duration since_last_ack, int retries2, int segments) {
    using sandbox::Vanish;
    auto ms = [](cli::Duration x) { return duration_cast<milliseconds>(x); };
    auto text = [](cli::Duration x) { return cli::format_duration(duration_cast<milliseconds>(x)); };
    auto probe = segments > 1 ? kernel::LossProbe::several_segments : kernel::LossProbe::one_segment;
    // Data in flight to a forgetful peer meets RST at once, whatever the method.
    if (vanish == Vanish::forget && pending)
        return {0ms, "ECONNRESET", "RST answers the data we send at the vanish"};
    // Methods that only stop waiting: they fire after their timeout whatever
    // the peer did. SO_RCVTIMEO sleeps on a jiffies timer (the wheel's
    // slack); poll() on a high-resolution one.
    if (d.method == Method::rcvtimeo)
        return {ms(d.timeout) + kernel::timer_wheel_slack(ms(d.timeout)), "EAGAIN",
                fmt::format("SO_RCVTIMEO {}", text(d.timeout))};
    if (d.method == Method::poll) return {d.timeout, "poll 0", fmt::format("poll timeout {}", text(d.timeout))};

    if (vanish == Vanish::forget) {
        // The peer's host answers our next segment with RST: detection is
        // when we next send something.
        if (d.method == Method::heartbeat)
            return {0ms, "ECONNRESET", "RST answers the first segment we send"};
        if (d.method == Method::keepalive) {
            auto first = std::max(ms(d.keepalive.idle) - ms(since_last_ack), 0ms);
            return {first, "ECONNRESET",
                    fmt::format("RST answers the first probe: idle {}s - {} since the last ACK",
                                d.keepalive.idle.count(), text(since_last_ack))};
        }
        return {std::nullopt, "blocked", "nothing is sent, so no RST ever comes"};
    }
    if (vanish == Vanish::stall) {
        // The peer's kernel is alive: it ACKs, answers keepalive and
        // zero-window probes. Only the application's own deadline notices,
        // or TCP_USER_TIMEOUT once the window stays shut (counted from the
        // first zero-window probe, which goes one RTO after it shut).
        if (d.method == Method::heartbeat) return {d.timeout, "no pong", fmt::format("pong deadline {}", text(d.timeout))};
        if (d.method == Method::user_timeout && pending) {
            // tcp_probe_timer(): the user timeout counts from the first probe.
            auto probe = ms(rto) + kernel::timer_wheel_slack(ms(rto));
            auto abort = ms(d.timeout) + kernel::timer_wheel_slack(ms(d.timeout) - probe);
            return {probe + abort, "ETIMEDOUT",
                    fmt::format("window shut, first zero-window probe one RTO ({}) later, then TCP_USER_TIMEOUT {}",
                                text(rto), text(d.timeout)),
                    true};
        }
        return {std::nullopt, "blocked", "the peer's kernel answers every probe"};
    }
    // cut, blackhole: nothing comes back at all.
    switch (d.method) {
    case Method::heartbeat: return {d.timeout, "no pong", fmt::format("pong deadline {}", text(d.timeout))};
    case Method::keepalive:
        if (!pending) {
            auto when = kernel::keepalive_detection(d.keepalive, ms(since_last_ack));
            return {when, "ETIMEDOUT",
                    fmt::format("idle {}s - {} since the last ACK + {}s * {} probes", d.keepalive.idle.count(),
                                text(since_last_ack), d.keepalive.interval.count(), d.keepalive.count)};
        }
        [[fallthrough]];  // keepalive does not probe while data is unacknowledged
    case Method::none:
    case Method::retries2: {
        if (!pending && d.method != Method::retries2)
            return {std::nullopt, "blocked", "nothing is sent, so nothing can time out"};
        int retries = d.method == Method::retries2 ? d.retries2 : retries2;
        auto when = kernel::retransmission_giveup(ms(rto), retries, std::nullopt, probe);
        return {when, "ETIMEDOUT",
                fmt::format("loss probe + RTO {}, then doubling until {} (tcp_retries2={}) have passed", text(rto),
                            text(kernel::retries_model_timeout(retries)), retries)};
    }
    case Method::user_timeout:
        if (!pending) return {std::nullopt, "blocked", "TCP_USER_TIMEOUT needs data in flight"};
        return {kernel::retransmission_giveup(ms(rto), 15, ms(d.timeout), probe), "ETIMEDOUT",
                fmt::format("loss probe + RTO {}, then TCP_USER_TIMEOUT {}", text(rto), text(d.timeout))};
    default: break;
    }
    return {};
}

void validate(const HalfopenConfig& config, const cli::CommonOptions& common) {
    using sandbox::Vanish;
    if (config.side != "client" && config.side != "server")
        throw Error::usage(fmt::format("--side: expected client or server, got \"{}\"", config.side));
    if (config.max_wait < 100ms) throw Error::usage("--max-wait: expected at least 100ms");
    if (config.side == "server") {
        if (config.vanish != Vanish::forget && config.vanish != Vanish::cut)
            throw Error::usage(fmt::format("--side server: --vanish {} is not a way for a client to vanish (use forget or cut)",
                                           sandbox::vanish_name(config.vanish)));
        if (!common.target.empty() && config.vanish != Vanish::forget)
            throw Error::usage("--target: only --vanish forget works against a real server (the link is the host's loopback)");
        if (common.no_sandbox && config.vanish == Vanish::cut)
            throw Error::usage("--vanish cut changes the network, which only the sandbox may do; drop --no-sandbox");
        return;
    }
    if (!common.target.empty())
        throw Error::usage("--target works with --side server: sockdrill is then the client that vanishes");
    if (common.no_sandbox && sandbox::needs_sandbox(config.vanish))
        throw Error::usage(fmt::format("--vanish {} changes the network, which only the sandbox may do; drop --no-sandbox",
                                       sandbox::vanish_name(config.vanish)));
    for (const auto& d : config.detectors)
        if (common.no_sandbox && d.method == Method::retries2)
            throw Error::usage("--detect retries2 sets tcp_retries2, which only the sandbox may do; drop --no-sandbox");
}

void to_json(nlohmann::json& j, const HalfopenConfig& c) {
    nlohmann::json detect = nlohmann::json::array();
    for (const auto& d : c.detectors) detect.push_back(d.spec());
    auto keepalive = [](const std::optional<net::Keepalive>& k) {
        return k ? nlohmann::json{{"idle_s", k->idle.count()}, {"interval_s", k->interval.count()}, {"count", k->count}}
                 : nlohmann::json(nullptr);
    };
    j = {{"vanish", sandbox::vanish_name(c.vanish)},
         {"after_ms", cli::to_ms(c.after)},
         {"pending_data", c.pending_data},
         {"pending_size_bytes", c.pending_size},
         {"detect", detect},
         {"max_wait_ms", cli::to_ms(c.max_wait)},
         {"side", c.side},
         {"server_idle_timeout_ms", cli::to_ms(c.server_idle_timeout)},
         {"server_keepalive", keepalive(c.server_keepalive)},
         {"server_user_timeout_ms",
          c.server_user_timeout ? nlohmann::json(cli::to_ms(*c.server_user_timeout)) : nlohmann::json(nullptr)}};
}

report::Report run_halfopen(const HalfopenConfig& config, const cli::CommonOptions& common, cli::Output& output) {
    validate(config, common);
    auto r = config.side == "server" ? run_halfopen_server(config, common, output)
                                     : run_halfopen_client(config, common, output);
    to_json(r.config, config);
    if (config.side == "server") r.config.erase("detect");
    else for (auto key : {"server_idle_timeout_ms", "server_keepalive", "server_user_timeout_ms"}) r.config.erase(key);
    if (!common.target.empty()) r.config["target"] = common.target;
    r.config["no_sandbox"] = common.no_sandbox;
    return r;
}

std::string_view method_label(Method method) { return method_name(method); }

}  // namespace sockdrill::scenario
