#include "load/keepalive.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/signals.hpp"
#include "load/churn_worker.hpp"
#include "load/keepalive_worker.hpp"
#include "net/error.hpp"

namespace sockdrill::load {

namespace {

constexpr uint64_t kMaxBatchBytes = 64 * 1024 * 1024;
// Each connection slot costs about 100 bytes and each pipeline slot 8 (its
// start time): the caps keep a typo from asking for gigabytes (and a
// bad_alloc that is no usage error).
constexpr uint64_t kMaxConnections = 1'000'000;
constexpr uint64_t kMaxPipeline = 1024;
constexpr uint64_t kMaxOutstanding = 4'000'000;

bool one_line(std::string_view text) {
    return text.find_first_of("\r\n") == std::string_view::npos;
}

double round_to(double value, double scale) {
    return std::round(value * scale) / scale;
}

}  // namespace

// --- config --------------------------------------------------------------

std::string_view backoff_name(Backoff backoff) {
    return backoff == Backoff::jitter ? "jitter" : "none";
}

double parse_rate(std::string_view text) {
    try {
        return cli::parse_rate(text);
    } catch (const std::invalid_argument& e) {
        throw Error::usage(fmt::format("--rate: {}", e.what()));
    }
}

void validate(const KeepaliveConfig& c) {
    auto fail = [](std::string message) { throw Error::usage(std::move(message)); };
    if (c.target.family() != AF_INET && c.target.family() != AF_INET6)
        fail("--target: expected HOST:PORT");
    if (c.target.port() == 0)
        fail(fmt::format("--target {}: expected a port other than 0", c.target.to_string()));
    if (c.threads < 1 || c.threads > 1024)
        fail(fmt::format("--threads: expected 1 to 1024, got {}", c.threads));
    if (c.connections < 1 || c.connections > kMaxConnections)
        fail(
            fmt::format("--connections: expected 1 to {}, got {}", kMaxConnections, c.connections));
    if (c.rate < 0 || !std::isfinite(c.rate))
        fail("--rate: expected a positive number of requests per second");
    if (c.pipeline < 1 || c.pipeline > kMaxPipeline)
        fail(fmt::format("--pipeline: expected 1 to {}, got {}", kMaxPipeline, c.pipeline));
    if (uint64_t{c.connections} * c.pipeline > kMaxOutstanding)
        fail(
            fmt::format("--connections x --pipeline: expected at most {} requests outstanding, "
                        "got {} x {}",
                        kMaxOutstanding, c.connections, c.pipeline));
    // The duration is the hard deadline even with a --count: a server that
    // refuses, stalls or falls behind must not keep the run going.
    if (c.duration.count() <= 0)
        fail("--duration: expected more than 0 (every run needs a deadline, --count or not)");
    if (c.ramp.count() < 0) fail("--ramp: expected 0 or more");
    if (c.ramp > c.duration)
        fail(fmt::format("--ramp: expected at most the duration ({}), got {}",
                         cli::format_duration(c.duration), cli::format_duration(c.ramp)));
    if (c.payload == Payload::echo &&
        (c.echo_size < 1 || c.echo_size * c.pipeline > kMaxBatchBytes))
        fail(fmt::format("--echo-size: expected 1 byte to 64MiB / pipeline, got {}", c.echo_size));
    if (c.payload == Payload::http) {
        if (c.http_method.empty() ||
            c.http_method.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") != std::string::npos)
            fail(fmt::format("--method: expected an upper-case token such as GET, got \"{}\"",
                             c.http_method));
        if (c.http_path.empty() || c.http_path.find_first_of(" \r\n") != std::string::npos)
            fail(fmt::format("--path: expected a request target without spaces, got \"{}\"",
                             c.http_path));
        if (!one_line(c.http_host)) fail("--host: expected one line");
        for (const auto& header : c.http_headers)
            if (header.find(':') == std::string::npos || header.front() == ':' || !one_line(header))
                fail(fmt::format("--header: expected \"Name: value\" on one line, got \"{}\"",
                                 header));
        if ((format_request(c).size()) * c.pipeline > kMaxBatchBytes)
            fail("--body: the request times the pipeline depth is over 64MiB");
    }
    for (const auto& source : c.sources)
        if (source.family() != c.target.family())
            fail(fmt::format("--source {}: not the target's address family ({})", source.host(),
                             c.target.to_string()));
    if (c.connect_timeout.count() <= 0) fail("--connect-timeout: expected more than 0");
    if (c.io_timeout.count() <= 0) fail("--io-timeout: expected more than 0");
    if (c.drain_timeout.count() < 0) fail("--drain-timeout: expected 0 or more");
    if (c.reconnect_delay.count() < 0) fail("--reconnect-delay: expected 0 or more");
    if (c.backoff == Backoff::jitter && c.backoff_max.count() <= 0)
        fail("--backoff-max: expected more than 0");
    if (c.think_time.count() < 0) fail("--think-time: expected 0 or more");
    if (!(c.think_jitter >= 0 && c.think_jitter <= 1))
        fail(fmt::format("--think-jitter: expected 0 to 1, got {}", c.think_jitter));
    if (c.client_idle_timeout.count() < 0) fail("--client-idle-timeout: expected 0 or more");
    if ((c.think_time.count() > 0 || c.client_idle_timeout.count() > 0) && c.rate > 0)
        fail("--rate: an open loop sends on any free connection; --think-time and "
             "--client-idle-timeout pace each connection (closed loop)");
}

std::string format_request(const KeepaliveConfig& c) {
    if (c.payload == Payload::echo) {
        std::string payload(c.echo_size, '\0');
        for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>('a' + i % 26);
        return payload;
    }
    std::string host = c.http_host.empty() ? c.target.to_string() : c.http_host;
    std::string request =
        fmt::format("{} {} HTTP/1.1\r\nHost: {}\r\n", c.http_method, c.http_path, host);
    for (const auto& header : c.http_headers) request += header + "\r\n";
    if (!c.http_body.empty()) request += fmt::format("Content-Length: {}\r\n", c.http_body.size());
    request += "\r\n";
    request += c.http_body;
    return request;
}

void to_json(nlohmann::json& j, const KeepaliveConfig& c) {
    std::vector<std::string> sources;
    for (const auto& s : c.sources) sources.push_back(s.host());
    j = nlohmann::json{{"target", c.target.to_string()},
                       {"threads", c.threads},
                       {"connections", c.connections},
                       {"rate_per_s", c.rate},
                       {"count", c.count},
                       {"duration_s", cli::to_seconds(c.duration)},
                       {"pipeline", c.pipeline},
                       {"requests_per_conn", c.requests_per_conn},
                       {"ramp_s", cli::to_seconds(c.ramp)},
                       {"idle", c.idle},
                       {"payload", payload_name(c.payload)},
                       {"method", c.http_method},
                       {"path", c.http_path},
                       {"host", c.http_host},
                       {"header", c.http_headers},
                       {"body_bytes", c.http_body.size()},
                       {"echo_size_bytes", c.echo_size},
                       {"source", sources},
                       {"connect_timeout_ms", cli::to_ms(c.connect_timeout)},
                       {"io_timeout_ms", cli::to_ms(c.io_timeout)},
                       {"drain_timeout_ms", cli::to_ms(c.drain_timeout)},
                       {"reconnect_delay_ms", cli::to_ms(c.reconnect_delay)},
                       {"backoff", backoff_name(c.backoff)},
                       {"backoff_max_ms", cli::to_ms(c.backoff_max)},
                       {"think_time_ms", cli::to_ms(c.think_time)},
                       {"think_jitter", c.think_jitter},
                       {"client_idle_timeout_ms", cli::to_ms(c.client_idle_timeout)},
                       {"watch_idle", c.watch_idle},
                       {"netns", c.netns != nullptr}};
}

// --- statistics ----------------------------------------------------------

void ConnectionCounts::merge(const ConnectionCounts& o) {
    attempts += o.attempts;
    opened += o.opened;
    closed_by_client += o.closed_by_client;
    closed_by_server += o.closed_by_server;
    reset_by_server += o.reset_by_server;
    failed += o.failed;
    reconnects += o.reconnects;
    closed_idle += o.closed_idle;
    peak_open += o.peak_open;
}

void KeepaliveStats::merge(const KeepaliveStats& o) {
    sent += o.sent;
    completed += o.completed;
    lost += o.lost;
    abandoned += o.abandoned;
    late += o.late;
    non_2xx += o.non_2xx;
    bytes_sent += o.bytes_sent;
    bytes_received += o.bytes_received;
    connections.merge(o.connections);
    latency.merge(o.latency);
    connect.merge(o.connect);
    reconnect.merge(o.reconnect);
    errors.merge(o.errors);
    for (size_t i = 0; i < kSyscalls; ++i) syscalls[i] += o.syscalls[i];
}

uint64_t KeepaliveStats::syscalls_total() const {
    uint64_t n = 0;
    for (uint64_t c : syscalls) n += c;
    return n;
}

void to_json(nlohmann::json& j, const KeepaliveResult& r) {
    const KeepaliveStats& s = r.stats;
    const ConnectionCounts& c = s.connections;
    nlohmann::json syscalls = nlohmann::json::object();
    for (size_t i = 0; i < kSyscalls; ++i)
        if (s.syscalls[i])
            syscalls[std::string(syscall_name(static_cast<Syscall>(i)))] = s.syscalls[i];
    double per_request =
        s.completed ? static_cast<double>(s.syscalls_total()) / static_cast<double>(s.completed)
                    : 0.0;
    j = nlohmann::json{{"requests",
                        {{"sent", s.sent},
                         {"completed", s.completed},
                         {"lost", s.lost},
                         {"abandoned", s.abandoned},
                         {"late", s.late},
                         {"non_2xx", s.non_2xx}}},
                       {"requests_per_s", round_to(r.requests_per_s(), 10)},
                       {"target_rate_per_s", r.rate},
                       {"elapsed_s", round_to(r.elapsed_s, 1e6)},
                       {"connections",
                        {{"attempts", c.attempts},
                         {"opened", c.opened},
                         {"closed_by_client", c.closed_by_client},
                         {"closed_by_server", c.closed_by_server},
                         {"reset_by_server", c.reset_by_server},
                         {"failed", c.failed},
                         {"reconnects", c.reconnects},
                         {"closed_idle", c.closed_idle},
                         {"peak_open", c.peak_open}}},
                       {"sent_bytes", s.bytes_sent},
                       {"received_bytes", s.bytes_received},
                       {"latency", s.latency},
                       {"connect", s.connect},
                       {"reconnect", s.reconnect},
                       {"syscalls", syscalls},
                       {"syscalls_per_request", round_to(per_request, 1000)},
                       {"errors", errors_json(s.errors)},
                       {"first_error_s", first_errors_json(s.errors)},
                       {"stopped", r.stopped}};
}

void to_json(nlohmann::json& j, const KeepaliveInterval& i) {
    j = nlohmann::json{{"t_s", round_to(i.end_s, 1e3)},
                       {"interval_s", round_to(i.end_s - i.start_s, 1e3)},
                       {"requests", i.completed},
                       {"requests_per_s", round_to(i.requests_per_s(), 10)},
                       {"errors", i.errors},
                       {"open_connections", i.open},
                       {"p50_us", i.latency.percentile(50)},
                       {"p99_us", i.latency.percentile(99)},
                       {"max_us", i.latency.max()}};
}

// --- the driver ----------------------------------------------------------

struct KeepaliveDriver::Worker {
    detail::KeepalivePlan plan;
    detail::KeepaliveCells cells;
    detail::IntervalSlot interval;
    KeepaliveStats stats;
};

KeepaliveDriver::KeepaliveDriver(KeepaliveConfig config) : config_(std::move(config)) {
    validate(config_);
}

// threads_, the last member, stops and joins the threads before the workers go.
KeepaliveDriver::~KeepaliveDriver() = default;

void KeepaliveDriver::start() {
    if (!workers_.empty()) return;
    start_ns_ = interval_start_ns_ = detail::monotonic_ns();
    int64_t end_ns = start_ns_ + config_.duration.count() * 1000;

    // Connections, the count and the rate are shared out evenly; a thread
    // that would get no connection is not started. Open-loop schedules are
    // interleaved: thread i's first request is due i / rate after the start.
    bool open_loop = config_.rate > 0;
    unsigned n = std::min(config_.threads, config_.connections);
    for (unsigned i = 0; i < n; ++i) {
        auto w = std::make_unique<Worker>();
        w->plan.index = i;
        w->plan.connections = config_.connections / n + (i < config_.connections % n);
        if (config_.count) w->plan.quota = config_.count / n + (i < config_.count % n);
        if (open_loop) {
            w->plan.rate = config_.rate / n;
            w->plan.first_due_ns = start_ns_ + std::llround(i * 1e9 / config_.rate);
        }
        workers_.push_back(std::move(w));
    }
    threads_.start(workers_.size(), config_.netns, [this, end_ns](size_t i) {
        Worker& w = *workers_[i];
        detail::KeepaliveWorker loop(config_, w.plan, start_ns_, end_ns, threads_.stop_flag(),
                                     w.cells, w.interval, w.stats);
        loop.run();
    });
}

KeepaliveLive KeepaliveDriver::live() const {
    KeepaliveLive live;
    uint64_t closed = 0;
    for (const auto& w : workers_) {
        live.sent += w->cells.sent.load(std::memory_order_relaxed);
        live.completed += w->cells.completed.load(std::memory_order_relaxed);
        live.errors += w->cells.errors.load(std::memory_order_relaxed);
        live.opened += w->cells.opened.load(std::memory_order_relaxed);
        closed += w->cells.closed.load(std::memory_order_relaxed);
    }
    live.open = live.opened > closed ? live.opened - closed : 0;
    if (start_ns_) live.elapsed_s = static_cast<double>(detail::monotonic_ns() - start_ns_) / 1e9;
    return live;
}

KeepaliveInterval KeepaliveDriver::take_interval() {
    KeepaliveInterval interval;
    for (auto& w : workers_) {
        std::lock_guard lock(w->interval.mutex);
        interval.latency.merge(w->interval.latency);
        w->interval.latency.reset();
    }
    KeepaliveLive now = live();
    int64_t now_ns = detail::monotonic_ns();
    interval.start_s = static_cast<double>(interval_start_ns_ - start_ns_) / 1e9;
    interval.end_s = static_cast<double>(now_ns - start_ns_) / 1e9;
    interval.completed = now.completed - interval_completed_;
    interval.errors = now.errors - interval_errors_;
    interval.open = now.open;
    interval_start_ns_ = now_ns;
    interval_completed_ = now.completed;
    interval_errors_ = now.errors;
    return interval;
}

void KeepaliveDriver::stop() {
    threads_.stop();
}

bool KeepaliveDriver::wait_for(Duration timeout) {
    return threads_.wait_for(timeout);
}

KeepaliveResult KeepaliveDriver::wait() {
    KeepaliveResult result;
    int64_t last_end = threads_.join("keepalive", start_ns_);
    for (auto& w : workers_) result.stats.merge(w->stats);
    result.elapsed_s = static_cast<double>(last_end - start_ns_) / 1e9;
    result.rate = config_.rate;
    result.stopped = threads_.stop_requested() || (config_.stop_on_signal && cli::stop_requested());
    return result;
}

KeepaliveResult run_keepalive(
    const KeepaliveConfig& config,
    const std::function<void(const KeepaliveInterval&, const KeepaliveLive&)>& on_sample,
    Duration interval) {
    KeepaliveDriver driver(config);
    driver.start();
    if (on_sample)
        detail::sample_until_end(driver, interval, [&] {
            KeepaliveInterval taken = driver.take_interval();
            on_sample(taken, driver.live());
        });
    return driver.wait();
}

}  // namespace sockdrill::load
