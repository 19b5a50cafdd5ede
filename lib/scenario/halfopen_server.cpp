// sockdrill-halfopen --side server: sockdrill is the client that vanishes
// (its socket closed in TCP_REPAIR mode, or its link cut), and the census of
// the server's namespace shows how long the server keeps its half and what
// finally reaps it: the server's idle timeout, its keepalive, or nothing.
#include <poll.h>
#include <sys/socket.h>

#include <fmt/format.h>
#include <thread>

#include "cli/signals.hpp"
#include "kernel/census.hpp"
#include "kernel/sysctl.hpp"
#include "kernel/tcp_timers.hpp"
#include "net/error.hpp"
#include "net/socket.hpp"
#include "sandbox/sandbox.hpp"
#include "scenario/halfopen_parts.hpp"
#include "server/server.hpp"

namespace sockdrill::scenario {

namespace {

using Clock = std::chrono::steady_clock;
using sandbox::Side;
using sandbox::Vanish;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

double ms_since(Clock::time_point from) { return ms_between(from, Clock::now()); }

// One keep-alive request, and its whole response read, so the connection is
// idle and healthy when the client vanishes.
void exchange_request(int fd, const net::Address& server) {
    std::string request = fmt::format("GET / HTTP/1.1\r\nHost: {}\r\nUser-Agent: sockdrill-halfopen\r\n\r\n",
                                      server.to_string());
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != ssize_t(request.size()))
        throw Error::system(fmt::format("send to {}", server.to_string()), errno);
    std::string response;
    auto deadline = Clock::now() + 2s;
    size_t wanted = std::string::npos;
    while (Clock::now() < deadline && response.size() < wanted) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) {
            if (wanted == std::string::npos && response.find("\r\n\r\n") != std::string::npos) break;
            continue;
        }
        char buffer[8192];
        ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0) throw Error(Exit::target, fmt::format("{} closed the connection after one request", server.to_string()));
        response.append(buffer, size_t(n));
        auto head_end = response.find("\r\n\r\n");
        if (head_end == std::string::npos) continue;
        auto at = response.find("Content-Length:");
        if (at == std::string::npos) at = response.find("content-length:");
        if (at != std::string::npos && at < head_end)
            wanted = head_end + 4 + std::stoul(response.substr(at + 15));
    }
    if (response.rfind("HTTP/1.", 0) != 0)
        throw Error(Exit::target, fmt::format("{} did not answer an HTTP request", server.to_string()));
}

struct Transition {
    std::string state;  ///< ss's name, or "gone"
    double at_ms = 0;   ///< from the vanish
};

// How often the census looks at the server's half; a reaping is seen on
// average half of this late.
constexpr auto kCensusInterval = 10ms;
// The embedded server finds idle connections with a sweep every 100 ms.
constexpr auto kIdleSweep = 100ms;

// What the server's configuration predicts, for the embedded server only.
// `since_last_ms` is how long before the vanish the server's socket last
// heard from us (its keepalive timer counts from there).
Theory predict_server(const HalfopenConfig& c, Vanish vanish, double since_last_ms, milliseconds rto, int orphan_retries) {
    auto ms = [](double x) { return duration_cast<cli::Duration>(std::chrono::duration<double, std::milli>(x)); };
    double seen_late = cli::to_ms(kCensusInterval) / 2;
    // The server's idle sweep runs every 100 ms: half of it on average.
    double idle_close = cli::to_ms(c.server_idle_timeout) - since_last_ms + 50;
    std::optional<double> first_probe, keepalive_gives_up;
    if (c.server_keepalive) {
        auto since = milliseconds(int64_t(since_last_ms));
        auto first = std::max(milliseconds(c.server_keepalive->idle) - since, milliseconds{0});
        first_probe = double((first + kernel::timer_wheel_slack(first)).count());
        keepalive_gives_up = double(kernel::keepalive_detection(*c.server_keepalive, since).count());
    }
    if (vanish == Vanish::forget) {
        // The first segment the server sends (its FIN at the idle timeout, or
        // a keepalive probe) meets our host, which answers RST.
        bool probe_first = first_probe && *first_probe < idle_close;
        if (probe_first)
            return {ms(*first_probe + seen_late), "RST", "RST answers the server's first keepalive probe"};
        return {ms(idle_close + seen_late), "RST", "RST answers the server's FIN at its idle timeout (+ its 100 ms sweep)",
                false, kIdleSweep};
    }
    // cut: nothing answers. At the idle timeout the server closes; its FIN
    // is retransmitted until the orphan gives up (tcp_orphan_retries, 0 =
    // 8), or TCP_USER_TIMEOUT if set.
    int retries = orphan_retries == 0 ? 8 : orphan_retries;
    std::optional<milliseconds> user = c.server_user_timeout
                                           ? std::optional(duration_cast<milliseconds>(*c.server_user_timeout))
                                           : std::nullopt;
    double fin_path = idle_close + double(kernel::retransmission_giveup(rto, retries, user).count());
    if (keepalive_gives_up && *keepalive_gives_up < fin_path)
        return {ms(*keepalive_gives_up + seen_late), "ETIMEDOUT", "the server's keepalive: idle + interval * count"};
    return {ms(fin_path + seen_late), "ETIMEDOUT",
            fmt::format("idle timeout, then the FIN retransmitted until {}",
                        user ? "TCP_USER_TIMEOUT" : fmt::format("tcp_orphan_retries ({})", retries)),
            false, kIdleSweep};
}

}  // namespace

report::Report run_halfopen_server(const HalfopenConfig& config, const cli::CommonOptions& common,
                                   cli::Output& output) {
    report::Report r;
    r.command = "halfopen";
    bool against_target = !common.target.empty();
    std::string why_not = sandbox::unavailable_reason();
    bool sandboxed = !against_target && !common.no_sandbox && why_not.empty();
    if (!sandboxed && config.vanish == Vanish::cut)
        throw Error(Exit::environment, fmt::format("--vanish cut needs the sandbox: {}",
                                                   why_not.empty() ? "--no-sandbox was given" : why_not));
    if (config.vanish == Vanish::forget && !sandbox::forget_unavailable_reason().empty())
        throw Error(Exit::environment, sandbox::forget_unavailable_reason());
    r.mode = against_target ? "target" : sandboxed ? "sandbox" : "host";

    // Set up: the server (embedded, in the server namespace) or the target.
    std::unique_ptr<sandbox::Sandbox> box;
    if (sandboxed) box = std::make_unique<sandbox::Sandbox>();
    auto in = [&](Side side, auto&& f) { return box ? box->run_in(side, f) : f(); };
    std::unique_ptr<server::Server> server;
    net::Address server_address;
    if (against_target) {
        server_address = net::parse_local_target(common.target);
    } else {
        server::Config sc;
        sc.listen = {sandboxed ? box->address(Side::server, 80).to_string() : "127.0.0.1:0"};
        sc.keepalive_timeout = config.server_idle_timeout;
        sc.tcp_keepalive = config.server_keepalive;
        sc.user_timeout = config.server_user_timeout;
        sc.drain_timeout = 1s;
        server = in(Side::server, [&] { return std::make_unique<server::Server>(sc); });
        server->start();
        server_address = server->addresses().front();
    }

    // The client: connect, one request, then idle for --after.
    net::Fd client = in(Side::client, [&] { return net::connect_tcp(server_address, 2s); });
    exchange_request(client.get(), server_address);
    auto last_exchange = Clock::now();
    net::Address local = net::local_address(client.get());
    kernel::DiagRequest request;
    request.sport = server_address.port();
    request.dport = local.port();
    request.dst = kernel::Prefix{local, local.family() == AF_INET ? 32 : 128};
    request.tcp_info = true;
    auto server_half = [&] {
        return in(Side::server, [&] {
            auto source = kernel::live_source();
            return kernel::sockets(*source, request);
        });
    };
    auto healthy_until = Clock::now() + config.after;
    while (Clock::now() < healthy_until && !cli::stop_requested()) std::this_thread::sleep_for(10ms);

    // The client vanishes.
    auto before = server_half();
    if (before.empty()) throw Error(Exit::target, "the server's side of the connection was not found by the census");
    milliseconds rto = kernel::kRtoMin;
    double since_last_ms = std::chrono::duration<double, std::milli>(Clock::now() - last_exchange).count();
    if (const auto& info = before.front().info) {
        // The server's own view: its keepalive timer counts from the later of
        // the last data and the last ACK it received.
        rto = milliseconds(info->rto_us / 1000);
        since_last_ms = std::min(info->last_ack_recv_ms, info->last_data_recv_ms);
    }
    // cut: the client's end goes down; the server's end loses carrier, so
    // its segments vanish without a local error, as when a client's host dies.
    if (config.vanish == Vanish::forget) sandbox::forget(std::move(client));
    else box->cut(Side::client);
    auto vanished_at = Clock::now();

    // Watch the server's half until it is gone or --max-wait.
    std::vector<Transition> transitions{{kernel::state_json_name(before.front().state), 0}};
    bool reaped = false, interrupted = false;
    while (ms_since(vanished_at) < cli::to_ms(config.max_wait)) {
        if (cli::stop_requested()) {
            interrupted = true;
            break;
        }
        auto now = server_half();
        double at = ms_since(vanished_at);
        std::string state = now.empty() ? "gone" : kernel::state_json_name(now.front().state);
        if (state != transitions.back().state) transitions.push_back({state, at});
        if (now.empty()) {
            reaped = true;
            break;
        }
        output.status(fmt::format("server's half: {} after {:.1f} s", state, at / 1000));
        std::this_thread::sleep_for(kCensusInterval);
    }
    output.clear_status();
    double waited_ms = ms_since(vanished_at);

    // Collect and render.
    report::json states = report::json::array();
    report::Table table{fmt::format("halfopen --side server: the client vanished ({}) after {}",
                                    sandbox::vanish_name(config.vanish), cli::format_duration(config.after)),
                        {"since the vanish", "server's socket"}, {}};
    for (const auto& t : transitions) {
        states.push_back({{"state", t.state}, {"at_ms", t.at_ms}});
        table.rows.push_back({format_ms(t.at_ms), t.state});
    }
    if (!reaped) table.rows.push_back({format_ms(waited_ms), fmt::format("still {}", transitions.back().state)});
    report::json half;
    half["reaped"] = reaped;
    half["reaped_ms"] = reaped ? report::json(transitions.back().at_ms) : report::json(nullptr);
    half["waited_ms"] = waited_ms;
    half["states"] = states;
    half["closed_by_server_ms"] = transitions.size() > 1 && transitions[1].state != "gone"
                                      ? report::json(transitions[1].at_ms)
                                      : report::json(nullptr);
    if (server) {
        int orphan_retries = std::stoi(in(Side::server, [] {
            return kernel::read_sysctl("net.ipv4.tcp_orphan_retries").value_or("0");
        }));
        Theory t = predict_server(config, config.vanish, since_last_ms, rto, orphan_retries);
        double theory_ms = cli::to_ms(*t.detect_after);
        bool in_reach = theory_ms <= cli::to_ms(config.max_wait);
        // The tolerance of the client side, plus half the mechanism's own spread.
        double tolerance = std::max(0.05 * theory_ms, 50.0) + cli::to_ms(t.spread) / 2;
        bool as_predicted = in_reach ? reaped && std::abs(transitions.back().at_ms - theory_ms) <= tolerance : !reaped;
        half["theory_ms"] = theory_ms;
        half["formula"] = t.formula;
        half["tolerance_ms"] = tolerance;
        half["as_predicted"] = as_predicted && !interrupted;
        r.notes.push_back(fmt::format("theory: {} ({}): {}", format_ms(theory_ms), t.formula,
                                      as_predicted ? "as predicted" : "DIFFERS"));
        server->stop();
    } else {
        half["theory_ms"] = nullptr;
    }
    if (!reaped && !interrupted) {
        bool still_open = transitions.back().state == "ESTABLISHED";
        r.notes.push_back(
            still_open ? fmt::format("the server still holds its half after {}: a dead client costs it a socket "
                                     "until its idle timeout or keepalive fires{}",
                                     format_ms(waited_ms), against_target ? ", if it has one" : "")
                       : fmt::format("the server closed its socket, but its kernel still holds it ({}) after {}: "
                                     "the FIN is retransmitted until tcp_orphan_retries or TCP_USER_TIMEOUT gives up",
                                     transitions.back().state, format_ms(waited_ms)));
    }
    r.sysctls = in(Side::server, [] {
        return kernel::sysctls_json({"net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_keepalive_intvl",
                                     "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_retries2",
                                     "net.ipv4.tcp_orphan_retries"});
    });
    r.results["side"] = "server";
    r.results["vanish"] = std::string(sandbox::vanish_name(config.vanish));
    r.results["server"] = against_target ? common.target : "embedded";
    r.results["server_half"] = half;
    r.tables.push_back(std::move(table));
    if (interrupted) r.notes.push_back("interrupted: partial result");
    return r;
}

}  // namespace sockdrill::scenario
