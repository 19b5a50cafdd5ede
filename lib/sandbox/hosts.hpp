#pragma once
// The two ends of one scenario run: a fresh sandbox (the client's and the
// server's namespaces), or this host's own namespace holding both ends on
// loopback. Scenarios write `h.in(Side::server, f)` once and run either way.
#include <memory>
#include <string>
#include <utility>

#include "net/address.hpp"
#include "net/fd.hpp"
#include "sandbox/sandbox.hpp"

namespace sockdrill::sandbox {

struct Hosts {
    std::unique_ptr<Sandbox> box;  ///< null: both ends on this host

    /// Runs f in the namespace of `side` (here, without a sandbox).
    template <class F>
    decltype(auto) in(Side side, F&& f) const {
        if (!box) return std::forward<F>(f)();
        return box->run_in(side, std::forward<F>(f));
    }
    /// The namespace a load driver's threads enter; nullptr = stay here.
    const net::Fd* netns(Side side) const { return box ? &box->netns(side) : nullptr; }
    /// An address of `side`: its veth address, or 127.0.0.1.
    net::Address address(Side side, uint16_t port = 0) const {
        return box ? box->address(side, port) : net::Address::parse_host("127.0.0.1", port);
    }
    /// Where a tap on the client's traffic listens: the client's veth, or lo here.
    const net::Fd& client_netns() const {
        static const net::Fd here;
        return box ? box->netns(Side::client) : here;
    }
    std::string client_interface() const { return box ? box->interface(Side::client) : "lo"; }
};

}  // namespace sockdrill::sandbox
