// sockdrill-backlog: each variant builds a fresh sandbox (server-side
// sysctls: somaxconn, tcp_syncookies, tcp_abort_on_overflow,
// tcp_max_syn_backlog; client-side: tcp_syn_retries), starts the embedded
// server with the variant's listen() backlog and accept behaviour, samples
// the listener's accept queue from the census every 100 ms, drives the churn
// driver (or one burst) from the client namespace, and collects connect time
// and time to first byte clustered around the predicted SYN-retransmit
// times, with the listen counters of both namespaces.
//
// What the kernel does that this relies on (net/ipv4/tcp_input.c,
// tcp_minisocks.c, tcp_ipv4.c, 6.x):
//  - the accept queue is full when sk_ack_backlog > sk_max_ack_backlog, so
//    listen(fd, N) holds N + 1 connections; listen() clamps N to
//    net.core.somaxconn, and sock_diag reports the clamped value as the
//    listener's idiag_wqueue (ss -lnt's Send-Q), the queue as idiag_rqueue;
//  - a SYN that finds the accept queue full is dropped in tcp_conn_request()
//    (ListenOverflows + ListenDrops), syncookies or not; the client
//    retransmits it after 1 s, 3 s, 7 s, ... (TCP_TIMEOUT_INIT doubling,
//    tcp_syn_retries times);
//  - a SYN admitted while there was room, whose final ACK finds the queue
//    full, has that ACK dropped (ListenOverflows again): the client already
//    counts itself connected, and waits on its first response until the
//    server's SYN-ACK retransmission (tcp_synack_retries) lets it in; with
//    tcp_abort_on_overflow = 1 the server answers that ACK with RST instead.
#include "scenario/backlog.hpp"

#include <atomic>
#include <charconv>
#include <condition_variable>
#include <exception>
#include <limits>
#include <span>
#include <cmath>
#include <fmt/format.h>
#include <mutex>
#include <thread>

#include "cli/signals.hpp"
#include "kernel/census.hpp"
#include "kernel/counters.hpp"
#include "kernel/sysctl.hpp"
#include "load/churn.hpp"
#include "net/error.hpp"
#include "sandbox/hosts.hpp"
#include "sandbox/sandbox.hpp"
#include "server/server.hpp"

namespace sockdrill::scenario {

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using sandbox::Side;

constexpr auto kSampleEvery = 100ms;
// listen()'s argument in somaxconn-clamp and somaxconn=N: far above any somaxconn.
constexpr int kHugeBacklog = 100000;
constexpr int kMaxBacklog = 1000000;
// --count without --duration: the churn ends at the count, or after this.
constexpr auto kCountBound = std::chrono::hours(1);

// The counters each namespace reports.
constexpr const char* kServerCounters[] = {"ListenOverflows", "ListenDrops",   "TCPReqQFullDrop",
                                           "TCPReqQFullDoCookies", "SyncookiesSent", "SyncookiesRecv",
                                           "SyncookiesFailed", "TCPSynRetrans", "OutRsts"};
constexpr const char* kClientCounters[] = {"TCPSynRetrans", "AttemptFails", "EstabResets"};

std::optional<int> parse_int(std::string_view text) {
    int v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return v;
}

// Two hosts for one variant: a fresh sandbox, or this namespace.
using sandbox::Hosts;

// Samples one listener's accept queue every 100 ms from the census, on its
// own thread inside the listener's namespace (netlink sockets stay in the
// namespace they were made in).
class QueueSampler {
public:
    QueueSampler(const net::Fd* netns, uint16_t port) : port_(port) {
        thread_ = std::thread([this, netns] {
            // An exception leaving a thread calls std::terminate: keep it
            // for stop() to hand over, and let the churn run on unwatched.
            try {
                std::optional<sandbox::NetnsGuard> guard;
                if (netns) guard.emplace(*netns);
                auto source = kernel::live_source();
                auto start = Clock::now();
                while (!stop_.load()) {
                    sample(*source, start);
                    std::unique_lock lock(mutex_);
                    wake_.wait_for(lock, kSampleEvery, [&] { return stop_.load(); });
                }
                sample(*source, start);
            } catch (...) {
                failure_ = std::current_exception();
            }
        });
    }
    ~QueueSampler() { stop(); }
    void stop() {
        if (!thread_.joinable()) return;
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
        }
        wake_.notify_all();
        thread_.join();
    }
    /// Valid once stop() returned.
    const std::vector<QueueSample>& samples() const { return samples_; }
    /// Why sampling stopped early ("" if it did not); valid once stop() returned.
    std::string failure() const {
        if (!failure_) return "";
        try {
            std::rethrow_exception(failure_);
        } catch (const std::exception& e) {
            return e.what();
        } catch (...) {
            return "unknown error";
        }
    }

private:
    void sample(kernel::DiagSource& source, Clock::time_point start) {
        kernel::DiagRequest request;
        request.sport = port_;
        for (const auto& l : kernel::listeners(source, request)) {
            samples_.push_back({std::chrono::duration<double>(Clock::now() - start).count(), l.accept_queue,
                                l.backlog});
            break;
        }
    }

    uint16_t port_;
    std::vector<QueueSample> samples_;
    std::atomic<bool> stop_{false};
    std::mutex mutex_;
    std::condition_variable wake_;
    std::exception_ptr failure_;
    std::thread thread_;
};

// The listener's limit as the kernel holds it (listen()'s backlog after the
// somaxconn clamp), read once from the census.
std::optional<uint32_t> effective_backlog(const Hosts& h, Side side, uint16_t port) {
    return h.in(side, [&]() -> std::optional<uint32_t> {
        auto source = kernel::live_source();
        kernel::DiagRequest request;
        request.sport = port;
        for (const auto& l : kernel::listeners(*source, request)) return l.backlog;
        return std::nullopt;
    });
}


std::string ms_text(uint64_t us) { return load::format_us(static_cast<double>(us)); }

// What one variant is: the base config with the variant's changes applied.
struct Plan {
    std::string key;
    std::string label;
    BacklogConfig config;
    bool seed = false;
};

Plan plan_for(const BacklogConfig& base, const BacklogVariant* v) {
    Plan p{"run", "run", base, false};
    if (!v) return p;
    p.key = v->key();
    p.label = v->name;
    if (v->backlog) p.config.backlog = *v->backlog;
    if (v->syncookies) p.config.syncookies = v->syncookies;
    if (v->abort_on_overflow) p.config.abort_on_overflow = true;
    if (v->somaxconn) p.config.somaxconn = v->somaxconn;
    if (v->seed) {
        // The seed story: listen(1), a server that serves one connection at
        // a time, four request/response exchanges, SO_LINGER {1, 0}.
        p.seed = true;
        p.config.backlog = 1;
        p.config.accept = AcceptMode{AcceptMode::serial, {}};
        p.config.exchanges = 4;
        p.config.close = "linger0";
    }
    return p;
}

bool needs_sandbox(const BacklogConfig& c) {
    return c.syn_retries || c.syn_linear_timeouts || c.syncookies || c.abort_on_overflow || c.somaxconn || c.max_syn_backlog;
}

sandbox::Options sandbox_options(const BacklogConfig& c) {
    sandbox::Options o;
    if (c.somaxconn) o.server_sysctls["net.core.somaxconn"] = std::to_string(*c.somaxconn);
    if (c.syncookies) o.server_sysctls["net.ipv4.tcp_syncookies"] = std::to_string(*c.syncookies);
    if (c.abort_on_overflow) o.server_sysctls["net.ipv4.tcp_abort_on_overflow"] = "1";
    if (c.max_syn_backlog) o.server_sysctls["net.ipv4.tcp_max_syn_backlog"] = std::to_string(*c.max_syn_backlog);
    if (c.syn_retries) o.client_sysctls["net.ipv4.tcp_syn_retries"] = std::to_string(*c.syn_retries);
    if (c.syn_linear_timeouts)
        o.client_sysctls["net.ipv4.tcp_syn_linear_timeouts"] = std::to_string(*c.syn_linear_timeouts);
    return o;
}

// The sysctls that shaped one variant, read where they apply.
report::json variant_sysctls(const Hosts& h) {
    report::json j = h.in(Side::server, [] {
        return kernel::sysctls_json({"net.core.somaxconn", "net.ipv4.tcp_syncookies", "net.ipv4.tcp_abort_on_overflow",
                                     "net.ipv4.tcp_max_syn_backlog", "net.ipv4.tcp_synack_retries"});
    });
    j.update(h.in(Side::client, [] { return kernel::sysctls_json({"net.ipv4.tcp_syn_retries", "net.ipv4.tcp_syn_linear_timeouts"}); }));
    return j;
}

report::json modes_json(const std::vector<Mode>& modes) {
    report::json j = report::json::array();
    for (const auto& m : modes)
        j.push_back({{"predicted_s", m.predicted_s}, {"count", m.count}, {"median_ms", m.median_ms}});
    return j;
}

// What one variant measured, for the tables.
struct Measured {
    Plan plan;
    report::json row;
    load::Histogram connect, ttfb;
    std::vector<Mode> connect_modes, ttfb_modes;
    std::vector<QueueSample> queue;
    std::optional<uint32_t> backlog_effective;
    std::string sampler_failure;  ///< why the accept queue was not sampled to the end
    load::ErrorTable errors;
    report::json server_counters, client_counters;
};

load::ChurnConfig churn_config(const BacklogConfig& c, const net::Address& target, const Hosts& h) {
    load::ChurnConfig cc;
    cc.target = target;
    cc.threads = 1;
    cc.exchanges = c.exchanges;
    cc.close = load::parse_close_mode(c.close);
    cc.http_path = c.path;
    cc.connect_timeout = c.connect_timeout;
    cc.io_timeout = c.io_timeout;
    cc.netns = h.netns(Side::client);
    if (c.burst) {
        // Every connection starts at once; the run ends when the last one
        // does, or one second after the longest connect() could last.
        cc.concurrency = static_cast<unsigned>(c.burst);
        cc.count = c.burst;
        cc.duration = c.connect_timeout + std::chrono::seconds(1);
        cc.drain_timeout = 0s;
    } else {
        cc.concurrency = c.concurrency;
        cc.rate = c.rate;
        cc.max_in_flight = std::max(1000u, c.concurrency);
        cc.count = c.count;
        cc.duration = c.count_ends_run ? cli::Duration(kCountBound) : c.duration;
        // A connection started just before the end may still land on a late
        // retransmission: let it, up to its connect timeout.
        cc.drain_timeout = c.connect_timeout;
    }
    return cc;
}

Measured run_variant(const Plan& plan, bool sandboxed, const std::string& target, cli::Output& output) {
    const BacklogConfig& c = plan.config;
    Measured m;
    m.plan = plan;
    output.status(fmt::format("{}: setting up", plan.label));

    // Set up: fresh namespaces with the variant's sysctls, counters before.
    Hosts h;
    if (sandboxed) h.box = std::make_unique<sandbox::Sandbox>(sandbox_options(c));
    auto server_before = h.in(Side::server, [] { return kernel::read_counters(); });
    auto client_before = h.in(Side::client, [] { return kernel::read_counters(); });

    // Start the server (or take the target's address).
    std::unique_ptr<server::Server> server;
    net::Address address;
    if (target.empty()) {
        server::Config sc;
        sc.mode = "http";
        sc.listen = {(h.box ? h.box->address(Side::server, 80) : net::Address::parse_host("127.0.0.1", 0)).to_string()};
        sc.backlog = c.backlog;
        sc.response_delay = c.response_delay;
        sc.drain_timeout = 500ms;
        sc.header_timeout = c.io_timeout + c.connect_timeout;
        switch (c.accept.kind) {
        case AcceptMode::normal: break;
        case AcceptMode::serial: sc.max_conns = 1; break;  // one connection at a time, as a single-threaded server
        case AcceptMode::slow: sc.accept_delay = c.accept.delay; break;
        case AcceptMode::paused: sc.pause_accept = true; break;
        }
        server = h.in(Side::server, [&] { return std::make_unique<server::Server>(sc); });
        server->start();
        address = server->addresses().front();
    } else {
        address = net::parse_local_target(target);
    }
    m.backlog_effective = effective_backlog(h, Side::server, address.port());

    // Run: the sampler watches the accept queue while the clients churn.
    QueueSampler sampler(h.netns(Side::server), address.port());
    output.status(fmt::format("{}: {}", plan.label, c.burst ? fmt::format("burst of {}", c.burst) : "churning"));
    auto result = load::run_churn(churn_config(c, address, h), [&](const load::LiveCounters& live) {
        output.status(fmt::format("{}: {:.1f}s  {} connected, {} failed, {} in flight", plan.label, live.elapsed_s,
                                  live.completed, live.failed, live.in_flight));
    });
    sampler.stop();
    m.sampler_failure = sampler.failure();
    if (server) server->stop();
    bool interrupted = result.stopped || cli::stop_requested();
    if (!target.empty() && result.stats.completed == 0 && result.stats.failed > 0 && !interrupted) {
        // The target, not the story, failed: say how (exit 4). An
        // interrupted run keeps its partial result instead.
        int worst = 0;
        for (int e = 0; e < load::ErrorTable::kSlots; ++e)
            if (result.stats.errors.count(e) > result.stats.errors.count(worst)) worst = e;
        throw Error(Exit::target, fmt::format("--target {}: every connection failed ({} {})", target,
                                              load::error_name(worst), result.stats.errors.count(worst)));
    }

    // Collect: histograms, modes, queue, counters.
    auto client_sysctl = [&](const char* name, int absent) {
        auto v = h.in(Side::client, [&] { return kernel::read_sysctl(name); });
        return v ? parse_int(*v).value_or(absent) : absent;
    };
    int syn_retries = client_sysctl("net.ipv4.tcp_syn_retries", 6);
    int linear = client_sysctl("net.ipv4.tcp_syn_linear_timeouts", 0);  // absent before 6.5: none
    auto predicted = predicted_syn_retransmits_s(syn_retries, linear);
    const auto& s = result.stats;
    m.connect = s.connect;
    m.ttfb = s.ttfb;
    m.errors = s.errors;
    m.connect_modes = cluster_modes(s.connect, predicted);
    m.ttfb_modes = cluster_modes(s.ttfb, predicted);
    m.queue = sampler.samples();
    m.server_counters = kernel::counter_deltas_json(server_before, h.in(Side::server, [] { return kernel::read_counters(); }),
                                     kServerCounters);
    m.client_counters = kernel::counter_deltas_json(client_before, h.in(Side::client, [] { return kernel::read_counters(); }),
                                     kClientCounters);

    report::json& row = m.row;
    row["variant"] = plan.label;
    row["backlog_requested"] = target.empty() ? report::json(c.backlog) : report::json(nullptr);
    row["backlog_effective"] = m.backlog_effective ? report::json(*m.backlog_effective) : report::json(nullptr);
    row["accept"] = target.empty() ? c.accept.name() : "target";
    row["sysctls"] = variant_sysctls(h);
    row["predicted_syn_retransmit_s"] = predicted;
    row["syn_giveup_s"] = syn_giveup_s(syn_retries, linear);
    row["connections"] = {{"started", s.started},
                          {"completed", s.completed},
                          {"failed", s.failed},
                          {"abandoned", s.abandoned}};
    row["connect"] = s.connect;
    row["ttfb"] = s.ttfb;
    row["connect_modes"] = modes_json(m.connect_modes);
    row["ttfb_modes"] = modes_json(m.ttfb_modes);
    // Every SYN retransmission the modes account for: k per connection in the
    // k-th mode, plus the retransmissions of those that timed out.
    uint64_t explained = 0;
    for (size_t k = 1; k < m.connect_modes.size(); ++k) explained += k * m.connect_modes[k].count;
    uint64_t before_timeout = 0;
    for (double t : predicted)
        if (t < cli::to_seconds(c.connect_timeout)) ++before_timeout;
    explained += before_timeout * s.errors.count(load::Phase::connect, ETIMEDOUT);
    row["syn_retransmits"] = {{"from_modes", explained},
                              {"client_counter", m.client_counters.value("TCPSynRetrans", int64_t{0})}};
    report::json samples = report::json::array();
    uint32_t queue_max = 0;
    size_t full = 0;
    for (const auto& q : m.queue) {
        samples.push_back({std::round(q.at_s * 1000) / 1000, q.accept_queue});
        queue_max = std::max(queue_max, q.accept_queue);
        if (q.accept_queue > q.backlog || (q.backlog == 0 && q.accept_queue > 0)) ++full;
    }
    row["accept_queue"] = {{"interval_ms", std::chrono::milliseconds(kSampleEvery).count()},
                           {"samples", samples},
                           {"max", queue_max},
                           {"full_samples", full},
                           {"full_fraction", m.queue.empty() ? 0.0 : double(full) / double(m.queue.size())}};
    row["counters"] = {{"server", m.server_counters}, {"client", m.client_counters}};
    row["errors"] = load::errors_json(s.errors);
    row["elapsed_s"] = result.elapsed_s;
    row["interrupted"] = result.stopped;
    return m;
}

std::string modes_cell(const std::vector<Mode>& modes, double limit_s) {
    std::string out;
    for (const auto& m : modes) {
        if (m.predicted_s > limit_s) break;
        out += fmt::format("{}{}", out.empty() ? "" : "/", m.count);
    }
    return out;
}

std::string modes_header(const std::vector<Mode>& modes, double limit_s) {
    std::string out;
    for (const auto& m : modes) {
        if (m.predicted_s > limit_s) break;
        out += fmt::format("{}{}", out.empty() ? "" : "/", m.predicted_s == 0 ? "0" : fmt::format("{:g}s", m.predicted_s));
    }
    return out;
}

std::string errors_cell(const load::ErrorTable& e) {
    std::string out;
    for (int err : {ETIMEDOUT, ECONNREFUSED, ECONNRESET, EPIPE, 0}) {
        if (uint64_t n = e.count(err)) out += fmt::format("{}{} {}", out.empty() ? "" : ", ", load::error_name(err), n);
    }
    return out.empty() ? "-" : out;
}

report::Table chart_table(const std::string& title, const load::Histogram& h) {
    return report::text_table(title, fmt::format("{:>8} |", "time"), load::render_chart(h));
}

}  // namespace

// --- parsing ------------------------------------------------------------

std::string AcceptMode::name() const {
    switch (kind) {
    case normal: return "normal";
    case serial: return "serial";
    case slow: return "slow=" + cli::format_duration(delay);
    case paused: return "paused";
    }
    return "?";
}

AcceptMode parse_accept_mode(std::string_view text) {
    auto bad = [&] {
        return Error::usage(fmt::format(
            "--accept: expected normal, serial, slow=DURATION (1ms to 10s) or paused, got \"{}\"", text));
    };
    if (text == "normal") return {AcceptMode::normal, {}};
    if (text == "serial") return {AcceptMode::serial, {}};
    if (text == "paused") return {AcceptMode::paused, {}};
    if (text.rfind("slow=", 0) == 0) {
        cli::Duration d{};
        try {
            d = cli::parse_duration(text.substr(5));
        } catch (const std::invalid_argument&) {
            throw bad();
        }
        if (d < 1ms || d > 10s) throw bad();
        return {AcceptMode::slow, d};
    }
    throw bad();
}

double parse_rate(std::string_view text) {
    double rate = 0;
    try {
        rate = cli::parse_rate(text);
    } catch (const std::invalid_argument& e) {
        throw Error::usage(fmt::format("--rate: {}", e.what()));
    }
    if (rate > 1e6) throw Error::usage(fmt::format("--rate: at most 1M/s, got \"{}\"", text));
    return rate;
}

std::string BacklogVariant::key() const {
    std::string k = name;
    for (char& ch : k)
        if (ch == '=' || ch == '-') ch = '_';
    return k;
}

std::vector<BacklogVariant> parse_compare(const std::vector<std::string>& values) {
    auto bad = [](std::string_view v, std::string_view why) {
        return Error::usage(fmt::format(
            "--compare: {} in \"{}\" (expected all, backlog=N, syncookies=0|1|2, abort-on-overflow, "
            "somaxconn-clamp, somaxconn=N or seed)",
            why, v));
    };
    std::vector<BacklogVariant> out;
    auto add = [&](const std::string& v) {
        BacklogVariant variant;
        variant.name = v;
        auto eq = v.find('=');
        std::string head = v.substr(0, eq);
        std::optional<int> number = eq == std::string::npos ? std::nullopt : parse_int(std::string_view(v).substr(eq + 1));
        if (v == "abort-on-overflow") {
            variant.abort_on_overflow = true;
        } else if (v == "seed") {
            variant.seed = true;
        } else if (v == "somaxconn-clamp") {
            variant.backlog = kHugeBacklog;  // under the namespace's default somaxconn
        } else if (head == "backlog" && eq != std::string::npos) {
            if (!number || *number < 0 || *number > kMaxBacklog) throw bad(v, "backlog=N takes 0 to 1000000");
            variant.backlog = number;
        } else if (head == "syncookies" && eq != std::string::npos) {
            if (!number || *number < 0 || *number > 2) throw bad(v, "syncookies takes 0, 1 or 2");
            variant.syncookies = number;
        } else if (head == "somaxconn" && eq != std::string::npos) {
            if (!number || *number < 0 || *number > 65535) throw bad(v, "somaxconn=N takes 0 to 65535");
            variant.somaxconn = number;
            variant.backlog = kHugeBacklog;
        } else {
            throw bad(v, "unknown variant");
        }
        for (const auto& o : out)
            if (o.key() == variant.key()) throw Error::usage(fmt::format("--compare: {} given twice", v));
        out.push_back(variant);
    };
    for (const auto& value : values) {
        for (const auto& v : CLI::detail::split(value, ',')) {
            if (v == "all") {
                for (const char* each : {"backlog=1", "backlog=128", "syncookies=0", "syncookies=1",
                                         "abort-on-overflow", "somaxconn-clamp", "seed"})
                    add(each);
            } else {
                add(v);
            }
        }
    }
    if (out.empty()) throw bad("", "no variant");
    return out;
}

void validate(const BacklogConfig& c, const cli::CommonOptions& common) {
    if (c.backlog < 0 || c.backlog > kMaxBacklog)
        throw Error::usage(fmt::format("--backlog: expected 0 to {}, got {}", kMaxBacklog, c.backlog));
    if (!c.burst && c.rate == 0 && c.concurrency < 1) throw Error::usage("--concurrency: expected at least 1, got 0");
    if (c.concurrency > 10000) throw Error::usage(fmt::format("--concurrency: expected 1 to 10000, got {}", c.concurrency));
    if (c.burst > 10000) throw Error::usage(fmt::format("--burst: expected 1 to 10000, got {}", c.burst));
    if (c.exchanges < 1 || c.exchanges > 1000)
        throw Error::usage(fmt::format("--exchanges: expected 1 to 1000, got {}", c.exchanges));
    if (c.syn_linear_timeouts && (*c.syn_linear_timeouts < 0 || *c.syn_linear_timeouts > 10))
        throw Error::usage(fmt::format("--syn-linear-timeouts: expected 0 to 10, got {}", *c.syn_linear_timeouts));
    if (c.syn_retries && (*c.syn_retries < 1 || *c.syn_retries > 127))
        throw Error::usage(fmt::format("--syn-retries: expected 1 to 127, got {}", *c.syn_retries));
    if (c.connect_timeout < 1ms || c.connect_timeout > 300s)
        throw Error::usage("--connect-timeout: expected 1ms to 300s");
    if (c.io_timeout < 1ms || c.io_timeout > 300s) throw Error::usage("--io-timeout: expected 1ms to 300s");
    if (c.response_delay > 10s) throw Error::usage("--response-delay: expected 0 to 10s");
    if (!c.burst && c.count == 0 && (common.duration <= cli::Duration{0} || common.duration > 3600s))
        throw Error::usage("--duration: expected more than 0 and at most 1h");
    if (c.somaxconn && (*c.somaxconn < 0 || *c.somaxconn > 65535))
        throw Error::usage(fmt::format("--somaxconn: expected 0 to 65535, got {}", *c.somaxconn));
    if (c.syncookies && (*c.syncookies < 0 || *c.syncookies > 2))
        throw Error::usage(fmt::format("--syncookies: expected 0, 1 or 2, got {}", *c.syncookies));
    if (c.max_syn_backlog && (*c.max_syn_backlog < 1 || *c.max_syn_backlog > 1 << 20))
        throw Error::usage("--max-syn-backlog: expected 1 to 1048576");
    if (c.path.empty() || c.path[0] != '/' || c.path.find_first_of(" \r\n") != std::string::npos)
        throw Error::usage(fmt::format("--path: expected a path starting with / and without spaces, got \"{}\"", c.path));
    if (!common.target.empty()) {
        net::parse_local_target(common.target);
        if (!c.compare.empty()) throw Error::usage("--compare: not with --target (each variant changes the server)");
        if (needs_sandbox(c))
            throw Error::usage("--target: the sysctl options (--syn-retries, --syn-linear-timeouts, --syncookies, --abort-on-overflow, "
                               "--somaxconn, --max-syn-backlog) need the sandbox's own server");
    }
}

std::vector<double> predicted_syn_retransmits_s(int syn_retries, int linear_timeouts, double rto_s) {
    std::vector<double> t;
    double at = 0, rto = rto_s;
    int total = std::min(syn_retries + std::max(linear_timeouts, 0), 64);
    for (int k = 1; k <= total; ++k) {
        at += rto;
        t.push_back(at);
        if (k > linear_timeouts) rto = std::min(rto * 2, 120.0);  // TCP_RTO_MAX
    }
    return t;
}

double syn_giveup_s(int syn_retries, int linear_timeouts, double rto_s) {
    auto t = predicted_syn_retransmits_s(syn_retries + 1, linear_timeouts, rto_s);
    return t.empty() ? rto_s : t.back();
}

std::vector<Mode> cluster_modes(const load::Histogram& h, const std::vector<double>& predicted_s) {
    std::vector<Mode> modes;
    modes.push_back({0, 0, 0});
    for (double t : predicted_s) modes.push_back({t, 0, 0});
    // Upper bounds (us) of each cluster: half the first prediction, then
    // the geometric middle of neighbours; the last is open.
    std::vector<double> upper;
    for (size_t i = 0; i + 1 < modes.size(); ++i) {
        double hi = i == 0 ? modes[1].predicted_s / 2 : std::sqrt(modes[i].predicted_s * modes[i + 1].predicted_s);
        upper.push_back(hi * 1e6);
    }
    upper.push_back(std::numeric_limits<double>::infinity());
    std::vector<std::vector<std::pair<uint64_t, uint64_t>>> buckets(modes.size());  // (middle us, count)
    for (size_t i = 0; i < load::Histogram::kBuckets; ++i) {
        uint64_t n = h.bucket_count(i);
        if (!n) continue;
        uint64_t mid = load::Histogram::bucket_lower(i) + load::Histogram::bucket_width(i) / 2;
        mid = std::clamp(mid, h.min(), h.max());
        size_t m = 0;
        while (m + 1 < modes.size() && static_cast<double>(mid) >= upper[m]) ++m;
        modes[m].count += n;
        buckets[m].push_back({mid, n});
    }
    for (size_t m = 0; m < modes.size(); ++m) {
        uint64_t half = (modes[m].count + 1) / 2, seen = 0;
        for (auto [value, n] : buckets[m]) {
            seen += n;
            if (seen >= half) {
                modes[m].median_ms = static_cast<double>(value) / 1000.0;
                break;
            }
        }
    }
    return modes;
}

std::string queue_timeline(const std::vector<QueueSample>& samples) {
    std::string out;
    for (const auto& s : samples) {
        bool full = s.accept_queue > s.backlog || (s.backlog == 0 && s.accept_queue > 0);
        if (full) out += '#';
        else if (s.accept_queue == 0) out += '_';
        else if (2 * s.accept_queue >= s.backlog + 1) out += 'o';
        else out += '.';
    }
    return out;
}

// --- the run --------------------------------------------------------------

report::Report run_backlog(const BacklogConfig& base, const cli::CommonOptions& common, cli::Output& output) {
    validate(base, common);
    BacklogConfig config = base;
    // --count alone ends the churn at the count (kCountBound at most);
    // with --duration, whichever comes first.
    config.duration = config.count_ends_run ? cli::Duration{0} : common.duration;
    report::Report r;
    r.command = "backlog";
    bool against_target = !common.target.empty();
    std::string why_not = sandbox::unavailable_reason();
    bool sandboxed = !against_target && !common.no_sandbox && why_not.empty();
    r.mode = against_target ? "target" : sandboxed ? "sandbox" : "host";

    std::vector<Plan> plans;
    if (config.compare.empty()) plans.push_back(plan_for(config, nullptr));
    for (const auto& v : config.compare) plans.push_back(plan_for(config, &v));
    if (!sandboxed && !against_target) {
        // Host mode: the host's sysctls are not ours to change.
        for (const auto& p : plans)
            if (needs_sandbox(p.config))
                throw Error(Exit::environment,
                            fmt::format("{}: changes sysctls, which needs the sandbox ({})", p.label,
                                        common.no_sandbox ? "--no-sandbox given" : why_not));
        r.notes.push_back(fmt::format("host mode on loopback: {}", common.no_sandbox ? "--no-sandbox given" : why_not));
    }

    std::vector<Measured> runs;
    for (const auto& plan : plans) {
        if (cli::stop_requested()) break;
        runs.push_back(run_variant(plan, sandboxed, common.target, output));
    }
    output.clear_status();
    bool interrupted = cli::stop_requested();

    // Render: results JSON, the summary table, modes, queue, counters, charts.
    double limit_s = cli::to_seconds(config.connect_timeout);
    report::Table summary{
        "backlog: connect time against the SYN-retransmit backoff",
        {"variant", "listen()", "effective", "accept", "ok/failed/cut", "connect p50", "p99", "max",
         runs.empty() ? "modes" : "modes " + modes_header(runs.front().connect_modes, limit_s), "ttfb p99", "errors"},
        {}};
    report::Table counters{"counters (deltas; s: server namespace, c: client)",
                           {"variant", "s:ListenOverflows", "s:ListenDrops", "s:TCPReqQFullDrop", "s:SyncookiesSent",
                            "s:TCPSynRetrans", "c:TCPSynRetrans", "SYN retransmits from modes"},
                           {}};
    report::Table queue{"accept queue every 100 ms (_ empty, . some, o half or more, # full: SYNs dropped)",
                        {"variant", "limit", "max", "full", "timeline"},
                        {}};
    report::json variants = report::json::object();
    report::json total_counters = report::json::object();
    load::ErrorTable all_errors;
    for (const auto& m : runs) {
        const auto& row = m.row;
        variants[m.plan.key] = row;
        all_errors.merge(m.errors);
        for (auto& [name, value] : m.server_counters.items())
            total_counters[name] = total_counters.value(name, int64_t{0}) + value.get<int64_t>();
        const auto& conn = row["connections"];
        summary.rows.push_back(
            {m.plan.label, against_target ? "-" : std::to_string(m.plan.config.backlog),
             m.backlog_effective ? std::to_string(*m.backlog_effective) : "-", row["accept"].get<std::string>(),
             fmt::format("{}/{}/{}", conn["completed"].get<uint64_t>(), conn["failed"].get<uint64_t>(),
                         conn["abandoned"].get<uint64_t>()),
             m.connect.count() ? ms_text(m.connect.percentile(50)) : "-",
             m.connect.count() ? ms_text(m.connect.percentile(99)) : "-",
             m.connect.count() ? ms_text(m.connect.max()) : "-", modes_cell(m.connect_modes, limit_s),
             m.ttfb.count() ? ms_text(m.ttfb.percentile(99)) : "-", errors_cell(m.errors)});
        auto c = [&](const report::json& j, const char* name) { return std::to_string(j.value(name, int64_t{0})); };
        counters.rows.push_back({m.plan.label, c(m.server_counters, "ListenOverflows"),
                                 c(m.server_counters, "ListenDrops"), c(m.server_counters, "TCPReqQFullDrop"),
                                 c(m.server_counters, "SyncookiesSent"), c(m.server_counters, "TCPSynRetrans"),
                                 c(m.client_counters, "TCPSynRetrans"),
                                 std::to_string(row["syn_retransmits"]["from_modes"].get<uint64_t>())});
        // At most 60 characters: each shows the fullest of its samples.
        std::vector<QueueSample> shown;
        size_t per = std::max<size_t>(1, (m.queue.size() + 59) / 60);
        for (size_t i = 0; i < m.queue.size(); i += per) {
            QueueSample fullest = m.queue[i];
            for (size_t j = i; j < std::min(i + per, m.queue.size()); ++j)
                if (m.queue[j].accept_queue > fullest.accept_queue) fullest = m.queue[j];
            shown.push_back(fullest);
        }
        std::string timeline = queue_timeline(shown);
        if (per > 1) timeline += fmt::format(" ({} ms each)", per * std::chrono::milliseconds(kSampleEvery).count());
        if (timeline.empty()) timeline = "(listener not visible from here)";
        queue.rows.push_back({m.plan.label, m.backlog_effective ? std::to_string(*m.backlog_effective + 1) : "-",
                              std::to_string(row["accept_queue"]["max"].get<uint32_t>()),
                              fmt::format("{:.0f}%", 100 * row["accept_queue"]["full_fraction"].get<double>()),
                              timeline});
    }

    if (runs.size() == 1 && config.compare.empty()) {
        // One run: its figures are the results themselves.
        r.results = runs.front().row;
        r.counters = runs.front().server_counters;
        r.counters["client"] = runs.front().client_counters;
    } else {
        r.results["variants"] = variants;
        r.counters = total_counters;
    }
    r.results["interrupted"] = interrupted;
    r.errors = load::errors_json(all_errors);

    r.tables.push_back(std::move(summary));
    if (!runs.empty()) {
        // Predicted against measured, one row per predicted time.
        report::Table modes{"SYN retransmissions: predicted (1 s initial RTO; linear, then doubling) against measured",
                            {"predicted", "variant", "connect n", "connect median", "first byte n", "first byte median"},
                            {}};
        for (const auto& m : runs) {
            for (size_t k = 0; k < m.connect_modes.size(); ++k) {
                const auto& cm = m.connect_modes[k];
                const auto& tm = m.ttfb_modes[k];
                if (cm.predicted_s > limit_s + 1 && !cm.count && !tm.count) break;
                if (k > 0 && !cm.count && !tm.count && cm.predicted_s > limit_s) continue;
                modes.rows.push_back({cm.predicted_s == 0 ? "first SYN" : fmt::format("{:g} s", cm.predicted_s),
                                      m.plan.label, std::to_string(cm.count),
                                      cm.count ? fmt::format("{:.0f} ms", cm.median_ms) : "-",
                                      std::to_string(tm.count), tm.count ? fmt::format("{:.0f} ms", tm.median_ms) : "-"});
            }
        }
        r.tables.push_back(std::move(modes));
    }
    r.tables.push_back(std::move(queue));
    r.tables.push_back(std::move(counters));
    for (const auto& m : runs) {
        r.tables.push_back(chart_table(fmt::format("connect time, {}", m.plan.label), m.connect));
        if (runs.size() == 1) r.tables.push_back(chart_table(fmt::format("time to first byte, {}", m.plan.label), m.ttfb));
    }

    if (interrupted) r.notes.push_back("interrupted: partial result");
    for (const auto& m : runs)
        if (!m.sampler_failure.empty())
            r.notes.push_back(fmt::format("{}: accept-queue sampling stopped early: {}", m.plan.label, m.sampler_failure));
    if (!sandboxed) r.notes.push_back("counters are the whole host's: other connections move them too");
    for (const auto& m : runs) {
        const auto& mode1 = m.connect_modes.size() > 1 ? m.connect_modes[1] : Mode{};
        if (m.server_counters.value("ListenOverflows", int64_t{0}) > 0 && m.ttfb_modes.size() > 1 &&
            m.ttfb_modes[1].count > mode1.count)
            r.notes.push_back(fmt::format(
                "{}: some connections counted as connected at once but waited ~1 s for their first response: their "
                "final ACK was dropped (queue full) and the server's SYN-ACK retransmission let them in",
                m.plan.label));
    }

    report::json variant_names = report::json::array();
    for (const auto& v : config.compare) variant_names.push_back(v.name);
    r.config = {{"backlog", config.backlog},
                {"accept", config.accept.name()},
                {"response_delay_ms", cli::to_ms(config.response_delay)},
                {"burst", config.burst},
                {"concurrency", config.concurrency},
                {"rate_per_s", config.rate},
                {"count", config.count},
                {"duration_s", config.count_ends_run ? report::json(nullptr)  // the count ends the run
                                                     : report::json(cli::to_seconds(config.duration))},
                {"exchanges", config.exchanges},
                {"close", config.close},
                {"syn_retries", config.syn_retries ? report::json(*config.syn_retries) : report::json(nullptr)},
                {"syn_linear_timeouts",
                 config.syn_linear_timeouts ? report::json(*config.syn_linear_timeouts) : report::json(nullptr)},
                {"connect_timeout_s", cli::to_seconds(config.connect_timeout)},
                {"io_timeout_s", cli::to_seconds(config.io_timeout)},
                {"syncookies", config.syncookies ? report::json(*config.syncookies) : report::json(nullptr)},
                {"abort_on_overflow", config.abort_on_overflow},
                {"somaxconn", config.somaxconn ? report::json(*config.somaxconn) : report::json(nullptr)},
                {"max_syn_backlog", config.max_syn_backlog ? report::json(*config.max_syn_backlog) : report::json(nullptr)},
                {"compare", variant_names},
                {"path", config.path},
                {"no_sandbox", common.no_sandbox}};
    if (against_target) r.config["target"] = common.target;
    r.sysctls = runs.empty() ? report::json::object() : runs.front().row["sysctls"];
    return r;
}

}  // namespace sockdrill::scenario
