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
    return fmt::format("TIME-WAIT client {}, server {}", fix["time_wait_peak"]["client"].get<uint64_t>(),
                       fix["time_wait_peak"]["server"].get<uint64_t>());
}

void sandbox_checks(const report::json& fixes, std::vector<Check>& checks) {
    const auto& none = fixes["none"];
    bool ran_out = none["first_eaddrnotavail_s"].is_number() && none["predicted_exhaustion_s"].is_number();
    double first = ran_out ? none["first_eaddrnotavail_s"].get<double>() : 0;
    double predicted = ran_out ? none["predicted_exhaustion_s"].get<double>() : 0;
    checks.push_back({"timewait", "100 ports, tcp_tw_reuse=0: EADDRNOTAVAIL once every port is in TIME-WAIT",
                      ran_out ? fmt::format("first at {:.2f} s (predicted {:.2f} s); {}", first, predicted,
                                            time_wait_text(none))
                              : fmt::format("no EADDRNOTAVAIL; {}", time_wait_text(none)),
                      "at ports / rate, within 0.3 s; TIME-WAIT client 100, server 0",
                      ran_out && std::abs(first - predicted) < 0.3 && none["time_wait_peak"]["client"] == 100 &&
                          none["time_wait_peak"]["server"] == 0});
    const auto& reuse = fixes["tw_reuse"];
    checks.push_back({"timewait", "tcp_tw_reuse=1: connect() takes TIME-WAIT ports back, no EADDRNOTAVAIL",
                      fmt::format("{} EADDRNOTAVAIL, TWRecycled {}", reuse["eaddrnotavail"].get<uint64_t>(),
                                  reuse["tw_recycled"].get<uint64_t>()),
                      "0 EADDRNOTAVAIL, TWRecycled > 0",
                      reuse["eaddrnotavail"] == 0 && reuse["tw_recycled"].get<uint64_t>() > 0});
    const auto& server = fixes["server_closes"];
    checks.push_back({"timewait", "the server closes first: TIME-WAIT moves to the server", time_wait_text(server),
                      "TIME-WAIT client 0, server > 0; no errors",
                      server["time_wait_peak"]["client"] == 0 && server["time_wait_peak"]["server"].get<uint64_t>() > 0 &&
                          server["errors_total"] == 0});
}

void host_checks(const report::json& fixes, std::vector<Check>& checks) {
    const auto& none = fixes["none"];
    checks.push_back({"timewait", "loopback: the client closes first and holds TIME-WAIT", time_wait_text(none),
                      "TIME-WAIT client > 0, server 0",
                      none["time_wait_peak"]["client"].get<uint64_t>() > 0 && none["time_wait_peak"]["server"] == 0});
    const auto& server = fixes["server_closes"];
    checks.push_back({"timewait", "loopback: the server closes first and holds TIME-WAIT", time_wait_text(server),
                      "TIME-WAIT client 0, server > 0",
                      server["time_wait_peak"]["client"] == 0 && server["time_wait_peak"]["server"].get<uint64_t>() > 0});
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
        const auto& fixes = r.results["fixes"];
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
