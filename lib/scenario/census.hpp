#pragma once
// sockdrill-census as a function: the ss-style census and nstat-style
// counters, rendered through the report layer.
#include <optional>
#include <string>
#include <vector>

#include "cli/run_main.hpp"
#include "kernel/census.hpp"

namespace sockdrill::scenario {

struct CensusConfig {
    kernel::DiagRequest request;               ///< protocols, families, states, filters
    bool listeners = false;
    bool sockets = false;
    std::vector<std::string> columns;          ///< --sockets columns; empty = default set
    std::optional<std::string> group_by;
    uint64_t top = 10;
    bool counters = false;
    bool all_counters = false;
    bool explain = false;
    cli::Duration watch{0};
    uint64_t count = 0;                        ///< --watch samples; 0 = until --duration or SIGINT
    std::string netns;
    bool kill = false;
    bool dry_run = false;
    std::string record;
    std::string replay;
};

/// The --sockets columns, in their default order, with a one-line meaning each.
const std::vector<std::pair<std::string, std::string>>& socket_columns();
/// Checks combinations the parser cannot (e.g. --kill without a filter); throws Error(usage).
void validate(const CensusConfig& config);
/// Runs the census; `duration` bounds --watch and the --counters window.
report::Report run_census(const CensusConfig& config, const cli::CommonOptions& common, cli::Output& output);

}  // namespace sockdrill::scenario
