#pragma once
// sockdrill-nagle as a function: a response written in two small writes
// without TCP_NODELAY waits for the peer's delayed ACK (Nagle's algorithm
// holds the second segment while the first is unacknowledged, and the
// client, holding half a response, delays its ACK): about 40 ms per
// request on Linux. Each variant runs a keep-alive request loop on one
// connection and reports its latency, its rate, how many requests stalled,
// and, with a packet tap, the delayed ACK on the wire.
#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "cli/run_main.hpp"
#include "net/address.hpp"
#include "sandbox/tap.hpp"

namespace sockdrill::scenario {

/// One --variant value: how the server writes, or what the client does.
enum class NagleVariant {
    default_,   ///< --split-writes N small writes, Nagle on, client's delayed ACK
    nodelay,    ///< the same writes with TCP_NODELAY on the server
    cork,       ///< the same writes between TCP_CORK on and off: one segment
    one_write,  ///< the whole response in one write (writev)
    quickack,   ///< split writes as default; the client sets TCP_QUICKACK after every read
};
/// "default", "nodelay", "cork", "one-write", "quickack".
std::string variant_name(NagleVariant variant);
/// The JSON key: "default", "nodelay", "cork", "one_write", "quickack".
std::string variant_key(NagleVariant variant);

/// Parses --variant values (several, or comma-separated): the names above
/// or "all". Throws Error(usage) naming --variant.
std::vector<NagleVariant> parse_nagle_variants(const std::vector<std::string>& values);

struct NagleConfig {
    std::vector<NagleVariant> variants;
    bool all_variants = false;  ///< --variant all: against --target, the ones that apply there
    uint64_t requests = 50;                                  ///< measured requests per variant
    uint64_t warmup = 3;                                     ///< unmeasured requests first, per connection
    uint64_t response_size = 12;                             ///< body bytes of each response (embedded server)
    unsigned split_writes = 2;                               ///< write() calls per response in the split variants
    std::chrono::microseconds stall_threshold = std::chrono::milliseconds(20);  ///< a request slower stalled
    std::string path;                                        ///< request path; "/" when empty
};

/// The most --requests and --warmup accept.
constexpr uint64_t kMaxNagleRequests = 1'000'000, kMaxNagleWarmup = 10'000;

/// Checks values the option parser cannot (--target through net::parse_local_target);
/// throws Error(usage) naming the flag.
void validate(const NagleConfig& config, const cli::CommonOptions& common);
/// The variants that run: against --target, --variant all means default and quickack.
std::vector<NagleVariant> variants_to_run(const NagleConfig& config, const cli::CommonOptions& common);

/// What the tap saw of one connection's responses, from the client's side.
struct AckTiming {
    uint64_t responses = 0;              ///< responses whose first data segment was seen
    uint64_t data_segments_in = 0;       ///< server data segments
    /// Per response: first response segment in -> the client's first segment acknowledging it.
    std::vector<double> ack_delay_ms;
    /// Per response whose next data segment came only after that ACK: ACK -> that segment.
    std::vector<double> released_after_ack_ms;
};
/// Reads the segments of client <-> server in time order: each client data
/// segment is a request; the server's first data segment after it starts
/// the response; the first client segment whose ACK covers it is its ACK;
/// a server data segment after that ACK was released by it.
AckTiming ack_timing(std::span<const sandbox::Segment> segments, const net::Address& client,
                     const net::Address& server);

/// Runs every variant (sockdrill.nagle/1).
report::Report run_nagle(const NagleConfig& config, const cli::CommonOptions& common, cli::Output& output);

}  // namespace sockdrill::scenario
