#include "sandbox/sandbox.hpp"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>

#include <fmt/format.h>
#include <chrono>
#include <cstring>
#include <exception>
#include <memory>
#include <thread>

#include "kernel/sysctl.hpp"
#include "net/error.hpp"

namespace sockdrill::sandbox {

namespace {

constexpr const char* kClientInterface = "sd-client";
constexpr const char* kServerInterface = "sd-server";
// Explicit, different interface indexes. The kernel's linkwatch applies a
// carrier change (and the qdisc swap that makes a link usable or cut) at
// once only for a device whose iflink differs from its own index, as a veth
// whose peer has another index does; other changes are batched at most once
// a second. Left to the kernel, both ends would be index 2 (the first after
// lo in each fresh namespace), and every cut and restore would lag up to 1 s.
constexpr int kClientIfindex = 10;
constexpr int kServerIfindex = 20;
constexpr const char* kClientHost = "198.18.0.1";
constexpr const char* kServerHost = "198.18.0.2";
constexpr const char* kClientSubnet = "198.18.0.0/24";
constexpr int kPrefixLength = 24;
// Extra client addresses are 198.18.0.11 up to .210: all inside the /24,
// so the server's connected route (and a blackhole of the subnet) covers them.
constexpr unsigned kFirstExtraHost = 11;
constexpr unsigned kMaxExtraAddresses = 200;
constexpr auto kUsableTimeout = std::chrono::seconds(5);

Error environment_error(std::string_view what, int err) {
    return Error(Exit::environment,
                 fmt::format("sandbox: {}: {} ({})", what, errno_name(err), std::strerror(err)),
                 err);
}

// libnl returns negative NLE_* codes (kernel errnos translated); one line each.
void check_nl(int rc, std::string_view what) {
    if (rc < 0)
        throw Error(Exit::environment, fmt::format("sandbox: {}: {}", what, nl_geterror(rc)));
}

// ---------------------------------------------------------------------------
// Namespaces

// /proc/thread-self, not /proc/self: namespaces belong to threads, and
// /proc/self/ns/net is the main thread's even when called from another one.
net::Fd open_thread_netns() {
    int fd = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw environment_error("open /proc/thread-self/ns/net", errno);
    return net::Fd(fd);
}

// Going back can only fail if the process lost CAP_SYS_ADMIN meanwhile. A
// thread that silently stayed in a sandbox would create every later socket
// there, so that is fatal rather than ignored (and destructors cannot throw).
void return_to(const net::Fd& home) noexcept {
    if (::setns(home.get(), CLONE_NEWNET) < 0) std::terminate();
}

/// Brings the calling thread back to the namespace it was in at construction.
class ReturnHome {
  public:
    ReturnHome() : home_(open_thread_netns()) {}
    ~ReturnHome() { return_to(home_); }
    ReturnHome(const ReturnHome&) = delete;
    ReturnHome& operator=(const ReturnHome&) = delete;

  private:
    net::Fd home_;
};

// unshare(CLONE_NEWNET) moves only the calling thread into a new namespace
// (with nothing in it but a loopback device, down). The returned descriptor
// is its only reference: no bind mount, no name, so `ip netns` never sees it
// and closing the descriptor lets the kernel tear it down.
net::Fd create_netns() {
    ReturnHome home;
    if (::unshare(CLONE_NEWNET) < 0) throw environment_error("unshare CLONE_NEWNET", errno);
    return open_thread_netns();
}

// ---------------------------------------------------------------------------
// rtnetlink through libnl-route

struct NlDelete {
    void operator()(nl_sock* sock) const { nl_socket_free(sock); }
    void operator()(nl_addr* addr) const { nl_addr_put(addr); }
    void operator()(rtnl_link* link) const { rtnl_link_put(link); }
    void operator()(rtnl_addr* addr) const { rtnl_addr_put(addr); }
    void operator()(rtnl_route* route) const { rtnl_route_put(route); }
    void operator()(rtnl_neigh* neigh) const { rtnl_neigh_put(neigh); }
};
template <class T>
using NlPtr = std::unique_ptr<T, NlDelete>;

template <class T>
NlPtr<T> owned(T* object, std::string_view what) {
    if (!object) check_nl(-NLE_NOMEM, what);
    return NlPtr<T>(object);
}

// A netlink socket belongs to the namespace of the thread that created it:
// call this inside the namespace to configure.
NlPtr<nl_sock> route_socket() {
    auto sock = owned(nl_socket_alloc(), "netlink socket");
    check_nl(nl_connect(sock.get(), NETLINK_ROUTE), "connect NETLINK_ROUTE");
    return sock;
}

NlPtr<nl_addr> parse_ipv4(const std::string& text) {
    nl_addr* addr = nullptr;
    check_nl(nl_addr_parse(text.c_str(), AF_INET, &addr), fmt::format("parse {}", text));
    return NlPtr<nl_addr>(addr);
}

NlPtr<rtnl_link> find_link(nl_sock* sock, const char* name) {
    rtnl_link* link = nullptr;
    check_nl(rtnl_link_get_kernel(sock, 0, name, &link), fmt::format("find link {}", name));
    return NlPtr<rtnl_link>(link);
}

void set_link_up(nl_sock* sock, const char* name, bool up) {
    auto current = find_link(sock, name);
    auto change = owned(rtnl_link_alloc(), "allocate link");
    if (up)
        rtnl_link_set_flags(change.get(), IFF_UP);
    else
        rtnl_link_unset_flags(change.get(), IFF_UP);
    check_nl(rtnl_link_change(sock, current.get(), change.get(), 0),
             fmt::format("set {} {}", name, up ? "up" : "down"));
}

void add_address(nl_sock* sock, const char* interface, const std::string& host) {
    auto cidr = fmt::format("{}/{}", host, kPrefixLength);
    auto local = parse_ipv4(cidr);
    auto addr = owned(rtnl_addr_alloc(), "allocate address");
    rtnl_addr_set_ifindex(addr.get(), rtnl_link_get_ifindex(find_link(sock, interface).get()));
    check_nl(rtnl_addr_set_local(addr.get(), local.get()), fmt::format("set address {}", cidr));
    check_nl(rtnl_addr_add(sock, addr.get(), 0), fmt::format("add {} to {}", cidr, interface));
}

// Created from the client's namespace with the peer's attributes carrying
// IFLA_NET_NS_FD: the kernel registers the peer directly in the server's
// namespace, so no end ever appears on the host.
void create_veth(nl_sock* sock, const net::Fd& server_ns) {
    auto veth = owned(rtnl_link_veth_alloc(), "allocate veth");
    rtnl_link_set_name(veth.get(), kClientInterface);
    rtnl_link_set_ifindex(veth.get(), kClientIfindex);
    // get_peer takes a reference of its own; releasing `veth` frees both.
    NlPtr<rtnl_link> peer(rtnl_link_veth_get_peer(veth.get()));
    rtnl_link_set_name(peer.get(), kServerInterface);
    rtnl_link_set_ifindex(peer.get(), kServerIfindex);
    rtnl_link_set_ns_fd(peer.get(), server_ns.get());
    check_nl(rtnl_link_add(sock, veth.get(), NLM_F_CREATE | NLM_F_EXCL),
             fmt::format("create veth {} / {}", kClientInterface, kServerInterface));
}

/// The hardware (MAC) address of an interface in the current namespace.
NlPtr<nl_addr> link_address(const char* interface) {
    auto link = find_link(route_socket().get(), interface);
    return owned(nl_addr_clone(rtnl_link_get_addr(link.get())), "copy link address");
}

// The client reaches the server through a permanent neighbour entry, not
// ARP, so the faults mean the same for as long as they last. Under
// blackhole the server answers no ARP (rp_filter drops the requests too):
// a learned entry would fail after ~30 s and the client's segments would
// then wait in the neighbour queue instead of leaving its interface. Under
// cut, carrier loss flushes learned entries (but not permanent ones): the
// next segment would wait in that queue, its retransmissions would be
// suppressed as "still in host queue", and after restore it would leave
// only with the next ARP solicitation, up to a second later.
void pin_neighbour(const char* interface, const std::string& host, nl_addr* lladdr) {
    auto sock = route_socket();
    auto dst = parse_ipv4(host);
    auto neigh = owned(rtnl_neigh_alloc(), "allocate neighbour");
    rtnl_neigh_set_ifindex(neigh.get(),
                           rtnl_link_get_ifindex(find_link(sock.get(), interface).get()));
    check_nl(rtnl_neigh_set_dst(neigh.get(), dst.get()), fmt::format("set neighbour {}", host));
    rtnl_neigh_set_lladdr(neigh.get(), lladdr);
    rtnl_neigh_set_state(neigh.get(), NUD_PERMANENT);
    check_nl(rtnl_neigh_add(sock.get(), neigh.get(), NLM_F_CREATE | NLM_F_REPLACE),
             fmt::format("add neighbour {} on {}", host, interface));
}

// Carrier loss takes effect asynchronously, in the kernel's linkwatch work:
// until then the client's end still hands packets to veth, which drops them
// and says so (NET_XMIT_DROP), so TCP keeps the data unsent instead of
// losing it on the wire. Once linkwatch has run, the end is no longer
// RUNNING and its noop qdisc drops packets silently, as a cut wire would.
void wait_until_not_running(const char* interface) {
    auto sock = route_socket();
    auto deadline = std::chrono::steady_clock::now() + kUsableTimeout;
    while (rtnl_link_get_flags(find_link(sock.get(), interface).get()) & IFF_RUNNING) {
        if (std::chrono::steady_clock::now() >= deadline)
            throw Error(Exit::environment,
                        fmt::format("sandbox: {} still running {} s after the cut", interface,
                                    kUsableTimeout.count()));
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

// Brings up loopback (the host's own addresses are delivered through it) and
// the host's veth end, then gives that end its addresses.
void configure_host(const char* interface, const std::vector<std::string>& hosts) {
    auto sock = route_socket();
    set_link_up(sock.get(), "lo", true);
    set_link_up(sock.get(), interface, true);
    for (const auto& host : hosts) add_address(sock.get(), interface, host);
}

// A blackhole for the client's /24 in the main table. Added with
// NLM_F_CREATE but not NLM_F_EXCL (`ip route prepend`), the kernel files it
// in front of the connected route of the same prefix and metric instead of
// refusing it with EEXIST, and a lookup stops at the first match.
NlPtr<rtnl_route> client_subnet_blackhole() {
    auto route = owned(rtnl_route_alloc(), "allocate route");
    rtnl_route_set_family(route.get(), AF_INET);
    rtnl_route_set_table(route.get(), RT_TABLE_MAIN);
    rtnl_route_set_type(route.get(), RTN_BLACKHOLE);
    auto subnet = parse_ipv4(kClientSubnet);
    check_nl(rtnl_route_set_dst(route.get(), subnet.get()), "set route destination");
    return route;
}

// ---------------------------------------------------------------------------
// Sysctls and readiness

// IPv4 only: with IPv6 off by default before the veth exists, neither end
// sends router solicitations, MLD reports or DAD probes, so the link carries
// only what a scenario sends. Skipped when the kernel has no IPv6 at all.
void quiet_ipv6() {
    constexpr const char* kDefault = "net.ipv6.conf.default.disable_ipv6";
    if (kernel::read_sysctl(kDefault)) kernel::write_sysctl(kDefault, "1");
}

std::string rp_filter_name(const char* device) {
    return fmt::format("net.ipv4.conf.{}.rp_filter", device);
}

net::Fd bound_udp_socket(const net::Address& address) {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw environment_error("udp socket", errno);
    net::Fd owned_fd(fd);
    if (::bind(fd, address.sa(), address.len()) < 0)
        throw environment_error(fmt::format("bind {}", address.to_string()), errno);
    return owned_fd;
}

// The veth is usable only once the kernel's linkwatch has seen carrier on
// both ends and replaced the noop qdisc, which drops everything, with the
// real one; until then a caller's first SYN would be lost and sent again a
// second later. So: send datagrams client -> server until one arrives.
void wait_until_usable(const Sandbox& sandbox) {
    auto receiver = sandbox.run_in(Side::server,
                                   [&] { return bound_udp_socket(sandbox.address(Side::server)); });
    auto destination = net::local_address(receiver.get());
    auto sender = sandbox.run_in(Side::client,
                                 [&] { return bound_udp_socket(sandbox.address(Side::client)); });
    auto deadline = std::chrono::steady_clock::now() + kUsableTimeout;
    while (std::chrono::steady_clock::now() < deadline) {
        // Send errors are expected while the link comes up; only arrival counts.
        (void)::sendto(sender.get(), "ready", 5, MSG_DONTWAIT, destination.sa(), destination.len());
        pollfd readable{receiver.get(), POLLIN, 0};
        if (::poll(&readable, 1, 20) > 0) return;
    }
    throw Error(Exit::environment,
                fmt::format("sandbox: the veth pair carried no packet within {} s",
                            kUsableTimeout.count()));
}

}  // namespace

std::string_view side_name(Side side) {
    return side == Side::client ? "client" : "server";
}

bool has_capability(int cap) {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
    if (::syscall(SYS_capget, &header, data) < 0) return false;
    return (data[CAP_TO_INDEX(cap)].effective & CAP_TO_MASK(cap)) != 0;
}

std::string unavailable_reason() {
    // unshare/setns need CAP_SYS_ADMIN; veth, addresses, routes and net sysctls CAP_NET_ADMIN.
    if (has_capability(CAP_SYS_ADMIN) && has_capability(CAP_NET_ADMIN)) return "";
    return "the sandbox needs CAP_SYS_ADMIN and CAP_NET_ADMIN (run as root)";
}

NetnsGuard::NetnsGuard(const net::Fd& netns) : previous_(open_thread_netns()) {
    if (::setns(netns.get(), CLONE_NEWNET) < 0)
        throw environment_error("setns CLONE_NEWNET", errno);
}

NetnsGuard::~NetnsGuard() {
    return_to(previous_);
}

Sandbox::Sandbox(const Options& options) : options_(options) {
    if (options.extra_client_addresses > kMaxExtraAddresses)
        throw Error::usage(
            fmt::format("sandbox: at most {} extra client addresses (198.18.0.{} to .{}), got {}",
                        kMaxExtraAddresses, kFirstExtraHost,
                        kFirstExtraHost + kMaxExtraAddresses - 1, options.extra_client_addresses));
    if (auto reason = unavailable_reason(); !reason.empty()) throw Error(Exit::environment, reason);

    // Two hosts. From here on, a throw closes whatever descriptors exist and
    // the kernel removes the half-built sandbox with them.
    client_ns_ = create_netns();
    server_ns_ = create_netns();
    run_in(Side::client, quiet_ipv6);
    run_in(Side::server, quiet_ipv6);

    // The wire, then each host's end of it.
    run_in(Side::client, [&] { create_veth(route_socket().get(), server_ns_); });
    run_in(Side::server, [&] { configure_host(kServerInterface, {kServerHost}); });
    std::vector<std::string> client_hosts;
    for (const auto& address : client_addresses()) client_hosts.push_back(address.host());
    run_in(Side::client, [&] { configure_host(kClientInterface, client_hosts); });
    auto server_mac = run_in(Side::server, [] { return link_address(kServerInterface); });
    run_in(Side::client, [&] { pin_neighbour(kClientInterface, kServerHost, server_mac.get()); });
    // And the way back, for every client address: a cut of the client's end
    // must not leave the server's retransmissions waiting on ARP.
    auto client_mac = run_in(Side::client, [] { return link_address(kClientInterface); });
    run_in(Side::server, [&] {
        for (const auto& host : client_hosts) pin_neighbour(kServerInterface, host, client_mac.get());
    });
    wait_until_usable(*this);

    for (const auto& [name, value] : options_.client_sysctls) set_sysctl(Side::client, name, value);
    for (const auto& [name, value] : options_.server_sysctls) set_sysctl(Side::server, name, value);
}

// Closing the two descriptors drops the last references to the namespaces
// (unless a caller still holds a socket created inside one); the kernel then
// destroys them with the veth pair, addresses, routes and sysctls.
Sandbox::~Sandbox() = default;

const net::Fd& Sandbox::netns(Side side) const {
    return side == Side::client ? client_ns_ : server_ns_;
}

net::Address Sandbox::address(Side side, uint16_t port) const {
    return net::Address::parse_host(side == Side::client ? kClientHost : kServerHost, port);
}

std::vector<net::Address> Sandbox::client_addresses() const {
    std::vector<net::Address> addresses{address(Side::client)};
    for (unsigned i = 0; i < options_.extra_client_addresses; ++i)
        addresses.push_back(
            net::Address::parse_host(fmt::format("198.18.0.{}", kFirstExtraHost + i)));
    return addresses;
}

std::string Sandbox::interface(Side side) const {
    return side == Side::client ? kClientInterface : kServerInterface;
}

void Sandbox::set_sysctl(Side side, std::string_view name, std::string_view value) const {
    try {
        // /proc/sys/net resolves against the calling thread's namespace.
        run_in(side, [&] { kernel::write_sysctl(name, value); });
    } catch (const Error& e) {
        throw Error(e.exit(), fmt::format("sandbox: {}: {}", side_name(side), e.what()), e.err());
    }
}

std::optional<std::string> Sandbox::sysctl(Side side, std::string_view name) const {
    return run_in(side, [&] { return kernel::read_sysctl(name); });
}

// Down on the server's end: the kernel drops the server's connected route
// with it, and the client's end loses carrier, so its packets are dropped in
// its noop qdisc before they reach the wire (or a tap).
void Sandbox::cut(Side down) {
    if (cut_) return;
    const char* downed = down == Side::server ? kServerInterface : kClientInterface;
    const char* other = down == Side::server ? kClientInterface : kServerInterface;
    run_in(down, [&] { set_link_up(route_socket().get(), downed, false); });
    cut_ = true;
    cut_side_ = down;
    // Until the other end has seen its carrier go, its transmissions fail
    // locally instead of vanishing; wait for that.
    run_in(down == Side::server ? Side::client : Side::server, [&] { wait_until_not_running(other); });
}

// Incoming packets for the server's own address are delivered through the
// local table whatever the main table says; only the reverse-path check
// (fib_validate_source) consults the route back to the sender, and it finds
// the blackhole. The server's own replies hit the blackhole on output.
void Sandbox::blackhole() {
    if (blackholed_) return;
    run_in(Side::server, [&] {
        auto sock = route_socket();
        rp_filter_before_.clear();
        for (const char* device : {"all", kServerInterface}) {
            auto name = rp_filter_name(device);
            rp_filter_before_.emplace_back(name, kernel::read_sysctl(name).value_or("0"));
            kernel::write_sysctl(name, "1");
        }
        // The route comes last: adding it bumps the routing generation, which
        // invalidates the receive route that TCP's early demux cached on each
        // established socket; a packet that slipped in before rp_filter was
        // set would otherwise re-cache a route that skips the check.
        try {
            check_nl(rtnl_route_add(sock.get(), client_subnet_blackhole().get(), 0),
                     fmt::format("add blackhole {}", kClientSubnet));
        } catch (const Error&) {
            for (const auto& [name, value] : rp_filter_before_) kernel::write_sysctl(name, value);
            throw;
        }
    });
    blackholed_ = true;
}

void Sandbox::restore() {
    if (blackholed_) {
        run_in(Side::server, [&] {
            check_nl(rtnl_route_delete(route_socket().get(), client_subnet_blackhole().get(), 0),
                     fmt::format("delete blackhole {}", kClientSubnet));
            for (const auto& [name, value] : rp_filter_before_) kernel::write_sysctl(name, value);
        });
        blackholed_ = false;
    }
    if (cut_) {
        // Up again, the kernel re-adds the connected route by itself.
        const char* downed = cut_side_ == Side::server ? kServerInterface : kClientInterface;
        run_in(cut_side_, [&] { set_link_up(route_socket().get(), downed, true); });
        cut_ = false;
        wait_until_usable(*this);
    }
}

}  // namespace sockdrill::sandbox
