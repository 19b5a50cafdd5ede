#pragma once
// The embedded server: the object behind sockdrill-serve, also started
// in-process by every scenario that needs a target.
#include <memory>
#include <string>
#include <vector>

#include "net/address.hpp"
#include "server/config.hpp"
#include "server/stats.hpp"

namespace sockdrill::server {

class Server {
public:
    /// Binds every listener now (so a bind error surfaces before anything runs).
    explicit Server(Config config);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    /// The bound addresses, with port 0 resolved, in --listen order.
    const std::vector<net::Address>& addresses() const;
    /// Starts the worker threads.
    void start();
    /// Stops accepting, lets in-flight requests finish up to the drain
    /// timeout, closes the rest and joins the workers. Idempotent.
    void stop();
    /// Counters of every worker, summed; callable from any thread.
    Snapshot snapshot() const;
    /// Connections refused because their descriptor did not fit select()'s FD_SETSIZE.
    uint64_t fd_setsize_refusals() const;
    const Config& config() const;
    /// Why a worker stopped early (the server then stops too); empty when none did.
    std::string failure() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace sockdrill::server
