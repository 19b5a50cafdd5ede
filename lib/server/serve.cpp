#include "server/serve.hpp"

#include <poll.h>

#include <chrono>
#include <cstdio>
#include <fmt/format.h>

#include "cli/signals.hpp"
#include "kernel/sysctl.hpp"
#include "net/error.hpp"

namespace sockdrill::server {

namespace {

std::string per_request(uint64_t count, uint64_t requests) {
    return requests ? fmt::format("{:.3f}", static_cast<double>(count) / requests) : "-";
}

}  // namespace

report::Report stats_report(const Server& server, double elapsed_s,
                            const kernel::CounterSnapshot& counters_at_start) {
    Snapshot s = server.snapshot();
    report::Report r;
    r.command = "serve";
    r.config = server.config();
    // The kernel settings that shape what this server can show.
    r.sysctls = kernel::sysctls_json({"net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog",
                                      "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout"});
    r.results = s;
    nlohmann::json listening = nlohmann::json::array();
    for (const auto& a : server.addresses()) listening.push_back(a.to_string());
    r.results["listening"] = listening;
    r.results["elapsed_s"] = std::round(elapsed_s * 1000) / 1000;
    r.results["requests_per_s"] = elapsed_s > 0 ? std::round(s.requests / elapsed_s) : 0.0;
    r.results["fd_setsize_refusals"] = server.fd_setsize_refusals();
    r.errors = errors_json(s);

    report::Table traffic{"traffic", {"connections", "current", "requests", "req/s", "bytes in", "bytes out"}, {}};
    traffic.rows.push_back({std::to_string(s.accepted), std::to_string(s.current_connections()),
                            std::to_string(s.requests),
                            fmt::format("{:.0f}", elapsed_s > 0 ? s.requests / elapsed_s : 0.0),
                            std::to_string(s.bytes_in), std::to_string(s.bytes_out)});
    r.tables.push_back(traffic);

    report::Table closed{"connections closed by", {"reason", "count"}, {}};
    for (size_t i = 0; i < s.closed.size(); ++i)
        if (s.closed[i])
            closed.rows.push_back({std::string(close_reason_name(static_cast<CloseReason>(i))),
                                   std::to_string(s.closed[i])});
    if (!closed.rows.empty()) r.tables.push_back(closed);

    report::Table calls{"syscalls", {"syscall", "count", "per request"}, {}};
    for (size_t i = 0; i < s.syscalls.size(); ++i)
        if (s.syscalls[i])
            calls.rows.push_back({std::string(syscall_name(static_cast<Syscall>(i))),
                                  std::to_string(s.syscalls[i]), per_request(s.syscalls[i], s.requests)});
    calls.rows.push_back({"total", std::to_string(s.syscalls_total()), per_request(s.syscalls_total(), s.requests)});
    r.tables.push_back(calls);

    report::Table errors{"errors", {"phase", "errno", "count"}, {}};
    for (size_t p = 0; p < s.errors.size(); ++p)
        for (size_t i = 0; i < s.errors[p].size(); ++i)
            if (s.errors[p][i])
                errors.rows.push_back({std::string(phase_name(static_cast<Phase>(p))),
                                       errno_name(static_cast<int>(i)), std::to_string(s.errors[p][i])});
    if (!errors.rows.empty()) r.tables.push_back(errors);
    // Namespace-wide counters: they include other programs' traffic too.
    auto deltas = kernel::counter_deltas(counters_at_start, kernel::read_counters());
    report::Table moved{"kernel counters (whole network namespace)", {"counter", "delta", "meaning"}, {}};
    for (const auto& info : kernel::curated_counters()) {
        auto it = deltas.find(std::string(info.name));
        if (it == deltas.end()) continue;
        r.counters[std::string(info.name)] = it->second;
        if (it->second != 0 && info.name != "CurrEstab")
            moved.rows.push_back({std::string(info.name), std::to_string(it->second), std::string(info.explanation)});
    }
    if (!moved.rows.empty()) r.tables.push_back(moved);
    if (s.accept_backoffs)
        r.notes.push_back(fmt::format("accept() ran out of descriptors {} times; the server paused "
                                      "accepting for 100 ms each time and recovered",
                                      s.accept_backoffs));
    if (server.fd_setsize_refusals())
        r.notes.push_back(fmt::format("select(): {} connections refused: descriptor >= FD_SETSIZE ({}); "
                                      "use --io poll or --io epoll",
                                      server.fd_setsize_refusals(), FD_SETSIZE));
    return r;
}

report::Report serve(const Config& config, Duration stats_interval, const cli::CommonOptions&,
                     cli::Output& output) {
    // Bind first: the port is known, and printed, before any client can race us.
    Server server(config);
    auto counters_at_start = kernel::read_counters();
    for (const auto& address : server.addresses()) fmt::print("listening {}\n", address.to_string());
    std::fflush(stdout);
    server.start();

    auto started = std::chrono::steady_clock::now();
    auto elapsed = [&] {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    };
    auto next_stats = started + stats_interval;
    uint64_t last_requests = 0;
    auto last_status = started;
    while (!cli::stop_requested()) {
        int timeout_ms = 1000;
        if (stats_interval.count() > 0) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(next_stats - std::chrono::steady_clock::now());
            timeout_ms = static_cast<int>(std::clamp<int64_t>(left.count(), 0, 1000));
        }
        pollfd p{cli::wakeup_fd(), POLLIN, 0};
        ::poll(&p, 1, timeout_ms);
        cli::drain_wakeup();
        auto now = std::chrono::steady_clock::now();
        bool due = stats_interval.count() > 0 && now >= next_stats;
        if (cli::take_stats_request() || due) output.interval(stats_report(server, elapsed(), counters_at_start));
        if (due) next_stats += stats_interval;
        // The live status line: once a second, on a TTY only.
        if (now - last_status >= std::chrono::seconds(1)) {
            auto s = server.snapshot();
            double secs = std::chrono::duration<double>(now - last_status).count();
            output.status(fmt::format("conns {}  req/s {:.0f}  requests {}  errors {}",
                                      s.current_connections(), (s.requests - last_requests) / secs,
                                      s.requests, s.closed[static_cast<size_t>(CloseReason::error)]));
            last_requests = s.requests;
            last_status = now;
        }
    }
    output.clear_status();
    server.stop();
    if (auto failure = server.failure(); !failure.empty())
        throw Error(Exit::environment, fmt::format("server worker failed: {}", failure));
    return stats_report(server, elapsed(), counters_at_start);
}

}  // namespace sockdrill::server
