#include "kernel/syscalls.hpp"

#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>

#include "kernel/sysctl.hpp"
#include "net/error.hpp"

namespace sockdrill::kernel {

namespace {

// tracefs, where it is usually mounted, then under debugfs.
constexpr const char* kTracefs[] = {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"};

std::string paranoid_hint() {
    auto level = read_sysctl("kernel.perf_event_paranoid").value_or("?");
    return fmt::format("needs CAP_PERFMON (or root), or sysctl kernel.perf_event_paranoid=-1 (it is {})", level);
}

int perf_event_open(perf_event_attr& attr, pid_t tid) {
    return static_cast<int>(::syscall(SYS_perf_event_open, &attr, tid, -1, -1, PERF_FLAG_FD_CLOEXEC));
}

// The threads of a process now, from /proc/PID/task.
std::vector<pid_t> threads_of(pid_t pid) {
    std::vector<pid_t> tids;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(fmt::format("/proc/{}/task", pid), ec))
        tids.push_back(static_cast<pid_t>(std::stol(entry.path().filename().string())));
    if (ec || tids.empty()) throw Error::usage(fmt::format("pid {}: no such process", pid));
    return tids;
}

}  // namespace

std::map<std::string, uint64_t> syscall_tracepoints() {
    for (const char* root : kTracefs) {
        std::filesystem::path dir = std::filesystem::path(root) / "events" / "syscalls";
        std::error_code ec;
        if (!std::filesystem::is_directory(dir, ec)) continue;
        std::map<std::string, uint64_t> ids;
        for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
            std::string name = entry.path().filename().string();
            if (name.rfind("sys_enter_", 0) != 0) continue;
            std::ifstream in(entry.path() / "id");
            uint64_t id = 0;
            if (in >> id) ids[name.substr(10)] = id;
        }
        if (!ids.empty()) return ids;
    }
    throw Error(Exit::environment,
                "syscall tracepoints: no events/syscalls under /sys/kernel/tracing (mount -t tracefs nodev "
                "/sys/kernel/tracing; the kernel needs CONFIG_FTRACE_SYSCALLS)");
}

// The real test: open one counting event on this thread.
std::string syscall_counting_unavailable() {
    try {
        SyscallCounter probe(0, {"getppid"});
        return {};
    } catch (const Error& e) {
        return e.what();
    }
}

SyscallCounter::SyscallCounter(pid_t pid, const std::vector<std::string>& names) {
    auto tracepoints = syscall_tracepoints();
    std::vector<std::pair<std::string, uint64_t>> wanted;
    if (names.empty()) {
        wanted.assign(tracepoints.begin(), tracepoints.end());
    } else {
        for (const auto& name : names) {
            auto it = tracepoints.find(name);
            if (it == tracepoints.end())
                throw Error::usage(fmt::format("syscall \"{}\": no syscalls:sys_enter_{} tracepoint here", name, name));
            wanted.push_back(*it);
        }
    }
    std::vector<pid_t> tids = pid == 0 ? std::vector<pid_t>{0} : threads_of(pid);
    threads_ = tids.size();
    for (pid_t tid : tids) {
        for (const auto& [name, id] : wanted) {
            perf_event_attr attr{};
            attr.size = sizeof attr;
            attr.type = PERF_TYPE_TRACEPOINT;
            attr.config = id;
            attr.disabled = 1;
            attr.inherit = 1;  // threads started later count into this event
            int fd = perf_event_open(attr, tid);
            if (fd < 0) {
                int err = errno;
                // A thread that ended since /proc was read: the others go on.
                if (err == ESRCH && pid != 0 && tid != pid) break;
                if (err == ESRCH) throw Error::usage(fmt::format("pid {}: no such process", pid));
                if (err == EACCES || err == EPERM)
                    throw Error(Exit::environment,
                                fmt::format("perf_event_open syscalls:sys_enter_{} for pid {}: {}; {}", name, pid,
                                            errno_name(err), paranoid_hint()),
                                err);
                throw Error::system(fmt::format("perf_event_open syscalls:sys_enter_{} for pid {}", name, pid), err);
            }
            events_.push_back({name, net::Fd(fd)});
        }
    }
}

void SyscallCounter::start() {
    for (auto& e : events_) {
        ::ioctl(e.fd.get(), PERF_EVENT_IOC_RESET, 0);
        ::ioctl(e.fd.get(), PERF_EVENT_IOC_ENABLE, 0);
    }
}

void SyscallCounter::stop() {
    for (auto& e : events_) ::ioctl(e.fd.get(), PERF_EVENT_IOC_DISABLE, 0);
}

std::map<std::string, uint64_t> SyscallCounter::counts() const {
    std::map<std::string, uint64_t> counts;
    for (const auto& e : events_) {
        uint64_t value = 0;
        if (::read(e.fd.get(), &value, sizeof value) == sizeof value && value > 0) counts[e.name] += value;
    }
    return counts;
}

uint64_t SyscallCounter::total() const {
    uint64_t n = 0;
    for (const auto& [name, count] : counts()) n += count;
    return n;
}

}  // namespace sockdrill::kernel
