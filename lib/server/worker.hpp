#pragma once
// The server's execution units: an event-loop worker (epoll, poll or select)
// and the blocking thread-per-connection model. Both drive Protocol.
#include <atomic>
#include <memory>
#include <vector>

#include "net/fd.hpp"
#include "server/config.hpp"
#include "server/stats.hpp"

namespace sockdrill::server {

/// State shared by all workers of one server.
struct Shared {
    const Config& config;
    std::atomic<bool> stopping{false};
    std::atomic<int64_t> open_connections{0};  ///< for --max-conns across workers
    std::atomic<uint64_t> fd_setsize_refusals{0};
};

/// A unit of execution: runs until the server stops and its connections drain.
class Worker {
public:
    virtual ~Worker() = default;
    /// Runs the loop in the calling thread.
    virtual void run() = 0;
    /// Asks the loop to stop accepting and drain (thread-safe).
    virtual void wake() = 0;
    /// Counters, readable from any thread.
    virtual void snapshot(Snapshot& into) const = 0;
};

/// An event loop over `listeners` with the poller named by config.io.
std::unique_ptr<Worker> make_event_worker(Shared& shared, std::vector<int> listeners);
/// Blocking accept on `listeners`, one thread per connection.
std::unique_ptr<Worker> make_thread_worker(Shared& shared, std::vector<int> listeners);

}  // namespace sockdrill::server
