// `sockdrill suite` checks for syscost: the tracepoints count what the
// server counts on itself, and each pathology knob adds exactly the
// syscalls its name says, per request (Puma's getsockopt, cork's pair of
// setsockopt).
#include <fmt/format.h>

#include "scenario/suite.hpp"
#include "scenario/syscost.hpp"

namespace sockdrill::scenario {

std::vector<Check> syscost_checks(const SuiteContext&) {
    using namespace std::chrono_literals;
    SyscostConfig config;
    config.variants = {parse_syscost_variant("lean"), parse_syscost_variant("check-closed"),
                       parse_syscost_variant("cork")};
    config.requests = 3000;
    config.load_time = std::chrono::milliseconds(0);  // the counts, not the throughput
    cli::CommonOptions common;
    common.json = true;
    common.duration = 20s;
    cli::Output output("syscost", common);
    std::vector<Check> checks;
    try {
        auto r = run_syscost(config, common, output);
        const auto& v = r.results;
        const auto& lean = v.at("lean");
        double agreement = lean.at("server_count").at("agreement").get<double>();
        checks.push_back({"syscost", "tracepoints on the server's pid agree with its own count",
                          fmt::format("{:.1f}%", 100 * agreement), "100% +- 2%", std::abs(agreement - 1) <= 0.02});
        auto added = [&](const char* variant, const char* call) {
            auto per_request = [&](const nlohmann::json& j) {
                return j.at("syscalls_per_request").value(call, 0.0);
            };
            return per_request(v.at(variant)) - per_request(lean);
        };
        double getsockopt = added("check-closed", "getsockopt");
        checks.push_back({"syscost", "--check-closed adds one getsockopt per request",
                          fmt::format("{:+.2f}", getsockopt), "+1.00", std::abs(getsockopt - 1) < 0.05});
        double setsockopt = added("cork", "setsockopt");
        checks.push_back({"syscost", "--cork adds two setsockopt per request (cork, uncork)",
                          fmt::format("{:+.2f}", setsockopt), "+2.00", std::abs(setsockopt - 2) < 0.05});
    } catch (const std::exception& e) {
        checks.push_back({"syscost", "the scenario runs", e.what(), "a result", false});
    }
    return checks;
}

}  // namespace sockdrill::scenario
