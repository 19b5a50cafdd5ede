#pragma once
// The keep-alive engine: N long-lived connections carrying many requests
// each, the load behind sockdrill-storm (keep-alive storms, open- and
// closed-loop request load, reconnect storms, the idle-timeout race, many
// idle connections). Each connection is opened once (over a ramp), then
// carries requests until requests_per_conn is reached or the server closes
// it, and is reopened; up to `pipeline` requests are outstanding on it.
//
// Closed loop: every connection keeps `pipeline` requests outstanding, and a
// latency is measured from the actual send. Open loop: request i of a thread
// is due at start + i / rate_per_thread whatever the server does; it leaves
// on the first connection with a free pipeline slot, and its latency counts
// from when it was due, not when it left, so a server stall shows in the
// percentiles instead of slowing the client down (coordinated omission
// corrected, as wrk2 does). The duration is a hard deadline in both loops:
// requests due before it that no connection was free to carry are counted
// as abandoned, not sent late.
//
// Threads are wrk's: one epoll loop each, plain per-thread statistics merged
// at the end. Live counters are single-writer relaxed atomics; interval
// snapshots come from a per-thread histogram the worker publishes under a
// small mutex every 10 ms (never per request).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "cli/units.hpp"
#include "load/churn.hpp"
#include "load/driver.hpp"
#include "load/histogram.hpp"
#include "net/address.hpp"
#include "net/fd.hpp"

namespace sockdrill::load {

/// How a connection slot waits before it reconnects after the server closed
/// its connection or the connection failed.
enum class Backoff : uint8_t {
    none,    ///< at once after a close, reconnect_delay after a failure
    jitter,  ///< a uniform random wait in [0, backoff_max) either way ("full jitter")
};
/// "none", "jitter".
std::string_view backoff_name(Backoff backoff);

/// Everything a keep-alive run can be told.
struct KeepaliveConfig {
    net::Address target;
    /// Epoll loops, one per thread.
    unsigned threads = 1;
    /// Connections kept open, shared out over the threads (at most 1,000,000).
    unsigned connections = 10;
    /// Requests due per second, shared out over the threads (open loop); 0 = closed loop.
    double rate = 0;
    /// Requests sent in all; 0 = no limit. The duration ends the run either way.
    uint64_t count = 0;
    /// The hard deadline, required: no request is sent after it, in either
    /// loop (open-loop requests due before it but not sent are abandoned);
    /// outstanding ones then get drain_timeout.
    Duration duration = 10s;
    /// Requests outstanding per connection (at most 1024; connections x
    /// pipeline at most 4,000,000).
    unsigned pipeline = 1;
    /// Requests per connection, then the client closes it and reconnects;
    /// 0 = unlimited, 1 = no keep-alive.
    uint64_t requests_per_conn = 0;
    /// The connections are opened evenly over this time; 0 = all at once.
    Duration ramp = 0s;
    /// Open the connections and hold them without a request until the
    /// duration ends or stop() (the idle-connections figure).
    bool idle = false;
    Payload payload = Payload::http;
    std::string http_method = "GET";
    std::string http_path = "/";
    /// Host header; empty = the target's host:port.
    std::string http_host;
    /// Extra header lines, "Name: value" each.
    std::vector<std::string> http_headers;
    /// Request body (sent with Content-Length); empty = none.
    std::string http_body;
    /// Bytes per echo request (and per reply).
    uint64_t echo_size = 64;
    /// Local addresses, one per connection in turn, bound with
    /// IP_BIND_ADDRESS_NO_PORT so each (source, target) pair has its own port space.
    std::vector<net::Address> sources;
    /// From socket() until the connection is established.
    Duration connect_timeout = 10s;
    /// The longest wait for progress (a response, or room to write) while requests are outstanding.
    Duration io_timeout = 10s;
    /// After the last request, how long outstanding ones may finish.
    Duration drain_timeout = 2s;
    /// After a connection failed, how long its slot waits before reconnecting
    /// (a refused server does not turn the loop into a busy spin).
    Duration reconnect_delay = 10ms;
    Backoff backoff = Backoff::none;
    /// The longest jittered wait (Backoff::jitter).
    Duration backoff_max = 1s;
    /// Closed loop: after its responses a connection pauses this long before
    /// its next request (think time; the client's reuse interval); 0 = at once.
    Duration think_time = 0s;
    /// Each pause is drawn uniformly from think_time x [1 - jitter, 1 + jitter] (0 to 1).
    double think_jitter = 0;
    /// The client's pool idle timeout: a connection idle at least this long
    /// is closed by the client when it is next used, and a new connection
    /// carries the request (closed loop); 0 = no limit.
    Duration client_idle_timeout = 0s;
    /// Whether idle connections are read. true: the server's FIN is seen at
    /// once and the slot reconnects. false: an idle connection is reused
    /// without looking, as blocking HTTP clients reuse a pooled connection,
    /// so a request can go out on a connection the server already closed.
    bool watch_idle = true;
    /// A network namespace each worker thread enters before it creates
    /// sockets (Sandbox::netns); borrowed, must outlive the run. nullptr = stay.
    const net::Fd* netns = nullptr;
    /// SIGINT/SIGTERM (cli::stop_requested()) end the run early.
    bool stop_on_signal = true;
};

/// Checks what the types cannot; throws Error(usage) naming the option
/// ("--connections: expected at least 1").
void validate(const KeepaliveConfig& config);
/// The effective options as JSON, long names in snake_case.
void to_json(nlohmann::json& j, const KeepaliveConfig& config);
/// "1000/s", "2.5k/s", "600/m": requests per second. The unit is required, so
/// a bare "1000" (per second? per connection?) is a usage error naming --rate.
double parse_rate(std::string_view text);
/// The request one connection sends, as bytes (HTTP head and body, or the echo payload).
std::string format_request(const KeepaliveConfig& config);

/// Why connections ended.
struct ConnectionCounts {
    uint64_t attempts = 0;          ///< socket() called
    uint64_t opened = 0;            ///< established
    uint64_t closed_by_client = 0;  ///< requests_per_conn reached, or the end of the run
    uint64_t closed_by_server = 0;  ///< FIN (or "Connection: close") with no request lost
    uint64_t reset_by_server = 0;   ///< RST while no request was outstanding
    uint64_t failed = 0;            ///< ended by an error (counted in errors by phase)
    uint64_t reconnects = 0;        ///< opened again after an earlier connection in the slot
    uint64_t closed_idle = 0;       ///< closed by the client's idle timeout before a reuse
    uint64_t peak_open = 0;         ///< the most open at once (one thread's peak summed)
    void merge(const ConnectionCounts& other);
};

/// What one worker measured; workers' stats merge into the run's.
struct KeepaliveStats {
    uint64_t sent = 0;       ///< requests written (or being written)
    uint64_t completed = 0;  ///< responses read to their end
    uint64_t lost = 0;       ///< sent, but the connection ended before the response
    /// Outstanding when the run ended (drain timeout or stop), or, open
    /// loop, due before the end but never sent (no connection was free).
    uint64_t abandoned = 0;
    uint64_t late = 0;     ///< open loop: sent more than 1 ms after they were due
    uint64_t non_2xx = 0;  ///< HTTP responses whose status was not 2xx
    uint64_t bytes_sent = 0;
    uint64_t bytes_received = 0;
    ConnectionCounts connections;
    /// Request latency, every completed request: from the send (closed
    /// loop) or from when it was due (open loop) to the response's last byte.
    Histogram latency;
    /// From socket() to established.
    Histogram connect;
    /// From losing a connection (the server closed or reset it, or it
    /// failed) to the first response on the slot's next connection: the
    /// reconnect storm as each client sees it (backoff, refused connects,
    /// SYN retransmissions, dropped handshakes included).
    Histogram reconnect;
    ErrorTable errors;
    std::array<uint64_t, kSyscalls> syscalls{};

    void merge(const KeepaliveStats& other);
    uint64_t syscalls_total() const;
};

/// The outcome of a run.
struct KeepaliveResult {
    KeepaliveStats stats;
    double elapsed_s = 0;  ///< from start() until the last worker ended
    double rate = 0;       ///< the configured rate (0: closed loop)
    bool stopped = false;  ///< ended early by stop() or a signal
    double requests_per_s() const { return elapsed_s > 0 ? stats.completed / elapsed_s : 0.0; }
};
/// {"requests": {...}, "requests_per_s", "target_rate_per_s", "elapsed_s",
///  "connections": {...}, "sent_bytes", "received_bytes", "non_2xx",
///  "latency": histogram, "connect": histogram, "reconnect": histogram, "syscalls": {...},
///  "syscalls_per_request", "errors": {...}, "first_error_s": {...}, "stopped"}
void to_json(nlohmann::json& j, const KeepaliveResult& result);

/// Progress counters, readable from any thread while the run goes on.
struct KeepaliveLive {
    uint64_t sent = 0;
    uint64_t completed = 0;
    uint64_t errors = 0;
    uint64_t open = 0;    ///< connections established and not yet closed
    uint64_t opened = 0;  ///< connections established so far
    double elapsed_s = 0;
};

/// What happened between two take_interval() calls. A worker publishes its
/// latencies every 10 ms, so an interval's histogram may lag its counters
/// by that much; nothing is lost or counted twice across intervals.
struct KeepaliveInterval {
    double start_s = 0;  ///< since the run's start
    double end_s = 0;
    uint64_t completed = 0;
    uint64_t errors = 0;
    uint64_t open = 0;  ///< open at the end of the interval
    Histogram latency;
    double requests_per_s() const { return end_s > start_s ? completed / (end_s - start_s) : 0.0; }
};
/// {"t_s", "interval_s", "requests", "requests_per_s", "errors", "open_connections",
///  "p50_us", "p99_us", "max_us"}: one JSON Lines record.
void to_json(nlohmann::json& j, const KeepaliveInterval& interval);

/// A keep-alive run on its own threads.
class KeepaliveDriver {
  public:
    /// Validates the config (throws Error(usage)); starts nothing yet.
    explicit KeepaliveDriver(KeepaliveConfig config);
    /// Stops the run if it is still going and joins the threads.
    ~KeepaliveDriver();
    KeepaliveDriver(const KeepaliveDriver&) = delete;
    KeepaliveDriver& operator=(const KeepaliveDriver&) = delete;

    /// Starts the worker threads; the run's clock starts here.
    void start();
    /// Sums the workers' live counters; callable from any thread once start() returned.
    KeepaliveLive live() const;
    /// The counts and latencies since the previous call (or the start);
    /// callable from one thread at a time while the run goes on.
    KeepaliveInterval take_interval();
    /// Asks every worker to end now: outstanding requests are abandoned, connections closed.
    void stop();
    /// Waits up to `timeout` for the run to end; true when it has.
    bool wait_for(Duration timeout);
    /// Waits for the end, joins the threads and merges their statistics.
    /// Rethrows a worker's failure to set up (setns, epoll_create1).
    KeepaliveResult wait();

  private:
    struct Worker;  // one thread's plan, live cells, interval slot, statistics
    KeepaliveConfig config_;
    std::vector<std::unique_ptr<Worker>> workers_;
    int64_t start_ns_ = 0;
    // take_interval()'s state: where the previous interval ended.
    int64_t interval_start_ns_ = 0;
    uint64_t interval_completed_ = 0;
    uint64_t interval_errors_ = 0;
    detail::WorkerThreads threads_;  // last: joined before the rest goes
};

/// Runs a whole keep-alive run: start, then every `interval` (when on_sample
/// is set) a call with the interval's snapshot and the live counters, then
/// the merged result.
KeepaliveResult run_keepalive(
    const KeepaliveConfig& config,
    const std::function<void(const KeepaliveInterval&, const KeepaliveLive&)>& on_sample = {},
    Duration interval = 1s);

}  // namespace sockdrill::load
