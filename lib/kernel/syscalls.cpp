#include "kernel/syscalls.hpp"

#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <optional>
#include <unordered_map>
#include <utility>

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

int perf_event_open(perf_event_attr& attr, pid_t tid, int cpu = -1) {
    return static_cast<int>(::syscall(SYS_perf_event_open, &attr, tid, cpu, -1, PERF_FLAG_FD_CLOEXEC));
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

// The id of a tracepoint under tracefs (events/CATEGORY/NAME/id).
uint64_t tracepoint_id(const std::string& category, const std::string& name) {
    for (const char* root : kTracefs) {
        std::ifstream in(std::filesystem::path(root) / "events" / category / name / "id");
        uint64_t id = 0;
        if (in >> id) return id;
    }
    throw Error(Exit::environment, fmt::format("tracepoint {}:{}: not under /sys/kernel/tracing (mount -t tracefs "
                                               "nodev /sys/kernel/tracing; the kernel needs CONFIG_FTRACE_SYSCALLS)",
                                               category, name));
}

// Opens one tracepoint event on a thread; nullopt when the thread has ended.
// Refusals become the errors SyscallCounter documents.
std::optional<net::Fd> open_event(perf_event_attr& attr, pid_t pid, pid_t tid, const std::string& what,
                                  int cpu = -1) {
    int fd = perf_event_open(attr, tid, cpu);
    if (fd >= 0) return net::Fd(fd);
    int err = errno;
    // A thread that ended since /proc was read: the others go on.
    if (err == ESRCH && pid != 0 && tid != pid) return std::nullopt;
    // It existed when /proc was read: it exited since.
    if (err == ESRCH) throw Error(Exit::environment, fmt::format("pid {}: exited while being traced", pid));
    if (err == EACCES || err == EPERM)
        throw Error(Exit::environment,
                    fmt::format("perf_event_open {} for pid {}: {}; {}", what, pid, errno_name(err), paranoid_hint()),
                    err);
    throw Error::system(fmt::format("perf_event_open {} for pid {}", what, pid), err);
}

perf_event_attr tracepoint_attr(uint64_t id) {
    perf_event_attr attr{};
    attr.size = sizeof attr;
    attr.type = PERF_TYPE_TRACEPOINT;
    attr.config = id;
    attr.disabled = 1;
    attr.inherit = 1;  // threads started later count into this event
    return attr;
}

void enable(const net::Fd& fd) {
    ::ioctl(fd.get(), PERF_EVENT_IOC_RESET, 0);
    ::ioctl(fd.get(), PERF_EVENT_IOC_ENABLE, 0);
}

uint64_t read_count(const net::Fd& fd) {
    uint64_t value = 0;
    return ::read(fd.get(), &value, sizeof value) == sizeof value ? value : 0;
}

}  // namespace

std::string syscall_name_of(long number) {
    static const std::unordered_map<long, std::string> names = {
#include "kernel/syscall_numbers.inc"
    };
    auto it = names.find(number);
    return it != names.end() ? it->second : fmt::format("syscall_{}", number);
}

std::map<std::string, uint64_t> syscall_tracepoints() {
    for (const char* root : kTracefs) {
        std::filesystem::path dir = std::filesystem::path(root) / "events" / "syscalls";
        std::error_code ec;
        if (!std::filesystem::is_directory(dir, ec)) {
            // tracefs is root's alone (mode 0700) unless an admin opened it up.
            if (ec == std::errc::permission_denied)
                throw Error(Exit::environment, fmt::format("syscall tracepoints: {} is not readable; {}", root,
                                                           paranoid_hint()));
            continue;
        }
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
    uint64_t raw_id = tracepoint_id("raw_syscalls", "sys_enter");
    for (pid_t tid : tids) {
        for (const auto& [name, id] : wanted) {
            auto attr = tracepoint_attr(id);
            auto fd = open_event(attr, pid, tid, "syscalls:sys_enter_" + name);
            if (!fd) break;
            events_.push_back({name, std::move(*fd)});
        }
        auto attr = tracepoint_attr(raw_id);
        if (auto fd = open_event(attr, pid, tid, "raw_syscalls:sys_enter")) raw_.push_back(std::move(*fd));
        // The CPU the thread (and threads it starts) spends, as perf stat's task-clock.
        attr = perf_event_attr{};
        attr.size = sizeof attr;
        attr.type = PERF_TYPE_SOFTWARE;
        attr.config = PERF_COUNT_SW_TASK_CLOCK;
        attr.disabled = 1;
        attr.inherit = 1;
        if (int fd = perf_event_open(attr, tid); fd >= 0) clocks_.emplace_back(fd);
        else if (errno != ESRCH) clocks_complete_ = false;
    }
}

void SyscallCounter::start() {
    for (auto& e : events_) enable(e.fd);
    for (auto& fd : raw_) enable(fd);
    for (auto& fd : clocks_) enable(fd);
}

void SyscallCounter::stop() {
    for (auto& e : events_) ::ioctl(e.fd.get(), PERF_EVENT_IOC_DISABLE, 0);
    for (auto& fd : raw_) ::ioctl(fd.get(), PERF_EVENT_IOC_DISABLE, 0);
    for (auto& fd : clocks_) ::ioctl(fd.get(), PERF_EVENT_IOC_DISABLE, 0);
}

std::optional<uint64_t> SyscallCounter::cpu_ns() const {
    if (!clocks_complete_ || clocks_.empty()) return std::nullopt;
    uint64_t ns = 0;
    for (const auto& fd : clocks_) ns += read_count(fd);
    return ns;
}

uint64_t SyscallCounter::all() const {
    uint64_t n = 0;
    for (const auto& fd : raw_) n += read_count(fd);
    return n;
}

std::map<std::string, uint64_t> SyscallCounter::counts() const {
    std::map<std::string, uint64_t> counts;
    for (const auto& e : events_)
        if (uint64_t value = read_count(e.fd)) counts[e.name] += value;
    return counts;
}

uint64_t SyscallCounter::total() const {
    uint64_t n = 0;
    for (const auto& [name, count] : counts()) n += count;
    return n;
}

namespace {

// 64 pages of samples per ring: about 3,000 syscalls of 80 bytes each.
constexpr size_t kRingPages = 64;
// Every ring is locked memory: a process with many threads gets smaller
// rings (a power of two pages, at least 8), about 16 MiB in all.
constexpr size_t kRingBudgetPages = 4096;

size_t ring_pages(size_t rings) {
    size_t pages = kRingPages;
    while (pages > 8 && pages * rings > kRingBudgetPages) pages /= 2;
    return pages;
}

// Where raw_syscalls:sys_enter's "long id" field sits in a raw sample, from
// the tracepoint's format file (8 on every kernel so far).
size_t syscall_id_offset() {
    for (const char* root : kTracefs) {
        std::ifstream in(std::filesystem::path(root) / "events/raw_syscalls/sys_enter/format");
        std::string line;
        while (std::getline(in, line)) {
            auto field = line.find("field:long id;");
            auto offset = line.find("offset:");
            if (field != std::string::npos && offset != std::string::npos) return std::stoul(line.substr(offset + 7));
        }
    }
    return 8;
}

}  // namespace

SyscallSampler::SyscallSampler(pid_t pid) {
    uint64_t id = tracepoint_id("raw_syscalls", "sys_enter");
    const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    std::vector<pid_t> tids = pid == 0 ? std::vector<pid_t>{0} : threads_of(pid);
    // The kernel maps no buffer of an inherited per-task event (all its
    // children would write to one ring): one event per thread and CPU, as
    // perf record opens them.
    const int cpus = static_cast<int>(::sysconf(_SC_NPROCESSORS_CONF));
    const size_t pages = ring_pages(tids.size() * static_cast<size_t>(cpus));
    for (pid_t tid : tids) {
        for (int cpu = 0; cpu < cpus; ++cpu) {
            auto attr = tracepoint_attr(id);
            attr.sample_period = 1;  // every call
            attr.sample_type = PERF_SAMPLE_RAW;
            int fd = perf_event_open(attr, tid, cpu);
            if (fd < 0 && errno == ENODEV) continue;  // an offline CPU
            if (fd < 0) {
                auto opened = open_event(attr, pid, tid, "raw_syscalls:sys_enter (sampled)", cpu);
                if (!opened) break;
                fd = opened->release();
            }
            rings_.emplace_back(net::Fd(fd), (pages + 1) * page);
        }
    }
}

SyscallSampler::Ring::Ring(net::Fd fd, size_t size) : fd_(std::move(fd)), size_(size) {
    map_ = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0);
    if (map_ == MAP_FAILED) {
        map_ = nullptr;
        int err = errno;
        // Ring buffers count against the user's locked-memory allowance.
        throw Error(Exit::environment,
                    fmt::format("mmap of a perf ring buffer: {}; sysctl kernel.perf_event_mlock_kb (it is {}) "
                                "or ulimit -l limits it, CAP_IPC_LOCK lifts it",
                                errno_name(err), read_sysctl("kernel.perf_event_mlock_kb").value_or("?")),
                    err);
    }
}

SyscallSampler::Ring::~Ring() {
    if (map_) ::munmap(map_, size_);
}

SyscallSampler::Ring::Ring(Ring&& other) noexcept
    : fd_(std::move(other.fd_)), map_(std::exchange(other.map_, nullptr)), size_(other.size_) {}

void SyscallSampler::start() {
    for (auto& ring : rings_) enable(ring.fd());
}

void SyscallSampler::stop() {
    for (auto& ring : rings_) ::ioctl(ring.fd().get(), PERF_EVENT_IOC_DISABLE, 0);
}

SyscallSampler::Seen SyscallSampler::seen() const {
    static const size_t id_offset = syscall_id_offset();
    const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    std::set<long> numbers;
    Seen seen;
    for (const auto& ring : rings_) {
        const auto* meta = static_cast<const perf_event_mmap_page*>(ring.map());
        // data_offset and data_size are 0 before Linux 4.1: the data follows the first page.
        const uint64_t offset = meta->data_offset ? meta->data_offset : page;
        const uint64_t size = meta->data_size ? meta->data_size : ring.size() - page;
        const auto* data = static_cast<const unsigned char*>(ring.map()) + offset;
        const uint64_t head = __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE);
        // Records may wrap around the end of the buffer: copy each out.
        auto copy = [&](uint64_t at, void* out, size_t n) {
            for (size_t i = 0; i < n; ++i) static_cast<unsigned char*>(out)[i] = data[(at + i) % size];
        };
        // Nothing is consumed (data_tail stays 0), so the kernel stops
        // writing, and counts what it drops, when the ring is full.
        uint64_t at = meta->data_tail;
        while (at + sizeof(perf_event_header) <= head) {
            perf_event_header header;
            copy(at, &header, sizeof header);
            if (header.size == 0) break;
            if (header.type == PERF_RECORD_SAMPLE && header.size >= sizeof header + 4 + id_offset + 8) {
                // The header, a u32 size, then the tracepoint's raw record.
                long number = 0;
                copy(at + sizeof header + 4 + id_offset, &number, sizeof number);
                numbers.insert(number);
            } else if (header.type == PERF_RECORD_LOST && header.size >= sizeof header + 16) {
                uint64_t lost = 0;  // after the header: u64 id, u64 lost
                copy(at + sizeof header + 8, &lost, sizeof lost);
                seen.lost += lost;
            }
            at += header.size;
        }
    }
    for (long n : numbers) seen.names.insert(syscall_name_of(n));
    return seen;
}

}  // namespace sockdrill::kernel
