// sockdrill-halfopen: a peer vanishes without FIN or RST; how long does each
// way of noticing take? This file binds flags to scenario::HalfopenConfig;
// the scenario lives in lib/scenario/halfopen*.cpp.
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/run_main.hpp"
#include "scenario/halfopen.hpp"

using namespace sockdrill;

namespace {

struct Options {
    scenario::HalfopenConfig halfopen;
    std::string vanish = "cut";
    std::vector<std::string> detect = {"all"};
};

void bind(CLI::App& app, Options& o) {
    auto& h = o.halfopen;
    cli::add_choice(app, "--vanish", o.vanish, {"cut", "blackhole", "forget", "stall"},
                    "How the peer vanishes: link down, packets dropped, socket forgotten (TCP_REPAIR), "
                    "application stops reading");
    cli::add_duration(app, "--after", h.after, "How long the connection is healthy before the peer vanishes");
    app.add_flag("--pending-data", h.pending_data,
                 "The victim writes data at the vanish, so it waits with unacknowledged data in flight");
    cli::add_size(app, "--pending-size", h.pending_size, "Bytes written with --pending-data (stall: until the window closes)");
    app.add_option("--detect", o.detect,
                   "Detection methods, one connection each: all, none, rcvtimeo=D, poll=D, "
                   "keepalive=IDLE,INTVL,CNT, user-timeout=D, retries2=N, heartbeat=D")
        ->type_name("METHOD[=VALUE]")
        ->capture_default_str();
    cli::add_duration(app, "--max-wait", h.max_wait, "Bound on every wait: a method still blocked then would block on");
    cli::add_choice(app, "--side", h.side, {"client", "server"},
                    "client: sockdrill is the victim; server: sockdrill is the client that vanishes and "
                    "watches how long the server keeps its half");
    auto server = "Server side (--side server, embedded server)";
    cli::add_duration(app, "--server-idle-timeout", h.server_idle_timeout,
                      "The embedded server closes a keep-alive connection idle this long")
        ->group(server);
    cli::add_keepalive(app, "--server-keepalive", h.server_keepalive,
                       "SO_KEEPALIVE with IDLE,INTVL,CNT on the server's connections")
        ->group(server);
    cli::add_duration(app, "--server-user-timeout", h.server_user_timeout,
                      "TCP_USER_TIMEOUT on the server's connections")
        ->group(server);
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    cli::Command command;
    command.name = "halfopen";
    command.summary = std::string(cli::command_summary("halfopen"));
    command.common = cli::kJson | cli::kExpect | cli::kTarget | cli::kNoSandbox;
    command.bind = [&](CLI::App& app) { bind(app, options); };
    command.after_parse = [&](CLI::App&) {
        options.halfopen.vanish = sandbox::parse_vanish(options.vanish);
        options.halfopen.detectors = scenario::parse_detectors(options.detect);
    };
    command.run = [&](const cli::CommonOptions& common, cli::Output& output) {
        return scenario::run_halfopen(options.halfopen, common, output);
    };
    return cli::run_main(argc, argv, command);
}
