// `sockdrill suite` checks for halfopen: each vanish mode with quick
// settings (keepalive 1,1,2 and friends, a few seconds in all), one line
// per method: did it notice when the kernel's formula says, with the errno
// it says?
#include <fmt/format.h>

#include "sandbox/sandbox.hpp"
#include "scenario/halfopen_parts.hpp"
#include "scenario/suite.hpp"

namespace sockdrill::scenario {

namespace {

std::vector<Check> run_quick(const SuiteContext& context, sandbox::Vanish vanish, std::vector<std::string> detect,
                             cli::Duration max_wait) {
    HalfopenConfig config;
    config.vanish = vanish;
    config.after = 200ms;
    config.max_wait = max_wait;
    config.detectors = parse_detectors(detect);
    cli::CommonOptions common;
    common.json = true;  // no status line from inside the suite
    common.no_sandbox = !context.sandbox;
    cli::Output output("halfopen", common);
    std::vector<Check> checks;
    std::string mode(sandbox::vanish_name(vanish));
    try {
        auto r = run_halfopen(config, common, output);
        for (const auto& d : config.detectors) {
            const auto& row = r.results[d.key()];
            auto theory = row["theory_ms"].is_null() ? std::optional<double>() : row["theory_ms"].get<double>();
            bool in_reach = theory && *theory <= cli::to_ms(max_wait);
            std::string measured = row["detected"].get<bool>()
                                       ? fmt::format("{}, {}", format_ms(row["detected_ms"].get<double>()),
                                                     row["saw"].get<std::string>())
                                       : fmt::format("blocked > {}", format_ms(row["waited_ms"].get<double>()));
            std::string expected = in_reach ? fmt::format("{} ±max(5%, 50 ms), {}", format_ms(theory),
                                                          row["expected_saw"].get<std::string>())
                                            : fmt::format("blocked (theory {})", format_ms(theory));
            checks.push_back({"halfopen", fmt::format("{}: {}: when and how the victim learns", mode, d.spec()), measured,
                              expected, row["as_predicted"].get<bool>()});
        }
    } catch (const std::exception& e) {
        checks.push_back({"halfopen", fmt::format("{}: the scenario runs", mode), e.what(), "a result", false});
    }
    return checks;
}

void append(std::vector<Check>& to, std::vector<Check> more) {
    for (auto& c : more) to.push_back(std::move(c));
}

}  // namespace

std::vector<Check> halfopen_checks(const SuiteContext& context) {
    using sandbox::Vanish;
    std::vector<Check> checks;
    if (context.sandbox) {
        append(checks, run_quick(context, Vanish::cut,
                                 {"none", "rcvtimeo=500ms", "keepalive=1,1,2", "user-timeout=1s", "retries2=2",
                                  "heartbeat=500ms"},
                                 4s));
        append(checks, run_quick(context, Vanish::forget, {"none", "keepalive=1,1,2", "heartbeat=1s"}, 1500ms));
    }
    // A stalled peer needs no privilege: loopback shows it too.
    append(checks, run_quick(context, Vanish::stall, {"keepalive=1,1,2", "poll=300ms", "heartbeat=300ms"}, 1s));
    return checks;
}

}  // namespace sockdrill::scenario
