#pragma once
// The socket census source: NETLINK_SOCK_DIAG dumps of TCP and UDP sockets
// (what ss reads), filtered in the kernel where it can filter (state mask,
// inet_diag bytecode for ports and prefixes), parsed straight from the
// netlink messages into plain records. A dump can be recorded to a file and
// replayed, which is how the unit tests feed the parser.
#include <linux/inet_diag.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/address.hpp"
#include "net/tcp_info.hpp"

struct nlmsghdr;

namespace sockdrill::kernel {

enum class Proto : uint8_t { tcp, udp };

/// The kernel's TCP state numbers (TCP_ESTABLISHED = 1 ... TCP_CLOSING = 11).
constexpr int kMaxTcpState = 12;
constexpr uint32_t kAllStates = (1u << kMaxTcpState) - 2;  // every state but 0

/// Parses "established", "time-wait", ..., or ss's groups "all", "connected",
/// "synchronized", "bucket", "big" into a state mask; throws Error(usage).
uint32_t parse_state_mask(std::string_view names);

/// An address prefix: "198.18.0.0/15", "::1", "127.0.0.1/8".
struct Prefix {
    net::Address address;  ///< the port is ignored
    int bits = 0;
    /// Parses ADDR[/BITS]; throws Error(usage) naming the accepted form.
    static Prefix parse(std::string_view text);
    bool contains(const net::Address& a) const;
};

/// What to dump. Every field that the kernel can filter is sent to it.
struct DiagRequest {
    bool tcp = true;
    bool udp = false;
    bool ipv4 = true;
    bool ipv6 = true;
    uint32_t states = kAllStates;
    bool tcp_info = false;  ///< ask for INET_DIAG_INFO (costs kernel time and bytes)
    std::optional<uint16_t> sport, dport, port;  ///< port: either end
    std::optional<Prefix> src, dst;
};

/// One socket, as a dump row.
struct SocketRecord {
    Proto proto = Proto::tcp;
    uint8_t family = 0;
    uint8_t state = 0;
    net::Address local, peer;
    uint32_t recv_q = 0;       ///< listeners: the accept queue now
    uint32_t send_q = 0;       ///< listeners: the backlog
    uint8_t timer = 0;         ///< 0 none, 1 retransmit, 2 keepalive, 3 time-wait, 4 persist
    uint8_t retrans = 0;
    uint32_t expires_ms = 0;
    uint32_t uid = 0;
    uint32_t inode = 0;
    inet_diag_sockid id{};     ///< what SOCK_DESTROY needs
    std::optional<net::TcpInfo> info;
};

/// Does the record pass the request's filters? (The live path has the kernel
/// filter already; replay and tests filter here.)
bool matches(const DiagRequest& request, const SocketRecord& record);

/// The inet_diag bytecode for the port and prefix filters of a request;
/// empty when the request has none.
std::vector<uint8_t> build_bytecode(const DiagRequest& request);

/// Parses one SOCK_DIAG_BY_FAMILY answer; false when it is not one.
bool parse_diag_message(const nlmsghdr* header, Proto proto, SocketRecord& out);

using RecordSink = std::function<void(const SocketRecord&)>;

/// Where records come from: the live kernel, or a recorded dump.
class DiagSource {
public:
    virtual ~DiagSource() = default;
    /// Calls sink once per matching socket; records are not kept.
    virtual void dump(const DiagRequest& request, const RecordSink& sink) = 0;
};

/// The live kernel of the current network namespace. With record_path set,
/// every message received is also written there (--record).
std::unique_ptr<DiagSource> live_source(const std::string& record_path = {});
/// A dump written by --record; throws Error(usage) naming the file when it is not one.
std::unique_ptr<DiagSource> replay_source(const std::string& path);

/// SOCK_DESTROY for one socket (ss -K). Throws Error: environment for EPERM
/// (needs CAP_NET_ADMIN) or EOPNOTSUPP (kernel without INET_DIAG_DESTROY).
void destroy_socket(const SocketRecord& record);

/// ss's name for a state ("ESTAB", "TIME-WAIT"); UDP's 7 is "UNCONN".
const char* state_name(int state);
/// The long name DESIGN.md uses in JSON ("ESTABLISHED", "TIME-WAIT").
const char* state_json_name(int state);

}  // namespace sockdrill::kernel
