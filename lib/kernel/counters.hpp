#pragma once
// Kernel TCP/IP counters (what nstat shows) from /proc/thread-self/net/netstat,
// /proc/thread-self/net/snmp and snmp6, as snapshots and deltas. The parser
// takes text, so tests feed it fixtures and scenarios feed it /proc.
#include <chrono>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

namespace sockdrill::kernel {

/// Counter values by name. TcpExt and Tcp counters keep their bare names
/// ("ListenOverflows", "ActiveOpens"), as nstat's users know them; the rest
/// are "Section.Name" ("Udp.InErrors", "Ip6.InReceives").
struct CounterSnapshot {
    std::map<std::string, int64_t> values;
    std::chrono::steady_clock::time_point taken;
};

/// Parses the two-line-per-section format of /proc/net/netstat and /proc/net/snmp.
void parse_section_pairs(std::string_view text, std::map<std::string, int64_t>& into);
/// Parses /proc/net/snmp6's "Name value" lines.
void parse_name_value(std::string_view text, std::map<std::string, int64_t>& into);

/// Reads the three files of the current network namespace.
CounterSnapshot read_counters();

/// after - before, for every counter in after (a counter new in after counts from 0).
std::map<std::string, int64_t> counter_deltas(const CounterSnapshot& before, const CounterSnapshot& after);
/// {"ListenOverflows": 17, ...}: the deltas of the named counters, 0 for one that did not move.
nlohmann::json counter_deltas_json(const CounterSnapshot& before, const CounterSnapshot& after,
                                   std::span<const char* const> names);

/// A counter worth watching, with what it means when it moves.
struct CounterInfo {
    std::string_view name;
    std::string_view explanation;
};
/// The curated default set, in the order they are shown.
std::span<const CounterInfo> curated_counters();
/// The explanation of a counter, "" when it is not in the curated set.
std::string_view explain_counter(std::string_view name);

}  // namespace sockdrill::kernel
