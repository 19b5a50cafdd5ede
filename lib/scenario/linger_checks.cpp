// `sockdrill suite` checks for linger: the kernel facts of DESIGN.md about
// how a connection ends, one line each.
#include <fmt/format.h>

#include "scenario/linger.hpp"
#include "scenario/suite.hpp"

namespace sockdrill::scenario {

std::vector<Check> linger_checks(const SuiteContext& context) {
    LingerConfig config;
    config.cases = parse_linger_cases({"normal", "linger0", "unread", "pipeline"});
    config.write_size = 1024 * 1024;
    config.response_size = 1024 * 1024;
    cli::CommonOptions common;
    common.json = true;
    common.no_sandbox = !context.sandbox;
    cli::Output output("linger", common);
    std::vector<Check> checks;
    try {
        auto r = run_linger(config, common, output);
        auto& res = r.results;
        auto tw = [](const report::json& row) {
            return fmt::format("TIME-WAIT client {}, server {}", row["time_wait"]["client"].get<int>(),
                               row["time_wait"]["server"].get<int>());
        };
        auto seen = [](const report::json& row) {
            return fmt::format("{}peer read {}", row["closer_sent"].is_string() ? row["closer_sent"].get<std::string>() + ", " : "",
                               row["peer_read"].get<std::string>());
        };
        const auto& normal = res["normal"];
        checks.push_back({"linger", "close(): FIN, the closer holds TIME-WAIT", seen(normal) + "; " + tw(normal),
                          "EOF; TIME-WAIT client 1, server 0",
                          normal["peer_read"] == "EOF" && normal["time_wait"]["client"] == 1 &&
                              normal["time_wait"]["server"] == 0});
        const auto& linger0 = res["linger0"];
        checks.push_back({"linger", "SO_LINGER {1,0}: RST, no TIME-WAIT, queued data lost",
                          seen(linger0) + "; " + tw(linger0), "ECONNRESET; no TIME-WAIT; data lost",
                          linger0["peer_read"] == "ECONNRESET" && linger0["data_lost"] == true &&
                              linger0["time_wait"]["client"] == 0 && linger0["time_wait"]["server"] == 0});
        const auto& unread = res["unread"];
        checks.push_back({"linger", "close() with unread input: RST (TCPAbortOnClose)", seen(unread),
                          "ECONNRESET, data lost", unread["peer_read"] == "ECONNRESET" && unread["data_lost"] == true});
        const auto& plain = res["pipeline_normal"];
        const auto& lingering = res["pipeline_lingering"];
        checks.push_back({"linger", "pipelined request, plain close: the response is cut",
                          fmt::format("{} of {} bytes, {}", plain["delivered_bytes"].get<uint64_t>(),
                                      plain["expected_bytes"].get<uint64_t>(), plain["peer_read"].get<std::string>()),
                          "less than the whole body, ECONNRESET",
                          plain["data_lost"] == true && plain["peer_read"] == "ECONNRESET"});
        checks.push_back({"linger", "pipelined request, lingering close: the whole response",
                          fmt::format("{} of {} bytes, {}", lingering["delivered_bytes"].get<uint64_t>(),
                                      lingering["expected_bytes"].get<uint64_t>(),
                                      lingering["peer_read"].get<std::string>()),
                          "the whole body, EOF", lingering["data_lost"] == false && lingering["peer_read"] == "EOF"});
    } catch (const std::exception& e) {
        checks.push_back({"linger", "the scenario runs", e.what(), "a result", false});
    }
    return checks;
}

}  // namespace sockdrill::scenario
