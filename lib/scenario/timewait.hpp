#pragma once
// sockdrill-timewait as a function: connection churn (one connection per
// transaction) in a sandbox with a small ephemeral port range, sampled every
// 100 ms: TIME-WAIT on each side, conn/s, errors; when connect() first
// failed with EADDRNOTAVAIL, and why. Each remedy (--fix) runs on fresh
// namespaces, so the runs compare side by side.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/run_main.hpp"
#include "load/churn.hpp"

namespace sockdrill::scenario {

/// One --fix value.
enum class Fix { none, tw_reuse, linger0, server_closes, keepalive, more_sources, wider_range, max_tw_buckets };

/// "none", "tw-reuse", ... as the flag spells it.
std::string_view fix_name(Fix fix);
/// The JSON key of a fix: "tw_reuse".
std::string fix_key(Fix fix);
/// Parses --fix values (each may be a comma-separated list; "all" is every
/// fix). Throws Error(usage) naming --fix.
std::vector<Fix> parse_fixes(const std::vector<std::string>& values);

/// An ephemeral port range, as net.ipv4.ip_local_port_range holds it.
struct PortRange {
    unsigned low = 40000, high = 40999;
    unsigned ports() const { return high - low + 1; }
    std::string text() const;  ///< "40000-40999"
};
/// Parses "LO-HI" (1024 <= LO <= HI <= 65535: the kernel refuses a range
/// that starts below net.ipv4.ip_unprivileged_port_start); throws Error(usage) naming --port-range.
PortRange parse_port_range(std::string_view text);
/// The kernel's default range, which `wider-range` switches to.
constexpr PortRange kKernelDefaultRange{32768, 60999};

/// Parses --rate: "500/s", "1.5k/s", "30000/min", or "max" (closed loop, 0).
/// A bare number is refused: the unit says what is counted per what.
double parse_churn_rate(std::string_view text);

struct TimewaitConfig {
    std::vector<Fix> fixes = {Fix::none};
    /// nullopt: 40000-40999 in the sandbox, the host's own range otherwise.
    std::optional<PortRange> port_range;
    cli::Duration duration = std::chrono::seconds(5);  ///< each fix runs this long
    double rate = 500;               ///< connections started per second; 0 = closed loop (--rate max)
    unsigned concurrency = 10;       ///< closed loop: kept in flight; open loop: the most in flight
    unsigned exchanges = 1;          ///< request/response pairs per connection
    load::Payload payload = load::Payload::http;
    unsigned sources = 4;            ///< more-sources: client addresses in all
    unsigned max_tw_buckets = 256;   ///< max-tw-buckets: net.ipv4.tcp_max_tw_buckets on the client
    unsigned requests_per_conn = 100;  ///< keepalive: exchanges carried by one connection
};

/// Checks the combinations the option parser cannot; throws Error(usage).
void validate(const TimewaitConfig& config, const cli::CommonOptions& common);

/// Runs every fix (sockdrill.timewait/1).
report::Report run_timewait(const TimewaitConfig& config, const cli::CommonOptions& common, cli::Output& output);

// --- pure helpers, unit-tested --------------------------------------------

/// A one-line ASCII sparkline of at most `width` characters (each the
/// largest value of its slice), scaled to `peak` (the series' own largest
/// when 0): ' ' is 0, '@' is the peak.
std::string sparkline(const std::vector<double>& values, size_t width, double peak = 0);

/// When connect() should first fail with EADDRNOTAVAIL: `ports` usable
/// 4-tuples per destination, each held for `hold_s` after use, consumed at
/// `conn_per_s`. nullopt when they are freed faster than used.
std::optional<double> predicted_exhaustion_s(double ports, double conn_per_s, double hold_s);

}  // namespace sockdrill::scenario
