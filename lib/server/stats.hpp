#pragma once
// Server statistics. Each worker owns one Stats and is its only writer, so
// counters are plain loads and stores on relaxed atomics (no locked
// instruction on the hot path, as wrk keeps per-thread stats); a snapshot
// from another thread sums them.
#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

namespace sockdrill::server {

/// A counter with one writer and any number of readers.
class Counter {
public:
    void add(uint64_t n = 1) { value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
    uint64_t get() const { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<uint64_t> value_{0};
};

/// Why a connection ended.
enum class CloseReason : uint8_t {
    peer_fin,         ///< read() returned 0
    peer_rst,         ///< ECONNRESET
    idle_timeout,     ///< keep-alive connection idle past --keepalive-timeout
    max_requests,     ///< --max-requests reached
    header_timeout,   ///< head not complete within --header-timeout (408)
    bad_request,      ///< 400/413/431/505/501: answered and closed
    server_close,     ///< Connection: close, HTTP/1.0 or /close
    abort,            ///< /abort: RST after the response
    error,            ///< another socket error (EPIPE, ETIMEDOUT, ...)
    server_shutdown,  ///< SIGTERM/SIGINT, after draining
    count_
};
std::string_view close_reason_name(CloseReason reason);

/// The syscalls the server counts on itself.
enum class Syscall : uint8_t {
    accept4, read, write, writev, close, shutdown, setsockopt, getsockopt, getpeername,
    epoll_wait, epoll_ctl, poll, select, count_
};
std::string_view syscall_name(Syscall call);

constexpr int kMaxErrno = 134;

/// Where an error happened, as the JSON "errors" object groups them.
enum class Phase : uint8_t { accept, read, write, setsockopt, count_ };
std::string_view phase_name(Phase phase);

/// One worker's counters.
struct Stats {
    Counter accepted;
    Counter closed[static_cast<size_t>(CloseReason::count_)];
    Counter requests;
    Counter responses_2xx, responses_4xx, responses_5xx;
    Counter bytes_in, bytes_out;
    Counter syscalls[static_cast<size_t>(Syscall::count_)];
    Counter errors[static_cast<size_t>(Phase::count_)][kMaxErrno];  ///< [phase][errno]
    Counter accept_backoffs;    ///< EMFILE/ENFILE pauses of the listener

    void close(CloseReason reason) { closed[static_cast<size_t>(reason)].add(); }
    void syscall(Syscall call, uint64_t n = 1) { syscalls[static_cast<size_t>(call)].add(n); }
    void error(Phase phase, int err) {
        errors[static_cast<size_t>(phase)][(err > 0 && err < kMaxErrno) ? err : 0].add();
    }
};

/// A plain, mergeable copy of Stats at one moment.
struct Snapshot {
    uint64_t accepted = 0;
    std::array<uint64_t, static_cast<size_t>(CloseReason::count_)> closed{};
    uint64_t requests = 0;
    uint64_t responses_2xx = 0, responses_4xx = 0, responses_5xx = 0;
    uint64_t bytes_in = 0, bytes_out = 0;
    std::array<uint64_t, static_cast<size_t>(Syscall::count_)> syscalls{};
    std::array<std::array<uint64_t, kMaxErrno>, static_cast<size_t>(Phase::count_)> errors{};
    uint64_t accept_backoffs = 0;

    void add(const Stats& stats);
    void add(const Snapshot& other);
    uint64_t closed_total() const;
    uint64_t current_connections() const { return accepted - closed_total(); }
    uint64_t syscalls_total() const;
    /// Errors of every phase with this errno.
    uint64_t errors_total(int err) const;
};

void to_json(nlohmann::json& j, const Snapshot& s);
/// {"read": {"ECONNRESET": 2}, ...}: the "errors" object of the JSON frame.
nlohmann::json errors_json(const Snapshot& s);

}  // namespace sockdrill::server
