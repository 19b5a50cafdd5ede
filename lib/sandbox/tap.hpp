#pragma once
// A light packet tap: an AF_PACKET socket on one interface of the sandbox
// (no libpcap), a thread that records every TCP segment's flags, sequence
// numbers, window and time, and a summary per connection of what was on the
// wire: keepalive and zero-window probes, retransmissions, FIN and RST in
// each direction. Memory is bounded: past `max_segments` it only counts.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "net/address.hpp"
#include "net/fd.hpp"

namespace sockdrill::sandbox {

using Clock = std::chrono::steady_clock;

/// TCP header flag bits, as on the wire.
enum TcpFlag : uint8_t { kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10, kUrg = 0x20 };
/// "S", "SA", "A", "PA", "FA", "R", "RA" (tcpdump's letters, ACK as A), always
/// in the order S F R P U A, then E (ECE) and W (CWR); "" for no flags.
std::string flags_text(uint8_t flags);

/// One TCP segment as seen on the tapped interface.
struct Segment {
    Clock::time_point at;
    bool outgoing = false;       ///< sent by the tapped host (PACKET_OUTGOING)
    net::Address src, dst;       ///< with ports
    uint8_t flags = 0;
    uint32_t seq = 0, ack = 0;
    uint32_t payload_bytes = 0;
    uint32_t window = 0;         ///< the raw header field (unscaled)
};

/// Parses an Ethernet frame (as AF_PACKET SOCK_RAW delivers it) carrying
/// IPv4 or IPv6 TCP; nullopt for anything else. `at` and `outgoing` are
/// left for the caller.
std::optional<Segment> parse_frame(std::span<const uint8_t> frame);

/// What one connection showed on the wire, from the tapped host's side.
struct FlowSummary {
    uint64_t segments_out = 0, segments_in = 0;
    uint64_t data_segments_out = 0, data_segments_in = 0;   ///< payload > 0
    uint64_t retransmissions_out = 0;     ///< data, SYN or FIN sent again (seq below what was already sent)
    uint64_t keepalive_probes_out = 0;    ///< empty ACK at snd_una - 1 while the peer's window is open
    uint64_t zero_window_probes_out = 0;  ///< the same after the peer advertised window 0
    uint64_t zero_windows_in = 0;         ///< segments from the peer advertising window 0
    uint64_t fin_out = 0, fin_in = 0, rst_out = 0, rst_in = 0;
    std::optional<Clock::time_point> first_rst_in, first_rst_out, first_fin_in, first_fin_out;
    std::optional<Clock::time_point> last_out, last_in;
};
/// Summarizes the segments of the connection local <-> peer (both
/// directions; other connections are ignored), in time order, counting
/// those at or after `from` (all when not given).
FlowSummary summarize(std::span<const Segment> segments, const net::Address& local, const net::Address& peer,
                      std::optional<Clock::time_point> from = std::nullopt);
/// {"segments_out": ..., "keepalive_probes_out": ..., ...}: counts only.
void to_json(nlohmann::json& j, const FlowSummary& summary);

/// Records TCP segments on one interface of one namespace until destroyed.
class Tap {
public:
    /// Opens the socket inside `netns` (an empty Fd: the current namespace),
    /// bound to `interface`, and starts the recording thread. Throws
    /// Error(environment) without CAP_NET_RAW or when the interface is missing.
    Tap(const net::Fd& netns, const std::string& interface, size_t max_segments = 200000);
    ~Tap();
    Tap(const Tap&) = delete;
    Tap& operator=(const Tap&) = delete;

    /// Stops the thread (idempotent). The recorded segments stay readable.
    void stop();
    /// A copy of the segments recorded so far, in arrival order.
    std::vector<Segment> segments() const;
    /// summarize() over the recorded segments.
    FlowSummary summary(const net::Address& local, const net::Address& peer,
                        std::optional<Clock::time_point> from = std::nullopt) const;
    /// Segments seen but not stored because max_segments was reached.
    uint64_t dropped() const;
    /// Packets the kernel dropped before the thread read them, because the
    /// socket's receive buffer was full (PACKET_STATISTICS).
    uint64_t kernel_drops() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace sockdrill::sandbox
