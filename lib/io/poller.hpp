#pragma once
// Readiness pollers behind one interface, so the server's --io chooses
// epoll, poll or select without touching connection logic. All are
// level-triggered: a connection is read once per wakeup, which keeps a
// keep-alive request at one read() and one write().
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace sockdrill::io {

/// What a descriptor is waiting for.
enum Interest : uint8_t { kNone = 0, kRead = 1, kWrite = 2 };

struct Event {
    int fd = -1;
    bool readable = false;
    bool writable = false;
    bool hangup = false;  ///< error or hang-up: the next read()/write() tells which
};

/// Counts the poller's own syscalls (wait and control), for syscalls per request.
struct PollerSyscalls {
    uint64_t wait = 0;
    uint64_t control = 0;
};

class Poller {
public:
    virtual ~Poller() = default;
    /// Starts watching fd; false when this poller cannot hold it (select: fd >= FD_SETSIZE).
    virtual bool add(int fd, uint8_t interest, bool exclusive = false) = 0;
    virtual void modify(int fd, uint8_t interest) = 0;
    virtual void remove(int fd) = 0;
    /// Waits up to timeout_ms (-1: forever) and fills events; returns how many.
    virtual int wait(std::span<Event> events, int timeout_ms) = 0;
    /// "epoll", "poll" or "select".
    virtual const char* name() const = 0;
    /// The syscall that wait() makes.
    virtual const char* wait_syscall() const = 0;
    const PollerSyscalls& syscalls() const { return syscalls_; }

protected:
    PollerSyscalls syscalls_;
};

/// Makes a poller by name ("epoll", "poll", "select"); throws Error(usage) otherwise.
std::unique_ptr<Poller> make_poller(const std::string& name);

}  // namespace sockdrill::io
