#pragma once
// The census itself: counts by state, listeners, per-socket rows and top-N
// groups, built from a DiagSource. Counting keeps no per-socket memory, so
// a summary of 50,000 sockets costs what one of 1,000 does.
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "kernel/sock_diag.hpp"

namespace sockdrill::kernel {

/// Sockets by protocol, family and state.
struct StateCounts {
    /// [tcp=0/udp=1][ipv4=0/ipv6=1][state]
    std::array<std::array<std::array<uint64_t, kMaxTcpState + 1>, 2>, 2> counts{};

    void add(const SocketRecord& record);
    /// TCP sockets in a state, both families.
    uint64_t tcp(int state) const;
    uint64_t total(Proto proto) const;
    uint64_t total(Proto proto, int family) const;
};

/// Counts every socket the request selects.
StateCounts count_states(DiagSource& source, const DiagRequest& request);
/// {"total": N, "by_state": {...}, "ipv4": {...}, "ipv6": {...}} per protocol.
nlohmann::json to_json(const StateCounts& counts);

/// A listening socket and its accept queue.
struct Listener {
    net::Address local;
    uint32_t accept_queue = 0;  ///< connections waiting for accept() now
    uint32_t backlog = 0;       ///< the queue's limit (listen()'s backlog, capped by somaxconn)
    bool full() const { return accept_queue >= backlog + 1 || (backlog == 0 && accept_queue > 0); }
};
std::vector<Listener> listeners(DiagSource& source, const DiagRequest& request);

/// Every selected socket, in dump order.
std::vector<SocketRecord> sockets(DiagSource& source, const DiagRequest& request);

/// What --group-by keys on.
enum class GroupBy { peer, peer_addr, local_port, state, process };
/// Parses "peer", "peer-addr", "local-port", "state" or "process"; throws Error(usage).
GroupBy parse_group_by(std::string_view text);

struct Group {
    std::string key;
    uint64_t sockets = 0;
    std::map<std::string, uint64_t> by_state;  ///< state name -> count
};
/// The top `top` groups by socket count (ties by key), biggest first.
std::vector<Group> group_sockets(DiagSource& source, const DiagRequest& request, GroupBy by, size_t top);

/// Socket inode -> "pid/comm", from /proc/*/fd (only processes we may read).
std::map<uint32_t, std::string> socket_owners();

}  // namespace sockdrill::kernel
