#include "scenario/syscost.hpp"

#include <signal.h>

#include <cerrno>
#include <cmath>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include "cli/signals.hpp"
#include "kernel/syscalls.hpp"
#include "load/keepalive.hpp"
#include "net/address.hpp"
#include "net/error.hpp"
#include "net/fd.hpp"
#include "server/process.hpp"
#include "server/stats.hpp"

namespace sockdrill::scenario {

namespace {

using json = nlohmann::json;

// The words of --compare and the sockdrill-serve flags each adds.
const std::map<std::string, std::vector<std::string>, std::less<>> kSimpleVariants = {
    {"lean", {}},
    {"check-closed", {"--check-closed"}},
    {"peername", {"--peername"}},
    {"cork", {"--cork"}},
    {"nodelay", {"--nodelay"}},
};

SyscostVariant parse_part(std::string_view word, std::string_view whole) {
    auto bad = [&](std::string_view why) {
        return Error::usage(fmt::format("--compare: \"{}\": {}", whole, why));
    };
    if (auto it = kSimpleVariants.find(word); it != kSimpleVariants.end())
        return {std::string(word), it->second};
    if (word.rfind("split-writes=", 0) == 0) {
        std::string n(word.substr(13));
        if (n.empty() || n.find_first_not_of("0123456789") != std::string::npos || n.size() > 3 || std::stoi(n) < 1)
            throw bad("split-writes=N takes a count from 1 to 999");
        return {std::string(word), {"--split-writes", n}};
    }
    if (word.rfind("io=", 0) == 0) {
        std::string model(word.substr(3));
        if (model != "epoll" && model != "poll" && model != "select" && model != "threads")
            throw bad("io= takes epoll, poll, select or threads");
        return {std::string(word), {"--io", model}};
    }
    throw bad(fmt::format("unknown \"{}\" (lean, check-closed, peername, cork, nodelay, split-writes=N, io=MODEL; "
                          "join with +)",
                          word));
}

// What one variant (or the target) measured.
struct Measured {
    std::string name;
    uint64_t requests = 0;      ///< served in the counted window
    double counted_requests_per_s = 0;  ///< as the client saw them, while counting
    /// The throughput pass, not counted: --load-connections for --load-time
    /// (0 when it did not run).
    double requests_per_s = 0;
    std::map<std::string, uint64_t> traced;  ///< tracepoint counts, by syscall
    uint64_t traced_total = 0;
    size_t threads = 0;  ///< threads the events were opened on
    uint64_t cpu_ns = 0;  ///< CPU time the traced processes ran
    bool has_cpu = true;  ///< every traced thread's CPU time was counted
    uint64_t samples_lost = 0;  ///< the warm-up's samples the kernel dropped
    // The embedded server's own count over the same window (none for a target).
    bool has_own = false;
    uint64_t own_total = 0;
    uint64_t traced_own_names = 0;  ///< the traced count of the syscalls the server counts
    uint64_t errors = 0;            ///< failed or lost requests at the client
    bool stopped = false;

    double per_request(uint64_t n) const { return requests ? static_cast<double>(n) / requests : 0.0; }
    /// Traced / own, for the syscalls the server counts itself (1 = they agree).
    double agreement() const { return own_total ? static_cast<double>(traced_own_names) / own_total : 0.0; }
};

double round3(double x) { return std::round(x * 1000) / 1000; }

load::KeepaliveConfig load_for(const SyscostConfig& config, const net::Address& target, cli::Duration bound) {
    load::KeepaliveConfig lc;
    lc.target = target;
    lc.connections = config.connections;
    lc.count = config.requests;
    lc.duration = bound;
    lc.requests_per_conn = config.keepalive ? 0 : 1;
    lc.http_path = config.path;
    return lc;
}

// Requests of the warm-up that finds which syscalls to count.
constexpr uint64_t kWarmupRequests = 200;

// The syscalls the pids make under a short warm-up load (sampled), plus
// the names the embedded server counts itself: what SyscallCounter then
// counts. A syscall first made after the warm-up still shows, as "other".
// A warm-up that gets no response at all ends the run with `no_response`.
std::vector<std::string> discover_syscalls(const std::vector<pid_t>& pids, load::KeepaliveConfig warmup,
                                           Exit no_response, Measured& m) {
    std::vector<kernel::SyscallSampler> samplers;
    for (pid_t pid : pids) samplers.emplace_back(pid);
    for (auto& s : samplers) s.start();
    warmup.count = std::min(warmup.count, kWarmupRequests);
    auto result = load::run_keepalive(warmup);
    for (auto& s : samplers) s.stop();
    if (result.stats.completed == 0 && !result.stopped)
        throw Error(no_response, fmt::format("{}: no response to {} warm-up requests ({} connections failed, {} "
                                             "requests lost)",
                                             warmup.target.to_string(), warmup.count,
                                             result.stats.connections.failed, result.stats.lost));
    std::set<std::string> names;
    for (const auto& s : samplers) {
        auto seen = s.seen();
        names.merge(seen.names);
        m.samples_lost += seen.lost;
    }
    for (size_t i = 0; i < static_cast<size_t>(server::Syscall::count_); ++i)
        for (auto& alias : syscall_aliases(server::syscall_name(static_cast<server::Syscall>(i))))
            names.insert(alias);
    auto tracepoints = kernel::syscall_tracepoints();
    std::vector<std::string> known;
    for (const auto& name : names)
        if (tracepoints.count(name)) known.push_back(name);
    return known;
}

// Counts the pids' syscalls while the load runs; `settle` lets the server
// see the client's closes before the count stops.
void count_load(const std::vector<pid_t>& pids, const std::vector<std::string>& names,
                const load::KeepaliveConfig& lc, cli::Duration settle, Measured& m) {
    std::vector<kernel::SyscallCounter> counters;
    for (pid_t pid : pids) counters.emplace_back(pid, names);
    for (auto& c : counters) c.start();
    auto result = load::run_keepalive(lc);
    std::this_thread::sleep_for(settle);
    for (auto& c : counters) c.stop();
    uint64_t all = 0;
    for (auto& c : counters) {
        for (const auto& [name, n] : c.counts()) m.traced[name] += n;
        m.threads += c.threads();
        if (auto cpu = c.cpu_ns()) m.cpu_ns += *cpu;
        else m.has_cpu = false;
        all += c.all();
    }
    for (const auto& [name, n] : m.traced) m.traced_total += n;
    // Syscalls the warm-up did not show: counted by raw_syscalls, not by name.
    if (all > m.traced_total) {
        m.traced["other"] = all - m.traced_total;
        m.traced_total = all;
    }
    m.requests = result.stats.completed;
    m.counted_requests_per_s = result.requests_per_s();
    m.errors = result.stats.lost + result.stats.connections.failed;
    m.stopped = result.stopped;
}

// The server's own syscall counts and requests between two SIGUSR1 snapshots.
void add_own_counts(const json& before, const json& after, Measured& m) {
    m.has_own = true;
    m.requests = after.value("requests", uint64_t{0}) - before.value("requests", uint64_t{0});
    for (const auto& [name, count] : after["syscalls"].items()) {
        uint64_t own = count.get<uint64_t>() - before["syscalls"].value(name, uint64_t{0});
        m.own_total += own;
        for (const auto& alias : syscall_aliases(name))
            if (auto it = m.traced.find(alias); it != m.traced.end()) m.traced_own_names += it->second;
    }
}

// Requests/s of the same server, not counted: enough connections to keep
// it busy, so extra syscalls show as a lower rate.
void throughput_pass(const SyscostConfig& config, load::KeepaliveConfig lc, Measured& m) {
    if (config.load_time.count() <= 0 || cli::stop_requested()) return;
    lc.connections = config.load_connections;
    lc.count = 0;
    lc.duration = config.load_time;
    auto result = load::run_keepalive(lc);
    if (!result.stopped) m.requests_per_s = result.requests_per_s();
}

Measured measure_variant(const SyscostConfig& config, const SyscostVariant& v, cli::Duration bound) {
    std::vector<std::string> args = {"--listen", "127.0.0.1:0", "--mode", "http"};
    args.insert(args.end(), v.serve_args.begin(), v.serve_args.end());
    server::ServeProcess srv(args);
    Measured m;
    m.name = v.name;
    auto lc = load_for(config, srv.addresses().front(), bound);
    // The warm-up's requests fall before the first snapshot.
    auto names = discover_syscalls({srv.pid()}, lc, Exit::environment, m);
    json before = srv.stats();
    count_load({srv.pid()}, names, lc, config.settle, m);
    json after = srv.stats();
    add_own_counts(before, after, m);
    throughput_pass(config, lc, m);
    if (!srv.stop()) throw Error(Exit::environment, fmt::format("{}: sockdrill-serve did not exit cleanly", v.name));
    return m;
}

Measured measure_target(const SyscostConfig& config, const net::Address& target, cli::Duration bound) {
    Measured m;
    m.name = "target";
    auto lc = load_for(config, target, bound);
    auto names = discover_syscalls(config.target_pids, lc, Exit::target, m);
    count_load(config.target_pids, names, lc, config.settle, m);
    throughput_pass(config, lc, m);
    return m;
}

std::string fixed(double x, int digits = 2) { return fmt::format("{:.{}f}", x, digits); }

// What a variant's extra syscalls cost against the baseline (the first
// row), in the throughput pass: a server's requests/s, relative to the
// baseline's, per extra syscall per request.
struct ExtraCost {
    double extra = 0;           ///< syscalls per request over the baseline
    double rps_change = 0;      ///< requests/s relative to the baseline's
    double per_syscall = 0;     ///< rps_change per extra syscall
    bool has_rps = false;       ///< both throughput passes ran
    bool has_per_syscall = false;  ///< and the variant adds half a syscall or more
};

ExtraCost extra_cost(const Measured& base, const Measured& m) {
    ExtraCost c;
    c.extra = m.per_request(m.traced_total) - base.per_request(base.traced_total);
    if (base.requests_per_s <= 0 || m.requests_per_s <= 0) return c;
    c.has_rps = true;
    c.rps_change = m.requests_per_s / base.requests_per_s - 1;
    if (c.extra < 0.5) return c;
    c.per_syscall = c.rps_change / c.extra;
    c.has_per_syscall = true;
    return c;
}

json to_json(const Measured& m, const Measured& base) {
    json calls = json::object(), per_request = json::object();
    for (const auto& [name, n] : m.traced) {
        calls[name] = n;
        per_request[name] = round3(m.per_request(n));
    }
    auto optional = [](bool has, double value) { return has ? json(value) : json(nullptr); };
    json j = {{"requests", m.requests},
              {"syscalls", calls},
              {"syscalls_per_request", per_request},
              {"total", m.traced_total},
              {"total_per_request", round3(m.per_request(m.traced_total))},
              {"threads_traced", m.threads},
              {"counted_requests_per_s", std::round(m.counted_requests_per_s)},
              {"server_cpu_us_per_request", optional(m.has_cpu, round3(m.per_request(m.cpu_ns) / 1000))},
              {"requests_per_s", optional(m.requests_per_s > 0, std::round(m.requests_per_s))},
              {"client_errors", m.errors}};
    if (m.has_own) {
        j["server_count"] = {{"total", m.own_total},
                             {"per_request", round3(m.per_request(m.own_total))},
                             {"traced", m.traced_own_names},
                             {"agreement", round3(m.agreement())},
                             {"agrees", std::abs(m.agreement() - 1) <= 0.02}};
    }
    auto cost = extra_cost(base, m);
    j["extra_per_request"] = round3(cost.extra);
    j["requests_per_s_change"] = optional(cost.has_rps, round3(cost.rps_change));
    j["change_per_extra_syscall"] = optional(cost.has_per_syscall, round3(cost.per_syscall));
    return j;
}

// Rows: variant, traced/request, the server's own, their agreement, the
// extra syscalls, the throughput and what the extra ones cost.
report::Table summary_table(const std::vector<Measured>& runs) {
    report::Table t{"syscalls per request (tracepoints on the server's pid)",
                    {"variant", "syscalls/req", "server's count/req", "agree", "extra/req", "CPU us/req", "req/s",
                     "req/s change", "per extra syscall"},
                    {}};
    for (const auto& m : runs) {
        auto cost = extra_cost(runs.front(), m);
        bool base = &m == &runs.front();
        t.rows.push_back({m.name, fixed(m.per_request(m.traced_total)),
                          m.has_own ? fixed(m.per_request(m.own_total)) : "-",
                          m.has_own ? fmt::format("{:.1f}%", 100 * m.agreement()) : "-",
                          base ? "-" : fmt::format("{:+.2f}", cost.extra),
                          m.has_cpu ? fixed(m.per_request(m.cpu_ns) / 1000, 1) : "-",
                          m.requests_per_s > 0 ? fmt::format("{:.0f}", m.requests_per_s) : "-",
                          base || !cost.has_rps ? "-" : fmt::format("{:+.1f}%", 100 * cost.rps_change),
                          cost.has_per_syscall ? fmt::format("{:+.1f}%", 100 * cost.per_syscall) : "-"});
    }
    return t;
}

// Rows: syscall; columns: variants. Syscalls under 0.01 per request in
// every variant (the server's timers, its stats thread) are left out.
report::Table by_name_table(const std::vector<Measured>& runs) {
    report::Table t{"by syscall, per request", {"syscall"}, {}};
    std::set<std::string> names;
    for (const auto& m : runs) {
        t.columns.push_back(m.name);
        for (const auto& [name, n] : m.traced)
            if (m.per_request(n) >= 0.01) names.insert(name);
    }
    for (const auto& name : names) {
        std::vector<std::string> row = {name};
        for (const auto& m : runs) {
            auto it = m.traced.find(name);
            row.push_back(it == m.traced.end() ? "-" : fixed(m.per_request(it->second)));
        }
        t.rows.push_back(std::move(row));
    }
    std::vector<std::string> total = {"total"};
    for (const auto& m : runs) total.push_back(fixed(m.per_request(m.traced_total)));
    t.rows.push_back(std::move(total));
    return t;
}

}  // namespace

SyscostVariant parse_syscost_variant(std::string_view text) {
    if (text.empty()) throw Error::usage("--compare: an empty entry");
    SyscostVariant v{std::string(text), {}};
    std::string_view rest = text;
    while (!rest.empty()) {
        auto plus = rest.find('+');
        auto part = parse_part(rest.substr(0, plus), text);
        v.serve_args.insert(v.serve_args.end(), part.serve_args.begin(), part.serve_args.end());
        rest = plus == std::string_view::npos ? std::string_view{} : rest.substr(plus + 1);
        if (plus != std::string_view::npos && rest.empty())
            throw Error::usage(fmt::format("--compare: \"{}\": nothing after '+'", text));
    }
    return v;
}

std::vector<SyscostVariant> default_syscost_variants() {
    std::vector<SyscostVariant> v;
    for (const char* name : {"lean", "check-closed", "peername", "cork", "split-writes=2+nodelay", "io=select", "io=poll",
                             "io=threads"})
        v.push_back(parse_syscost_variant(name));
    return v;
}

std::vector<std::string> syscall_aliases(std::string_view name) {
    if (name == "select") return {"select", "pselect6"};
    if (name == "poll") return {"poll", "ppoll"};
    if (name == "epoll_wait") return {"epoll_wait", "epoll_pwait", "epoll_pwait2"};
    if (name == "accept4") return {"accept4", "accept"};
    if (name == "read") return {"read", "recvfrom"};
    if (name == "write") return {"write", "sendto"};
    return {std::string(name)};
}

void validate(const SyscostConfig& config, const cli::CommonOptions& common) {
    if (config.requests < 1) throw Error::usage("--requests: expected at least 1");
    if (config.connections < 1 || config.connections > 10000)
        throw Error::usage(fmt::format("--connections: expected 1 to 10000, got {}", config.connections));
    if (config.variants.empty()) throw Error::usage("--compare: expected at least one variant");
    if (!common.target.empty()) net::parse_local_target(common.target);
    if (common.duration.count() <= 0) throw Error::usage("--duration: expected more than 0");
    if (!config.target_pids.empty() && common.target.empty())
        throw Error::usage("--target-pid: needs --target HOST:PORT, the address that server listens on");
    if (config.target_pids.empty() && !common.target.empty())
        throw Error::usage("--target: needs --target-pid PID, the server process to count");
    if (config.compare_given && !common.target.empty())
        throw Error::usage("--compare: the embedded server's variants, not with --target");
    for (pid_t pid : config.target_pids) {
        if (pid <= 0) throw Error::usage(fmt::format("--target-pid: expected a process id, got {}", pid));
        if (::kill(pid, 0) != 0 && errno == ESRCH)
            throw Error::usage(fmt::format("--target-pid {}: no such process", pid));
    }
}

report::Report run_syscost(const SyscostConfig& config, const cli::CommonOptions& common, cli::Output& output) {
    validate(config, common);
    // A few perf events per traced thread (and per CPU while sampling), as many as the hard limit allows.
    net::raise_fd_limit(UINT64_MAX);
    // Refused tracepoints end the run before any server starts: exit 3 with what would allow them.
    if (auto why = kernel::syscall_counting_unavailable(); !why.empty()) throw Error(Exit::environment, why);

    const bool against_target = !common.target.empty();
    const cli::Duration bound = common.duration;
    std::vector<Measured> runs;
    if (against_target) {
        output.status(fmt::format("counting pid {} ...", fmt::join(config.target_pids, ",")));
        runs.push_back(measure_target(config, net::parse_local_target(common.target), bound));
    } else {
        for (const auto& v : config.variants) {
            if (cli::stop_requested()) break;
            output.status(fmt::format("{}: {} requests ...", v.name, config.requests));
            runs.push_back(measure_variant(config, v, bound));
            if (runs.back().stopped) break;
        }
    }
    output.clear_status();

    report::Report r;
    r.command = "syscost";
    r.mode = against_target ? "target" : "host";
    bool interrupted = cli::stop_requested();
    json variants = json::array(), results = json::object();
    for (const auto& m : runs) {
        variants.push_back(m.name);
        results[m.name] = to_json(m, runs.front());
    }
    // Each variant at the top of results, as the other commands do, so
    // --expect reads 'lean.total_per_request'; "variants" keeps their order.
    results["variants"] = variants;
    results["interrupted"] = interrupted;
    r.results = results;
    if (!runs.empty()) r.results["baseline"] = runs.front().name;
    r.config = {{"compare", variants},
                {"requests", config.requests},
                {"connections", config.connections},
                {"keepalive", config.keepalive},
                {"path", config.path},
                {"settle_ms", cli::to_ms(config.settle)},
                {"warmup_requests", std::min(config.requests, kWarmupRequests)},
                {"load_connections", config.load_connections},
                {"load_time_s", cli::to_seconds(config.load_time)},
                {"duration_s", cli::to_seconds(bound)}};
    if (against_target) {
        r.config["target"] = common.target;
        r.config["target_pid"] = config.target_pids;
    }
    if (!runs.empty()) {
        r.tables.push_back(summary_table(runs));
        r.tables.push_back(by_name_table(runs));
    }
    for (const auto& m : runs) {
        if (m.has_own && std::abs(m.agreement() - 1) > 0.02)
            r.notes.push_back(fmt::format("{}: the tracepoints and the server's own count differ by {:.1f}% "
                                          "(more than 2%): something else ran in the server's pid",
                                          m.name, 100 * std::abs(m.agreement() - 1)));
        if (m.requests < config.requests && !interrupted)
            r.notes.push_back(fmt::format("{}: {} of {} requests within --duration {}", m.name, m.requests,
                                          config.requests, cli::format_duration(bound)));
        if (m.errors)
            r.notes.push_back(fmt::format("{}: {} requests failed at the client", m.name, m.errors));
        if (m.samples_lost)
            r.notes.push_back(fmt::format("{}: the warm-up's sampling lost {} syscalls (full ring): a syscall only "
                                          "they made is counted under \"other\"",
                                          m.name, m.samples_lost));
    }
    if (config.load_time.count() > 0)
        r.notes.push_back(fmt::format("req/s: {} connections for {}, not counted; a shared machine moves it by "
                                      "a few percent from run to run, so small changes are noise",
                                      config.load_connections, cli::format_duration(config.load_time)));
    if (runs.size() > 1)
        r.notes.push_back(fmt::format("extra/req, req/s change and per extra syscall are against {}; CPU us/req "
                                      "is the server's while counted, one request at a time per connection",
                                      runs.front().name));
    if (interrupted) r.notes.push_back("interrupted: partial result");
    return r;
}

}  // namespace sockdrill::scenario
