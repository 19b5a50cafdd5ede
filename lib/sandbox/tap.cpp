#include "sandbox/tap.hpp"

#include "sandbox/sandbox.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <linux/sockios.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "net/error.hpp"
#include "net/sockopt.hpp"

namespace sockdrill::sandbox {

namespace {

// ---------------------------------------------------------------------------
// Frame parsing. Every read goes through Reader, which checks the span first.

constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherIpv6 = 0x86dd;
constexpr uint16_t kEtherVlan = 0x8100;  // 802.1Q
constexpr uint16_t kEtherQinQ = 0x88a8;  // 802.1ad outer tag
constexpr size_t kMacAddresses = 12;     // destination, source; the ethertype follows
constexpr size_t kEthertype = 2;
constexpr size_t kVlanTag = 4;  // inserted before the ethertype
constexpr size_t kIpv4MinHeader = 20;
constexpr size_t kIpv6Header = 40;
constexpr size_t kTcpMinHeader = 20;
constexpr uint8_t kProtoTcp = 6;

/// Big-endian reads at an offset into a frame; nullopt past its end.
struct Reader {
    std::span<const uint8_t> bytes;

    bool has(size_t offset, size_t length) const {
        return offset <= bytes.size() && length <= bytes.size() - offset;
    }
    std::optional<uint8_t> u8(size_t offset) const {
        if (!has(offset, 1)) return std::nullopt;
        return bytes[offset];
    }
    std::optional<uint16_t> u16(size_t offset) const {
        if (!has(offset, 2)) return std::nullopt;
        return static_cast<uint16_t>(bytes[offset] << 8 | bytes[offset + 1]);
    }
    std::optional<uint32_t> u32(size_t offset) const {
        if (!has(offset, 4)) return std::nullopt;
        return uint32_t{bytes[offset]} << 24 | uint32_t{bytes[offset + 1]} << 16 |
               uint32_t{bytes[offset + 2]} << 8 | uint32_t{bytes[offset + 3]};
    }
};

/// Where the TCP header starts, how long the TCP segment is (header and
/// payload, from the IP length fields) and who sent it to whom (ports 0).
struct IpLayer {
    size_t tcp_offset = 0;
    size_t tcp_length = 0;
    net::Address src, dst;
};

net::Address ipv4_address(const uint8_t* bytes) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    std::memcpy(&sin.sin_addr, bytes, 4);
    return net::Address(reinterpret_cast<const sockaddr*>(&sin), sizeof sin);
}

net::Address ipv6_address(const uint8_t* bytes) {
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    std::memcpy(&sin6.sin6_addr, bytes, 16);
    return net::Address(reinterpret_cast<const sockaddr*>(&sin6), sizeof sin6);
}

// The IP length field, not the frame length, says where the segment ends:
// Ethernet pads short frames to 60 bytes. A length of 0 is what the kernel
// leaves in TSO/BIG TCP super-packets over 64 KiB, which the tap sees before
// segmentation; then the frame itself is the only measure left.
std::optional<size_t> ip_datagram_length(size_t field, size_t header, size_t frame_left) {
    if (field == 0) return frame_left;
    if (field < header) return std::nullopt;
    return field;
}

std::optional<IpLayer> parse_ipv4(const Reader& frame, size_t at) {
    auto version_ihl = frame.u8(at);
    auto total_length = frame.u16(at + 2);
    auto fragment = frame.u16(at + 6);
    auto protocol = frame.u8(at + 9);
    if (!version_ihl || !total_length || !fragment || !protocol) return std::nullopt;
    size_t header = size_t{*version_ihl & 0x0fu} * 4;
    if (*version_ihl >> 4 != 4 || header < kIpv4MinHeader || !frame.has(at, header))
        return std::nullopt;
    // A fragment (more-fragments bit or a non-zero offset) is not a whole segment.
    if (*protocol != kProtoTcp || (*fragment & 0x3fff) != 0) return std::nullopt;
    auto length = ip_datagram_length(*total_length, header, frame.bytes.size() - at);
    if (!length) return std::nullopt;
    return IpLayer{at + header, *length - header, ipv4_address(&frame.bytes[at + 12]),
                   ipv4_address(&frame.bytes[at + 16])};
}

// Hop-by-hop, routing and destination options share one layout: next header,
// then the length in 8-byte units not counting the first 8.
bool is_skippable_ipv6_extension(uint8_t next_header) {
    return next_header == 0 || next_header == 43 || next_header == 60;
}

std::optional<IpLayer> parse_ipv6(const Reader& frame, size_t at) {
    auto version = frame.u8(at);
    auto payload_length = frame.u16(at + 4);
    auto next_header = frame.u8(at + 6);
    if (!version || !payload_length || !next_header || !frame.has(at, kIpv6Header))
        return std::nullopt;
    if (*version >> 4 != 6) return std::nullopt;
    auto length = ip_datagram_length(*payload_length, 0, frame.bytes.size() - at - kIpv6Header);
    if (!length) return std::nullopt;
    size_t offset = at + kIpv6Header;
    size_t left = *length;
    // Fragments (44), ESP and the rest stop here: no TCP header to read.
    for (int hops = 0; hops < 8 && *next_header != kProtoTcp; ++hops) {
        if (!is_skippable_ipv6_extension(*next_header)) return std::nullopt;
        auto ext_length = frame.u8(offset + 1);
        next_header = frame.u8(offset);
        if (!ext_length || !next_header) return std::nullopt;
        size_t size = (size_t{*ext_length} + 1) * 8;
        if (size > left) return std::nullopt;
        offset += size;
        left -= size;
    }
    if (*next_header != kProtoTcp) return std::nullopt;
    return IpLayer{offset, left, ipv6_address(&frame.bytes[at + 8]),
                   ipv6_address(&frame.bytes[at + 24])};
}

// The payload itself need not be in the frame (the tap's filter keeps only
// the first bytes of each packet); the headers must be.
std::optional<Segment> parse_tcp(const Reader& frame, IpLayer ip) {
    size_t at = ip.tcp_offset;
    auto src_port = frame.u16(at);
    auto dst_port = frame.u16(at + 2);
    auto seq = frame.u32(at + 4);
    auto ack = frame.u32(at + 8);
    auto data_offset = frame.u8(at + 12);
    auto flags = frame.u8(at + 13);
    auto window = frame.u16(at + 14);
    if (!src_port || !dst_port || !seq || !ack || !data_offset || !flags || !window)
        return std::nullopt;
    size_t header = static_cast<size_t>(*data_offset >> 4) * 4;
    if (header < kTcpMinHeader || header > ip.tcp_length || !frame.has(at, header))
        return std::nullopt;

    Segment segment;
    segment.src = std::move(ip.src);
    segment.dst = std::move(ip.dst);
    segment.src.set_port(*src_port);
    segment.dst.set_port(*dst_port);
    segment.flags = *flags;
    segment.seq = *seq;
    segment.ack = *ack;
    segment.payload_bytes = static_cast<uint32_t>(ip.tcp_length - header);
    segment.window = *window;
    return segment;
}

// ---------------------------------------------------------------------------
// Summaries.

/// An address and port compared by value, with IPv4-mapped IPv6 addresses
/// (what a dual-stack socket reports) folded into IPv4 (what the wire shows).
struct Endpoint {
    int family = AF_UNSPEC;
    std::array<uint8_t, 16> address{};
    uint16_t port = 0;
    bool operator==(const Endpoint&) const = default;
};

Endpoint endpoint(const net::Address& address) {
    Endpoint e;
    e.port = address.port();
    if (address.family() == AF_INET) {
        e.family = AF_INET;
        std::memcpy(e.address.data(), &reinterpret_cast<const sockaddr_in*>(address.sa())->sin_addr,
                    4);
    } else if (address.family() == AF_INET6) {
        const auto& in6 = reinterpret_cast<const sockaddr_in6*>(address.sa())->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(&in6)) {
            e.family = AF_INET;
            std::memcpy(e.address.data(), &in6.s6_addr[12], 4);
        } else {
            e.family = AF_INET6;
            std::memcpy(e.address.data(), &in6, 16);
        }
    }
    return e;
}

/// Sequence numbers wrap: a is before b when b - a is a small positive step.
bool seq_before(uint32_t a, uint32_t b) {
    return static_cast<int32_t>(a - b) < 0;
}

bool has(const Segment& s, TcpFlag flag) {
    return (s.flags & flag) != 0;
}

/// What the classification remembers between segments.
struct FlowState {
    std::optional<uint32_t> highest_end_out;  ///< seq + payload + SYN + FIN, highest sent
    std::optional<uint32_t> last_ack_in;      ///< the peer's latest acknowledgement (our snd_una)
    std::optional<uint32_t> last_window_in;   ///< the peer's latest advertised window
};

void note_first(std::optional<Clock::time_point>& first, Clock::time_point at) {
    if (!first) first = at;
}

// Linux probes (tcp_xmit_probe_skb, for keepalive and for a zero window
// alike) are an empty ACK at snd_una - 1: a byte the peer already has, so it
// must answer with an ACK. Without an ACK from the peer yet, the highest
// sequence sent stands in for snd_una.
bool is_probe_shape(const Segment& s, const FlowState& state) {
    if (s.payload_bytes > 0 || (s.flags & (kSyn | kFin | kRst)) != 0) return false;
    auto snd_una = state.last_ack_in ? state.last_ack_in : state.highest_end_out;
    return snd_una && s.seq + 1 == *snd_una;
}

void classify_out(FlowSummary& summary, FlowState& state, const Segment& s) {
    uint32_t sequence_space = s.payload_bytes + (has(s, kSyn) ? 1 : 0) + (has(s, kFin) ? 1 : 0);
    bool resent = sequence_space > 0 && !has(s, kRst) && state.highest_end_out &&
                  seq_before(s.seq, *state.highest_end_out);
    if (resent) {
        ++summary.retransmissions_out;
    } else if (is_probe_shape(s, state)) {
        if (state.last_window_in == 0u)
            ++summary.zero_window_probes_out;
        else
            ++summary.keepalive_probes_out;
    }
    uint32_t end = s.seq + sequence_space;
    if (sequence_space > 0 && (!state.highest_end_out || seq_before(*state.highest_end_out, end)))
        state.highest_end_out = end;
}

void count_out(FlowSummary& summary, FlowState& state, const Segment& s) {
    ++summary.segments_out;
    summary.last_out = s.at;
    if (s.payload_bytes > 0) ++summary.data_segments_out;
    if (has(s, kFin)) {
        ++summary.fin_out;
        note_first(summary.first_fin_out, s.at);
    }
    if (has(s, kRst)) {
        ++summary.rst_out;
        note_first(summary.first_rst_out, s.at);
    }
    classify_out(summary, state, s);
}

void count_in(FlowSummary& summary, FlowState& state, const Segment& s) {
    ++summary.segments_in;
    summary.last_in = s.at;
    if (s.payload_bytes > 0) ++summary.data_segments_in;
    if (has(s, kFin)) {
        ++summary.fin_in;
        note_first(summary.first_fin_in, s.at);
    }
    if (has(s, kRst)) {
        // A RST's window and ack say nothing about the receiver (Linux sends window 0).
        ++summary.rst_in;
        note_first(summary.first_rst_in, s.at);
        return;
    }
    if (s.window == 0) ++summary.zero_windows_in;
    state.last_window_in = s.window;
    if (has(s, kAck)) state.last_ack_in = s.ack;
}

// ---------------------------------------------------------------------------
// The packet socket.

/// The calling thread in `netns` (when it holds a descriptor) until
/// destruction, then back in the namespace it started in, on every path out.
// A tap error, one line naming the interface and the step.
Error tap_error(std::string_view interface, std::string_view what, int err) {
    std::string_view hint = err == EPERM ? " (needs CAP_NET_RAW; setns needs CAP_SYS_ADMIN)" : "";
    return Error(Exit::environment,
                 fmt::format("tap {}: {}: {} ({}){}", interface, what, errno_name(err), std::strerror(err), hint),
                 err);
}

// Bytes kept of each packet: Ethernet + two VLAN tags + IPv4 or IPv6 with
// options or a few extension headers + the longest TCP header. The payload is
// counted from the IP length, never read.
constexpr uint32_t kSnapLength = 256;
// Room for bursts while the thread is not scheduled: each queued packet
// costs its whole skb (up to 64 KiB on lo with TSO), not the snap length.
constexpr int kReceiveBuffer = 8 << 20;

// Classic BPF run by the kernel on each packet before it is queued: keep
// IPv4 TCP, all IPv6 and VLAN-tagged frames (parse_frame decides those),
// truncated to kSnapLength; drop the rest (ARP, UDP, ICMP) unseen.
void attach_tcp_filter(int fd, std::string_view interface) {
    sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),                 // 0: ethertype
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kEtherIpv4, 3, 0),  // 1: -> 5
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kEtherIpv6, 4, 0),  // 2: -> 7
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kEtherVlan, 3, 0),  // 3: -> 7
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kEtherQinQ, 2, 3),  // 4: -> 7 or 8
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 23),                 // 5: IPv4 protocol
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kProtoTcp, 0, 1),   // 6: -> 7 or 8
        BPF_STMT(BPF_RET | BPF_K, kSnapLength),                 // 7: keep
        BPF_STMT(BPF_RET | BPF_K, 0),                           // 8: drop
    };
    sock_fprog program{static_cast<unsigned short>(std::size(code)), code};
    if (::setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) < 0)
        throw tap_error(interface, "SO_ATTACH_FILTER", errno);
}

void enlarge_receive_buffer(int fd) {
    // SO_RCVBUFFORCE passes net.core.rmem_max with CAP_NET_ADMIN; without it
    // SO_RCVBUF gets as much as rmem_max allows.
    int bytes = kReceiveBuffer;
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) < 0)
        net::set_rcvbuf(fd, kReceiveBuffer);
}

// Created with protocol 0 the socket receives nothing until bind() names
// ETH_P_ALL and the interface, so no packet of another interface slips in
// between socket() and bind().
net::Fd open_packet_socket(const net::Fd& netns, const std::string& interface) {
    // The socket belongs to the namespace it is created in; the thread goes home after.
    std::optional<NetnsGuard> inside;
    if (netns) inside.emplace(netns);
    net::Fd fd(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
    if (!fd) throw tap_error(interface, "socket AF_PACKET", errno);
    unsigned index = ::if_nametoindex(interface.c_str());
    if (index == 0) throw tap_error(interface, "no such interface", errno);
    attach_tcp_filter(fd.get(), interface);
    enlarge_receive_buffer(fd.get());
    sockaddr_ll address{};
    address.sll_family = AF_PACKET;
    address.sll_protocol = htons(ETH_P_ALL);
    address.sll_ifindex = static_cast<int>(index);
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) < 0)
        throw tap_error(interface, "bind", errno);
    return fd;
}

// On a loopback device each packet passes the tap twice: once on transmit
// (dev_queue_xmit_nit, PACKET_OUTGOING) and once when loopback_xmit() feeds
// it back in (PACKET_HOST). Both ends are this host, so the transmit copy,
// the earlier one, is the one kept.
bool is_loopback_echo(const sockaddr_ll& from) {
    return from.sll_hatype == ARPHRD_LOOPBACK && from.sll_pkttype != PACKET_OUTGOING;
}

}  // namespace

// ---------------------------------------------------------------------------

std::string flags_text(uint8_t flags) {
    // Fixed order S F R P U A, then tcpdump's E (ECE) and W (CWR).
    static constexpr std::pair<uint8_t, char> kLetters[] = {
        {kSyn, 'S'}, {kFin, 'F'}, {kRst, 'R'}, {kPsh, 'P'},
        {kUrg, 'U'}, {kAck, 'A'}, {0x40, 'E'}, {0x80, 'W'},
    };
    std::string text;
    for (auto [bit, letter] : kLetters)
        if (flags & bit) text += letter;
    return text;
}

std::optional<Segment> parse_frame(std::span<const uint8_t> frame) {
    Reader reader{frame};
    size_t at = kMacAddresses;
    auto ethertype = reader.u16(at);
    // Up to two VLAN tags (802.1ad outer, 802.1Q inner). AF_PACKET usually
    // reports tags in auxdata instead, but not for every driver.
    auto is_tag = [](uint16_t type) { return type == kEtherVlan || type == kEtherQinQ; };
    for (int tags = 0; tags < 2 && ethertype && is_tag(*ethertype); ++tags) {
        at += kVlanTag;
        ethertype = reader.u16(at);
    }
    if (!ethertype) return std::nullopt;
    at += kEthertype;
    std::optional<IpLayer> ip;
    if (*ethertype == kEtherIpv4)
        ip = parse_ipv4(reader, at);
    else if (*ethertype == kEtherIpv6)
        ip = parse_ipv6(reader, at);
    if (!ip) return std::nullopt;
    return parse_tcp(reader, std::move(*ip));
}

FlowSummary summarize(std::span<const Segment> segments, const net::Address& local,
                      const net::Address& peer, std::optional<Clock::time_point> from) {
    Endpoint near = endpoint(local), far = endpoint(peer);
    std::vector<std::pair<const Segment*, bool>> flow;  // segment, outgoing
    for (const auto& s : segments) {
        Endpoint src = endpoint(s.src), dst = endpoint(s.dst);
        if (src == near && dst == far)
            flow.emplace_back(&s, true);
        else if (src == far && dst == near)
            flow.emplace_back(&s, false);
    }
    std::stable_sort(flow.begin(), flow.end(),
                     [](const auto& a, const auto& b) { return a.first->at < b.first->at; });

    // Segments before `from` still shape the state (sequence numbers, the
    // peer's window); they are counted in a summary that is thrown away.
    FlowSummary summary, earlier;
    FlowState state;
    for (auto [segment, outgoing] : flow) {
        FlowSummary& into = from && segment->at < *from ? earlier : summary;
        if (outgoing)
            count_out(into, state, *segment);
        else
            count_in(into, state, *segment);
    }
    return summary;
}

void to_json(nlohmann::json& j, const FlowSummary& s) {
    j = nlohmann::json{{"segments_out", s.segments_out},
                       {"segments_in", s.segments_in},
                       {"data_segments_out", s.data_segments_out},
                       {"data_segments_in", s.data_segments_in},
                       {"retransmissions_out", s.retransmissions_out},
                       {"keepalive_probes_out", s.keepalive_probes_out},
                       {"zero_window_probes_out", s.zero_window_probes_out},
                       {"zero_windows_in", s.zero_windows_in},
                       {"fin_out", s.fin_out},
                       {"fin_in", s.fin_in},
                       {"rst_out", s.rst_out},
                       {"rst_in", s.rst_in}};
}

// ---------------------------------------------------------------------------

struct Tap::Impl {
    net::Fd packets;
    net::Fd wakeup;  // eventfd: readable once stop() asks the thread to end
    size_t max_segments;

    mutable std::mutex mutex;  // guards segments
    std::vector<Segment> segments;
    std::atomic<uint64_t> dropped{0};
    std::atomic<uint64_t> kernel_drops{0};

    std::mutex stop_mutex;  // one joiner at a time
    std::thread thread;

    void record() noexcept;
    bool drain(std::vector<Segment>& batch);
    void store(std::vector<Segment>& batch);
};

// When the kernel saw the packet (SIOCGSTAMPNS: the wall clock of the last
// one read), as a steady_clock time: this thread may read it a while later,
// and the scenarios compare these times with their own to a few milliseconds.
Clock::time_point kernel_timestamp(int fd) {
    timespec ts{};
    auto steady_now = Clock::now();
    if (::ioctl(fd, SIOCGSTAMPNS, &ts) < 0) return steady_now;
    auto wall_now = std::chrono::system_clock::now();
    auto wall_then = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::seconds(ts.tv_sec) +
                                                                        std::chrono::nanoseconds(ts.tv_nsec)));
    auto age = wall_now - wall_then;
    if (age < std::chrono::seconds(0) || age > std::chrono::seconds(10)) return steady_now;  // the wall clock jumped
    return steady_now - std::chrono::duration_cast<Clock::duration>(age);
}

void Tap::Impl::record() noexcept {
    std::vector<Segment> batch;
    try {
        std::array<pollfd, 2> fds{pollfd{packets.get(), POLLIN, 0},
                                  pollfd{wakeup.get(), POLLIN, 0}};
        for (;;) {
            if (::poll(fds.data(), fds.size(), -1) < 0) {
                if (errno == EINTR) continue;
                return;
            }
            // Packets already queued when stop() is called are still recorded.
            bool more = drain(batch);
            store(batch);
            if (fds[1].revents != 0 || !more) return;
        }
    } catch (...) {
        // Out of memory while storing: end the recording, keep what is there.
    }
}

// Reads what is queued without blocking, one lock per batch rather than per
// packet. False when the socket failed and the thread should end.
bool Tap::Impl::drain(std::vector<Segment>& batch) {
    std::array<uint8_t, kSnapLength> frame;
    for (int n = 0; n < 512; ++n) {
        sockaddr_ll from{};
        socklen_t from_length = sizeof from;
        ssize_t length = ::recvfrom(packets.get(), frame.data(), frame.size(), MSG_DONTWAIT,
                                    reinterpret_cast<sockaddr*>(&from), &from_length);
        if (length < 0) return errno == EAGAIN || errno == EINTR || errno == ENETDOWN;
        auto received = kernel_timestamp(packets.get());
        if (is_loopback_echo(from)) continue;
        auto segment = parse_frame(std::span(frame.data(), static_cast<size_t>(length)));
        if (!segment) continue;
        segment->at = received;
        segment->outgoing = from.sll_pkttype == PACKET_OUTGOING;
        batch.push_back(std::move(*segment));
    }
    return true;
}

void Tap::Impl::store(std::vector<Segment>& batch) {
    if (batch.empty()) return;
    std::lock_guard lock(mutex);
    size_t room = max_segments - std::min(max_segments, segments.size());
    size_t kept = std::min(room, batch.size());
    segments.insert(segments.end(), std::make_move_iterator(batch.begin()),
                    std::make_move_iterator(batch.begin() + static_cast<ptrdiff_t>(kept)));
    dropped += batch.size() - kept;
    batch.clear();
}

Tap::Tap(const net::Fd& netns, const std::string& interface, size_t max_segments)
    : impl_(std::make_unique<Impl>()) {
    impl_->max_segments = max_segments;
    impl_->packets = open_packet_socket(netns, interface);
    impl_->wakeup = net::Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!impl_->wakeup) throw tap_error(interface, "eventfd", errno);
    impl_->thread = std::thread([impl = impl_.get()] { impl->record(); });
}

Tap::~Tap() {
    stop();
}

void Tap::stop() {
    std::lock_guard lock(impl_->stop_mutex);
    if (!impl_->thread.joinable()) return;
    uint64_t one = 1;
    // An eventfd write of 1 cannot fail short of overflowing the counter.
    [[maybe_unused]] ssize_t n = ::write(impl_->wakeup.get(), &one, sizeof one);
    impl_->thread.join();
}

std::vector<Segment> Tap::segments() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->segments;
}

FlowSummary Tap::summary(const net::Address& local, const net::Address& peer,
                         std::optional<Clock::time_point> from) const {
    std::lock_guard lock(impl_->mutex);
    return summarize(impl_->segments, local, peer, from);
}

uint64_t Tap::dropped() const {
    return impl_->dropped;
}

uint64_t Tap::kernel_drops() const {
    // PACKET_STATISTICS returns the counts since the last call and resets them.
    tpacket_stats stats{};
    socklen_t length = sizeof stats;
    if (::getsockopt(impl_->packets.get(), SOL_PACKET, PACKET_STATISTICS, &stats, &length) == 0)
        impl_->kernel_drops += stats.tp_drops;
    return impl_->kernel_drops;
}

}  // namespace sockdrill::sandbox
