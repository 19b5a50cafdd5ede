#include "load/churn.hpp"

#include <algorithm>
#include <cmath>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/signals.hpp"
#include "load/churn_worker.hpp"
#include "net/error.hpp"

namespace sockdrill::load {

// --- names ---------------------------------------------------------------

std::string_view payload_name(Payload payload) {
    return payload == Payload::http ? "http" : "echo";
}

std::string_view close_mode_name(CloseMode mode) {
    switch (mode) {
        case CloseMode::client:
            return "client";
        case CloseMode::server:
            return "server";
        case CloseMode::linger0:
            return "linger0";
    }
    return "?";
}

std::string_view phase_name(Phase phase) {
    static constexpr std::string_view kNames[] = {"socket", "bind", "connect",
                                                  "write",  "read", "close"};
    return kNames[static_cast<size_t>(phase)];
}

std::string_view syscall_name(Syscall call) {
    static constexpr std::string_view kNames[] = {"socket",    "setsockopt", "bind",
                                                  "connect",   "send",       "recv",
                                                  "epoll_ctl", "epoll_wait", "close"};
    return kNames[static_cast<size_t>(call)];
}

Payload parse_payload(std::string_view text) {
    if (text == "http") return Payload::http;
    if (text == "echo") return Payload::echo;
    throw Error::usage(fmt::format("payload: expected http or echo, got \"{}\"", text));
}

CloseMode parse_close_mode(std::string_view text) {
    for (auto mode : {CloseMode::client, CloseMode::server, CloseMode::linger0})
        if (text == close_mode_name(mode)) return mode;
    throw Error::usage(fmt::format("close: expected client, server or linger0, got \"{}\"", text));
}

std::string error_name(int err) {
    return err == 0 ? "EOF" : errno_name(err);
}

// --- config --------------------------------------------------------------

void validate(const ChurnConfig& c) {
    auto fail = [](std::string message) { throw Error::usage(std::move(message)); };
    if (c.target.family() != AF_INET && c.target.family() != AF_INET6)
        fail("target: expected HOST:PORT");
    if (c.target.port() == 0)
        fail(fmt::format("target {}: expected a port other than 0", c.target.to_string()));
    if (c.threads < 1 || c.threads > 1024)
        fail(fmt::format("threads: expected 1 to 1024, got {}", c.threads));
    if (c.rate < 0 || !std::isfinite(c.rate))
        fail("rate: expected a positive number of connections per second");
    if (c.rate == 0 && c.concurrency < 1) fail("concurrency: expected at least 1");
    if (c.rate > 0 && c.max_in_flight < 1) fail("max-in-flight: expected at least 1");
    if (c.count == 0 && c.duration.count() <= 0) fail("churn: needs a count or a duration to end");
    if (c.duration.count() < 0) fail("duration: expected 0 or more");
    if (c.exchanges < 1) fail("exchanges: expected at least 1");
    if (c.payload == Payload::echo && (c.echo_size < 1 || c.echo_size > 64 * 1024 * 1024))
        fail(fmt::format("echo-size: expected 1 byte to 64MiB, got {}", c.echo_size));
    if (c.http_path.empty() || c.http_path.find_first_of(" \r\n") != std::string::npos)
        fail(
            fmt::format("path: expected a request target without spaces, got \"{}\"", c.http_path));
    if (c.http_host.find_first_of("\r\n") != std::string::npos) fail("host: expected one line");
    for (const auto& source : c.sources)
        if (source.family() != c.target.family())
            fail(fmt::format("source {}: not the target's address family ({})", source.host(),
                             c.target.to_string()));
    if (c.connect_timeout.count() <= 0) fail("connect-timeout: expected more than 0");
    if (c.io_timeout.count() <= 0) fail("io-timeout: expected more than 0");
    if (c.drain_timeout.count() < 0) fail("drain-timeout: expected 0 or more");
}

void to_json(nlohmann::json& j, const ChurnConfig& c) {
    std::vector<std::string> sources;
    for (const auto& s : c.sources) sources.push_back(s.host());
    j = nlohmann::json{{"target", c.target.to_string()},
                       {"threads", c.threads},
                       {"concurrency", c.concurrency},
                       {"rate_per_s", c.rate},
                       {"max_in_flight", c.max_in_flight},
                       {"count", c.count},
                       {"duration_s", cli::to_seconds(c.duration)},
                       {"exchanges", c.exchanges},
                       {"payload", payload_name(c.payload)},
                       {"path", c.http_path},
                       {"host", c.http_host},
                       {"echo_size_bytes", c.echo_size},
                       {"close", close_mode_name(c.close)},
                       {"bind_no_port", c.bind_no_port},
                       {"reuseaddr", c.reuseaddr},
                       {"source", sources},
                       {"connect_timeout_ms", cli::to_ms(c.connect_timeout)},
                       {"io_timeout_ms", cli::to_ms(c.io_timeout)},
                       {"drain_timeout_ms", cli::to_ms(c.drain_timeout)},
                       {"netns", c.netns != nullptr}};
}

// --- statistics ----------------------------------------------------------

void ErrorTable::merge(const ErrorTable& other) {
    for (size_t p = 0; p < kPhases; ++p)
        for (int e = 0; e < kSlots; ++e) {
            if (!other.counts_[p][e]) continue;
            if (!counts_[p][e] || other.first_ns_[p][e] < first_ns_[p][e])
                first_ns_[p][e] = other.first_ns_[p][e];
            counts_[p][e] += other.counts_[p][e];
        }
}

uint64_t ErrorTable::count(Phase phase, int err) const {
    return err >= 0 && err < kSlots ? counts_[static_cast<size_t>(phase)][err] : 0;
}

uint64_t ErrorTable::count(int err) const {
    uint64_t n = 0;
    for (size_t p = 0; p < kPhases; ++p) n += count(static_cast<Phase>(p), err);
    return n;
}

uint64_t ErrorTable::total() const {
    uint64_t n = 0;
    for (const auto& row : counts_)
        for (uint64_t c : row) n += c;
    return n;
}

std::optional<double> ErrorTable::first_s(Phase phase, int err) const {
    if (!count(phase, err)) return std::nullopt;
    return static_cast<double>(first_ns_[static_cast<size_t>(phase)][err]) / 1e9;
}

std::optional<double> ErrorTable::first_s(int err) const {
    std::optional<double> first;
    for (size_t p = 0; p < kPhases; ++p)
        if (auto t = first_s(static_cast<Phase>(p), err); t && (!first || *t < *first)) first = t;
    return first;
}

namespace {

// Visits every (phase, errno) that happened.
template <typename F>
void for_each_error(const ErrorTable& errors, F f) {
    for (size_t p = 0; p < kPhases; ++p)
        for (int e = 0; e < ErrorTable::kSlots; ++e)
            if (errors.count(static_cast<Phase>(p), e)) f(static_cast<Phase>(p), e);
}

}  // namespace

nlohmann::json errors_json(const ErrorTable& errors) {
    nlohmann::json j = nlohmann::json::object();
    for_each_error(errors, [&](Phase p, int e) {
        j[std::string(phase_name(p))][error_name(e)] = errors.count(p, e);
    });
    return j;
}

nlohmann::json first_errors_json(const ErrorTable& errors) {
    nlohmann::json j = nlohmann::json::object();
    for_each_error(errors, [&](Phase p, int e) {
        j[std::string(phase_name(p))][error_name(e)] =
            std::round(*errors.first_s(p, e) * 1e6) / 1e6;
    });
    return j;
}

void ChurnStats::merge(const ChurnStats& o) {
    started += o.started;
    completed += o.completed;
    failed += o.failed;
    abandoned += o.abandoned;
    exchanges += o.exchanges;
    bytes_sent += o.bytes_sent;
    bytes_received += o.bytes_received;
    non_2xx += o.non_2xx;
    late_starts += o.late_starts;
    connect.merge(o.connect);
    ttfb.merge(o.ttfb);
    total.merge(o.total);
    errors.merge(o.errors);
    for (size_t i = 0; i < kSyscalls; ++i) syscalls[i] += o.syscalls[i];
}

uint64_t ChurnStats::syscalls_total() const {
    uint64_t n = 0;
    for (uint64_t c : syscalls) n += c;
    return n;
}

void to_json(nlohmann::json& j, const ChurnResult& r) {
    const ChurnStats& s = r.stats;
    nlohmann::json syscalls = nlohmann::json::object();
    for (size_t i = 0; i < kSyscalls; ++i)
        if (s.syscalls[i])
            syscalls[std::string(syscall_name(static_cast<Syscall>(i)))] = s.syscalls[i];
    double per_conn = s.started ? static_cast<double>(s.syscalls_total()) / s.started : 0.0;
    j = nlohmann::json{{"connections",
                        {{"started", s.started},
                         {"completed", s.completed},
                         {"failed", s.failed},
                         {"abandoned", s.abandoned}}},
                       {"conn_per_s", std::round(r.conn_per_s() * 10) / 10},
                       {"elapsed_s", std::round(r.elapsed_s * 1e6) / 1e6},
                       {"exchanges", s.exchanges},
                       {"sent_bytes", s.bytes_sent},
                       {"received_bytes", s.bytes_received},
                       {"non_2xx", s.non_2xx},
                       {"late_starts", s.late_starts},
                       {"stopped", r.stopped},
                       {"latency", {{"connect", s.connect}, {"ttfb", s.ttfb}, {"total", s.total}}},
                       {"syscalls", syscalls},
                       {"syscalls_per_conn", std::round(per_conn * 1000) / 1000},
                       {"errors", errors_json(s.errors)},
                       {"first_error_s", first_errors_json(s.errors)}};
}

// --- the driver ----------------------------------------------------------

struct ChurnDriver::Worker {
    detail::WorkerPlan plan;
    detail::LiveCells live;
    ChurnStats stats;
};

ChurnDriver::ChurnDriver(ChurnConfig config) : config_(std::move(config)) {
    validate(config_);
}

// threads_, the last member, stops and joins the threads before the workers go.
ChurnDriver::~ChurnDriver() = default;

void ChurnDriver::start() {
    if (!workers_.empty()) return;
    start_ns_ = detail::monotonic_ns();
    int64_t end_ns = config_.duration.count() > 0 ? start_ns_ + config_.duration.count() * 1000 : 0;

    // The slots, the count and the rate are shared out evenly; a worker that
    // would get no slot or no connection is not started.
    bool open_loop = config_.rate > 0;
    uint64_t slots = open_loop ? config_.max_in_flight : config_.concurrency;
    uint64_t n = std::min<uint64_t>(config_.threads, slots);
    if (config_.count) n = std::min(n, config_.count);
    for (uint64_t i = 0; i < n; ++i) {
        auto w = std::make_unique<Worker>();
        w->plan.index = static_cast<unsigned>(i);
        w->plan.slots = static_cast<unsigned>(slots / n + (i < slots % n));
        if (config_.count) w->plan.quota = config_.count / n + (i < config_.count % n);
        if (open_loop) {
            w->plan.rate = config_.rate / static_cast<double>(n);
            w->plan.first_start_ns =
                start_ns_ + std::llround(static_cast<double>(i) * 1e9 / config_.rate);
        }
        workers_.push_back(std::move(w));
    }
    threads_.start(workers_.size(), config_.netns, [this, end_ns](size_t i) {
        Worker& w = *workers_[i];
        detail::ChurnWorker loop(config_, w.plan, start_ns_, end_ns, threads_.stop_flag(), w.live,
                                 w.stats);
        loop.run();
    });
}

LiveCounters ChurnDriver::live() const {
    LiveCounters live;
    uint64_t ended = 0;
    for (const auto& w : workers_) {
        live.started += w->live.started.load(std::memory_order_relaxed);
        live.completed += w->live.completed.load(std::memory_order_relaxed);
        live.failed += w->live.failed.load(std::memory_order_relaxed);
        ended += w->live.ended.load(std::memory_order_relaxed);
    }
    live.in_flight = live.started > ended ? live.started - ended : 0;
    if (start_ns_) live.elapsed_s = static_cast<double>(detail::monotonic_ns() - start_ns_) / 1e9;
    return live;
}

void ChurnDriver::stop() {
    threads_.stop();
}

bool ChurnDriver::wait_for(Duration timeout) {
    return threads_.wait_for(timeout);
}

ChurnResult ChurnDriver::wait() {
    ChurnResult result;
    int64_t last_end = threads_.join("churn", start_ns_);
    for (auto& w : workers_) result.stats.merge(w->stats);
    result.elapsed_s = static_cast<double>(last_end - start_ns_) / 1e9;
    result.stopped = threads_.stop_requested() || (config_.stop_on_signal && cli::stop_requested());
    return result;
}

ChurnResult run_churn(const ChurnConfig& config,
                      const std::function<void(const LiveCounters&)>& on_sample,
                      Duration interval) {
    ChurnDriver driver(config);
    driver.start();
    if (on_sample) detail::sample_until_end(driver, interval, [&] { on_sample(driver.live()); });
    return driver.wait();
}

}  // namespace sockdrill::load
