#pragma once
// sockdrill-linger as a function: how a TCP connection ends (FIN, RST,
// lingering close) and what each side actually saw: the wire, the peer's
// read() and write(), the bytes delivered against the bytes written, who
// holds TIME-WAIT, and which kernel counters moved.
#include <string>
#include <vector>

#include "cli/run_main.hpp"

namespace sockdrill::scenario {

/// One --case value.
struct LingerCase {
    enum Kind { normal, linger0, linger_timeout, unread, pipeline } kind = normal;
    int linger_seconds = 0;  ///< linger=T
    /// "normal", "linger0", "linger=2", "unread", "pipeline".
    std::string name() const;
};

/// Parses --case values: "all", normal, linger0, linger=T (whole seconds,
/// 1-300), unread, pipeline. Throws Error(usage) naming --case.
std::vector<LingerCase> parse_linger_cases(const std::vector<std::string>& values);

struct LingerConfig {
    std::vector<LingerCase> cases;
    std::string closer = "client";              ///< who closes in normal, linger0, linger=T, unread
    std::string server_close = "both";          ///< pipeline: normal, lingering or both
    uint64_t write_size = 4 * 1024 * 1024;      ///< what the closer tries to write before closing
    uint64_t unread_size = 5 * 1024;            ///< unread: bytes left unread at the closer
    uint64_t response_size = 4 * 1024 * 1024;   ///< pipeline: body of the first response
    std::string path;                           ///< pipeline --target: the request path ("/" default)
};

void validate(const LingerConfig& config, const cli::CommonOptions& common);
/// Runs every case (sockdrill.linger/1).
report::Report run_linger(const LingerConfig& config, const cli::CommonOptions& common, cli::Output& output);

}  // namespace sockdrill::scenario
