#pragma once
// Creating, binding and connecting TCP sockets.
#include <chrono>

#include "net/address.hpp"
#include "net/fd.hpp"

namespace sockdrill::net {

struct ListenOptions {
    int backlog = 511;
    bool reuseaddr = true;
    bool reuseport = false;
    bool nonblocking = true;
};

/// socket() + bind() + listen(); the returned fd is close-on-exec.
Fd listen_tcp(const Address& address, const ListenOptions& options = {});

/// Blocking connect with a deadline (non-blocking connect + poll underneath);
/// the returned socket is blocking again. Throws Error::system on failure,
/// ETIMEDOUT when the deadline passes.
Fd connect_tcp(const Address& address, std::chrono::milliseconds timeout = std::chrono::seconds(5));

}  // namespace sockdrill::net
