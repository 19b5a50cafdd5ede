// sockdrill-linger: each case builds one connection between a client and a
// server host (a fresh sandbox per case, so the census and the counters of
// each namespace belong to that case alone), ends it the case's way, and
// collects what each side saw: the tap for the wire, the peer's read() and
// write(), bytes delivered, the census for TIME-WAIT, the counters.
#include "scenario/linger.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <charconv>
#include <fmt/format.h>
#include <thread>

#include "cli/signals.hpp"
#include "kernel/census.hpp"
#include "kernel/counters.hpp"
#include "kernel/sysctl.hpp"
#include "net/error.hpp"
#include "net/socket.hpp"
#include "net/sockopt.hpp"
#include "sandbox/hosts.hpp"
#include "sandbox/sandbox.hpp"
#include "sandbox/tap.hpp"
#include "server/server.hpp"

namespace sockdrill::scenario {

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using sandbox::Side;
using std::chrono::milliseconds;

double ms_between(Clock::time_point from, Clock::time_point to) {
    return std::chrono::duration<double, std::milli>(to - from).count();
}

// The counters each case reports, on each side.
constexpr const char* kCounters[] = {"TCPAbortOnData", "TCPAbortOnClose", "TCPAbortOnLinger", "OutRsts",
                                     "EstabResets"};

// The two hosts of one case: a fresh sandbox, or the host's loopback.
struct Hosts : sandbox::Hosts {
    std::unique_ptr<sandbox::Tap> tap;
    std::string tap_error;
    kernel::CounterSnapshot before[2];

    void snapshot_counters() {
        before[0] = in(Side::client, [] { return kernel::read_counters(); });
        before[1] = box ? in(Side::server, [] { return kernel::read_counters(); }) : before[0];
    }
};

Hosts make_hosts(bool sandboxed) {
    Hosts h;
    if (sandboxed) h.box = std::make_unique<sandbox::Sandbox>();
    try {
        h.tap = std::make_unique<sandbox::Tap>(h.client_netns(), h.client_interface());
    } catch (const Error& e) {
        h.tap_error = e.what();
    }
    return h;
}

struct Pair {
    net::Fd client, server;
    net::Address client_address, server_address;
    net::Fd& end(Side side) { return side == Side::client ? client : server; }
};

bool readable_within(int fd, milliseconds timeout) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, int(timeout.count())) > 0;
}

// One established connection. `small_rcvbuf` shrinks the receive buffer of
// one end (set before the handshake, so the window scale matches).
Pair connect_pair(const Hosts& h, std::optional<Side> small_rcvbuf) {
    constexpr int kSmallRcvbuf = 4096;
    Pair p;
    net::ListenOptions options;
    options.nonblocking = false;
    net::Fd listener = h.in(Side::server, [&] {
        // listen_tcp binds at once; a small buffer must be set on the listener
        // before connections arrive, so build this one by hand.
        net::Fd fd(static_cast<int>(check(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket")));
        net::set_reuseaddr(fd.get(), true);
        if (small_rcvbuf == Side::server) net::set_rcvbuf(fd.get(), kSmallRcvbuf);
        auto where = h.address(Side::server, 0);
        check(::bind(fd.get(), where.sa(), where.len()), "bind");
        check(::listen(fd.get(), 8), "listen");
        return fd;
    });
    p.server_address = net::local_address(listener.get());
    p.client = h.in(Side::client, [&] {
        net::Fd fd(static_cast<int>(check(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket")));
        if (small_rcvbuf == Side::client) net::set_rcvbuf(fd.get(), kSmallRcvbuf);
        check(::connect(fd.get(), p.server_address.sa(), p.server_address.len()),
              fmt::format("connect {}", p.server_address.to_string()));
        return fd;
    });
    if (!readable_within(listener.get(), 2000ms)) throw Error(Exit::environment, "linger: accept timed out");
    p.server.reset(static_cast<int>(check(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC), "accept4")));
    p.client_address = net::local_address(p.client.get());
    return p;
}

// Writes as much as the socket takes without blocking, up to `limit`: the
// data then sits in the send queue and in flight, as a busy server's does.
uint64_t fill(int fd, uint64_t limit) {
    std::vector<char> chunk(64 * 1024, 'x');
    uint64_t written = 0;
    while (written < limit) {
        ssize_t n = ::send(fd, chunk.data(), std::min<uint64_t>(chunk.size(), limit - written),
                           MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n <= 0) break;
        written += uint64_t(n);
    }
    return written;
}

struct Drained {
    uint64_t bytes = 0;
    std::string ended;  ///< "EOF", an errno name, or "timeout"
};

// Reads until EOF, an error or the deadline.
Drained drain(int fd, milliseconds timeout, std::string* keep = nullptr) {
    Drained d;
    auto deadline = Clock::now() + timeout;
    std::vector<char> buffer(256 * 1024);
    while (true) {
        auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
        if (left.count() <= 0 || !readable_within(fd, left)) {
            d.ended = "timeout";
            return d;
        }
        ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
        if (n > 0) {
            d.bytes += uint64_t(n);
            if (keep && keep->size() < 4096) keep->append(buffer.data(), std::min<size_t>(size_t(n), 4096));
            continue;
        }
        d.ended = n == 0 ? "EOF" : std::string(errno_name(errno));
        return d;
    }
}

// What a write() right after a failed read returns (EPIPE once the reset
// is known). After a clean EOF it is not tried: the closer's socket is gone,
// so its kernel would answer the byte with RST and undo its TIME-WAIT.
std::string try_write(int fd, const std::string& read_ended) {
    if (read_ended == "EOF" || read_ended == "timeout") return "-";
    char byte = 'z';
    return ::send(fd, &byte, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1 ? "ok" : std::string(errno_name(errno));
}

// What one case measured.
struct Outcome {
    std::string label;
    std::string closer;
    double close_ms = 0;
    uint64_t written = 0, delivered = 0;
    std::optional<uint64_t> expected;  ///< pipeline: the response body size
    std::string peer_read, peer_write;
    net::Address client_address, server_address;
    Clock::time_point closed_at;
    std::optional<uint64_t> unread;  ///< unread: bytes left unread at the closer
    // linger0 against --target: the server's reaction to our reset.
    std::optional<bool> server_socket_gone, server_still_serves;
};

int time_wait_count(const Hosts& h, Side side, const Pair& p) {
    kernel::DiagRequest request;
    request.states = 1u << 6;  // TCP_TIME_WAIT
    const auto& local = side == Side::client ? p.client_address : p.server_address;
    const auto& remote = side == Side::client ? p.server_address : p.client_address;
    request.sport = local.port();
    request.dport = remote.port();
    return h.in(side, [&] {
        auto source = kernel::live_source();
        int n = 0;
        for (const auto& s : kernel::sockets(*source, request))
            if (s.local == local && s.peer == remote) ++n;
        return n;
    });
}

// close() timed; SO_LINGER as the case says.
double timed_close(net::Fd& fd, std::optional<int> linger) {
    if (linger) net::set_linger(fd.get(), *linger);
    auto start = Clock::now();
    fd.reset();
    return ms_between(start, Clock::now());
}

// normal, linger0, linger=T and unread: one end closes, the other watches.
Outcome run_close_case(const LingerCase& c, Side closer_side, const LingerConfig& config, Pair& p) {
    Side peer_side = closer_side == Side::client ? Side::server : Side::client;
    int peer = p.end(peer_side).get();
    Outcome o;
    o.label = c.name();
    o.closer = std::string(sandbox::side_name(closer_side));

    switch (c.kind) {
    case LingerCase::normal: {
        // The peer reads all along: everything written arrives, then FIN.
        Drained got;
        std::thread reader([&] { got = drain(peer, 10s); });
        std::vector<char> chunk(64 * 1024, 'x');
        for (uint64_t sent = 0; sent < config.write_size;) {
            ssize_t n = ::send(p.end(closer_side).get(), chunk.data(), std::min<uint64_t>(chunk.size(), config.write_size - sent),
                               MSG_NOSIGNAL);
            if (n <= 0) break;
            sent += uint64_t(n);
            o.written = sent;
        }
        o.closed_at = Clock::now();
        o.close_ms = timed_close(p.end(closer_side), std::nullopt);
        reader.join();
        o.delivered = got.bytes;
        o.peer_read = got.ended;
        break;
    }
    case LingerCase::linger0:
    case LingerCase::linger_timeout:
    case LingerCase::unread: {
        if (c.kind == LingerCase::unread) {
            // The peer sends what the socket takes; the closer never reads it.
            uint64_t sent = fill(peer, config.unread_size);
            for (int i = 0; i < 200 && uint64_t(net::bytes_unread(p.end(closer_side).get())) < sent; ++i)
                std::this_thread::sleep_for(5ms);
            o.unread = uint64_t(net::bytes_unread(p.end(closer_side).get()));
        }
        // The peer is not reading yet: the closer's data queues up.
        o.written = fill(p.end(closer_side).get(), config.write_size);
        std::this_thread::sleep_for(20ms);  // let what can fly, fly
        o.closed_at = Clock::now();
        std::optional<int> linger;
        if (c.kind == LingerCase::linger0) linger = 0;
        if (c.kind == LingerCase::linger_timeout) linger = c.linger_seconds;
        o.close_ms = timed_close(p.end(closer_side), linger);
        // Now the peer reads what it can.
        auto got = drain(peer, c.kind == LingerCase::linger_timeout ? 10s : 3s);
        o.delivered = got.bytes;
        o.peer_read = got.ended;
        break;
    }
    case LingerCase::pipeline: break;
    }
    o.peer_write = try_write(peer, o.peer_read);
    return o;
}

// The Apache case: a pipelined request lands unread at a server that
// answers the first request with a large body and closes.
Outcome run_pipeline(const Hosts& h, const std::string& server_close, const LingerConfig& config,
                     const std::string& target, Pair& p) {
    Outcome o;
    o.label = fmt::format("pipeline ({} close)", server_close);
    o.close_ms = -1;  // the server's close, not ours to time
    o.closer = "server";
    std::unique_ptr<server::Server> server;
    net::Address address;
    if (target.empty()) {
        server::Config sc;
        sc.listen = {h.address(Side::server, h.box ? 80 : 0).to_string()};  // the host's port 80 is not ours
        sc.close = server_close;
        sc.lingering_timeout = 2s;
        // A send buffer that holds the whole body, as a busy server's often
        // does: the last write() returns at once and close() follows while
        // most of the response is still queued (a plain close then discards it).
        sc.sndbuf = std::min<uint64_t>(config.response_size, 4 * 1024 * 1024);
        sc.drain_timeout = 1s;
        server = h.in(Side::server, [&] { return std::make_unique<server::Server>(sc); });
        server->start();
        address = server->addresses().front();
    } else {
        address = net::Address::parse(target);
    }
    p.client = h.in(Side::client, [&] { return net::connect_tcp(address, 2s); });
    p.client_address = net::local_address(p.client.get());
    p.server_address = address;
    int fd = p.client.get();
    std::string path = !target.empty() ? (config.path.empty() ? "/" : config.path)
                                        : fmt::format("/bytes/{}", config.response_size);
    std::string first = fmt::format("GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", path, address.to_string());
    o.closed_at = Clock::now();  // the server closes from here on; the wire is watched from here
    ::send(fd, first.data(), first.size(), MSG_NOSIGNAL);
    // The extra requests arrive while the server is busy writing: they sit
    // unread in its receive queue when it closes.
    readable_within(fd, 2000ms);
    std::string extra;
    for (int i = 0; i < 3; ++i) extra += fmt::format("GET / HTTP/1.1\r\nHost: {}\r\n\r\n", address.to_string());
    ::send(fd, extra.data(), extra.size(), MSG_NOSIGNAL);
    o.written = extra.size();
    // A client busy elsewhere reads a moment later: by then the server has
    // queued the rest of the body in its send buffer and closed.
    std::this_thread::sleep_for(200ms);
    std::string head;
    auto got = drain(fd, 10s, &head);
    o.peer_read = got.ended;
    if (head.rfind("HTTP/1.", 0) != 0)
        throw Error(Exit::target, fmt::format("{} did not answer an HTTP request ({})", address.to_string(),
                                              got.bytes ? "not HTTP" : got.ended));
    auto head_end = head.find("\r\n\r\n");
    auto length_at = head.find("ontent-Length:");
    if (head_end != std::string::npos) {
        o.delivered = got.bytes - (head_end + 4);
        if (length_at != std::string::npos && length_at < head_end)
            o.expected = std::stoull(head.substr(length_at + 14));
    }
    o.peer_write = try_write(fd, o.peer_read);
    if (server) server->stop();
    return o;
}

std::string sent_text(const sandbox::FlowSummary& s, bool outgoing) {
    uint64_t fin = outgoing ? s.fin_out : s.fin_in, rst = outgoing ? s.rst_out : s.rst_in;
    if (fin && rst) return "FIN, then RST";
    if (rst) return "RST";
    if (fin) return "FIN";
    return "nothing";
}

// Why the closer's kernel sent RST, from the counter that moved on its side
// (tcp_close() and tcp_rcv_state_process() count each reason apart).
report::json rst_cause(const report::json& counters, const LingerCase& c) {
    if (counters.value("TCPAbortOnClose", 0) > 0) return "input unread at close() (TCPAbortOnClose)";
    if (counters.value("TCPAbortOnData", 0) > 0)
        return c.kind == LingerCase::linger0 ? "SO_LINGER {1,0} (TCPAbortOnData)"
                                             : "input arrived after close() (TCPAbortOnData)";
    if (counters.value("TCPAbortOnLinger", 0) > 0) return "FIN-WAIT-2 timeout (TCPAbortOnLinger)";
    return nullptr;
}

}  // namespace

std::string LingerCase::name() const {
    switch (kind) {
    case normal: return "normal";
    case linger0: return "linger0";
    case linger_timeout: return fmt::format("linger={}", linger_seconds);
    case unread: return "unread";
    case pipeline: return "pipeline";
    }
    return "?";
}

std::vector<LingerCase> parse_linger_cases(const std::vector<std::string>& values) {
    std::vector<LingerCase> cases;
    auto bad = [](std::string_view v, std::string_view why) {
        return Error::usage(fmt::format(
            "--case: {} in \"{}\" (expected all, normal, linger0, linger=SECONDS, unread or pipeline)", why, v));
    };
    for (const auto& v : values) {
        if (v == "all") {
            for (auto k : {LingerCase::normal, LingerCase::linger0, LingerCase::linger_timeout, LingerCase::unread,
                           LingerCase::pipeline})
                cases.push_back({k, 1});
        } else if (v == "normal") {
            cases.push_back({LingerCase::normal});
        } else if (v == "linger0") {
            cases.push_back({LingerCase::linger0});
        } else if (v == "unread") {
            cases.push_back({LingerCase::unread});
        } else if (v == "pipeline") {
            cases.push_back({LingerCase::pipeline});
        } else if (v.rfind("linger=", 0) == 0) {
            std::string seconds = v.substr(7);
            if (!seconds.empty() && seconds.back() == 's') seconds.pop_back();
            int t = 0;
            auto [end, ec] = std::from_chars(seconds.data(), seconds.data() + seconds.size(), t);
            if (ec != std::errc{} || end != seconds.data() + seconds.size() || t < 1 || t > 300)
                throw bad(v, "linger=T takes whole seconds from 1 to 300; linger=0 is the case linger0");
            cases.push_back({LingerCase::linger_timeout, t});
        } else {
            throw bad(v, "unknown case");
        }
    }
    if (cases.empty()) throw bad("", "no case");
    for (size_t i = 0; i < cases.size(); ++i)
        for (size_t j = i + 1; j < cases.size(); ++j)
            if (cases[i].name() == cases[j].name())
                throw Error::usage(fmt::format("--case: {} given twice", cases[i].name()));
    return cases;
}

void validate(const LingerConfig& config, const cli::CommonOptions& common) {
    if (config.closer != "client" && config.closer != "server")
        throw Error::usage(fmt::format("--closer: expected client or server, got \"{}\"", config.closer));
    if (config.server_close != "normal" && config.server_close != "lingering" && config.server_close != "both")
        throw Error::usage(fmt::format("--server-close: expected normal, lingering or both, got \"{}\"", config.server_close));
    if (!common.target.empty()) {
        net::parse_local_target(common.target);
        for (const auto& c : config.cases)
            if (c.kind != LingerCase::pipeline && c.kind != LingerCase::linger0)
                throw Error::usage(fmt::format(
                    "--case {}: against --target only pipeline and linger0 run (the other cases need both ends)",
                    c.name()));
    }
}

// linger0 against a real server: the client resets mid-response. Does the
// server drop its socket at once, and does it keep serving?
Outcome run_target_reset(const LingerConfig& config, const std::string& target, Pair& p) {
    Outcome o;
    o.label = "linger0 (client resets mid-response)";
    o.closer = "client";
    auto address = net::Address::parse(target);
    p.client = net::connect_tcp(address, 2s);
    p.client_address = net::local_address(p.client.get());
    p.server_address = address;
    std::string request = fmt::format("GET {} HTTP/1.1\r\nHost: {}\r\n\r\n", config.path.empty() ? "/" : config.path,
                                      address.to_string());
    ::send(p.client.get(), request.data(), request.size(), MSG_NOSIGNAL);
    readable_within(p.client.get(), 2000ms);
    // Read what has arrived, so that SO_LINGER, not unread input, decides
    // the RST (the rest of the response may still land in between).
    std::vector<char> buffer(256 * 1024);
    while (::recv(p.client.get(), buffer.data(), buffer.size(), MSG_DONTWAIT) > 0) {
    }
    o.closed_at = Clock::now();
    o.close_ms = timed_close(p.client, 0);
    std::this_thread::sleep_for(100ms);
    // The server's socket for this connection, if it kept one.
    kernel::DiagRequest r;
    r.sport = address.port();
    r.dport = p.client_address.port();
    auto source = kernel::live_source();
    auto left = kernel::sockets(*source, r);
    o.peer_read = left.empty() ? "socket gone" : fmt::format("socket still {}", net::tcp_state_name(left.front().state));
    o.server_socket_gone = left.empty();
    // And a fresh request still gets an answer.
    try {
        auto again = net::connect_tcp(address, 2s);
        ::send(again.get(), request.data(), request.size(), MSG_NOSIGNAL);
        std::string head;
        drain(again.get(), 1000ms, &head);
        o.server_still_serves = head.rfind("HTTP/1.", 0) == 0;
        o.peer_write = *o.server_still_serves ? "still serves" : "no answer";
    } catch (const Error& e) {
        o.peer_write = e.what();
    }
    return o;
}

report::Report run_linger(const LingerConfig& config, const cli::CommonOptions& common, cli::Output& output) {
    validate(config, common);
    report::Report r;
    r.command = "linger";
    bool against_target = !common.target.empty();
    std::string why_not = sandbox::unavailable_reason();
    bool sandboxed = !against_target && !common.no_sandbox && why_not.empty();
    r.mode = against_target ? "target" : sandboxed ? "sandbox" : "host";
    if (!sandboxed && !against_target && !common.no_sandbox)
        r.notes.push_back(fmt::format("host mode on loopback: {}", why_not));

    report::Table table{"linger: how the connection ended, and what each side saw",
                        {"case", "closer", "close()", "closer sent", "peer read", "peer write", "delivered",
                         "TIME-WAIT c/s", "counters"},
                        {}};
    report::json rows = report::json::object();
    bool tap_missing_said = false;
    for (const auto& c : config.cases) {
        std::vector<std::string> variants = {""};
        if (c.kind == LingerCase::pipeline && !against_target)
            variants = config.server_close == "both" ? std::vector<std::string>{"normal", "lingering"}
                                                     : std::vector<std::string>{config.server_close};
        for (const auto& variant : variants) {
            if (cli::stop_requested()) break;
            output.status(fmt::format("case {}{}", c.name(), variant.empty() ? "" : " " + variant));
            // Set up: fresh hosts, counters, the connection.
            Hosts h = make_hosts(sandboxed);
            if (!h.tap && !tap_missing_said) {
                r.notes.push_back(fmt::format("no packet tap ({}): the \"closer sent\" column is empty", h.tap_error));
                tap_missing_said = true;
            }
            h.snapshot_counters();
            Pair p;
            Side closer = config.closer == "server" ? Side::server : Side::client;
            Outcome o;
            if (against_target && c.kind == LingerCase::linger0) {
                o = run_target_reset(config, common.target, p);
            } else if (c.kind == LingerCase::pipeline) {
                o = run_pipeline(h, against_target ? "target's" : variant, config, common.target, p);
                closer = Side::server;
            } else {
                p = connect_pair(h, c.kind == LingerCase::linger_timeout
                                        ? std::optional(closer == Side::client ? Side::server : Side::client)
                                        : std::nullopt);
                o = run_close_case(c, closer, config, p);
            }
            // The peer closes too, so the closer's side can reach TIME-WAIT.
            p.client.reset();
            p.server.reset();
            std::this_thread::sleep_for(150ms);

            // Collect: the wire, TIME-WAIT, counters.
            report::json row;
            row["case"] = c.name();
            row["closer"] = o.closer;
            if (!variant.empty()) row["server_close"] = variant;
            row["close_ms"] = o.close_ms < 0 ? report::json(nullptr) : report::json(o.close_ms);
            row["written_bytes"] = o.written;
            row["delivered_bytes"] = o.delivered;
            if (o.expected) row["expected_bytes"] = *o.expected;
            if (o.unread) row["unread_bytes"] = *o.unread;
            row["peer_read"] = o.peer_read;
            row["peer_write"] = o.peer_write;
            if (o.server_socket_gone) row["server_socket_gone"] = *o.server_socket_gone;
            if (o.server_still_serves) row["server_still_serves"] = *o.server_still_serves;
            std::string wire = "-";
            if (h.tap) {
                h.tap->stop();
                auto s = h.tap->summary(p.client_address, p.server_address, o.closed_at - 50ms);
                bool closer_is_client = o.closer == "client";
                wire = sent_text(s, closer_is_client);
                row["closer_sent"] = wire;
                row["peer_sent"] = sent_text(s, !closer_is_client);
                report::json w;
                sandbox::to_json(w, s);
                row["wire"] = w;
            } else {
                row["closer_sent"] = nullptr;
            }
            int tw_client = time_wait_count(h, Side::client, p);
            int tw_server = time_wait_count(h, Side::server, p);  // --target: the same (host) namespace
            row["time_wait"] = {{"client", tw_client}, {"server", tw_server}};
            report::json counters = report::json::object();
            std::string counter_text;
            for (Side side : {Side::client, Side::server}) {
                if (!h.box && side == Side::server) break;  // one namespace on the host
                auto deltas = kernel::counter_deltas(h.before[side == Side::client ? 0 : 1],
                                                     h.in(side, [] { return kernel::read_counters(); }));
                std::string key = h.box ? std::string(sandbox::side_name(side)) : "host";
                counters[key] = report::json::object();
                for (const char* name : kCounters) {
                    auto it = deltas.find(name);
                    int64_t v = it == deltas.end() ? 0 : it->second;
                    counters[key][name] = v;
                    if (v) counter_text += fmt::format("{}{}:{} {}", counter_text.empty() ? "" : ", ", key[0], name, v);
                }
            }
            row["counters"] = counters;
            row["rst_cause"] = rst_cause(counters[h.box ? o.closer : "host"], c);
            std::string delivered = o.expected ? fmt::format("{} of {}", cli::format_size(o.delivered),
                                                             cli::format_size(*o.expected))
                                               : fmt::format("{} of {}", cli::format_size(o.delivered),
                                                             cli::format_size(o.written));
            bool lost = o.expected ? o.delivered < *o.expected : o.delivered < o.written;
            row["data_lost"] = lost;
            std::string key = c.name() + (variant.empty() ? "" : "_" + variant);
            for (char& ch : key)
                if (ch == '=' || ch == '-') ch = '_';
            rows[key] = row;
            table.rows.push_back({o.label, o.closer, o.close_ms < 0 ? "-" : fmt::format("{:.1f} ms", o.close_ms), wire,
                                  o.peer_read,
                                  o.peer_write, delivered + (lost ? " LOST" : ""),
                                  fmt::format("{}/{}", tw_client, tw_server), counter_text.empty() ? "-" : counter_text});
        }
    }
    output.clear_status();
    bool interrupted = cli::stop_requested();
    rows["interrupted"] = interrupted;
    if (interrupted) r.notes.push_back("interrupted: partial result");
    if (!sandboxed)
        r.notes.push_back("counters are the whole host's: other connections may move them, and rst_cause with them");
    r.results = rows;
    report::json cases = report::json::array();
    for (const auto& c : config.cases) cases.push_back(c.name());
    r.config = {{"case", cases},
                {"closer", config.closer},
                {"server_close", config.server_close},
                {"write_size_bytes", config.write_size},
                {"unread_size_bytes", config.unread_size},
                {"response_size_bytes", config.response_size},
                {"path", config.path},
                {"no_sandbox", common.no_sandbox}};
    if (against_target) r.config["target"] = common.target;
    // What shapes TIME-WAIT and the FIN's life (a sandbox starts from the kernel's defaults).
    auto read_sysctls = [] {
        return kernel::sysctls_json({"net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_tw_reuse", "net.ipv4.tcp_max_tw_buckets",
                                     "net.ipv4.tcp_orphan_retries"});
    };
    r.sysctls = sandboxed ? sandbox::Sandbox().run_in(Side::client, read_sysctls) : read_sysctls();
    r.tables.push_back(std::move(table));
    return r;
}

}  // namespace sockdrill::scenario
