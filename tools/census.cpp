// sockdrill-census: the socket census and kernel counters. This file binds
// flags to scenario::CensusConfig; the census lives in lib/kernel and
// lib/scenario/census.cpp.
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/run_main.hpp"
#include "net/error.hpp"
#include "scenario/census.hpp"

using namespace sockdrill;

namespace {

struct Options {
    scenario::CensusConfig census;
    std::string state;
    bool only_ipv4 = false, only_ipv6 = false, tcp = false, udp = false;
    int sport = -1, dport = -1, port = -1;
    std::string src, dst, group_by, columns;
};

void bind(CLI::App& app, Options& o) {
    auto& c = o.census;
    app.add_flag("--listeners", c.listeners, "List listening sockets with their accept-queue fill");
    app.add_flag("--sockets", c.sockets, "One row per socket, like ss -tanoi");
    app.add_option("--columns", o.columns, "Columns for --sockets, comma-separated (see the man page)")
        ->type_name("LIST");
    app.add_option("--state", o.state,
                   "Only these states (established, time-wait, ...) or groups (all, connected, "
                   "synchronized, bucket, big), comma-separated")
        ->type_name("STATES");
    app.add_option("--sport", o.sport, "Only sockets with this local port")->check(CLI::Range(0, 65535));
    app.add_option("--dport", o.dport, "Only sockets with this peer port")->check(CLI::Range(0, 65535));
    app.add_option("--port", o.port, "Only sockets with this port at either end")->check(CLI::Range(0, 65535));
    app.add_option("--src", o.src, "Only sockets whose local address is in ADDR[/BITS]")->type_name("PREFIX");
    app.add_option("--dst", o.dst, "Only sockets whose peer address is in ADDR[/BITS]")->type_name("PREFIX");
    app.add_flag("-4,--ipv4", o.only_ipv4, "IPv4 only");
    app.add_flag("-6,--ipv6", o.only_ipv6, "IPv6 only");
    app.add_flag("--tcp", o.tcp, "TCP sockets (the default, with UDP counts in the summary)");
    app.add_flag("--udp", o.udp, "UDP sockets");
    app.add_option("--group-by", o.group_by, "Top-N table by peer, peer-addr, local-port, state or process")
        ->type_name("{peer,peer-addr,local-port,state,process}");
    cli::add_count(app, "--top", c.top, "Rows of the --group-by table");
    app.add_flag("--counters", c.counters,
                 "Kernel TCP/IP counters: deltas over --duration or per --watch sample, else since boot");
    app.add_flag("--all", c.all_counters, "With --counters: every counter, not the curated set");
    app.add_flag("--explain", c.explain, "With --counters: what each counter means");
    cli::add_duration(app, "--watch", c.watch, "Re-sample every DURATION (ends on --count, --duration or SIGINT)");
    cli::add_count(app, "--count", c.count, "With --watch: stop after N samples");
    app.add_option("--netns", c.netns, "Look inside another network namespace: NAME, /path or pid:PID")
        ->type_name("NS");
    app.add_flag("--kill", c.kill, "Destroy the matching sockets with SOCK_DESTROY (needs a filter)");
    app.add_flag("--dry-run", c.dry_run, "With --kill: show what would be destroyed");
    app.add_option("--record", c.record, "Save the raw netlink dump to FILE")->type_name("FILE");
    app.add_option("--replay", c.replay, "Render from a dump saved with --record")->type_name("FILE");
}

// Turns the flat flags into the census request; errors name the flag.
void finish(Options& o) {
    auto& r = o.census.request;
    if (!o.state.empty()) r.states = kernel::parse_state_mask(o.state);
    if (o.only_ipv4 && o.only_ipv6) throw Error::usage("-4 and -6: choose one");
    r.ipv4 = !o.only_ipv6;
    r.ipv6 = !o.only_ipv4;
    bool summary = !o.census.listeners && !o.census.sockets && o.group_by.empty();
    r.tcp = o.tcp || !o.udp;
    r.udp = o.udp || (!o.tcp && summary);
    if (o.sport >= 0) r.sport = static_cast<uint16_t>(o.sport);
    if (o.dport >= 0) r.dport = static_cast<uint16_t>(o.dport);
    if (o.port >= 0) r.port = static_cast<uint16_t>(o.port);
    auto prefix = [](const char* flag, const std::string& text) {
        try {
            return kernel::Prefix::parse(text);
        } catch (const Error& e) {
            throw Error::usage(fmt::format("{}: {}", flag, e.what()));
        }
    };
    if (!o.src.empty()) r.src = prefix("--src", o.src);
    if (!o.dst.empty()) r.dst = prefix("--dst", o.dst);
    if (!o.group_by.empty()) o.census.group_by = o.group_by;
    if (!o.columns.empty()) o.census.columns = CLI::detail::split(o.columns, ',');
    scenario::validate(o.census);
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    cli::Command command;
    command.name = "census";
    command.summary = std::string(cli::command_summary("census"));
    command.common = cli::kJson | cli::kExpect | cli::kDuration | cli::kInterval;
    command.bind = [&](CLI::App& app) { bind(app, options); };
    command.after_parse = [&](CLI::App& app) {
        finish(options);
        // --interval is the common spelling of --watch.
        if (app.get_option("--interval")->count() && !options.census.watch.count())
            options.census.watch = std::chrono::duration_cast<cli::Duration>(
                cli::parse_duration(app.get_option("--interval")->as<std::string>()));
        // SIGINT is how a --watch ends: exit 0, as watch(1) does. run_main reads
        // this flag after the run, through its const reference to `command`.
        command.stop_signal_is_success = options.census.watch.count() > 0;
    };
    command.run = [&](const cli::CommonOptions& common, cli::Output& output) {
        return scenario::run_census(options.census, common, output);
    };
    return cli::run_main(argc, argv, command);
}
