#pragma once
// sockdrill-serve as a function: run the server until SIGTERM/SIGINT,
// reporting statistics on SIGUSR1 and every stats interval.
#include "cli/run_main.hpp"
#include "kernel/counters.hpp"
#include "server/config.hpp"
#include "server/server.hpp"

namespace sockdrill::server {

/// Runs the server in the foreground and returns its final statistics.
report::Report serve(const Config& config, Duration stats_interval,
                     const cli::CommonOptions& common, cli::Output& output);

/// The statistics of a server as a Report (tables and JSON results), with
/// the kernel's curated counters as deltas since `counters_at_start`.
report::Report stats_report(const Server& server, double elapsed_s,
                            const kernel::CounterSnapshot& counters_at_start);

}  // namespace sockdrill::server
