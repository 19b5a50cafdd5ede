// sockdrill-timewait: each fix gets fresh hosts (a new sandbox, so the
// census and counters of each namespace belong to that fix alone), an
// embedded server in the server's namespace, and the churn driver in the
// client's; every 100 ms the census counts TIME-WAIT on each side. The
// client's sysctls make the story: a small ip_local_port_range, and
// tcp_tw_reuse set explicitly (its default, 2, reuses TIME-WAIT ports on
// loopback only, so on the sandbox's veth it is off anyway).
#include "scenario/timewait.hpp"

#include <netinet/tcp.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fmt/format.h>
#include <map>
#include <memory>

#include "cli/signals.hpp"
#include "kernel/census.hpp"
#include "kernel/counters.hpp"
#include "kernel/sysctl.hpp"
#include "net/address.hpp"
#include "net/error.hpp"
#include "sandbox/hosts.hpp"
#include "sandbox/sandbox.hpp"
#include "server/server.hpp"

namespace sockdrill::scenario {

namespace {

using namespace std::chrono_literals;
using sandbox::Side;

constexpr Fix kAllFixes[] = {Fix::none,      Fix::tw_reuse,     Fix::linger0,     Fix::server_closes,
                             Fix::keepalive, Fix::more_sources, Fix::wider_range, Fix::max_tw_buckets};
/// TCP_TIMEWAIT_LEN (include/net/tcp.h): fixed at compile time, no sysctl.
constexpr double kTimeWaitSeconds = 60;
/// The counters each fix reports, on each side (those the kernel has).
constexpr const char* kCounters[] = {"ActiveOpens", "PassiveOpens", "OutRsts",   "EstabResets",
                                     "TCPAbortOnData", "TWRecycled", "TCPTimeWaitOverflow"};

bool needs_sandbox(Fix fix) {
    return fix == Fix::tw_reuse || fix == Fix::more_sources || fix == Fix::wider_range || fix == Fix::max_tw_buckets;
}

// One 100 ms sample.
struct Sample {
    double t_s = 0;
    uint64_t time_wait_client = 0, time_wait_server = 0;
    uint64_t client_even_ports = 0;  ///< of the client's TIME-WAIT sockets, those on an even local port
    uint64_t completed = 0, failed = 0;
    double conn_per_s = 0;
};

// The hosts of one fix: a fresh sandbox, or the host itself (one namespace
// holding both ends; the server's port tells them apart).
struct Hosts : sandbox::Hosts {
    net::Address server;  ///< where the churn connects

    std::vector<Side> sides() const {
        return box ? std::vector<Side>{Side::client, Side::server} : std::vector<Side>{Side::client};
    }
    std::string side_key(Side side) const { return box ? std::string(sandbox::side_name(side)) : "host"; }

    // TIME-WAIT on each side now: the census of each namespace (on the host,
    // only the sockets to or from the server's port).
    Sample count_time_wait() const {
        Sample s;
        kernel::DiagRequest request;
        request.states = 1u << TCP_TIME_WAIT;
        if (box) {
            box->run_in(Side::client, [&] {
                auto source = kernel::live_source();
                source->dump(request, [&](const kernel::SocketRecord& r) {
                    ++s.time_wait_client;
                    if (r.local.port() % 2 == 0) ++s.client_even_ports;
                });
            });
            s.time_wait_server = box->run_in(Side::server, [&] {
                auto source = kernel::live_source();
                return kernel::count_states(*source, request).tcp(TCP_TIME_WAIT);
            });
            return s;
        }
        request.port = server.port();
        auto source = kernel::live_source();
        source->dump(request, [&](const kernel::SocketRecord& r) {
            if (r.local == server) {
                ++s.time_wait_server;
            } else if (r.peer == server) {
                ++s.time_wait_client;
                if (r.local.port() % 2 == 0) ++s.client_even_ports;
            }
        });
        return s;
    }
};

// What one fix measured.
struct FixRun {
    Fix fix = Fix::none;
    PortRange range;
    unsigned sources = 1;
    load::ChurnConfig churn;
    load::ChurnResult result;
    std::vector<Sample> samples;
    report::json counters = report::json::object();  ///< side -> name -> delta
    report::json sysctls = report::json::object();   ///< the client's
    double hold_s = kTimeWaitSeconds;                ///< how long a used port stays unusable
    std::optional<double> predicted_s;
    double rate_basis = 0;                           ///< conn/s the prediction uses
    uint64_t peak_client = 0, peak_server = 0;
    Sample baseline;  ///< host: TIME-WAIT to the server's port before the fix began

    uint64_t counter(const std::string& side, const char* name) const {
        return counters.contains(side) ? counters[side].value(name, int64_t{0}) : 0;
    }
    uint64_t counter_sum(const char* name) const {
        uint64_t n = 0;
        for (const auto& [side, values] : counters.items()) n += values.value(name, int64_t{0});
        return n;
    }
    std::optional<double> first_eaddrnotavail() const { return result.stats.errors.first_s(EADDRNOTAVAIL); }
};

std::vector<std::string_view> sysctl_names() {
    return {"net.ipv4.ip_local_port_range", "net.ipv4.tcp_tw_reuse", "net.ipv4.tcp_tw_reuse_delay",
            "net.ipv4.tcp_max_tw_buckets", "net.ipv4.tcp_timestamps"};
}

// The range the host's kernel uses now.
PortRange host_range() {
    auto text = kernel::read_sysctl("net.ipv4.ip_local_port_range").value_or("32768 60999");
    PortRange r = kKernelDefaultRange;
    if (std::sscanf(text.c_str(), "%u %u", &r.low, &r.high) != 2) r = kKernelDefaultRange;
    return r;
}

// Sandbox sysctls for a fix: the range, tw_reuse set explicitly, the bucket limit.
sandbox::Options sandbox_options(Fix fix, const TimewaitConfig& config, const PortRange& range) {
    sandbox::Options o;
    o.client_sysctls["net.ipv4.ip_local_port_range"] = fmt::format("{} {}", range.low, range.high);
    o.client_sysctls["net.ipv4.tcp_tw_reuse"] = fix == Fix::tw_reuse ? "1" : "0";
    if (fix == Fix::max_tw_buckets)
        o.client_sysctls["net.ipv4.tcp_max_tw_buckets"] = std::to_string(config.max_tw_buckets);
    if (fix == Fix::more_sources) o.extra_client_addresses = config.sources - 1;
    return o;
}

load::ChurnConfig churn_config(Fix fix, const TimewaitConfig& config, const Hosts& hosts) {
    load::ChurnConfig c;
    c.target = hosts.server;
    c.threads = 1;
    bool keepalive = fix == Fix::keepalive;
    // keepalive: the same transactions, requests_per_conn of them on each connection.
    if (config.rate > 0) {
        c.rate = keepalive ? config.rate / config.requests_per_conn : config.rate;
        c.max_in_flight = config.concurrency;
    } else {
        c.concurrency = config.concurrency;
    }
    c.duration = config.duration;
    c.exchanges = keepalive ? config.exchanges * config.requests_per_conn : config.exchanges;
    c.payload = config.payload;
    c.close = fix == Fix::linger0         ? load::CloseMode::linger0
              : fix == Fix::server_closes ? load::CloseMode::server
                                          : load::CloseMode::client;
    if (fix == Fix::more_sources && hosts.box) {
        c.sources = hosts.box->client_addresses();
        // connect() picks the port per 4-tuple, so each source address has the whole range.
        c.bind_no_port = true;
    }
    c.connect_timeout = 2s;
    c.io_timeout = 2s;
    c.drain_timeout = 1s;
    c.netns = hosts.netns(Side::client);
    return c;
}

// The conn/s that uses up ports: the schedule's in open loop, else the rate
// measured before the first EADDRNOTAVAIL (after it, failures are fast and not connections).
double rate_basis(const FixRun& run) {
    if (run.churn.rate > 0) return run.churn.rate;
    auto first = run.first_eaddrnotavail();
    const Sample* last = nullptr;
    for (const auto& s : run.samples)
        if (!first || s.t_s <= *first) last = &s;
    if (first && last && last->t_s > 0) return double(last->completed + last->failed) / last->t_s;
    return run.result.conn_per_s();
}

// When the ports should run out under this fix, from the kernel's rules.
void predict(FixRun& run, const TimewaitConfig& config, bool loopback) {
    double reuse_delay_s = run.sysctls.value("net.ipv4.tcp_tw_reuse_delay", 1000) / 1000.0;
    int tw_reuse = run.sysctls.value("net.ipv4.tcp_tw_reuse", 2);
    // tcp_tw_reuse=1 (or 2 on loopback): a TIME-WAIT port is free for a new
    // connection once its last timestamp is tcp_tw_reuse_delay old.
    bool reuse = tw_reuse == 1 || (tw_reuse == 2 && loopback);
    run.hold_s = reuse ? reuse_delay_s : kTimeWaitSeconds;
    run.rate_basis = rate_basis(run);
    double tuples = double(run.range.ports()) * run.sources;
    switch (run.fix) {
    case Fix::linger0:
    case Fix::server_closes: run.predicted_s = std::nullopt; return;  // the client holds no TIME-WAIT
    case Fix::max_tw_buckets:
        if (config.max_tw_buckets < tuples) {
            run.predicted_s = std::nullopt;  // TIME-WAIT capped below the range: the rest close at once
            return;
        }
        break;
    default: break;
    }
    run.predicted_s = predicted_exhaustion_s(tuples, run.rate_basis, run.hold_s);
}

FixRun run_fix(Fix fix, const TimewaitConfig& config, const std::string& mode, const std::string& target,
               cli::Output& output) {
    FixRun run;
    run.fix = fix;
    // Set up: fresh hosts with the fix's sysctls, or the host.
    Hosts hosts;
    std::unique_ptr<server::Server> server;
    if (mode == "sandbox") {
        run.range = config.port_range.value_or(PortRange{});
        if (fix == Fix::wider_range)
            run.range = {std::min(run.range.low, kKernelDefaultRange.low), std::max(run.range.high, kKernelDefaultRange.high)};
        hosts.box = std::make_unique<sandbox::Sandbox>(sandbox_options(fix, config, run.range));
        if (fix == Fix::more_sources) run.sources = config.sources;
    } else {
        run.range = host_range();
    }
    // Start the server (the embedded one, unless --target).
    if (target.empty()) {
        server::Config sc;
        sc.mode = config.payload == load::Payload::echo ? "echo" : "http";
        sc.listen = {hosts.box ? hosts.box->address(Side::server, 80).to_string() : "127.0.0.1:0"};
        sc.drain_timeout = 1s;
        server = hosts.in(Side::server, [&] { return std::make_unique<server::Server>(sc); });
        server->start();
        hosts.server = server->addresses().front();
    } else {
        hosts.server = net::parse_local_target(target);
    }
    run.sysctls = hosts.in(Side::client, [] { return kernel::sysctls_json(sysctl_names()); });
    std::map<Side, kernel::CounterSnapshot> before;
    for (Side side : hosts.sides()) before[side] = hosts.in(side, [] { return kernel::read_counters(); });

    // Run: churn in the client's namespace, the census every 100 ms.
    run.churn = churn_config(fix, config, hosts);
    // On the host, earlier fixes' (and anyone's) TIME-WAIT to the same port
    // is still there for 60 s: count above what was there at the start.
    if (!hosts.box) run.baseline = hosts.count_time_wait();
    Sample previous;
    auto take_sample = [&](const load::LiveCounters& live) {
        Sample s = hosts.count_time_wait();
        auto above = [](uint64_t now, uint64_t before) { return now > before ? now - before : 0; };
        s.time_wait_client = above(s.time_wait_client, run.baseline.time_wait_client);
        s.time_wait_server = above(s.time_wait_server, run.baseline.time_wait_server);
        s.client_even_ports = std::min(s.time_wait_client, above(s.client_even_ports, run.baseline.client_even_ports));
        s.t_s = live.elapsed_s;
        s.completed = live.completed;
        s.failed = live.failed;
        double dt = s.t_s - previous.t_s;
        // A rate over a sliver of an interval (the last sample) is noise: keep the previous one.
        s.conn_per_s = dt >= 0.05 ? double(s.completed - previous.completed) / dt : previous.conn_per_s;
        run.samples.push_back(s);
        previous = s;
        output.status(fmt::format("fix {}: {:.1f} s, {} connections, TIME-WAIT client {} server {}, {} errors",
                                  fix_name(fix), s.t_s, s.completed, s.time_wait_client, s.time_wait_server,
                                  s.failed));
    };
    run.result = load::run_churn(run.churn, take_sample, 100ms);
    // One last sample, at the end of the run.
    load::LiveCounters end;
    end.elapsed_s = run.result.elapsed_s;
    end.completed = run.result.stats.completed;
    end.failed = run.result.stats.failed;
    if (end.elapsed_s > previous.t_s) take_sample(end);

    // Collect: counters, peaks, the prediction; tear down.
    for (Side side : hosts.sides()) {
        auto deltas = kernel::counter_deltas(before[side], hosts.in(side, [] { return kernel::read_counters(); }));
        auto& out = run.counters[hosts.side_key(side)] = report::json::object();
        for (const char* name : kCounters)
            if (auto it = deltas.find(name); it != deltas.end()) out[name] = it->second;
    }
    for (const auto& s : run.samples) {
        run.peak_client = std::max(run.peak_client, s.time_wait_client);
        run.peak_server = std::max(run.peak_server, s.time_wait_server);
    }
    predict(run, config, hosts.server.is_loopback());
    if (server) server->stop();
    // A run stopped by SIGINT is a partial result (exit 130), not a failed
    // target: the connections in flight when it stopped count as failed.
    if (!target.empty() && !cli::stop_requested() && run.result.stats.completed == 0 && run.result.stats.failed > 0) {
        // The target, not the story, failed: say how.
        int worst = 0;
        for (int e = 0; e < load::ErrorTable::kSlots; ++e)
            if (run.result.stats.errors.count(e) > run.result.stats.errors.count(worst)) worst = e;
        throw Error(Exit::target, fmt::format("--target {}: every connection failed ({} {})", target,
                                              load::error_name(worst), run.result.stats.errors.count(worst)));
    }
    return run;
}

std::string seconds_text(std::optional<double> s) { return s ? fmt::format("{:.2f} s", *s) : "-"; }

std::string errors_cell(const load::ErrorTable& errors) {
    std::vector<std::pair<uint64_t, int>> seen;
    for (int e = 0; e < load::ErrorTable::kSlots; ++e)
        if (uint64_t n = errors.count(e)) seen.push_back({n, e});
    std::sort(seen.rbegin(), seen.rend());
    std::string out;
    for (auto [n, e] : seen) out += fmt::format("{}{} {}", out.empty() ? "" : ", ", load::error_name(e), n);
    return out.empty() ? "-" : out;
}

// Rounds to a decimal unit (0.001, 0.1) without the binary fraction a multiplication leaves.
double round_to(double v, double unit) { return std::round(v / unit) / std::round(1 / unit); }

report::json fix_json(const FixRun& run, bool sandboxed) {
    report::json samples = report::json::array();
    for (const auto& s : run.samples)
        samples.push_back({{"t_s", round_to(s.t_s, 0.001)},
                           {"time_wait_client", s.time_wait_client},
                           {"time_wait_server", s.time_wait_server},
                           {"client_even_ports", s.client_even_ports},
                           {"completed", s.completed},
                           {"failed", s.failed},
                           {"conn_per_s", round_to(s.conn_per_s, 0.1)}});
    const auto& stats = run.result.stats;
    double elapsed = run.result.elapsed_s;
    auto first = run.first_eaddrnotavail();
    auto opt = [](std::optional<double> v) { return v ? report::json(round_to(*v, 0.001)) : report::json(nullptr); };
    report::json j = {
        {"fix", fix_name(run.fix)},
        {"port_range", run.range.text()},
        {"ports", run.range.ports()},
        {"sources", run.sources},
        {"close", load::close_mode_name(run.churn.close)},
        {"exchanges_per_conn", run.churn.exchanges},
        {"rate_per_s", run.churn.rate},
        {"conn_per_s", round_to(run.result.conn_per_s(), 0.1)},
        {"transactions_per_s", elapsed > 0 ? round_to(stats.exchanges / elapsed, 0.1) : 0.0},
        {"completed", stats.completed},
        {"failed", stats.failed},
        {"time_wait_peak", {{"client", run.peak_client}, {"server", run.peak_server}}},
        {"time_wait_end",
         {{"client", run.samples.empty() ? 0 : run.samples.back().time_wait_client},
          {"server", run.samples.empty() ? 0 : run.samples.back().time_wait_server}}},
        {"first_eaddrnotavail_s", opt(first)},
        {"predicted_exhaustion_s", opt(run.predicted_s)},
        {"port_hold_s", run.hold_s},
        {"rate_basis_per_s", round_to(run.rate_basis, 0.1)},
        {"eaddrnotavail", stats.errors.count(EADDRNOTAVAIL)},
        {"errors_total", stats.errors.total()},
        {"errors", load::errors_json(stats.errors)},
        {"rsts_sent", run.counter_sum("OutRsts")},
        {"tw_overflow", run.counter_sum("TCPTimeWaitOverflow")},
        {"tw_recycled", run.counter_sum("TWRecycled")},
        {"counters", run.counters},
        {"sysctls", run.sysctls},
        {"churn", run.result},
        {"samples", samples},
    };
    if (!sandboxed) {
        j["time_wait_note"] =
            "host: TIME-WAIT to or from the server's port, above what was there when the fix began (time_wait_baseline)";
        j["time_wait_baseline"] = {{"client", run.baseline.time_wait_client}, {"server", run.baseline.time_wait_server}};
    }
    return j;
}

// The "why" of the first fix that ran out of ports (or the first fix): the
// 4-tuple arithmetic, the parity rule, TIME-WAIT's 60 s; predicted against measured.
report::json why_json(const FixRun& run, std::vector<std::string>& notes, bool sandboxed) {
    report::json why;
    auto first = run.first_eaddrnotavail();
    double tuples = double(run.range.ports()) * run.sources;
    why["fix"] = fix_name(run.fix);
    why["ports"] = run.range.ports();
    why["sources"] = run.sources;
    why["usable_tuples"] = tuples;
    why["time_wait_s"] = kTimeWaitSeconds;
    why["port_hold_s"] = run.hold_s;
    why["rate_basis_per_s"] = round_to(run.rate_basis, 0.1);
    why["predicted_exhaustion_s"] = run.predicted_s ? report::json(round_to(*run.predicted_s, 0.001)) : report::json(nullptr);
    why["first_eaddrnotavail_s"] = first ? report::json(round_to(*first, 0.001)) : report::json(nullptr);
    // The parity rule: at the first sample with half the range in TIME-WAIT.
    const Sample* half = nullptr;
    for (const auto& s : run.samples)
        if (s.time_wait_client * 2 >= run.range.ports() * run.sources) {
            half = &s;
            break;
        }
    if (!half && !run.samples.empty()) half = &run.samples.back();
    bool low_even = run.range.low % 2 == 0;
    why["first_parity"] = low_even ? "even" : "odd";
    if (half) {
        uint64_t same = low_even ? half->client_even_ports : half->time_wait_client - half->client_even_ports;
        why["parity_sample"] = {{"t_s", round_to(half->t_s, 0.001)},
                                {"time_wait_client", half->time_wait_client},
                                {"even", half->client_even_ports},
                                {"odd", half->time_wait_client - half->client_even_ports},
                                {"first_parity_share", half->time_wait_client ? double(same) / half->time_wait_client : 0.0}};
    }

    std::string pair = sandboxed ? fmt::format("{} source address{} -> {}", run.sources, run.sources == 1 ? "" : "es",
                                               run.churn.target.to_string())
                                 : fmt::format("127.0.0.1 -> {}", run.churn.target.to_string());
    notes.push_back(fmt::format(
        "why ({}): {} ephemeral ports ({}) per source/destination pair ({}); a port the client closed stays in "
        "TIME-WAIT {} s (TCP_TIMEWAIT_LEN, not a sysctl){}.",
        fix_name(run.fix), run.range.ports(), run.range.text(), pair, kTimeWaitSeconds,
        run.hold_s < kTimeWaitSeconds ? fmt::format(", but tcp_tw_reuse lets connect() take it back after {:g} s", run.hold_s)
                                      : ", and connect() cannot reuse it before then (tcp_tw_reuse off)"));
    if (half && half->time_wait_client)
        notes.push_back(fmt::format(
            "why: connect() without bind() scans ports of LO's parity first ({} for {}), then the others; bind() to "
            "port 0 prefers the opposite parity (Linux 4.6+): at {:.1f} s, {} of {} client TIME-WAIT ports were even.",
            low_even ? "even" : "odd", run.range.low, half->t_s, half->client_even_ports, half->time_wait_client));
    notes.push_back(fmt::format(
        "why: predicted first EADDRNOTAVAIL = {:g} usable 4-tuples / {:.0f} conn/s = {}; measured {}.", tuples,
        run.rate_basis,
        run.predicted_s ? fmt::format("{:.2f} s", *run.predicted_s)
                        : fmt::format("never (ports come back within {:g} s)", run.hold_s),
        first ? fmt::format("{:.2f} s", *first) : "none"));
    return why;
}

report::Table timeline_table(const std::vector<FixRun>& runs, double duration_s) {
    constexpr size_t kWidth = 50;
    report::Table t{fmt::format("timeline: 100 ms samples, 0 to {:g} s, each row scaled to its peak", duration_s),
                    {"fix", "series", "peak", "timeline"},
                    {}};
    for (const auto& run : runs) {
        std::vector<double> client, server, rate;
        double rate_peak = 0;
        for (const auto& s : run.samples) {
            client.push_back(double(s.time_wait_client));
            server.push_back(double(s.time_wait_server));
            rate.push_back(s.conn_per_s);
            rate_peak = std::max(rate_peak, s.conn_per_s);
        }
        auto line = [&](const std::vector<double>& v) { return "|" + sparkline(v, kWidth) + "|"; };
        t.rows.push_back({std::string(fix_name(run.fix)), "TIME-WAIT client", std::to_string(run.peak_client), line(client)});
        t.rows.push_back({"", "TIME-WAIT server", std::to_string(run.peak_server), line(server)});
        t.rows.push_back({"", "conn/s", fmt::format("{:.0f}", rate_peak), line(rate)});
    }
    return t;
}

report::Table chart_table(const std::string& title, const load::Histogram& h) {
    return report::text_table(title, "connect time", load::render_chart(h));
}

}  // namespace

// --- parsing ----------------------------------------------------------------

std::string_view fix_name(Fix fix) {
    switch (fix) {
    case Fix::none: return "none";
    case Fix::tw_reuse: return "tw-reuse";
    case Fix::linger0: return "linger0";
    case Fix::server_closes: return "server-closes";
    case Fix::keepalive: return "keepalive";
    case Fix::more_sources: return "more-sources";
    case Fix::wider_range: return "wider-range";
    case Fix::max_tw_buckets: return "max-tw-buckets";
    }
    return "?";
}

std::string fix_key(Fix fix) {
    std::string key(fix_name(fix));
    std::replace(key.begin(), key.end(), '-', '_');
    return key;
}

std::vector<Fix> parse_fixes(const std::vector<std::string>& values) {
    std::vector<Fix> fixes;
    auto add = [&](Fix f) {
        if (std::find(fixes.begin(), fixes.end(), f) != fixes.end())
            throw Error::usage(fmt::format("--fix: {} given twice", fix_name(f)));
        fixes.push_back(f);
    };
    for (const auto& value : values) {
        size_t at = 0;
        while (at <= value.size()) {
            size_t comma = value.find(',', at);
            std::string word = value.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
            at = comma == std::string::npos ? value.size() + 1 : comma + 1;
            if (word == "all") {
                for (Fix f : kAllFixes) add(f);
                continue;
            }
            auto it = std::find_if(std::begin(kAllFixes), std::end(kAllFixes), [&](Fix f) { return fix_name(f) == word; });
            if (it == std::end(kAllFixes))
                throw Error::usage(fmt::format(
                    "--fix: unknown fix \"{}\" (expected all, none, tw-reuse, linger0, server-closes, keepalive, "
                    "more-sources, wider-range or max-tw-buckets)",
                    word));
            add(*it);
        }
    }
    if (fixes.empty()) throw Error::usage("--fix: expected at least one fix");
    return fixes;
}

std::string PortRange::text() const { return fmt::format("{}-{}", low, high); }

PortRange parse_port_range(std::string_view text) {
    auto bad = [&](std::string_view why) {
        return Error::usage(fmt::format("--port-range: {}, got \"{}\" (expected LO-HI, 1024 <= LO <= HI <= 65535)", why, text));
    };
    auto dash = text.find('-');
    if (dash == std::string_view::npos) throw bad("no dash");
    auto number = [&](std::string_view part) {
        unsigned long v = 0;
        auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
        if (part.empty() || ec != std::errc{} || end != part.data() + part.size()) throw bad("not a port number");
        if (v < 1 || v > 65535) throw bad("out of range");
        return unsigned(v);
    };
    PortRange r{number(text.substr(0, dash)), number(text.substr(dash + 1))};
    if (r.low > r.high) throw bad("inverted");
    // ipv4_local_port_range() refuses a range that starts below ip_unprivileged_port_start.
    if (r.low < 1024) throw bad("below 1024, which the kernel refuses");
    return r;
}

double parse_churn_rate(std::string_view text) {
    if (text == "max") return 0;
    double rate = 0;
    try {
        rate = cli::parse_rate(text);
    } catch (const std::invalid_argument& e) {
        throw Error::usage(fmt::format("--rate: {} (or max)", e.what()));
    }
    if (rate > 1e6) throw Error::usage(fmt::format("--rate: at most 1M/s, got \"{}\"", text));
    return rate;
}

void validate(const TimewaitConfig& config, const cli::CommonOptions& common) {
    if (config.concurrency < 1 || config.concurrency > 10000)
        throw Error::usage(fmt::format("--concurrency: expected 1 to 10000, got {}", config.concurrency));
    if (config.exchanges < 1 || config.exchanges > 10000)
        throw Error::usage(fmt::format("--exchanges: expected 1 to 10000, got {}", config.exchanges));
    if (config.sources < 2 || config.sources > 200)
        throw Error::usage(fmt::format("--sources: expected 2 to 200 client addresses, got {}", config.sources));
    if (config.max_tw_buckets < 1 || config.max_tw_buckets > (1u << 24))
        throw Error::usage(fmt::format("--max-tw-buckets: expected 1 to 16M, got {}", config.max_tw_buckets));
    if (config.requests_per_conn < 2 || config.requests_per_conn > 100000)
        throw Error::usage(fmt::format("--requests-per-conn: expected 2 to 100000, got {}", config.requests_per_conn));
    if (config.duration <= cli::Duration(0) || config.duration > std::chrono::minutes(10))
        throw Error::usage(fmt::format("--duration: expected more than 0 and at most 10m, got {}",
                                       cli::format_duration(config.duration)));
    bool server_closes = std::find(config.fixes.begin(), config.fixes.end(), Fix::server_closes) != config.fixes.end();
    if (server_closes && config.payload == load::Payload::echo)
        throw Error::usage("--fix server-closes: needs --payload http (the server closes on \"Connection: close\")");
    bool host = !common.target.empty() || common.no_sandbox;
    if (!common.target.empty()) {
        net::parse_local_target(common.target);
        if (config.payload == load::Payload::echo)
            throw Error::usage("--payload echo: only against the embedded server (a --target is spoken to in HTTP)");
    }
    if (host) {
        const char* why = !common.target.empty() ? "--target" : "--no-sandbox";
        if (config.port_range)
            throw Error::usage(fmt::format(
                "--port-range: with {} it would change the host's net.ipv4.ip_local_port_range; only the sandbox "
                "sets it (in its own namespace)",
                why));
        for (Fix f : config.fixes)
            if (needs_sandbox(f))
                throw Error::usage(fmt::format(
                    "--fix {}: needs the sandbox (it changes the client's sysctls or addresses), not {}", fix_name(f), why));
    }
}

// --- helpers -------------------------------------------------------------------

std::string sparkline(const std::vector<double>& values, size_t width, double peak) {
    static constexpr std::string_view kLevels = " .:-=+*#%@";
    if (values.empty() || width == 0) return "";
    size_t columns = std::min(width, values.size());
    if (peak <= 0)
        for (double v : values) peak = std::max(peak, v);
    std::string out;
    for (size_t c = 0; c < columns; ++c) {
        size_t from = c * values.size() / columns, to = (c + 1) * values.size() / columns;
        double top = 0;
        for (size_t i = from; i < to; ++i) top = std::max(top, values[i]);
        size_t level = 0;
        if (peak > 0 && top > 0)
            level = std::clamp<size_t>(size_t(std::ceil(top / peak * double(kLevels.size() - 1))), 1, kLevels.size() - 1);
        out += kLevels[level];
    }
    return out;
}

std::optional<double> predicted_exhaustion_s(double ports, double conn_per_s, double hold_s) {
    if (ports <= 0) return 0.0;
    if (conn_per_s <= 0 || conn_per_s * hold_s <= ports) return std::nullopt;
    return ports / conn_per_s;
}

// --- the scenario ----------------------------------------------------------------

report::Report run_timewait(const TimewaitConfig& config, const cli::CommonOptions& common, cli::Output& output) {
    validate(config, common);
    report::Report r;
    r.command = "timewait";
    bool against_target = !common.target.empty();
    std::string why_not = sandbox::unavailable_reason();
    bool sandboxed = !against_target && !common.no_sandbox && why_not.empty();
    if (!sandboxed && !against_target && !common.no_sandbox)
        throw Error(Exit::environment,
                    fmt::format("port exhaustion needs the sandbox ({}); run as root, or use --no-sandbox or "
                                "--target HOST:PORT for a loopback run, where tcp_tw_reuse=2 hides it",
                                why_not));
    r.mode = against_target ? "target" : sandboxed ? "sandbox" : "host";
    if (!sandboxed)
        r.notes.push_back(fmt::format(
            "{} on loopback: net.ipv4.tcp_tw_reuse={} (2, the default, lets connect() reuse a TIME-WAIT port on "
            "loopback after tcp_tw_reuse_delay), so ports rarely run out here; the sandbox (veth, tcp_tw_reuse=0) "
            "is the faithful reproduction",
            against_target ? fmt::format("against {} from the host", common.target) : "host mode (--no-sandbox)",
            kernel::read_sysctl("net.ipv4.tcp_tw_reuse").value_or("?")));

    // Run each fix on fresh hosts.
    std::vector<FixRun> runs;
    for (Fix fix : config.fixes) {
        if (cli::stop_requested()) break;
        runs.push_back(run_fix(fix, config, r.mode, common.target, output));
    }
    output.clear_status();
    bool interrupted = cli::stop_requested();

    // Render: the comparison table, the timeline, the chart, the why.
    report::Table table{
        fmt::format("timewait: {} per fix, {} each, {}", config.rate > 0 ? fmt::format("{:g} conn/s", config.rate)
                                                                           : fmt::format("{} in flight", config.concurrency),
                    cli::format_duration(config.duration), sandboxed ? "fresh sandbox per fix" : "on the host"),
        {"fix", "ports", "conn/s", "tx/s", "TIME-WAIT peak c/s", "first EADDRNOTAVAIL", "predicted", "errors", "RSTs",
         "TW overflow"},
        {}};
    report::json fixes = report::json::object(), order = report::json::array();
    load::ErrorTable all_errors;
    report::json counters = report::json::object();
    for (const auto& run : runs) {
        auto j = fix_json(run, sandboxed);
        fixes[fix_key(run.fix)] = j;
        order.push_back(fix_name(run.fix));
        all_errors.merge(run.result.stats.errors);
        for (const auto& [side, values] : run.counters.items()) {
            if (!counters.contains(side)) counters[side] = report::json::object();
            for (const auto& [name, v] : values.items())
                counters[side][name] = counters[side].value(name, int64_t{0}) + v.get<int64_t>();
        }
        table.rows.push_back(
            {std::string(fix_name(run.fix)),
             run.sources > 1 ? fmt::format("{}x{}", run.sources, run.range.ports()) : std::to_string(run.range.ports()),
             fmt::format("{:.0f}", run.result.conn_per_s()), fmt::format("{:.0f}", j["transactions_per_s"].get<double>()),
             fmt::format("{}/{}", run.peak_client, run.peak_server), seconds_text(run.first_eaddrnotavail()),
             run.predicted_s ? fmt::format("{:.2f} s", *run.predicted_s) : "never", errors_cell(run.result.stats.errors),
             std::to_string(run.counter_sum("OutRsts")), std::to_string(run.counter_sum("TCPTimeWaitOverflow"))});
    }
    r.tables.push_back(std::move(table));
    if (!runs.empty()) r.tables.push_back(timeline_table(runs, cli::to_seconds(config.duration)));
    report::json results = {{"fixes", fixes}, {"order", order}, {"interrupted", interrupted}};
    if (!runs.empty()) {
        // The main run: the first fix that ran out of ports, else the first.
        const FixRun* main = &runs.front();
        for (const auto& run : runs)
            if (run.first_eaddrnotavail()) {
                main = &run;
                break;
            }
        r.tables.push_back(chart_table(fmt::format("connect time, socket() to established ({}, {} connections)",
                                                   fix_name(runs.front().fix), runs.front().result.stats.connect.count()),
                                       runs.front().result.stats.connect));
        results["why"] = why_json(*main, r.notes, sandboxed);
        r.sysctls = runs.front().sysctls;
    }
    for (const auto& run : runs) {
        if (run.fix == Fix::linger0)
            r.notes.push_back(fmt::format("linger0: no TIME-WAIT, at the cost of {} RSTs sent ({} EstabResets): the peer "
                                          "sees ECONNRESET, data in flight is lost",
                                          run.counter_sum("OutRsts"),
                                          sandboxed ? fmt::format("the server counted {}", run.counter("server", "EstabResets"))
                                                    : fmt::format("this host counted {}, both ends", run.counter("host", "EstabResets"))));
        if (run.fix == Fix::max_tw_buckets)
            r.notes.push_back(fmt::format("max-tw-buckets: past tcp_max_tw_buckets={} the kernel skips TIME-WAIT "
                                          "(TCPTimeWaitOverflow {}, \"TCP: time wait bucket table overflow\" in dmesg)",
                                          config.max_tw_buckets, run.counter_sum("TCPTimeWaitOverflow")));
        if (run.fix == Fix::server_closes)
            r.notes.push_back(fmt::format(
                "server-closes: the client holds no TIME-WAIT; the server held up to {}: the client reuses its ports "
                "at once, and a SYN with a newer timestamp reopens the server's TIME-WAIT socket for that 4-tuple",
                run.peak_server));
        if (run.fix == Fix::tw_reuse)
            r.notes.push_back(fmt::format("tw-reuse: connect() took back {} TIME-WAIT ports (TWRecycled); it needs TCP "
                                          "timestamps and only helps the connecting side",
                                          run.counter_sum("TWRecycled")));
    }
    if (interrupted) r.notes.push_back("interrupted: partial result");
    r.results = results;
    r.errors = load::errors_json(all_errors);
    r.counters = counters;

    report::json fix_names = report::json::array();
    for (Fix f : config.fixes) fix_names.push_back(fix_name(f));
    r.config = {{"fix", fix_names},
                {"port_range", config.port_range ? report::json(config.port_range->text())
                                                 : report::json(sandboxed ? PortRange{}.text() : host_range().text())},
                {"duration_s", cli::to_seconds(config.duration)},
                {"rate_per_s", config.rate},
                {"concurrency", config.concurrency},
                {"exchanges", config.exchanges},
                {"payload", load::payload_name(config.payload)},
                {"sources", config.sources},
                {"max_tw_buckets", config.max_tw_buckets},
                {"requests_per_conn", config.requests_per_conn},
                {"no_sandbox", common.no_sandbox}};
    if (against_target) r.config["target"] = common.target;
    return r;
}

}  // namespace sockdrill::scenario
