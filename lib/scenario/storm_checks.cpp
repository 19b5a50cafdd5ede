// `sockdrill suite` checks for storm: the idle-timeout race loses requests
// when a pooled connection is reused just as the server's keep-alive
// timeout closes it, and a client idle timeout below the server's removes
// the losses.
#include <fmt/format.h>

#include "scenario/storm.hpp"
#include "scenario/suite.hpp"

namespace sockdrill::scenario {

std::vector<Check> storm_checks(const SuiteContext& context) {
    using namespace std::chrono_literals;
    StormConfig config;
    config.scenario = StormScenario::idle_race;
    config.server_keepalive_timeout = 500ms;
    config.given_server_keepalive_timeout = true;
    config.load.think_jitter = 0.2;  // reuses at 400-600 ms: the server closes at 500-600 ms
    cli::CommonOptions common;
    common.json = true;
    common.no_sandbox = !context.sandbox;
    common.duration = 2200ms;
    cli::Output output("storm", common);
    std::vector<Check> checks;
    try {
        auto r = run_storm(config, common, output);
        const auto& variants = r.results.at("variants");
        auto check = [&](const char* key, const char* name, const char* expected, auto&& pass) {
            if (!variants.contains(key)) {
                checks.push_back({"storm", name, fmt::format("variant {} did not run", key), expected, false});
                return;
            }
            const auto& v = variants.at(key);
            auto hit = v.at("hit_closed").get<uint64_t>(), sent = v.at("requests").get<uint64_t>();
            checks.push_back({"storm", name, fmt::format("{} of {} requests hit a closed connection", hit, sent),
                              expected, sent > 0 && pass(hit)});
        };
        check("naive", "idle-race: reuse interval = server keep-alive timeout loses requests", "> 0",
              [](uint64_t hit) { return hit > 0; });
        check("client_timeout", "idle-race: a client idle timeout below the server's loses none", "0",
              [](uint64_t hit) { return hit == 0; });
    } catch (const std::exception& e) {
        checks.push_back({"storm", "the scenario runs", e.what(), "a result", false});
    }
    return checks;
}

}  // namespace sockdrill::scenario
