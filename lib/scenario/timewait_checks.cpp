// `sockdrill suite` checks for timewait: the kernel facts behind port
// exhaustion, one line each. In the sandbox: a 100-port range runs out at
// ports / rate with tcp_tw_reuse=0 and not with 1, and the side that closes
// first holds TIME-WAIT. On the host: only who holds TIME-WAIT (loopback
// reuses ports, so exhaustion is not checked there).
#include <fmt/format.h>

#include <cmath>

#include "scenario/suite.hpp"
#include "scenario/timewait.hpp"

namespace sockdrill::scenario {

namespace {

std::string time_wait_text(const report::json& fix) {
    return fmt::format("TIME-WAIT client {}, server {}", fix.at("time_wait_peak").at("client").get<uint64_t>(),
                       fix.at("time_wait_peak").at("server").get<uint64_t>());
}

// The fix's result, or nullptr after adding a failed check that says it did
// not run (an interrupted or failed run leaves fixes out of the result).
const report::json* fix_result(const report::json& fixes, const char* key, const char* name, const char* expected,
                               std::vector<Check>& checks) {
    if (fixes.is_object() && fixes.contains(key)) return &fixes.at(key);
    checks.push_back({"timewait", name, fmt::format("fix {} did not run", key), expected, false});
    return nullptr;
}

uint64_t peak(const report::json& fix, const char* side) { return fix.at("time_wait_peak").at(side).get<uint64_t>(); }

void sandbox_checks(const report::json& fixes, std::vector<Check>& checks) {
    const char* name = "100 ports, tcp_tw_reuse=0: EADDRNOTAVAIL once every port is in TIME-WAIT";
    const char* expected = "at ports / rate, within 0.3 s; TIME-WAIT client 100, server 0";
    if (const auto* found = fix_result(fixes, "none", name, expected, checks)) {
        const auto& none = *found;
        bool ran_out = none.at("first_eaddrnotavail_s").is_number() && none.at("predicted_exhaustion_s").is_number();
        double first = ran_out ? none.at("first_eaddrnotavail_s").get<double>() : 0;
        double predicted = ran_out ? none.at("predicted_exhaustion_s").get<double>() : 0;
        checks.push_back({"timewait", name,
                          ran_out ? fmt::format("first at {:.2f} s (predicted {:.2f} s); {}", first, predicted,
                                                time_wait_text(none))
                                  : fmt::format("no EADDRNOTAVAIL; {}", time_wait_text(none)),
                          expected,
                          ran_out && std::abs(first - predicted) < 0.3 && peak(none, "client") == 100 &&
                              peak(none, "server") == 0});
    }
    name = "tcp_tw_reuse=1: connect() takes TIME-WAIT ports back, no EADDRNOTAVAIL";
    expected = "0 EADDRNOTAVAIL, TWRecycled > 0";
    if (const auto* found = fix_result(fixes, "tw_reuse", name, expected, checks)) {
        const auto& reuse = *found;
        auto eaddrnotavail = reuse.at("eaddrnotavail").get<uint64_t>(), recycled = reuse.at("tw_recycled").get<uint64_t>();
        checks.push_back({"timewait", name, fmt::format("{} EADDRNOTAVAIL, TWRecycled {}", eaddrnotavail, recycled),
                          expected, eaddrnotavail == 0 && recycled > 0});
    }
    name = "the server closes first: TIME-WAIT moves to the server";
    expected = "TIME-WAIT client 0, server > 0; no errors";
    if (const auto* found = fix_result(fixes, "server_closes", name, expected, checks)) {
        const auto& server = *found;
        checks.push_back({"timewait", name, time_wait_text(server), expected,
                          peak(server, "client") == 0 && peak(server, "server") > 0 &&
                              server.at("errors_total").get<uint64_t>() == 0});
    }
}

void host_checks(const report::json& fixes, std::vector<Check>& checks) {
    const char* name = "loopback: the client closes first and holds TIME-WAIT";
    const char* expected = "TIME-WAIT client > 0, server 0";
    if (const auto* none = fix_result(fixes, "none", name, expected, checks))
        checks.push_back({"timewait", name, time_wait_text(*none), expected,
                          peak(*none, "client") > 0 && peak(*none, "server") == 0});
    name = "loopback: the server closes first and holds TIME-WAIT";
    expected = "TIME-WAIT client 0, server > 0";
    if (const auto* server = fix_result(fixes, "server_closes", name, expected, checks))
        checks.push_back({"timewait", name, time_wait_text(*server), expected,
                          peak(*server, "client") == 0 && peak(*server, "server") > 0});
}

}  // namespace

std::vector<Check> timewait_checks(const SuiteContext& context) {
    TimewaitConfig config;
    cli::CommonOptions common;
    common.json = true;
    common.no_sandbox = !context.sandbox;
    if (context.sandbox) {
        // 100 ports at 75 conn/s: none runs out at 1.33 s; with tw_reuse at
        // most 75 ports are younger than tcp_tw_reuse_delay (1 s).
        config.fixes = {Fix::none, Fix::tw_reuse, Fix::server_closes};
        config.port_range = PortRange{40000, 40099};
        config.rate = 75;
        config.duration = std::chrono::milliseconds(1500);
    } else {
        config.fixes = {Fix::none, Fix::server_closes};
        config.rate = 200;
        config.duration = std::chrono::milliseconds(500);
    }
    cli::Output output("timewait", common);
    std::vector<Check> checks;
    try {
        auto r = run_timewait(config, common, output);
        const report::json& fixes = r.results.contains("fixes") ? r.results.at("fixes") : report::json::object();
        if (context.sandbox)
            sandbox_checks(fixes, checks);
        else
            host_checks(fixes, checks);
    } catch (const std::exception& e) {
        checks.push_back({"timewait", "the scenario runs", e.what(), "a result", false});
    }
    return checks;
}

}  // namespace sockdrill::scenario
