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
        const auto& d = r.results["default"];
        const auto& n = r.results["nodelay"];
        auto p50 = [](const report::json& row) { return row["p50_ms"].get<double>(); };
        auto measured = [&](const report::json& row) {
            return fmt::format("p50 {:.{}f} ms, {} of {} stalled", p50(row), p50(row) >= 10 ? 1 : 2,
                               row["stalled"].get<uint64_t>(), row["requests"].get<uint64_t>());
        };
        checks.push_back({"nagle", "two small writes, Nagle on: each response waits for the delayed ACK",
                          measured(d), "p50 > 30 ms",
                          d["requests"].get<uint64_t>() == config.requests && p50(d) > 30});
        checks.push_back({"nagle", "the same writes with TCP_NODELAY: no stall", measured(n), "p50 < 5 ms",
                          n["requests"].get<uint64_t>() == config.requests && p50(n) < 5});
    } catch (const std::exception& e) {
        checks.push_back({"nagle", "the scenario runs", e.what(), "a result", false});
    }
    return checks;
}

}  // namespace sockdrill::scenario
