#pragma once
// Throw-away network namespaces: a client host and a server host joined by
// a veth pair, addressed from the RFC 2544 benchmarking range 198.18.0.0/15
// (never a range that exists outside the sandbox). The namespaces are made
// with unshare() and held only by file descriptors, never bind-mounted or
// named, so when the process dies, even by SIGKILL, the kernel removes them
// with every veth, address, route and sysctl inside.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/address.hpp"
#include "net/fd.hpp"

namespace sockdrill::sandbox {

/// Which host of the sandbox.
enum class Side { client, server };
std::string_view side_name(Side side);

/// How to build a sandbox. Sysctls are "net.ipv4.tcp_retries2" -> "3",
/// written inside that namespace only, after the links are up.
struct Options {
    std::map<std::string, std::string> client_sysctls;
    std::map<std::string, std::string> server_sysctls;
    /// Extra client addresses beyond the first (198.18.0.11, .12, ...), to
    /// widen the 4-tuple space of churn and idle-connection loads.
    unsigned extra_client_addresses = 0;
};

/// Whether a capability (CAP_NET_ADMIN, ...) is in this process's effective set.
bool has_capability(int cap);

/// Empty when this process may build a sandbox (CAP_SYS_ADMIN and
/// CAP_NET_ADMIN in effect); otherwise the one-line reason.
std::string unavailable_reason();

/// The calling thread inside another network namespace until destruction,
/// then back where it was. Sockets created meanwhile (netlink ones too) stay
/// in that namespace for their whole life; /proc/thread-self/net and
/// /proc/sys/net show it.
class NetnsGuard {
public:
    explicit NetnsGuard(const net::Fd& netns);
    ~NetnsGuard();
    NetnsGuard(const NetnsGuard&) = delete;
    NetnsGuard& operator=(const NetnsGuard&) = delete;

private:
    net::Fd previous_;
};

/// Two hosts and a veth pair between them.
class Sandbox {
public:
    /// Builds both namespaces, the veth pair, addresses, routes, loopback,
    /// and the sysctls. Throws Error(environment) with the reason when the
    /// process lacks privilege or the kernel refuses.
    explicit Sandbox(const Options& options = {});
    ~Sandbox();
    Sandbox(const Sandbox&) = delete;
    Sandbox& operator=(const Sandbox&) = delete;

    /// The namespace of one host (for NetnsGuard, census, threads).
    const net::Fd& netns(Side side) const;
    /// The host's (first) address, with a port: 198.18.0.1 client, 198.18.0.2 server.
    net::Address address(Side side, uint16_t port = 0) const;
    /// Every client address: the first, then the extras.
    std::vector<net::Address> client_addresses() const;
    /// The host's end of the veth pair, as named in its namespace.
    std::string interface(Side side) const;

    /// Runs f with the calling thread in the host's namespace.
    template <class F>
    decltype(auto) run_in(Side side, F&& f) const {
        NetnsGuard guard(netns(side));
        return std::forward<F>(f)();
    }

    /// A sysctl inside the host's namespace only.
    void set_sysctl(Side side, std::string_view name, std::string_view value) const;
    std::optional<std::string> sysctl(Side side, std::string_view name) const;

    /// Fault `cut`: one end of the veth goes down (the server's by default:
    /// the server vanished); nothing passes in either direction, and the
    /// other end loses carrier, so its packets are dropped before the wire.
    void cut(Side down = Side::server);
    /// Fault `blackhole`: in the server's namespace, a blackhole route to
    /// the client's addresses and strict reverse-path filtering, so the
    /// client's packets are dropped on arrival and the server sends nothing
    /// back. The client's packets still leave its interface (the tap sees them).
    void blackhole();
    /// Undoes cut() and blackhole().
    void restore();

private:
    Options options_;
    net::Fd client_ns_, server_ns_;
    bool cut_ = false, blackholed_ = false;
    Side cut_side_ = Side::server;
    /// The server's rp_filter sysctls as they were before blackhole().
    std::vector<std::pair<std::string, std::string>> rp_filter_before_;
};

}  // namespace sockdrill::sandbox
