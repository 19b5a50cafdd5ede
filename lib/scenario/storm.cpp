// sockdrill-storm: each scenario sets up the two hosts (a sandbox, or this
// host on loopback), starts the embedded server the scenario's way (or uses
// --target), drives the keep-alive engine at it and reads what the kernel
// and the server counted; run_storm() renders the result.
#include "scenario/storm.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <span>

#include "cli/signals.hpp"
#include "kernel/counters.hpp"
#include "net/error.hpp"
#include "sandbox/hosts.hpp"
#include "sandbox/sandbox.hpp"
#include "server/server.hpp"

namespace sockdrill::scenario {

namespace {

using namespace std::chrono_literals;
using sandbox::Hosts;
using sandbox::Side;
using cli::Duration;

constexpr StormScenario kScenarios[] = {StormScenario::steady, StormScenario::compare_io,
                                        StormScenario::reconnect, StormScenario::idle_race};
constexpr const char* kIoModels[] = {"select", "poll", "epoll", "threads"};

// The listen-queue counters of the reconnect storm (server side) and the
// client's SYN retransmissions.
constexpr const char* kServerCounters[] = {"ListenOverflows", "ListenDrops", "TCPReqQFullDrop",
                                           "SyncookiesSent", "TCPSynRetrans"};
constexpr const char* kClientCounters[] = {"TCPSynRetrans"};

// What each scenario runs when a flag is not given.
struct Defaults {
    unsigned connections;
    Duration duration;  ///< per variant
    int backlog;
    Duration server_keepalive_timeout;
};
Defaults defaults_for(StormScenario s) {
    switch (s) {
        case StormScenario::steady: return {100, 10s, 511, 60s};
        case StormScenario::compare_io: return {50, 2s, 511, 60s};
        // listen(128): the somaxconn of kernels before 5.4, and many servers' default.
        case StormScenario::reconnect: return {1000, 6s, 128, 60s};
        case StormScenario::idle_race: return {50, 5s, 511, 1s};
    }
    return {100, 10s, 511, 60s};
}

// The run's effective settings: the flags with the scenario's defaults filled in.
struct Plan {
    StormConfig config;
    Duration duration{};
    bool against_target = false;
    bool sandboxed = false;
};

Plan plan_for(StormConfig config, const cli::CommonOptions& common) {
    Plan p;
    auto d = defaults_for(config.scenario);
    if (!config.given_connections) config.load.connections = d.connections;
    if (config.server_backlog == 0) config.server_backlog = d.backlog;
    if (!config.given_server_keepalive_timeout) config.server_keepalive_timeout = d.server_keepalive_timeout;
    if (config.scenario == StormScenario::idle_race) {
        if (config.reuse_interval.count() == 0) config.reuse_interval = config.server_keepalive_timeout;
        if (config.client_idle_timeout.count() == 0)
            config.client_idle_timeout = config.server_keepalive_timeout * 4 / 5;
        if (config.client_idle_timeout >= config.server_keepalive_timeout)
            throw Error::usage(fmt::format(
                "--client-idle-timeout: the fix needs a timeout below the server's keep-alive timeout ({}), got {}",
                cli::format_duration(config.server_keepalive_timeout),
                cli::format_duration(config.client_idle_timeout)));
        // What the rows share; each row sets watch_idle and the idle timeout.
        config.load.think_time = config.reuse_interval;
    }
    p.duration = common.duration.count() > 0 ? common.duration : d.duration;
    if (config.scenario == StormScenario::reconnect) {
        if (config.restart_after.count() == 0) config.restart_after = p.duration / 2;
        if (config.restart_after >= p.duration)
            throw Error::usage(fmt::format("--restart-after: expected less than the duration ({}), got {}",
                                           cli::format_duration(p.duration),
                                           cli::format_duration(config.restart_after)));
    }
    p.config = std::move(config);
    p.against_target = !common.target.empty();
    p.sandboxed = !p.against_target && !common.no_sandbox && sandbox::unavailable_reason().empty();
    return p;
}

Hosts make_hosts(const Plan& p) {
    Hosts h;
    if (!p.sandboxed) return h;
    sandbox::Options o;
    if (p.config.sources > 1) o.extra_client_addresses = p.config.sources - 1;
    h.box = std::make_unique<sandbox::Sandbox>(o);
    return h;
}

server::Config server_config(const Plan& p, const Hosts& h, const std::string& io, bool nodelay) {
    const StormConfig& c = p.config;
    server::Config sc;
    sc.listen = {h.address(Side::server).to_string()};
    sc.io = io;
    sc.workers = c.server_workers;
    sc.nodelay = nodelay;
    sc.backlog = c.server_backlog;
    sc.keepalive_timeout = c.server_keepalive_timeout;
    sc.response_size = c.response_size;
    if (c.load.payload == load::Payload::echo) sc.mode = "echo";
    // A stop (the reconnect scenario's restart, the end of a run) lets
    // requests in flight finish for at most this long.
    sc.drain_timeout = 200ms;
    return sc;
}

// Stops the embedded server; a worker that failed (it also asked the run to
// stop, as SIGINT would) is the environment's failure, not an interruption.
void stop_server(server::Server& server) {
    server.stop();
    if (auto why = server.failure(); !why.empty())
        throw Error(Exit::environment, fmt::format("the embedded server failed: {}", why));
}

std::unique_ptr<server::Server> start_server(const Hosts& h, const server::Config& sc) {
    auto server = h.in(Side::server, [&] { return std::make_unique<server::Server>(sc); });
    server->start();
    return server;
}

// 127.0.0.1 .. 127.0.0.N: every 127/8 address is loopback, no set-up needed.
std::vector<net::Address> loopback_sources(unsigned n) {
    std::vector<net::Address> sources;
    for (unsigned i = 1; i <= n; ++i)
        sources.push_back(net::Address::parse_host(fmt::format("127.0.{}.{}", i / 256, i % 256), 0));
    return sources;
}

load::KeepaliveConfig load_config(const Plan& p, const Hosts& h, const net::Address& target) {
    load::KeepaliveConfig lc = p.config.load;
    lc.target = target;
    lc.duration = p.duration;
    lc.netns = h.netns(Side::client);
    if (p.config.sources > 1) lc.sources = h.box ? h.box->client_addresses() : loopback_sources(p.config.sources);
    return lc;
}

// Descriptors for the client's connections and an in-process server's:
// the soft limit goes up to the hard one when the run needs more.
void raise_fd_limit(const Plan& p) {
    uint64_t need = uint64_t{p.config.load.connections} * (p.against_target ? 1 : 2) + 256;
    if (net::raise_fd_limit(need) < need)
        throw Error(Exit::environment,
                    fmt::format("--connections {}: needs about {} descriptors, more than the hard limit (ulimit -Hn)",
                                p.config.load.connections, need));
}

// This process's resident memory, from /proc/self/statm.
uint64_t rss_bytes() {
    std::ifstream statm("/proc/self/statm");
    uint64_t size = 0, resident = 0;
    statm >> size >> resident;
    return resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

// The server's syscalls per request it answered, to 3 decimals.
double per_request(const server::Snapshot& served) {
    if (!served.requests) return 0.0;
    return std::round(double(served.syscalls_total()) / double(served.requests) * 1000) / 1000;
}

std::string rate_text(double rate) { return fmt::format("{:.0f}", rate); }


// --- driving the load, with the status line and --interval records --------

struct Live {
    const cli::CommonOptions& common;
    cli::Output& output;
    std::string scenario;
    std::string mode;
};

// Runs one load to its end. Every 100 ms `tick` sees the elapsed seconds (the
// reconnect scenario restarts the server from it); every second (or
// --interval) the status line on a terminal, and with --interval one record.
load::KeepaliveResult drive(const load::KeepaliveConfig& lc, const std::string& variant, Live& live,
                            const std::function<void(double)>& tick = {}) {
    load::KeepaliveDriver driver(lc);
    driver.start();
    const bool records = live.common.interval.count() > 0;
    const double period = records ? cli::to_seconds(live.common.interval) : 1.0;
    double next = period;
    load::detail::sample_until_end(driver, 100ms, [&] {
        auto now = driver.live();
        if (tick) tick(now.elapsed_s);
        if (now.elapsed_s < next) return;
        next += period;
        auto iv = driver.take_interval();
        std::string line = fmt::format("{} {}: {:>8.0f} req/s  p50 {}  p99 {}  errors {}  open {}  {:.1f}/{:.1f} s",
                                       live.scenario, variant, iv.requests_per_s(),
                                       load::format_us(iv.latency.percentile(50)), load::format_us(iv.latency.percentile(99)),
                                       now.errors, now.open, now.elapsed_s, cli::to_seconds(lc.duration));
        if (!records) return live.output.status(line);
        report::Report partial;
        partial.command = "storm";
        partial.mode = live.mode;
        report::json record;
        load::to_json(record, iv);
        partial.results = {{"scenario", live.scenario}, {"variant", variant}, {"interval", record}};
        partial.tables.push_back({fmt::format("{} {}", live.scenario, variant),
                                  {"t", "req/s", "p50", "p99", "max", "errors", "open"},
                                  {{fmt::format("{:.1f} s", iv.end_s), rate_text(iv.requests_per_s()),
                                    load::format_us(iv.latency.percentile(50)), load::format_us(iv.latency.percentile(99)),
                                    load::format_us(iv.latency.max()), std::to_string(iv.errors), std::to_string(iv.open)}}});
        live.output.sample(partial, line);
    });
    live.output.clear_status();
    return driver.wait();
}

report::json load_json(const load::KeepaliveResult& result) {
    report::json j;
    load::to_json(j, result);
    return j;
}

// Adds a run's errors into the report's phase -> errno name -> count.
void add_errors(report::Report& r, const report::json& load) {
    for (const auto& [phase, names] : load.at("errors").items())
        for (const auto& [name, n] : names.items()) {
            auto& cell = r.errors[phase][name];
            cell = (cell.is_null() ? uint64_t{0} : cell.get<uint64_t>()) + n.get<uint64_t>();
        }
}

std::vector<std::string> latency_cells(const load::Histogram& h) {
    return {load::format_us(h.percentile(50)), load::format_us(h.percentile(99)), load::format_us(h.max())};
}

report::Table chart_table(const std::string& title, const load::Histogram& h) {
    return report::text_table(title, fmt::format("{:>8} |", "time"), load::render_chart(h));
}

// How the kernel told the client its connection was gone, on the read or
// the write of a request (not a connect): a reset, a broken pipe, or an
// empty reply (EOF). With one request per reuse, one each per lost request.
struct RaceErrors {
    uint64_t reset = 0, broken_pipe = 0, empty_reply = 0;
};
RaceErrors race_errors(const load::KeepaliveStats& s) {
    using load::Phase;
    return {s.errors.count(Phase::read, ECONNRESET) + s.errors.count(Phase::write, ECONNRESET),
            s.errors.count(Phase::read, EPIPE) + s.errors.count(Phase::write, EPIPE),
            s.errors.count(Phase::read, 0)};
}

// Against --target, a run in which no connection ever opened is the
// target's failure, not a result: exit 4 naming the commonest error. An
// interrupted run keeps its partial result instead.
void check_target_answered(const load::KeepaliveResult& result, const std::string& target) {
    const auto& s = result.stats;
    if (s.connections.opened > 0 || s.errors.total() == 0 || result.stopped || cli::stop_requested()) return;
    int worst = 0;
    for (int e = 0; e < load::ErrorTable::kSlots; ++e)
        if (s.errors.count(e) > s.errors.count(worst)) worst = e;
    throw Error(Exit::target, fmt::format("--target {}: every connection failed ({} {})", target,
                                          load::error_name(worst), s.errors.count(worst)));
}

// Where the load goes: --target, or the embedded server started the plan's way.
struct Endpoint {
    std::unique_ptr<server::Server> server;  ///< null against --target
    net::Address target;
};
Endpoint endpoint_for(const Plan& p, const Hosts& h, const Live& live) {
    Endpoint e;
    if (p.against_target) {
        e.target = net::parse_local_target(live.common.target);
    } else {
        e.server = start_server(h, server_config(p, h, p.config.server_io, p.config.server_nodelay));
        e.target = e.server->addresses().front();
    }
    return e;
}

// --- steady ----------------------------------------------------------------

report::Report run_steady(const Plan& p, Live& live) {
    report::Report r;
    Hosts h = make_hosts(p);
    auto [server, target] = endpoint_for(p, h, live);
    auto lc = load_config(p, h, target);
    uint64_t rss_before = rss_bytes(), rss_held = 0;
    auto result = drive(lc, p.config.load.idle ? "idle" : "load", live, [&](double) {
        if (p.config.load.idle) rss_held = std::max(rss_held, rss_bytes());
    });
    server::Snapshot served;
    if (server) {
        stop_server(*server);
        served = server->snapshot();
    } else {
        check_target_answered(result, live.common.target);
    }

    const auto& s = result.stats;
    report::json load = load_json(result);
    r.results["scenario"] = "steady";
    r.results["load"] = load;
    if (server) {
        r.results["server"] = {{"io", p.config.server_io},
                               {"workers", p.config.server_workers},
                               {"nodelay", p.config.server_nodelay},
                               {"backlog", p.config.server_backlog},
                               {"requests", served.requests},
                               {"syscalls_per_request", per_request(served)}};
    } else {
        r.results["server"] = nullptr;
    }
    add_errors(r, load);

    report::Table summary{fmt::format("storm steady: {} connections, {} thread{}, {} loop{}", lc.connections,
                                      lc.threads, lc.threads == 1 ? "" : "s",
                                      lc.rate > 0 ? fmt::format("open ({}/s)", rate_text(lc.rate)) : "closed",
                                      lc.pipeline > 1 ? fmt::format(", pipeline {}", lc.pipeline) : ""),
                          {"requests", "req/s", "p50", "p90", "p99", "p99.9", "max", "lost", "abandoned", "errors"},
                          {}};
    summary.rows.push_back({std::to_string(s.completed), rate_text(result.requests_per_s()),
                            load::format_us(s.latency.percentile(50)), load::format_us(s.latency.percentile(90)),
                            load::format_us(s.latency.percentile(99)), load::format_us(s.latency.percentile(99.9)),
                            load::format_us(s.latency.max()), std::to_string(s.lost), std::to_string(s.abandoned),
                            std::to_string(s.errors.total())});
    if (!p.config.load.idle) r.tables.push_back(summary);  // idle connections carry no request
    const auto& c = s.connections;
    r.tables.push_back({"connections",
                        {"opened", "peak open", "closed by client", "by server", "reset by server", "failed", "connect p50",
                         "connect p99"},
                        {{std::to_string(c.opened), std::to_string(c.peak_open), std::to_string(c.closed_by_client),
                          std::to_string(c.closed_by_server), std::to_string(c.reset_by_server), std::to_string(c.failed),
                          load::format_us(s.connect.percentile(50)), load::format_us(s.connect.percentile(99))}}});
    if (s.latency.count()) r.tables.push_back(chart_table("request latency", s.latency));
    if (server && served.requests)
        r.notes.push_back(fmt::format("server: --io {}, {} worker{}, {:.2f} syscalls per request", p.config.server_io,
                                      p.config.server_workers, p.config.server_workers == 1 ? "" : "s",
                                      r.results["server"]["syscalls_per_request"].get<double>()));
    if (lc.rate > 0 && s.abandoned)
        r.notes.push_back(fmt::format("{} requests fell due while no connection was free and were never sent: "
                                      "the open loop's rate was more than the server answered",
                                      s.abandoned));
    if (p.config.load.idle) {
        // Memory per idle connection: this process's resident growth while
        // the connections were held (socket buffers are kernel memory, not here).
        uint64_t growth = rss_held > rss_before ? rss_held - rss_before : 0;
        double per = c.peak_open ? double(growth) / double(c.peak_open) : 0.0;
        r.results["idle"] = {{"connections", c.peak_open},
                             {"rss_before_bytes", rss_before},
                             {"rss_held_bytes", rss_held},
                             {"bytes_per_connection", per},
                             {"includes_server", server != nullptr}};
        r.notes.push_back(fmt::format(
            "idle: {} connections held, resident memory grew {:.1f} MiB, {:.0f} bytes per connection{}", c.peak_open,
            double(growth) / (1 << 20), per,
            server ? " (client and the in-process server together; --target measures the client alone)" : ""));
    }
    return r;
}

// --- compare-io -------------------------------------------------------------

report::Report run_compare_io(const Plan& p, Live& live) {
    report::Report r;
    Hosts h = make_hosts(p);
    report::Table table{fmt::format("storm compare-io: {} keep-alive connections, closed loop, {} each",
                                    p.config.load.connections, cli::format_duration(p.duration)),
                        {"io", "nodelay", "requests", "req/s", "p50", "p99", "max", "errors", "server syscalls/req"},
                        {}};
    report::json rows = report::json::array();
    for (const auto& io : p.config.io_models) {
        for (bool nodelay : p.config.nodelay_modes) {
            if (cli::stop_requested()) break;
            auto server = start_server(h, server_config(p, h, io, nodelay));
            auto lc = load_config(p, h, server->addresses().front());
            std::string variant = fmt::format("{}{}", io, nodelay ? "+nodelay" : "");
            auto result = drive(lc, variant, live);
            stop_server(*server);
            auto served = server->snapshot();
            const auto& s = result.stats;
            double syscalls_per_request = per_request(served);
            report::json load = load_json(result);
            add_errors(r, load);
            report::json server_syscalls = report::json::object();
            for (size_t i = 0; i < served.syscalls.size(); ++i)
                if (served.syscalls[i])
                    server_syscalls[std::string(server::syscall_name(static_cast<server::Syscall>(i)))] =
                        served.syscalls[i];
            rows.push_back({{"io", io},
                            {"nodelay", nodelay},
                            {"requests_per_s", load.at("requests_per_s")},
                            {"p50_us", s.latency.percentile(50)},
                            {"p99_us", s.latency.percentile(99)},
                            {"max_us", s.latency.max()},
                            {"server_requests", served.requests},
                            {"server_syscalls", server_syscalls},
                            {"server_syscalls_per_request", syscalls_per_request},
                            {"load", load}});
            auto cells = latency_cells(s.latency);
            table.rows.push_back({io, nodelay ? "on" : "off", std::to_string(s.completed),
                                  rate_text(result.requests_per_s()), cells[0], cells[1], cells[2],
                                  std::to_string(s.errors.total()), fmt::format("{:.2f}", syscalls_per_request)});
        }
    }
    r.results = {{"scenario", "compare-io"}, {"variants", rows}};
    r.tables.push_back(table);
    r.notes.push_back("server syscalls/req: the embedded server's own count of its socket and poller calls");
    return r;
}

// --- reconnect -------------------------------------------------------------

report::Report run_reconnect(const Plan& p, Live& live) {
    report::Report r;
    report::Table table{fmt::format("storm reconnect: {} keep-alive clients, the server (listen backlog {}) "
                                    "restarts at {:.1f} s",
                                    p.config.load.connections, p.config.server_backlog,
                                    cli::to_seconds(p.config.restart_after)),
                        {"backoff", "reconnects", "reconnect p50", "p99", "max", "ListenOverflows", "ListenDrops",
                         "client SYN retrans", "refused", "failed req"},
                        {}};
    report::json variants = report::json::object();
    std::vector<std::pair<std::string, load::Histogram>> charts;
    for (auto backoff : p.config.backoffs) {
        if (cli::stop_requested()) break;
        Hosts h = make_hosts(p);  // fresh namespaces: each variant's counters its own
        auto sc = server_config(p, h, p.config.server_io, p.config.server_nodelay);
        auto server = start_server(h, sc);
        // The restarted server binds the address the first one got.
        sc.listen = {server->addresses().front().to_string()};
        auto lc = load_config(p, h, server->addresses().front());
        lc.backoff = backoff;
        auto server_before = h.in(Side::server, [] { return kernel::read_counters(); });
        auto client_before = h.in(Side::client, [] { return kernel::read_counters(); });
        const double restart_at = cli::to_seconds(p.config.restart_after);
        std::optional<double> restarted_at;
        std::string restart_failure;
        std::string name(load::backoff_name(backoff));
        auto result = drive(lc, name, live, [&](double elapsed) {
            if (restarted_at || elapsed < restart_at) return;
            restarted_at = elapsed;
            try {
                stop_server(*server);
                server.reset();  // the old listener closes with it
                server = start_server(h, sc);
            } catch (const std::exception& e) {
                // The load runs on against no server; the result says why.
                server.reset();
                restart_failure = e.what();
            }
        });
        if (server) stop_server(*server);
        if (!restart_failure.empty())
            r.notes.push_back(fmt::format("backoff {}: the restart failed: {}", name, restart_failure));
        auto server_counters =
            kernel::counter_deltas_json(server_before, h.in(Side::server, [] { return kernel::read_counters(); }), kServerCounters);
        auto client_counters =
            kernel::counter_deltas_json(client_before, h.in(Side::client, [] { return kernel::read_counters(); }), kClientCounters);
        const auto& s = result.stats;
        report::json load = load_json(result);
        add_errors(r, load);
        uint64_t refused = s.errors.count(load::Phase::connect, ECONNREFUSED);
        uint64_t failed = s.lost;
        variants[name] = {{"backoff", name},
                          {"backoff_max_ms", cli::to_ms(lc.backoff_max)},
                          {"restarted_at_s", restarted_at ? report::json(*restarted_at) : report::json(nullptr)},
                          {"reconnect", load.at("reconnect")},
                          {"reconnects", s.connections.reconnects},
                          {"refused_connects", refused},
                          {"lost_requests", s.lost},
                          {"server_counters", server_counters},
                          {"client_counters", client_counters},
                          {"load", load}};
        auto cells = latency_cells(s.reconnect);
        table.rows.push_back({name, std::to_string(s.connections.reconnects), cells[0], cells[1], cells[2],
                              server_counters["ListenOverflows"].dump(), server_counters["ListenDrops"].dump(),
                              client_counters["TCPSynRetrans"].dump(), std::to_string(refused),
                              std::to_string(failed)});
        charts.emplace_back(name, s.reconnect);
        if (p.config.backoffs.size() == 1) {
            r.counters = server_counters;
            r.counters["client"] = client_counters;
        }
    }
    r.results = {{"scenario", "reconnect"},
                 {"connections", p.config.load.connections},
                 {"server_backlog", p.config.server_backlog},
                 {"restart_after_s", cli::to_seconds(p.config.restart_after)},
                 {"variants", variants}};
    r.tables.push_back(table);
    for (const auto& [name, h] : charts)
        if (h.count()) r.tables.push_back(chart_table(fmt::format("reconnect latency, backoff {}", name), h));
    r.notes.push_back(
        "reconnect latency: from losing the connection to the first response on the next one (backoff, refused "
        "connects and dropped handshakes included); failed req: requests lost with their connection");
    if (!p.sandboxed) r.notes.push_back("host mode: the counters are this host's, every socket included");
    return r;
}

// --- idle-race -------------------------------------------------------------

struct RaceVariant {
    std::string key, label;
    bool watch_idle = false;
    bool client_idle_timeout = false;
};

report::Report run_idle_race(const Plan& p, Live& live) {
    const StormConfig& c = p.config;
    const std::vector<RaceVariant> variants = {
        {"naive", fmt::format("reuse every {}, pool reuses without looking", cli::format_duration(c.reuse_interval)),
         false, false},
        {"watching", "the same, pool watches its idle connections", true, false},
        {"client_timeout",
         fmt::format("client idle timeout {} < server's {}", cli::format_duration(c.client_idle_timeout),
                     cli::format_duration(c.server_keepalive_timeout)),
         false, true},
    };
    report::Report r;
    report::Table table{fmt::format("storm idle-race: {} connections, server keep-alive timeout {}, each connection "
                                    "reused every {} (+-{:.0f}%)",
                                    c.load.connections, cli::format_duration(c.server_keepalive_timeout),
                                    cli::format_duration(c.reuse_interval), c.load.think_jitter * 100),
                        {"client", "requests", "hit a closed conn", "ECONNRESET", "EPIPE", "empty reply",
                         "closed idle by server", "client idle closes"},
                        {}};
    report::json results = report::json::object();
    for (const auto& v : variants) {
        if (cli::stop_requested()) break;
        Hosts h = make_hosts(p);
        auto [server, target] = endpoint_for(p, h, live);
        auto lc = load_config(p, h, target);
        lc.think_time = c.reuse_interval;
        lc.watch_idle = v.watch_idle;
        lc.client_idle_timeout = v.client_idle_timeout ? c.client_idle_timeout : Duration{0};
        auto result = drive(lc, v.key, live);
        if (server) stop_server(*server);
        else check_target_answered(result, live.common.target);
        const auto& s = result.stats;
        auto race = race_errors(s);
        report::json load = load_json(result);
        add_errors(r, load);
        results[v.key] = {{"client", v.label},
                          {"watch_idle", v.watch_idle},
                          {"client_idle_timeout_ms", cli::to_ms(lc.client_idle_timeout)},
                          {"requests", s.sent},
                          {"completed", s.completed},
                          {"hit_closed", s.lost},
                          {"econnreset", race.reset},
                          {"epipe", race.broken_pipe},
                          {"empty_reply", race.empty_reply},
                          {"closed_by_server", s.connections.closed_by_server},
                          {"client_idle_closes", s.connections.closed_idle},
                          {"load", load}};
        table.rows.push_back({v.label, std::to_string(s.sent), std::to_string(s.lost), std::to_string(race.reset),
                              std::to_string(race.broken_pipe), std::to_string(race.empty_reply),
                              std::to_string(s.connections.closed_by_server),
                              std::to_string(s.connections.closed_idle)});
    }
    r.results = {{"scenario", "idle-race"},
                 {"server_keepalive_timeout_ms", cli::to_ms(c.server_keepalive_timeout)},
                 {"reuse_interval_ms", cli::to_ms(c.reuse_interval)},
                 {"reuse_jitter", c.load.think_jitter},
                 {"variants", results}};
    r.tables.push_back(table);
    r.notes.push_back(
        "hit a closed conn: requests sent on a connection the server had closed or was closing; the pool that "
        "watches its idle connections sees most FINs first and loses only those crossing it on the wire");
    r.notes.push_back("the fix: a client idle timeout below the server's, so no connection the server may have "
                      "closed is reused (each reuse after the timeout opens a new connection)");
    return r;
}

}  // namespace

std::string scenario_name(StormScenario s) {
    switch (s) {
        case StormScenario::steady: return "steady";
        case StormScenario::compare_io: return "compare-io";
        case StormScenario::reconnect: return "reconnect";
        case StormScenario::idle_race: return "idle-race";
    }
    return "?";
}

StormScenario parse_storm_scenario(const std::string& text) {
    for (auto s : kScenarios)
        if (scenario_name(s) == text) return s;
    throw Error::usage(fmt::format(
        "--scenario: unknown scenario \"{}\" (expected steady, compare-io, reconnect or idle-race)", text));
}

void validate(const StormConfig& c, const cli::CommonOptions& common) {
    auto valid_io = [](const std::string& io) {
        return std::find(std::begin(kIoModels), std::end(kIoModels), io) != std::end(kIoModels);
    };
    for (const auto& io : c.io_models)
        if (!valid_io(io))
            throw Error::usage(fmt::format("--io: unknown model \"{}\" (expected select, poll, epoll or threads)", io));
    if (!valid_io(c.server_io))
        throw Error::usage(fmt::format("--io: unknown model \"{}\" (expected select, poll, epoll or threads)",
                                       c.server_io));
    if (c.io_models.empty()) throw Error::usage("--io: no model given");
    if (c.nodelay_modes.empty()) throw Error::usage("--nodelay: no mode given");
    if (c.backoffs.empty()) throw Error::usage("--backoff: no backoff given");
    if (c.sources < 1 || c.sources > 200)
        throw Error::usage(fmt::format("--sources: expected 1 to 200 addresses, got {}", c.sources));
    if (c.server_workers < 1 || c.server_workers > 64)
        throw Error::usage(fmt::format("--server-workers: expected 1 to 64, got {}", c.server_workers));
    if (c.server_backlog < 0) throw Error::usage("--server-backlog: expected 1 or more");
    if (common.duration.count() < 0) throw Error::usage("--duration: expected more than 0");
    if (!common.target.empty()) {
        net::parse_local_target(common.target);
        if (c.scenario == StormScenario::compare_io || c.scenario == StormScenario::reconnect)
            throw Error::usage(fmt::format("--target: {} starts and restarts the embedded server; it runs without "
                                           "--target",
                                           scenario_name(c.scenario)));
    }
    if (c.scenario == StormScenario::idle_race || c.scenario == StormScenario::reconnect ||
        c.scenario == StormScenario::compare_io) {
        if (c.load.rate > 0)
            throw Error::usage(fmt::format("--rate: {} runs a closed loop (each connection paced by its own "
                                           "requests)",
                                           scenario_name(c.scenario)));
        if (c.load.idle) throw Error::usage(fmt::format("--idle: only with --scenario steady"));
    }
    if (c.scenario == StormScenario::idle_race && c.load.pipeline > 1)
        throw Error::usage("--pipeline: idle-race sends one request per reuse");
    for (size_t i = 0; i < c.backoffs.size(); ++i)
        for (size_t j = 0; j < i; ++j)
            if (c.backoffs[i] == c.backoffs[j])
                throw Error::usage(
                    fmt::format("--backoff: {} given twice", load::backoff_name(c.backoffs[i])));
    // Against a real server the race needs its timeout: the reuse interval
    // and the fix are set from it.
    if (c.scenario == StormScenario::idle_race && !common.target.empty() && !c.given_server_keepalive_timeout)
        throw Error::usage("--server-keepalive-timeout: idle-race against --target needs the target's keep-alive "
                           "timeout (nginx keepalive_timeout, Node server.keepAliveTimeout, ...)");
    // The engine's own checks (connections, pipeline, rate, payload...).
    load::KeepaliveConfig probe = c.load;
    probe.target = net::Address::parse_host("127.0.0.1", 1);
    // The duration is the scenario's until plan_for(), which checks the ramp against it.
    probe.duration = common.duration.count() > 0 ? common.duration : std::chrono::hours(1);
    load::validate(probe);
}

report::Report run_storm(StormConfig config, const cli::CommonOptions& common, cli::Output& output) {
    validate(config, common);
    Plan p = plan_for(std::move(config), common);
    if (p.config.load.ramp > p.duration)
        throw Error::usage(fmt::format("--ramp: expected at most the duration ({}), got {}",
                                       cli::format_duration(p.duration), cli::format_duration(p.config.load.ramp)));
    raise_fd_limit(p);
    std::string mode = p.against_target ? "target" : p.sandboxed ? "sandbox" : "host";
    Live live{common, output, scenario_name(p.config.scenario), mode};
    report::Report r;
    switch (p.config.scenario) {
        case StormScenario::steady: r = run_steady(p, live); break;
        case StormScenario::compare_io: r = run_compare_io(p, live); break;
        case StormScenario::reconnect: r = run_reconnect(p, live); break;
        case StormScenario::idle_race: r = run_idle_race(p, live); break;
    }
    r.command = "storm";
    r.mode = mode;
    report::json lc;
    load::to_json(lc, p.config.load);
    lc.erase("target");
    lc.erase("netns");
    lc["duration_s"] = cli::to_seconds(p.duration);
    r.config = {{"scenario", scenario_name(p.config.scenario)}, {"load", lc}, {"sources", p.config.sources}};
    if (p.config.scenario == StormScenario::compare_io) {
        r.config["io"] = p.config.io_models;
        r.config["nodelay"] = p.config.nodelay_modes;
    }
    if (!p.against_target)
        r.config["server"] = {{"io", p.config.server_io},
                              {"workers", p.config.server_workers},
                              {"nodelay", p.config.server_nodelay},
                              {"backlog", p.config.server_backlog},
                              {"keepalive_timeout_ms", cli::to_ms(p.config.server_keepalive_timeout)},
                              {"response_size_bytes", p.config.response_size}};
    else
        r.config["target"] = common.target;
    if (!p.sandboxed && !p.against_target)
        r.notes.push_back(fmt::format("host mode on loopback: {}",
                                      common.no_sandbox ? "--no-sandbox given" : sandbox::unavailable_reason()));
    r.results["interrupted"] = cli::stop_requested();
    if (cli::stop_requested()) r.notes.push_back("interrupted: the figures cover the run until SIGINT");
    return r;
}

}  // namespace sockdrill::scenario
