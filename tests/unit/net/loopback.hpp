#pragma once
// Test helper: a connected TCP pair on 127.0.0.1, made with lib's own
// listen_tcp/connect_tcp plus accept(). Real sockets, never a mock (STYLE.md).
#include <sys/socket.h>

#include <doctest/doctest.h>

#include "net/address.hpp"
#include "net/error.hpp"
#include "net/fd.hpp"
#include "net/socket.hpp"

namespace sockdrill::test {

/// Both ends of one established loopback connection; both blocking.
struct LoopbackPair {
    net::Fd client;
    net::Fd server;
};

inline LoopbackPair loopback_pair() {
    net::ListenOptions options;
    options.nonblocking = false;
    net::Fd listener = net::listen_tcp(net::Address::parse("127.0.0.1:0"), options);
    net::Fd client = net::connect_tcp(net::local_address(listener.get()));
    net::Fd server(static_cast<int>(check(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC), "accept4")));
    REQUIRE(client);
    REQUIRE(server);
    return {std::move(client), std::move(server)};
}

}  // namespace sockdrill::test
