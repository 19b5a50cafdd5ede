// sockdrill-backlog: a full listen backlog and the 1 s / 3 s / 7 s connect
// spikes it causes (dropped SYNs retransmitted on the kernel's backoff).
// This file binds flags to scenario::BacklogConfig; the scenario lives in
// lib/scenario/backlog.cpp.
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/run_main.hpp"
#include "net/error.hpp"
#include "scenario/backlog.hpp"

using namespace sockdrill;
using namespace std::chrono_literals;

namespace {

struct Options {
    scenario::BacklogConfig backlog;
    std::string accept = "serial";
    std::string rate;
    uint64_t burst = 0, concurrency = 8, count = 0, exchanges = 4;
    std::vector<std::string> compare;
};

// --name N: an int, range-checked later by validate() with the flag named.
CLI::Option* add_int(CLI::App& app, const std::string& name, std::optional<int>& target, const std::string& help) {
    return app
        .add_option_function<std::string>(
            name,
            [&target, name](const std::string& v) {
                try {
                    size_t used = 0;
                    int n = std::stoi(v, &used);
                    if (used != v.size()) throw std::invalid_argument(v);
                    target = n;
                } catch (const std::exception&) {
                    throw CLI::ValidationError(name, fmt::format("expected a whole number, got \"{}\"", v));
                }
            },
            help)
        ->type_name("N");
}

void bind(CLI::App& app, Options& o) {
    auto& b = o.backlog;
    app.add_option("--backlog", b.backlog, "listen()'s backlog: the accept queue holds N+1 (somaxconn clamps it)")
        ->type_name("N")
        ->capture_default_str();
    app.add_option("--accept", o.accept,
                   "How the server accepts: normal, serial (one connection at a time), slow=DURATION, paused")
        ->type_name("MODE")
        ->capture_default_str();
    cli::add_duration(app, "--response-delay", b.response_delay, "The server's work per request");
    cli::add_count(app, "--burst", o.burst, "Open N connections at once instead of churning");
    cli::add_count(app, "--concurrency", o.concurrency, "Churn, closed loop: connections in flight");
    app.add_option("--rate", o.rate, "Churn, open loop: new connections per unit of time (50/s, 3000/min)")
        ->type_name("N/UNIT");
    cli::add_count(app, "--count", o.count, "Churn: connections in all (0: until --duration)");
    cli::add_count(app, "--exchanges", o.exchanges, "Request/response pairs per connection");
    cli::add_choice(app, "--close", b.close, {"client", "server", "linger0"},
                    "How each connection ends: the client's FIN, the server's, or SO_LINGER {1,0} (RST)");
    add_int(app, "--syn-retries", b.syn_retries, "Client net.ipv4.tcp_syn_retries (sandbox); the predicted modes follow");
    add_int(app, "--syn-linear-timeouts", b.syn_linear_timeouts,
            "Client net.ipv4.tcp_syn_linear_timeouts (Linux 6.5+; 0: the classic 1, 3, 7 s backoff) (sandbox)");
    cli::add_duration(app, "--connect-timeout", b.connect_timeout, "Give up a connect() after this");
    cli::add_duration(app, "--io-timeout", b.io_timeout, "Give up waiting for one response after this");
    add_int(app, "--syncookies", b.syncookies, "Server net.ipv4.tcp_syncookies: 0, 1 or 2 (sandbox)");
    app.add_flag("--abort-on-overflow", b.abort_on_overflow,
                 "Server net.ipv4.tcp_abort_on_overflow=1: RST instead of dropping the final ACK (sandbox)");
    add_int(app, "--somaxconn", b.somaxconn, "Server net.core.somaxconn, the clamp on listen()'s backlog (sandbox)");
    add_int(app, "--max-syn-backlog", b.max_syn_backlog, "Server net.ipv4.tcp_max_syn_backlog (sandbox)");
    app.add_option("--compare", o.compare,
                   "Variants, one fresh sandbox each: all, backlog=N, syncookies=0|1|2, abort-on-overflow, "
                   "somaxconn-clamp, somaxconn=N, seed")
        ->type_name("LIST");
    app.add_option("--path", b.path, "The request path (--target)")->type_name("PATH")->capture_default_str();
}

// Options whose meaning depends on another: checked here, with the flag named.
void resolve(CLI::App& app, Options& o) {
    auto& b = o.backlog;
    auto given = [&](const char* name) { return app.get_option(name)->count() > 0; };
    b.accept = scenario::parse_accept_mode(o.accept);
    if (given("--burst") && o.burst == 0) throw Error::usage("--burst: expected at least 1 connection, got 0");
    if (given("--concurrency") && o.concurrency == 0) throw Error::usage("--concurrency: expected at least 1, got 0");
    if (o.burst && (given("--rate") || given("--concurrency") || given("--count")))
        throw Error::usage("--burst: not with --rate, --concurrency or --count (a burst is N connections at once)");
    if (given("--rate") && given("--concurrency"))
        throw Error::usage("--rate: not with --concurrency (open loop or closed loop, not both)");
    if (o.exchanges == 0) throw Error::usage("--exchanges: expected at least 1, got 0");
    if (o.concurrency > 10000) throw Error::usage(fmt::format("--concurrency: expected 1 to 10000, got {}", o.concurrency));
    if (o.exchanges > 1000) throw Error::usage(fmt::format("--exchanges: expected 1 to 1000, got {}", o.exchanges));
    if (!o.rate.empty()) b.rate = scenario::parse_rate(o.rate);
    b.burst = o.burst;
    b.concurrency = static_cast<unsigned>(o.concurrency);
    b.count = o.count;
    // --count alone ends the run at the count; --duration's default would cut it at 5 s.
    b.count_ends_run = o.count > 0 && !given("--duration");
    b.exchanges = static_cast<unsigned>(o.exchanges);
    if (!o.compare.empty()) b.compare = scenario::parse_compare(o.compare);
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    cli::Command command;
    command.name = "backlog";
    command.summary = std::string(cli::command_summary("backlog"));
    command.common = cli::kJson | cli::kExpect | cli::kDuration | cli::kTarget | cli::kNoSandbox;
    command.default_duration = 5s;
    command.bind = [&](CLI::App& app) { bind(app, options); };
    command.after_parse = [&](CLI::App& app) { resolve(app, options); };
    command.run = [&](const cli::CommonOptions& common, cli::Output& output) {
        auto config = options.backlog;
        // Against a real server the point is one burst (16 unless told).
        if (!common.target.empty() && !config.burst && !config.rate && !config.count) config.burst = 16;
        return scenario::run_backlog(config, common, output);
    };
    return cli::run_main(argc, argv, command);
}
