#pragma once
// Counting a process's syscalls by name with the kernel's syscall
// tracepoints (syscalls:sys_enter_<name>), as `perf stat -e
// 'syscalls:sys_enter_*' -p PID` does, without perf or strace: one counting
// perf event per tracepoint and thread, opened with perf_event_open(2).
// Counting events never stop the traced process (strace's ptrace stops it
// at every syscall, about 7x slower); each syscall costs the tracepoint's
// increment.
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "net/fd.hpp"

namespace sockdrill::kernel {

/// The syscall tracepoints this kernel has: name ("read") -> tracepoint id,
/// from tracefs (events/syscalls/sys_enter_<name>/id). Throws
/// Error(environment) naming the directory when tracefs is not mounted.
std::map<std::string, uint64_t> syscall_tracepoints();

/// Empty when this process may count syscalls with tracepoints; else what
/// would allow it (CAP_PERFMON, or the kernel.perf_event_paranoid sysctl).
std::string syscall_counting_unavailable();

class SyscallCounter {
  public:
    /// Opens the events, disabled: for every thread of `pid` (0: the calling
    /// thread), for the syscalls in `names` (empty: every one). Threads the
    /// process starts later are counted too (inherit). Throws Error(usage)
    /// for a pid that does not exist or an unknown syscall name, and
    /// Error(environment) naming what is missing when the kernel refuses.
    explicit SyscallCounter(pid_t pid, const std::vector<std::string>& names = {});
    SyscallCounter(SyscallCounter&&) = default;
    SyscallCounter& operator=(SyscallCounter&&) = default;

    /// Resets the counts and starts counting.
    void start();
    /// Stops counting; the counts stay readable.
    void stop();
    /// Syscall name -> count since start(), the syscalls counted at least once.
    std::map<std::string, uint64_t> counts() const;
    uint64_t total() const;
    /// CPU time the process's threads ran since start(), in nanoseconds (the
    /// task-clock software event, opened beside the tracepoints); nullopt
    /// when the kernel refused it on a thread.
    std::optional<uint64_t> cpu_ns() const;
    /// Every syscall since start(), named or not (raw_syscalls:sys_enter).
    uint64_t all() const;
    /// The threads the events were opened on.
    size_t threads() const { return threads_; }

  private:
    struct Event {
        std::string name;
        net::Fd fd;
    };
    std::vector<Event> events_;
    std::vector<net::Fd> clocks_;  ///< one task-clock event per thread
    bool clocks_complete_ = true;  ///< every thread has its task-clock event
    std::vector<net::Fd> raw_;     ///< one raw_syscalls:sys_enter event per thread
    size_t threads_ = 0;
};

/// Which syscalls a process makes, from the raw_syscalls:sys_enter
/// tracepoint sampled at every call (as `perf trace -s` does): one event per
/// thread instead of one per syscall. A task's counting events are switched
/// in and out with it, so counting all ~360 syscall tracepoints at once
/// costs each context switch of the traced server tens of microseconds, and
/// closing them takes seconds (an RCU grace period per tracepoint).
/// SyscallCounter then counts just the syscalls seen here.
class SyscallSampler {
  public:
    /// Opens the events, disabled, on every thread of `pid` (0: the calling
    /// thread), threads started later included. Errors as SyscallCounter's.
    explicit SyscallSampler(pid_t pid);

    void start();
    void stop();

    struct Seen {
        std::set<std::string> names;  ///< "syscall_N" for a number the build's headers do not name
        uint64_t lost = 0;            ///< samples the kernel dropped: a ring was full
    };
    /// The syscalls sampled since start(). Each ring (thread and CPU) holds
    /// about 3,000 calls, fewer with many threads: sample a short stretch
    /// (lost > 0 says it was too long).
    Seen seen() const;

  private:
    /// One event's descriptor and its mapped ring buffer, unmapped on destruction.
    class Ring {
      public:
        Ring(net::Fd fd, size_t size);
        ~Ring();
        Ring(Ring&& other) noexcept;
        Ring& operator=(Ring&&) = delete;
        const net::Fd& fd() const { return fd_; }
        const void* map() const { return map_; }
        size_t size() const { return size_; }

      private:
        net::Fd fd_;
        void* map_ = nullptr;
        size_t size_ = 0;
    };
    std::vector<Ring> rings_;
};

/// A syscall's name by its number on this architecture ("read" for 0 on
/// x86-64), "syscall_N" for a number the build's headers do not name.
std::string syscall_name_of(long number);

}  // namespace sockdrill::kernel
