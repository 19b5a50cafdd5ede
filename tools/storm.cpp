// sockdrill-storm: keep-alive load and its storms. This file binds flags to
// scenario::StormConfig (and `merge FILE...` to scenario::merge_storm); the
// scenarios live in lib/scenario/storm.cpp.
#include <cstring>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/run_main.hpp"
#include "net/error.hpp"
#include "scenario/storm.hpp"

using namespace sockdrill;

namespace {

struct Options {
    scenario::StormConfig storm;
    std::string scenario = "steady";
    uint64_t connections = 0, count = 0, requests_per_conn = 0, echo_size = 64;
    std::string rate, payload = "http";
    std::vector<std::string> io, nodelay, backoff;
    uint64_t sources = 1;
};

void bind(CLI::App& app, Options& o) {
    auto& s = o.storm;
    auto& l = s.load;
    cli::add_choice(app, "--scenario", o.scenario, {"steady", "compare-io", "reconnect", "idle-race"},
                    "What to run: steady load, compare-io, reconnect (server restart), idle-race");
    // The load.
    cli::add_count(app, "-c,--connections", o.connections,
                   "Keep-alive connections (default: steady 100, compare-io 50, reconnect 1000, idle-race 50)");
    app.add_option("-t,--threads", l.threads, "Client threads, one epoll loop each")
        ->type_name("N")
        ->capture_default_str();
    app.add_option("--rate", o.rate, "Open loop: requests per unit of time (20k/s, 3000/min); default closed loop")
        ->type_name("R/s");
    cli::add_count(app, "--count", o.count, "Requests in all, then the run ends (0 = until --duration)");
    app.add_option("--pipeline", l.pipeline, "Requests outstanding per connection")
        ->type_name("K")
        ->capture_default_str();
    cli::add_count(app, "--requests-per-conn", o.requests_per_conn,
                   "Requests per connection, then the client reconnects (1 = no keep-alive; 0 = unlimited)");
    cli::add_duration(app, "--ramp", l.ramp, "Open the connections evenly over this time");
    cli::add_choice(app, "--payload", o.payload, {"http", "echo"}, "HTTP requests, or echo payloads of --echo-size");
    cli::add_size(app, "--echo-size", o.echo_size, "Bytes per echo request and reply");
    app.add_option("--method", l.http_method, "HTTP method")->type_name("METHOD")->capture_default_str();
    app.add_option("--path", l.http_path, "HTTP request target")->type_name("PATH")->capture_default_str();
    app.add_option("--header", l.http_headers, "An extra request header, \"Name: value\" (repeatable)")
        ->type_name("HEADER");
    app.add_option("--body", l.http_body, "Request body, sent with Content-Length")->type_name("TEXT");
    cli::add_count(app, "--sources", o.sources,
                   "Client source addresses, connections spread over them (127.0.0.1..N on loopback)");
    app.add_flag("--idle", l.idle, "steady: open the connections and hold them idle (memory per connection)");
    cli::add_duration(app, "--think-time", l.think_time, "Closed loop: pause per connection between requests");
    app.add_option("--think-jitter", l.think_jitter, "Each pause drawn from think time x [1-F, 1+F]")
        ->type_name("F")
        ->capture_default_str();
    app.add_option("--backoff", o.backoff, "Reconnect after a lost connection: none (at once) or jitter; reconnect: a list")
        ->type_name("none|jitter")
        ->delimiter(',');
    cli::add_duration(app, "--backoff-max", l.backoff_max, "jitter: the longest random wait before a reconnect");
    // The embedded server.
    app.add_option("--io", o.io, "Embedded server's io model: select, poll, epoll, threads; compare-io: a list")
        ->type_name("MODEL")
        ->delimiter(',');
    app.add_option("--nodelay", o.nodelay, "Embedded server's TCP_NODELAY: off or on; compare-io: a list")
        ->type_name("off|on")
        ->delimiter(',');
    app.add_option("--server-workers", s.server_workers, "Embedded server's worker threads")
        ->type_name("N")
        ->capture_default_str();
    app.add_option("--server-backlog", s.server_backlog,
                   "Embedded server's listen backlog (default: reconnect 128, else 511)")
        ->type_name("N");
    cli::add_duration(app, "--server-keepalive-timeout", s.server_keepalive_timeout,
                      "Embedded server's keep-alive idle timeout (default: idle-race 1s, else 60s)");
    cli::add_size(app, "--response-size", s.response_size, "Embedded server's response body bytes");
    // Scenario knobs.
    cli::add_duration(app, "--restart-after", s.restart_after,
                      "reconnect: when the server restarts (default: half the duration)");
    cli::add_duration(app, "--reuse-interval", s.reuse_interval,
                      "idle-race: how long each connection rests between requests (default: the server's timeout)");
    cli::add_duration(app, "--client-idle-timeout", s.client_idle_timeout,
                      "idle-race: the fix's client pool idle timeout (default: 80% of the server's)");
}

// Applies the parsed strings and lists; throws Error(usage) naming the flag.
void apply(CLI::App& app, Options& o) {
    auto& s = o.storm;
    auto& l = s.load;
    auto given = [&](const char* name) { return app.get_option(name)->count() > 0; };
    s.scenario = scenario::parse_storm_scenario(o.scenario);
    // No --duration means the scenario's own; an explicit 0 is no duration.
    if (auto* d = app.get_option("--duration"); d->count() && cli::parse_duration(d->as<std::string>()).count() <= 0)
        throw Error::usage("--duration: expected more than 0");
    const bool compare = s.scenario == scenario::StormScenario::compare_io;
    s.given_connections = given("--connections");
    if (s.given_connections) {
        if (o.connections == 0 || o.connections > 1'000'000)
            throw Error::usage(fmt::format("--connections: expected 1 to 1000000, got {}", o.connections));
        l.connections = static_cast<unsigned>(o.connections);
    }
    if (given("--rate")) l.rate = load::parse_rate(o.rate);
    l.count = o.count;
    l.requests_per_conn = o.requests_per_conn;
    l.payload = load::parse_payload(o.payload);
    if (o.echo_size < 1) throw Error::usage("--echo-size: expected at least 1 byte");
    l.echo_size = o.echo_size;
    if (o.sources < 1 || o.sources > 200)
        throw Error::usage(fmt::format("--sources: expected 1 to 200 addresses, got {}", o.sources));
    s.sources = static_cast<unsigned>(o.sources);
    if (!given("--server-backlog")) s.server_backlog = 0;  // the scenario's default
    else if (s.server_backlog < 1) throw Error::usage("--server-backlog: expected 1 or more");
    s.given_server_keepalive_timeout = given("--server-keepalive-timeout");
    // idle-race: the reuses spread over +-10% around the interval, as a
    // real client's requests do not arrive on a metronome.
    if (s.scenario == scenario::StormScenario::idle_race && !given("--think-jitter")) l.think_jitter = 0.1;

    if (!o.io.empty()) {
        if (!compare && o.io.size() > 1)
            throw Error::usage("--io: one model (a list only with --scenario compare-io)");
        s.io_models = o.io;
        s.server_io = o.io.front();
    }
    if (!o.nodelay.empty()) {
        if (!compare && o.nodelay.size() > 1)
            throw Error::usage("--nodelay: off or on (a list only with --scenario compare-io)");
        s.nodelay_modes.clear();
        for (const auto& word : o.nodelay) {
            if (word != "off" && word != "on")
                throw Error::usage(fmt::format("--nodelay: expected off or on, got \"{}\"", word));
            s.nodelay_modes.push_back(word == "on");
        }
        s.server_nodelay = s.nodelay_modes.front();
    }
    if (!o.backoff.empty()) {
        if (s.scenario != scenario::StormScenario::reconnect && o.backoff.size() > 1)
            throw Error::usage("--backoff: one of none or jitter (a list only with --scenario reconnect)");
        s.backoffs.clear();
        for (const auto& word : o.backoff) {
            if (word != "none" && word != "jitter")
                throw Error::usage(fmt::format("--backoff: expected none or jitter, got \"{}\"", word));
            s.backoffs.push_back(word == "jitter" ? load::Backoff::jitter : load::Backoff::none);
        }
        l.backoff = s.backoffs.front();
    }
}

int merge_main(int argc, char** argv) {
    std::vector<std::string> files;
    cli::Command command;
    command.name = "storm";
    command.program = "sockdrill-storm merge";
    command.summary = "merge the --json results of steady runs on several hosts into one report";
    command.common = cli::kJson | cli::kExpect;
    command.bind = [&](CLI::App& app) {
        app.add_option("FILE", files, "sockdrill-storm --json results of steady runs")->type_name("FILE");
    };
    command.run = [&](const cli::CommonOptions&, cli::Output&) { return scenario::merge_storm(files); };
    return cli::run_main(argc, argv, command);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc >= 2 && std::strcmp(argv[1], "merge") == 0) return merge_main(argc - 1, argv + 1);
    Options options;
    cli::Command command;
    command.name = "storm";
    command.summary = std::string(cli::command_summary("storm"));
    command.common = cli::kJson | cli::kInterval | cli::kExpect | cli::kDuration | cli::kTarget | cli::kNoSandbox;
    command.default_duration = cli::Duration{0};  // each scenario has its own
    command.bind = [&](CLI::App& app) {
        bind(app, options);
        app.footer("Merge runs from several hosts: sockdrill-storm merge A.json B.json ...");
    };
    command.after_parse = [&](CLI::App& app) { apply(app, options); };
    command.run = [&](const cli::CommonOptions& common, cli::Output& output) {
        return scenario::run_storm(options.storm, common, output);
    };
    return cli::run_main(argc, argv, command);
}
