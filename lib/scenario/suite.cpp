#include "scenario/suite.hpp"

#include <fmt/format.h>

#include "cli/signals.hpp"

namespace sockdrill::scenario {

std::vector<SuiteEntry> suite_entries() {
    return {
        {"serve", server_selfchecks},
        {"census", census_checks},
        {"halfopen", halfopen_checks},
        {"linger", linger_checks},
        {"timewait", timewait_checks},
        {"backlog", backlog_checks},
        {"nagle", nagle_checks},
        {"storm", storm_checks},
        {"herd", herd_checks},
        {"syscost", syscost_checks},
    };
}

report::Report run_suite(const SuiteContext& context) {
    report::Report r;
    r.command = "suite";
    r.mode = context.sandbox ? "sandbox" : "host";
    report::Table table{"", {"scenario", "check", "measured", "expected", "verdict"}, {}};
    nlohmann::json checks = nlohmann::json::array();
    size_t passed = 0, failed = 0;
    for (const auto& entry : suite_entries()) {
        if (cli::stop_requested()) {
            r.notes.push_back(fmt::format("interrupted before '{}'; the table shows what ran", entry.name));
            break;
        }
        for (const auto& c : entry.run(context)) {
            table.rows.push_back({c.scenario, c.check, c.measured, c.expected, c.pass ? "PASS" : "FAIL"});
            checks.push_back({{"scenario", c.scenario},
                              {"check", c.check},
                              {"measured", c.measured},
                              {"expected", c.expected},
                              {"pass", c.pass}});
            (c.pass ? passed : failed)++;
        }
    }
    r.tables.push_back(table);
    r.results = {{"checks", checks}, {"passed", passed}, {"failed", failed}, {"all_passed", failed == 0}};
    if (!context.sandbox)
        r.notes.push_back(fmt::format("mode: host (checks ran on this host's loopback{}{})",
                                      context.why_no_sandbox.empty() ? "" : ": ", context.why_no_sandbox));
    r.notes.push_back(fmt::format("{} of {} checks passed", passed, passed + failed));
    return r;
}

}  // namespace sockdrill::scenario
