// sockdrill-syscost: the syscalls a server makes per request, by name,
// counted with the kernel's syscall tracepoints on its pid. This file binds
// flags to scenario::SyscostConfig; the scenario lives in
// lib/scenario/syscost.cpp.
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/run_main.hpp"
#include "net/error.hpp"
#include "scenario/syscost.hpp"

using namespace sockdrill;

namespace {

struct Options {
    scenario::SyscostConfig syscost;
    std::vector<std::string> compare;
    std::vector<int> target_pids;
    uint64_t requests = 20000, connections = 1, load_connections = 16;
    bool no_keepalive = false;
};

void bind(CLI::App& app, Options& o) {
    auto& s = o.syscost;
    app.add_option("--compare", o.compare,
                   "Server variants to count: lean, check-closed, peername, cork, nodelay, split-writes=N, "
                   "io=MODEL, joined with + (default: lean, check-closed, peername, cork, split-writes=2+nodelay, "
                   "io=select, io=poll, io=threads)")
        ->type_name("LIST")
        ->delimiter(',');
    cli::add_count(app, "--requests", o.requests, "Requests per variant");
    cli::add_count(app, "-c,--connections", o.connections, "Keep-alive connections carrying them");
    app.add_flag("--no-keepalive", o.no_keepalive, "One request per connection (accept and close in every request)");
    app.add_option("--path", s.path, "HTTP request target (the embedded server's /bytes/N, /delay/D, ...)")
        ->type_name("PATH")
        ->capture_default_str();
    app.add_option("--target-pid", o.target_pids,
                   "With --target: the server's process(es) to count (repeatable, or a list); its threads too")
        ->type_name("PID")
        ->delimiter(',');
    cli::add_count(app, "--load-connections", o.load_connections,
                   "Throughput pass after each count, not counted: connections keeping the server busy");
    cli::add_duration(app, "--load-time", s.load_time, "How long the throughput pass runs (0: none)");
    cli::add_duration(app, "--settle", s.settle,
                      "After the last response, how long the server may take to see the closes before counting stops");
}

void apply(Options& o) {
    auto& s = o.syscost;
    if (!o.compare.empty()) {
        s.compare_given = true;
        s.variants.clear();
        for (const auto& word : o.compare) s.variants.push_back(scenario::parse_syscost_variant(word));
    }
    if (o.requests < 1 || o.requests > 100'000'000)
        throw Error::usage(fmt::format("--requests: expected 1 to 100M, got {}", o.requests));
    s.requests = o.requests;
    if (o.connections < 1 || o.connections > 10000)
        throw Error::usage(fmt::format("--connections: expected 1 to 10000, got {}", o.connections));
    s.connections = static_cast<unsigned>(o.connections);
    s.keepalive = !o.no_keepalive;
    if (o.load_connections < 1 || o.load_connections > 10000)
        throw Error::usage(fmt::format("--load-connections: expected 1 to 10000, got {}", o.load_connections));
    s.load_connections = static_cast<unsigned>(o.load_connections);
    for (int pid : o.target_pids) s.target_pids.push_back(static_cast<pid_t>(pid));
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    cli::Command command;
    command.name = "syscost";
    command.summary = std::string(cli::command_summary("syscost"));
    command.common = cli::kJson | cli::kExpect | cli::kDuration | cli::kTarget;
    command.default_duration = std::chrono::seconds(30);
    command.bind = [&](CLI::App& app) { bind(app, options); };
    command.after_parse = [&](CLI::App&) { apply(options); };
    command.run = [&](const cli::CommonOptions& common, cli::Output& output) {
        return scenario::run_syscost(options.syscost, common, output);
    };
    return cli::run_main(argc, argv, command);
}
