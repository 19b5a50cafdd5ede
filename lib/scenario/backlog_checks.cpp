// `sockdrill suite` checks for backlog: the kernel fact of DESIGN.md that a
// full accept queue drops SYNs and the client retransmits them after 1 s,
// and that a large enough backlog makes the spike vanish. Two short bursts
// in the sandbox (about 2 s in all).
#include <fmt/format.h>

#include "scenario/backlog.hpp"
#include "scenario/suite.hpp"

namespace sockdrill::scenario {

namespace {

uint64_t mode_count(const report::json& row, size_t k) {
    if (!row.contains("connect_modes")) return 0;
    const auto& modes = row.at("connect_modes");
    return k < modes.size() ? modes.at(k).at("count").get<uint64_t>() : 0;
}

}  // namespace

std::vector<Check> backlog_checks(const SuiteContext& context) {
    std::vector<Check> checks;
    if (!context.sandbox) {
        checks.push_back({"backlog", "full accept queue: SYNs dropped, retransmitted after 1 s",
                          "skipped: needs the sandbox (" + context.why_no_sandbox + ")", "a sandbox", true});
        return checks;
    }
    BacklogConfig config;
    config.accept = parse_accept_mode("slow=300ms");
    config.response_delay = {};
    config.burst = 4;
    config.exchanges = 1;
    config.close = "client";
    config.connect_timeout = std::chrono::milliseconds(1500);
    config.io_timeout = std::chrono::seconds(2);
    config.compare = parse_compare({"backlog=1", "backlog=128"});
    cli::CommonOptions common;
    common.json = true;
    common.duration = std::chrono::seconds(1);
    cli::Output output("backlog", common);
    try {
        auto r = run_backlog(config, common, output);
        // A variant that did not run (SIGINT) has no key: a const
        // operator[] on a missing key is undefined behaviour, so look first.
        const auto& variants = r.results.contains("variants") ? r.results.at("variants") : report::json::object();
        auto did_not_run = [&](const char* key, const char* what, const char* expected) {
            if (variants.contains(key)) return false;
            checks.push_back({"backlog", what, fmt::format("{}: did not run", key), expected, false});
            return true;
        };
        const char* small_what = "listen(1), slow accept, burst of 4: the SYNs beyond 2 wait for the 1 s retransmit";
        const char* small_expected = "2-3 at once (one may be accepted first), the rest near 1 s, ListenOverflows > 0";
        if (!did_not_run("backlog_1", small_what, small_expected)) {
            const auto& small = variants.at("backlog_1");
            uint64_t at_once = mode_count(small, 0), at_1s = mode_count(small, 1);
            int64_t overflows = small.at("counters").at("server").at("ListenOverflows").get<int64_t>();
            const auto& modes = small.at("connect_modes");
            double median_1s = modes.size() > 1 ? modes.at(1).at("median_ms").get<double>() : 0.0;
            checks.push_back({"backlog", small_what,
                              fmt::format("{} at once, {} near 1 s (median {:.0f} ms), ListenOverflows {}", at_once,
                                          at_1s, median_1s, overflows),
                              small_expected, at_once <= 3 && at_1s >= 1 && at_once + at_1s == 4 && overflows > 0});
        }
        const char* large_what = "listen(128), same burst: every connect() in milliseconds";
        const char* large_expected = "4 of 4 under 100 ms, no overflow";
        if (!did_not_run("backlog_128", large_what, large_expected)) {
            const auto& large = variants.at("backlog_128");
            uint64_t max_us = large.at("connect").value("max_us", uint64_t{0});
            int64_t overflows = large.at("counters").at("server").at("ListenOverflows").get<int64_t>();
            checks.push_back({"backlog", large_what,
                              fmt::format("{} of 4 connected, slowest {:.1f} ms, ListenOverflows {}",
                                          large.at("connections").at("completed").get<uint64_t>(), max_us / 1000.0,
                                          overflows),
                              large_expected, mode_count(large, 0) == 4 && max_us < 100000 && overflows == 0});
        }
    } catch (const std::exception& e) {
        checks.push_back({"backlog", "the scenario runs", e.what(), "a result", false});
    }
    return checks;
}

}  // namespace sockdrill::scenario
