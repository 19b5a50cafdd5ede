// sockdrill-timewait: connection churn, TIME-WAIT piles and ephemeral-port
// exhaustion, and the remedies side by side. This file binds flags to
// scenario::TimewaitConfig; the scenario lives in lib/scenario/timewait.cpp.
#include "cli/commands.hpp"
#include "cli/run_main.hpp"
#include "scenario/timewait.hpp"

using namespace sockdrill;

namespace {

struct Options {
    scenario::TimewaitConfig timewait;
    std::vector<std::string> fixes = {"none"};
    std::string port_range, rate = "500/s", payload = "http";
    uint64_t concurrency = 10, exchanges = 1, sources = 4, max_tw_buckets = 256, requests_per_conn = 100;
};

void bind(CLI::App& app, Options& o) {
    app.add_option("--fix", o.fixes,
                   "Remedies to compare, each on fresh namespaces: all, none, tw-reuse, linger0, server-closes, "
                   "keepalive, more-sources, wider-range, max-tw-buckets (comma-separated or repeated)")
        ->type_name("FIX")
        ->capture_default_str();
    app.add_option("--port-range", o.port_range,
                   "The client's net.ipv4.ip_local_port_range in the sandbox (default 40000-40999; the host's is "
                   "left alone)")
        ->type_name("LO-HI");
    app.add_option("--rate", o.rate, "Connections started per second (500/s, 2k/s, 30000/min), or max: closed loop")
        ->type_name("R/s|max")
        ->capture_default_str();
    cli::add_count(app, "--concurrency", o.concurrency,
                   "Connections in flight: kept busy with --rate max, the ceiling otherwise");
    cli::add_count(app, "--exchanges", o.exchanges, "Request/response pairs per connection");
    cli::add_choice(app, "--payload", o.payload, {"http", "echo"}, "What each exchange carries");
    cli::add_count(app, "--sources", o.sources, "more-sources: client addresses in all (198.18.0.1, .11, .12, ...)");
    cli::add_count(app, "--max-tw-buckets", o.max_tw_buckets,
                   "max-tw-buckets: the client's net.ipv4.tcp_max_tw_buckets");
    cli::add_count(app, "--requests-per-conn", o.requests_per_conn,
                   "keepalive: exchanges each connection carries (the same transactions, fewer connections)");
}

unsigned narrow(uint64_t v) { return v > 0xffffffffu ? 0xffffffffu : static_cast<unsigned>(v); }

}  // namespace

int main(int argc, char** argv) {
    Options options;
    cli::Command command;
    command.name = "timewait";
    command.summary = std::string(cli::command_summary("timewait"));
    command.common = cli::kJson | cli::kExpect | cli::kDuration | cli::kTarget | cli::kNoSandbox;
    command.default_duration = std::chrono::seconds(5);
    command.bind = [&](CLI::App& app) { bind(app, options); };
    command.after_parse = [&](CLI::App&) {
        auto& t = options.timewait;
        t.fixes = scenario::parse_fixes(options.fixes);
        if (!options.port_range.empty()) t.port_range = scenario::parse_port_range(options.port_range);
        t.rate = scenario::parse_churn_rate(options.rate);
        t.payload = load::parse_payload(options.payload);
        t.concurrency = narrow(options.concurrency);
        t.exchanges = narrow(options.exchanges);
        t.sources = narrow(options.sources);
        t.max_tw_buckets = narrow(options.max_tw_buckets);
        t.requests_per_conn = narrow(options.requests_per_conn);
    };
    command.run = [&](const cli::CommonOptions& common, cli::Output& output) {
        options.timewait.duration = common.duration;
        return scenario::run_timewait(options.timewait, common, output);
    };
    return cli::run_main(argc, argv, command);
}
