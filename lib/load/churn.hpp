#pragma once
// The churn driver: one TCP connection per transaction, the load behind
// sockdrill-timewait (TIME_WAIT piles, ephemeral-port exhaustion) and
// sockdrill-backlog (1 s / 3 s SYN-retransmit spikes). Each connection is
// opened, carries K request/response exchanges (HTTP or echo), and is closed
// the configured way; connect time, time to first byte and total time go
// into histograms, and every failure is counted by phase and errno, never
// thrown. Closed loop keeps N connections in flight; open loop starts R per
// second on a fixed schedule whatever the server does.
//
// Threads are wrk's: each runs its own epoll loop over non-blocking sockets
// with its own plain statistics, merged when the run ends; only a few
// counters are shared, as single-writer relaxed atomics, so another thread
// can sample progress (conn/s every 100 ms) while the run goes on.
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "cli/units.hpp"
#include "load/driver.hpp"
#include "load/histogram.hpp"
#include "net/address.hpp"
#include "net/fd.hpp"

namespace sockdrill::load {

using cli::Duration;
using namespace std::chrono_literals;

/// What each exchange carries.
enum class Payload : uint8_t {
    http,  ///< GET with a Host header; the response is read to its end (Content-Length or chunked)
    echo,  ///< echo_size bytes sent, the same number read back
};
/// Who closes each connection, and how.
enum class CloseMode : uint8_t {
    client,   ///< the client closes first (FIN): the client holds TIME-WAIT
    server,   ///< the client waits for the server's FIN, then closes: the server holds TIME-WAIT
    linger0,  ///< SO_LINGER {1, 0}, then close: RST, no TIME-WAIT anywhere
};
/// Where a connection failed.
enum class Phase : uint8_t { socket, bind, connect, write, read, close, count_ };
constexpr size_t kPhases = static_cast<size_t>(Phase::count_);

std::string_view payload_name(Payload payload);
std::string_view close_mode_name(CloseMode mode);
std::string_view phase_name(Phase phase);
/// The syscalls a worker makes, counted by the worker itself (as the server
/// counts its own), so syscalls per connection are known without perf.
enum class Syscall : uint8_t {
    socket,
    setsockopt,
    bind,
    connect,
    send,
    recv,
    epoll_ctl,
    epoll_wait,
    close,
    count_
};
constexpr size_t kSyscalls = static_cast<size_t>(Syscall::count_);
std::string_view syscall_name(Syscall call);

/// "http" or "echo"; throws Error(usage).
Payload parse_payload(std::string_view text);
/// "client", "server" or "linger0"; throws Error(usage).
CloseMode parse_close_mode(std::string_view text);

/// Everything a churn run can be told.
struct ChurnConfig {
    net::Address target;
    /// Epoll loops, one per thread.
    unsigned threads = 1;
    /// Closed loop: connections kept in flight.
    unsigned concurrency = 10;
    /// Open loop: connections started per second, on a fixed schedule; 0 = closed loop.
    double rate = 0;
    /// Open loop: the most connections in flight; a start that finds them
    /// all busy waits (and counts in late_starts if it waits over 1 ms).
    unsigned max_in_flight = 10000;
    /// Connections to start in all; 0 = no limit.
    uint64_t count = 0;
    /// No new connection after this; 0 = no limit (count must be set).
    Duration duration = 10s;
    /// Request/response pairs per connection.
    unsigned exchanges = 1;
    Payload payload = Payload::http;
    std::string http_path = "/";
    /// Host header; empty = the target's host:port.
    std::string http_host;
    /// Bytes per echo exchange.
    uint64_t echo_size = 64;
    CloseMode close = CloseMode::client;
    /// IP_BIND_ADDRESS_NO_PORT before bind(): connect() picks the port, so
    /// one port can serve several destinations.
    bool bind_no_port = false;
    /// SO_REUSEADDR before bind().
    bool reuseaddr = false;
    /// Local addresses to bind, one per connection in turn (wider 4-tuple space).
    std::vector<net::Address> sources;
    /// From socket() until the connection is established.
    Duration connect_timeout = 10s;
    /// The longest wait for one response (or for the server's FIN).
    Duration io_timeout = 10s;
    /// After `duration`, how long connections in flight may finish.
    Duration drain_timeout = 2s;
    /// A network namespace each worker thread enters before it creates
    /// sockets (Sandbox::netns); borrowed, must outlive the run. nullptr = stay.
    const net::Fd* netns = nullptr;
    /// SIGINT/SIGTERM (cli::stop_requested()) end the run early.
    bool stop_on_signal = true;
};

/// Checks what the types cannot (throws Error(usage) naming the option).
void validate(const ChurnConfig& config);
/// The effective options as JSON, long names in snake_case.
void to_json(nlohmann::json& j, const ChurnConfig& config);

/// Errors by phase and errno, each with the time it first happened.
/// Index 0 is not an errno: it counts a connection the peer closed before
/// the response was complete (named "EOF"). A malformed response is EPROTO,
/// a timeout ETIMEDOUT.
class ErrorTable {
public:
    static constexpr int kSlots = 256;  ///< every Linux errno is below this
    ErrorTable() {
        for (auto& row : first_ns_) row.fill(-1);
    }

    /// Counts one error at `at_ns` nanoseconds after the run started.
    void add(Phase phase, int err, int64_t at_ns) {
        auto p = static_cast<size_t>(phase);
        auto e = static_cast<size_t>(err > 0 && err < kSlots ? err : 0);
        if (counts_[p][e]++ == 0) first_ns_[p][e] = at_ns;  // a worker's clock only moves on
    }
    void merge(const ErrorTable& other);

    uint64_t count(Phase phase, int err) const;
    /// Errors with this errno in any phase.
    uint64_t count(int err) const;
    uint64_t total() const;
    /// Seconds from the start of the run to the first such error; nullopt if none.
    std::optional<double> first_s(Phase phase, int err) const;
    /// The earliest of first_s over every phase.
    std::optional<double> first_s(int err) const;

private:
    std::array<std::array<uint64_t, kSlots>, kPhases> counts_{};
    std::array<std::array<int64_t, kSlots>, kPhases> first_ns_;
};

/// "ECONNRESET" for an errno, "EOF" for 0.
std::string error_name(int err);
/// {"connect": {"ECONNREFUSED": 2}, ...}: the "errors" object of the JSON frame.
nlohmann::json errors_json(const ErrorTable& errors);
/// {"connect": {"EADDRNOTAVAIL": 12.345}, ...}: when each error first happened, in seconds.
nlohmann::json first_errors_json(const ErrorTable& errors);

/// What one worker measured; workers' stats merge into the run's.
struct ChurnStats {
    uint64_t started = 0;    ///< connections begun (socket() called)
    uint64_t completed = 0;  ///< every exchange done and closed the configured way
    uint64_t failed = 0;     ///< ended by an error (each counted once in errors)
    uint64_t abandoned = 0;  ///< still in flight when the run ended (drain timeout or stop)
    uint64_t exchanges = 0;  ///< request/response pairs completed
    uint64_t bytes_sent = 0;
    uint64_t bytes_received = 0;
    uint64_t non_2xx = 0;      ///< HTTP responses whose status was not 2xx
    uint64_t late_starts = 0;  ///< open loop: starts more than 1 ms behind their schedule
    /// From socket() to established; from socket() to the first response
    /// byte; from socket() (open loop: from the scheduled start, as wrk2
    /// measures) to the end of close(), completed connections only.
    Histogram connect, ttfb, total;
    ErrorTable errors;
    std::array<uint64_t, kSyscalls> syscalls{};

    void merge(const ChurnStats& other);
    uint64_t syscalls_total() const;
};

/// The outcome of a run.
struct ChurnResult {
    ChurnStats stats;
    double elapsed_s = 0;  ///< from the start until the last worker ended
    bool stopped = false;  ///< ended early by stop() or a signal
    double conn_per_s() const { return elapsed_s > 0 ? stats.completed / elapsed_s : 0.0; }
};
/// {"connections": {...}, "conn_per_s", "elapsed_s", "exchanges", "sent_bytes",
///  "received_bytes", "non_2xx", "late_starts", "stopped", "latency": {"connect",
///  "ttfb", "total": histogram}, "syscalls": {"socket": N, ...},
///  "syscalls_per_conn", "errors": {...}, "first_error_s": {...}}
void to_json(nlohmann::json& j, const ChurnResult& result);

/// Progress counters, readable from any thread while the run goes on.
struct LiveCounters {
    uint64_t started = 0;
    uint64_t completed = 0;
    uint64_t failed = 0;
    uint64_t in_flight = 0;
    double elapsed_s = 0;
};

namespace detail {
/// The counters one worker writes and any thread reads: one writer, so a
/// relaxed load and store (no locked instruction) is enough.
struct alignas(64) LiveCells {
    std::atomic<uint64_t> started{0}, completed{0}, failed{0}, ended{0};
    static void bump(std::atomic<uint64_t>& cell) {
        cell.store(cell.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
};
}  // namespace detail

/// A churn run on its own threads.
class ChurnDriver {
public:
    /// Validates the config (throws Error(usage)); starts nothing yet.
    explicit ChurnDriver(ChurnConfig config);
    /// Stops the run if it is still going and joins the threads.
    ~ChurnDriver();
    ChurnDriver(const ChurnDriver&) = delete;
    ChurnDriver& operator=(const ChurnDriver&) = delete;

    /// Starts the worker threads; the run's clock starts here.
    void start();
    /// Sums the workers' live counters; callable from any thread once start() returned.
    LiveCounters live() const;
    /// Asks every worker to end now: connections in flight are closed and counted as abandoned.
    void stop();
    /// Waits up to `timeout` for the run to end; true when it has.
    bool wait_for(Duration timeout);
    /// Waits for the end, joins the threads and merges their statistics.
    /// Rethrows a worker's failure to set up (setns, epoll_create1).
    ChurnResult wait();

private:
    struct Worker;
    ChurnConfig config_;
    std::vector<std::unique_ptr<Worker>> workers_;
    int64_t start_ns_ = 0;
    detail::WorkerThreads threads_;  // last: joined before the rest goes
};

/// Runs a whole churn on the calling thread's behalf: start, then every
/// `interval` (when on_sample is set) a call with the live counters, then
/// the merged result.
ChurnResult run_churn(const ChurnConfig& config,
                      const std::function<void(const LiveCounters&)>& on_sample = {},
                      Duration interval = 100ms);

}  // namespace sockdrill::load
