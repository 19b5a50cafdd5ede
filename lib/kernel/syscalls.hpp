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
    /// The threads the events were opened on.
    size_t threads() const { return threads_; }

  private:
    struct Event {
        std::string name;
        net::Fd fd;
    };
    std::vector<Event> events_;
    size_t threads_ = 0;
};

}  // namespace sockdrill::kernel
