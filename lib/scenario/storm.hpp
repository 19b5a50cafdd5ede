#pragma once
// sockdrill-storm as functions: keep-alive load and its storms on the
// keep-alive engine (lib/load/keepalive.hpp), against the embedded server
// in the sandbox (or on loopback) or a real server on loopback (--target).
//
// Scenarios:
//  - steady: one load, the latency histogram, connections by who closed
//    them, errors by phase; with --idle, the client's memory per idle connection.
//  - compare-io: the same load against the embedded server in each --io
//    model, with and without TCP_NODELAY: requests/s, p50, p99 and the
//    server's syscalls per request in one table.
//  - reconnect: N keep-alive clients, the server restarts mid-run; every
//    client reconnects at once. The SYN burst against the listen backlog
//    (ListenOverflows), the reconnect latency, failed requests; per --backoff.
//  - idle-race: each connection is reused every --reuse-interval, equal to
//    the server's keep-alive timeout; requests that go out on a connection
//    the server just closed fail (ECONNRESET, EPIPE, empty reply). A client
//    idle timeout shorter than the server's removes them.
#include <string>
#include <vector>

#include "cli/run_main.hpp"
#include "load/keepalive.hpp"

namespace sockdrill::scenario {

enum class StormScenario { steady, compare_io, reconnect, idle_race };
/// "steady", "compare-io", "reconnect", "idle-race".
std::string scenario_name(StormScenario scenario);
/// Throws Error(usage) naming --scenario.
StormScenario parse_storm_scenario(const std::string& text);

struct StormConfig {
    StormScenario scenario = StormScenario::steady;
    /// The load; its target, duration and netns are set by the run.
    load::KeepaliveConfig load;
    /// Client source addresses (--sources N): 127.0.0.1..N on loopback, the
    /// sandbox client's addresses in the sandbox. 1 = the default route's.
    unsigned sources = 1;

    // The embedded server (not with --target).
    std::string server_io = "epoll";
    unsigned server_workers = 1;
    bool server_nodelay = false;
    int server_backlog = 511;
    cli::Duration server_keepalive_timeout = std::chrono::seconds(60);
    uint64_t response_size = 0;  ///< body bytes of each response

    // compare-io
    std::vector<std::string> io_models = {"select", "poll", "epoll", "threads"};
    std::vector<bool> nodelay_modes = {false, true};

    // reconnect
    std::vector<load::Backoff> backoffs = {load::Backoff::none};
    /// When the server restarts, from the start of the load; 0 = half the duration.
    cli::Duration restart_after{0};

    // idle-race
    /// How long each connection rests between requests; 0 = the server's keep-alive timeout.
    cli::Duration reuse_interval{0};
    /// The fix's client idle timeout; 0 = 80% of the server's keep-alive timeout.
    cli::Duration client_idle_timeout{0};

    bool given_connections = false;  ///< --connections was given (scenarios pick their own default)
    bool given_server_keepalive_timeout = false;
};

/// Checks what the option parser cannot; throws Error(usage) naming the flag.
void validate(const StormConfig& config, const cli::CommonOptions& common);

/// Runs the scenario (sockdrill.storm/1).
report::Report run_storm(StormConfig config, const cli::CommonOptions& common, cli::Output& output);

/// `sockdrill-storm merge FILE...`: the sockdrill.storm/1 documents of steady
/// runs on several hosts, run at the same time, as one report: counts and
/// histograms summed, requests/s added up, one row per file. A file that is
/// not a steady storm result is a usage error naming it.
report::Report merge_storm(const std::vector<std::string>& files);

}  // namespace sockdrill::scenario
