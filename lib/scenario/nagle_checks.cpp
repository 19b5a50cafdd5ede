// `sockdrill suite` checks for nagle: the kernel fact of DESIGN.md that
// Nagle holds a second small segment until the first is ACKed, and the
// peer's delayed ACK makes that about 40 ms; TCP_NODELAY removes it.
#include <fmt/format.h>

#include "scenario/nagle.hpp"
#include "scenario/suite.hpp"

namespace sockdrill::scenario {

std::vector<Check> nagle_checks(const SuiteContext& context) {
    NagleConfig config;
    config.variants = {NagleVariant::default_, NagleVariant::nodelay};
    config.requests = 20;
    cli::CommonOptions common;
    common.json = true;
    common.no_sandbox = !context.sandbox;
    common.duration = std::chrono::seconds(3);
    cli::Output output("nagle", common);
    std::vector<Check> checks;
    try {
        auto r = run_nagle(config, common, output);
        auto p50 = [](const report::json& row) { return row.at("p50_ms").get<double>(); };
        auto requests = [](const report::json& row) { return row.at("requests").get<uint64_t>(); };
        auto measured = [&](const report::json& row) {
            return fmt::format("p50 {:.{}f} ms, {} of {} stalled", p50(row), p50(row) >= 10 ? 1 : 2,
                               row.at("stalled").get<uint64_t>(), requests(row));
        };
        // A variant missing from the result (interrupted, or the run stopped
        // early) is a failed check that says so, not a read of a missing key.
        auto check = [&](const char* key, const char* name, const char* expected, auto&& pass) {
            if (!r.results.contains(key)) {
                checks.push_back({"nagle", name, fmt::format("variant {} did not run", key), expected, false});
                return;
            }
            const auto& row = r.results.at(key);
            checks.push_back({"nagle", name, measured(row), expected, requests(row) == config.requests && pass(row)});
        };
        check("default", "two small writes, Nagle on: each response waits for the delayed ACK", "p50 > 30 ms",
              [&](const report::json& row) { return p50(row) > 30; });
        check("nodelay", "the same writes with TCP_NODELAY: no stall", "p50 < 5 ms",
              [&](const report::json& row) { return p50(row) < 5; });
    } catch (const std::exception& e) {
        checks.push_back({"nagle", "the scenario runs", e.what(), "a result", false});
    }
    return checks;
}

}  // namespace sockdrill::scenario
