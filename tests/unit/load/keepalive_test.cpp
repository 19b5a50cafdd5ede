// load::KeepaliveDriver against the embedded server on loopback: count and
// duration bounds, pipelining, reconnects, echo, open-loop pacing and the
// coordinated-omission correction, server closes, errors as data, interval
// snapshots, bad options, and many idle connections that cost little.
#include "load/keepalive.hpp"

#include <sys/socket.h>
#include <sys/time.h>

#include <doctest/doctest.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include <nlohmann/json.hpp>

#include "net/error.hpp"
#include "net/socket.hpp"
#include "server/server.hpp"

using namespace std::chrono_literals;
using sockdrill::Error;
using sockdrill::Exit;
namespace load = sockdrill::load;
namespace net = sockdrill::net;
namespace server = sockdrill::server;

namespace {

// The embedded server on 127.0.0.1:<any>, stopped at the end of the scope.
struct RunningServer {
    explicit RunningServer(server::Config config = {}) : server(adjust(std::move(config))) {
        server.start();
    }
    ~RunningServer() { server.stop(); }
    net::Address address() const { return server.addresses().front(); }
    static server::Config adjust(server::Config c) {
        c.listen = {"127.0.0.1:0"};
        c.drain_timeout = 1s;
        return c;
    }
    server::Server server;
};

load::KeepaliveConfig keepalive_to(const net::Address& target) {
    load::KeepaliveConfig c;
    c.target = target;
    c.connect_timeout = 2s;
    c.io_timeout = 2s;
    c.stop_on_signal = false;
    return c;
}

bool eventually(const std::function<bool()>& f, int tries = 200) {
    for (int i = 0; i < tries; ++i) {
        if (f()) return true;
        std::this_thread::sleep_for(10ms);
    }
    return f();
}

// A listener that never accepts: the kernel completes each handshake into
// the accept queue, so the client's connections are established and stay
// idle, and nothing in this process spends memory on the server side.
struct SilentListener {
    SilentListener() : fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
        auto any = net::Address::parse("127.0.0.1:0");
        REQUIRE(::bind(fd.get(), any.sa(), any.len()) == 0);
        REQUIRE(::listen(fd.get(), 4096) == 0);
        address = net::local_address(fd.get());
    }
    net::Fd fd;
    net::Address address;
};

uint64_t rss_bytes() {
    std::ifstream status("/proc/self/status");
    std::string key;
    while (status >> key) {
        if (key == "VmRSS:") {
            uint64_t kib = 0;
            status >> kib;
            return kib * 1024;
        }
        status.ignore(4096, '\n');
    }
    return 0;
}

uint64_t calls(const load::KeepaliveStats& s, load::Syscall call) {
    return s.syscalls[static_cast<size_t>(call)];
}

}  // namespace

TEST_CASE("keepalive: closed loop sends exactly count requests over connections it keeps open") {
    RunningServer s;
    auto config = keepalive_to(s.address());
    config.count = 500;
    config.connections = 10;
    config.threads = 2;
    auto result = load::run_keepalive(config);
    CHECK(result.stats.sent == 500);
    CHECK(result.stats.completed == 500);
    CHECK(result.stats.latency.count() == 500);
    CHECK(result.stats.lost == 0);
    CHECK(result.stats.abandoned == 0);
    CHECK(result.stats.errors.total() == 0);
    CHECK(result.stats.connections.opened == 10);
    CHECK(result.stats.connections.closed_by_client == 10);
    CHECK(result.stats.connections.reconnects == 0);
    CHECK(result.stats.connections.peak_open == 10);
    CHECK(!result.stopped);
    CHECK(eventually([&] {
        auto snap = s.server.snapshot();
        return snap.accepted == 10 && snap.requests == 500;
    }));
}

TEST_CASE("keepalive: a duration ends a closed-loop run and outstanding requests finish") {
    RunningServer s;
    auto config = keepalive_to(s.address());
    config.duration = 300ms;
    config.connections = 4;
    auto result = load::run_keepalive(config);
    CHECK(result.elapsed_s >= 0.3);
    CHECK(result.elapsed_s < 1.5);
    CHECK(result.stats.completed > 100);
    CHECK(result.stats.completed == result.stats.sent);
    CHECK(result.stats.abandoned == 0);
    CHECK(result.requests_per_s() > 0);
}

TEST_CASE("keepalive: one request costs a send, a recv and a share of epoll_wait") {
    using load::Syscall;
    RunningServer s;
    auto config = keepalive_to(s.address());
    config.count = 1000;
    config.connections = 1;
    auto result = load::run_keepalive(config);
    REQUIRE(result.stats.completed == 1000);
    const auto& st = result.stats;
    CHECK(calls(st, Syscall::socket) == 1);
    CHECK(calls(st, Syscall::connect) == 1);
    CHECK(calls(st, Syscall::epoll_ctl) == 1);
    CHECK(calls(st, Syscall::close) == 1);
    CHECK(calls(st, Syscall::send) == 1000);
    CHECK(calls(st, Syscall::recv) <= 1100);
    CHECK(calls(st, Syscall::epoll_wait) <= 1100);
    nlohmann::json j = result;
    CHECK(j["syscalls_per_request"].get<double>() < 3.5);
}

TEST_CASE("keepalive: pipeline K keeps up to K requests outstanding and sends them in batches") {
    using load::Syscall;
    RunningServer s;
    auto config = keepalive_to(s.address());
    config.count = 800;
    config.connections = 2;
    config.pipeline = 8;
    auto result = load::run_keepalive(config);
    CHECK(result.stats.completed == 800);
    CHECK(result.stats.errors.total() == 0);
    CHECK(result.stats.connections.opened == 2);
    // Responses come back several per read, and the freed slots leave in one send.
    CAPTURE(calls(result.stats, Syscall::send));
    CHECK(calls(result.stats, Syscall::send) < 800 / 2);
    CHECK(eventually([&] { return s.server.snapshot().requests == 800; }));
}

TEST_CASE("keepalive: requests_per_conn=1 opens a connection per request (no keep-alive)") {
    RunningServer s;
    auto config = keepalive_to(s.address());
    config.count = 60;
    config.connections = 3;
    config.requests_per_conn = 1;
    auto result = load::run_keepalive(config);
    CHECK(result.stats.completed == 60);
    CHECK(result.stats.connections.opened == 60);
    CHECK(result.stats.connections.closed_by_client == 60);
    CHECK(result.stats.connections.reconnects == 57);
    CHECK(result.stats.errors.total() == 0);
    CHECK(result.stats.connect.count() == 60);
    CHECK(eventually([&] { return s.server.snapshot().accepted == 60; }));

    // requests_per_conn=4 on one slot: fifteen connections of four requests each.
    config.requests_per_conn = 4;
    config.connections = 1;
    auto four = load::run_keepalive(config);
    CHECK(four.stats.completed == 60);
    CHECK(four.stats.connections.opened == 15);
}

TEST_CASE("keepalive: echo payloads of a given size, pipelined") {
    server::Config echo;
    echo.mode = "echo";
    RunningServer s(echo);
    auto config = keepalive_to(s.address());
    config.payload = load::Payload::echo;
    config.echo_size = 10'000;
    config.pipeline = 3;
    config.connections = 2;
    config.count = 90;
    auto result = load::run_keepalive(config);
    CHECK(result.stats.completed == 90);
    CHECK(result.stats.bytes_sent == 900'000);
    CHECK(result.stats.bytes_received == 900'000);
    CHECK(result.stats.errors.total() == 0);
}

TEST_CASE("keepalive: HTTP method, headers and body go out as configured") {
    RunningServer s;
    auto config = keepalive_to(s.address());
    config.http_method = "POST";
    config.http_path = "/status/201";
    config.http_headers = {"X-Test: 1"};
    config.http_body = "hello";
    std::string request = load::format_request(config);
    CHECK(request.rfind("POST /status/201 HTTP/1.1\r\n", 0) == 0);
    CHECK(request.find("\r\nX-Test: 1\r\n") != std::string::npos);
    CHECK(request.find("\r\nContent-Length: 5\r\n\r\nhello") != std::string::npos);
    config.count = 20;
    auto result = load::run_keepalive(config);
    CHECK(result.stats.completed == 20);
    CHECK(result.stats.non_2xx == 0);  // 201 is a 2xx
    CHECK(eventually([&] { return s.server.snapshot().bytes_in == 20 * request.size(); }));

    config.http_path = "/status/503";
    auto unavailable = load::run_keepalive(config);
    CHECK(unavailable.stats.completed == 20);
    CHECK(unavailable.stats.non_2xx == 20);
}

TEST_CASE("keepalive: open loop keeps the rate on schedule over a second") {
    RunningServer s;
    auto config = keepalive_to(s.address());
    config.rate = 1000;
    config.duration = 1s;
    config.connections = 20;
    config.threads = 2;
    auto result = load::run_keepalive(config);
    // 1000 requests due in [0, 1 s), every one sent and answered.
    CHECK(result.stats.sent == 1000);
    CHECK(result.stats.completed == 1000);
    CHECK(result.stats.late < 50);
    CHECK(result.requests_per_s() == doctest::Approx(1000).epsilon(0.03));
    nlohmann::json j = result;
    CHECK(j["target_rate_per_s"] == 1000.0);
}

TEST_CASE(
    "keepalive: open-loop latency counts from when a request was due (coordinated omission)") {
    // A server that takes 20 ms per request on one connection serves 50/s.
    server::Config slow;
    slow.response_delay = 20ms;
    RunningServer s(slow);
    auto config = keepalive_to(s.address());
    config.connections = 1;
    config.duration = 400ms;

    // Closed loop waits for each response before it sends the next: every
    // latency is the server's 20 ms, and the queue the server built is hidden.
    auto closed = load::run_keepalive(config);
    REQUIRE(closed.stats.completed >= 10);
    CHECK(closed.stats.latency.percentile(99) >= 20'000);
    CHECK(closed.stats.latency.percentile(99) < 35'000);

    // Open loop at 100/s, twice what the server serves: request i is due at
    // 10 i ms but sent at 20 i ms and answered at 20 (i + 1) ms, so its
    // latency grows by 10 ms a request. The duration is a hard deadline: the
    // about 20 sent by 400 ms are answered (the last waited about 210 ms),
    // the other 20 of the 40 due are abandoned, not sent late.
    config.rate = 100;
    auto open = load::run_keepalive(config);
    const auto& st = open.stats;
    CAPTURE(st.completed);
    CHECK(st.completed + st.lost + st.abandoned == 40);
    CHECK(st.completed >= 18);
    CHECK(st.completed <= 22);
    CHECK(st.abandoned >= 18);
    CHECK(st.latency.percentile(50) > 80'000);
    CHECK(st.latency.percentile(99) > 180'000);
    CHECK(st.latency.percentile(99) > 5 * closed.stats.latency.percentile(99));
    CHECK(st.late > 10);
    CHECK(open.elapsed_s < 0.4 + 0.3);  // not rate / capacity x duration
}

TEST_CASE("keepalive: open loop against a server that never answers ends at duration + drain") {
    SilentListener silent;  // connections are established, requests never answered
    auto config = keepalive_to(silent.address);
    config.rate = 1000;
    config.duration = 300ms;
    config.drain_timeout = 200ms;
    config.connections = 2;
    auto result = load::run_keepalive(config);
    CHECK(result.elapsed_s >= 0.45);  // the two outstanding requests wait out the drain
    CHECK(result.elapsed_s < 0.3 + 0.2 + 0.3);
    CHECK(result.stats.sent == 2);  // one per connection, pipeline 1
    CHECK(result.stats.completed == 0);
    CHECK(result.stats.lost == 0);
    // Every request due in [0, 300 ms) is accounted for: 2 outstanding at the
    // drain timeout and 298 due but never sent, all abandoned.
    CHECK(result.stats.abandoned == 300);
}

TEST_CASE(
    "keepalive: open loop against a refused port ends at the duration, due requests abandoned") {
    SilentListener placeholder;  // a port of ours; closing the listener makes it refuse
    auto target = placeholder.address;
    placeholder.fd.reset();
    auto config = keepalive_to(target);
    config.rate = 1000;
    config.duration = 300ms;
    config.drain_timeout = 200ms;
    config.connections = 2;
    config.reconnect_delay = 20ms;
    auto result = load::run_keepalive(config);
    CHECK(result.elapsed_s >= 0.29);
    CHECK(result.elapsed_s < 0.3 + 0.3);  // nothing outstanding, so no drain
    CHECK(result.stats.sent == 0);
    CHECK(result.stats.abandoned == 300);
    CHECK(result.stats.errors.count(load::Phase::connect, ECONNREFUSED) >= 2);
}

TEST_CASE("keepalive: a server closing after max_requests is a close by the server, not an error") {
    server::Config limited;
    limited.max_requests = 5;
    RunningServer s(limited);
    auto config = keepalive_to(s.address());
    config.count = 100;
    config.connections = 2;
    auto result = load::run_keepalive(config);
    CHECK(result.stats.completed == 100);
    CHECK(result.stats.errors.total() == 0);
    CHECK(result.stats.lost == 0);
    // Every connection but the last one or two carried five requests and
    // was closed by the server; those still open at the end, by the client.
    const auto& conns = result.stats.connections;
    CHECK(conns.closed_by_server >= 19);
    CHECK(conns.opened == conns.closed_by_server + conns.closed_by_client);
    CHECK(conns.reconnects == conns.opened - 2);
    CHECK(conns.failed == 0);
    CHECK(eventually([&] {
        return s.server.snapshot().closed[static_cast<size_t>(server::CloseReason::max_requests)] ==
               conns.closed_by_server;
    }));
}

TEST_CASE("keepalive: a server idle timeout closes idle connections, which reopen") {
    // The server sweeps its timeouts every 100 ms: a connection idle for
    // 50 ms is closed within 150 ms, whether it carried a request or not.
    server::Config quick;
    quick.keepalive_timeout = 50ms;
    quick.header_timeout = 50ms;
    RunningServer s(quick);
    auto config = keepalive_to(s.address());
    config.connections = 4;
    config.rate = 10;
    config.duration = 600ms;
    auto result = load::run_keepalive(config);
    CHECK(result.stats.connections.closed_by_server >= 4);
    CHECK(result.stats.connections.reconnects >= 4);
    // A request sent just as the server closed is lost (the idle-timeout
    // race): counted, never silently dropped, and its error is the race's:
    // the server's FIN (read EOF) or its RST (a close with our request
    // unread) on the read or the write. With pipeline 1 each failed
    // connection lost exactly one request, and nothing else failed.
    const auto& st = result.stats;
    CHECK(st.completed + st.lost == st.sent);
    uint64_t race_errors = st.errors.count(load::Phase::read, 0) +
                           st.errors.count(load::Phase::read, ECONNRESET) +
                           st.errors.count(load::Phase::write, EPIPE) +
                           st.errors.count(load::Phase::write, ECONNRESET);
    CHECK(st.lost == race_errors);
    CHECK(st.errors.total() == race_errors);
}

namespace {

// The idle-timeout race, forced: a server that answers the first request of
// each connection, waits until the second one has arrived, and then closes
// as if its idle timeout had fired just before it: with a FIN (shutdown,
// then reads to the client's close) or with an RST (close() with the
// request unread sends one: tcp_close() -> TCPAbortOnClose).
struct ClosingServer {
    enum class How { fin, rst };
    ClosingServer(How how, int connections) : how(how) {
        thread = std::thread([this, connections] { serve(connections); });
    }
    ~ClosingServer() { thread.join(); }
    void serve(int connections) {
        timeval limit{5, 0};  // a broken client fails the test, not hangs it
        ::setsockopt(listener.fd.get(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
        char buffer[4096];
        for (int i = 0; i < connections; ++i) {
            net::Fd conn(::accept4(listener.fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
            if (!conn) return;
            ::setsockopt(conn.get(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
            std::string request;
            while (request.find("\r\n\r\n") == std::string::npos) {
                ssize_t n = ::recv(conn.get(), buffer, sizeof buffer, 0);
                if (n <= 0) return;
                request.append(buffer, static_cast<size_t>(n));
            }
            const std::string_view response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
            if (::send(conn.get(), response.data(), response.size(), MSG_NOSIGNAL) < 0) return;
            // The second request is in our receive queue, unread.
            if (::recv(conn.get(), buffer, 1, MSG_PEEK) <= 0) return;
            if (how == How::fin) {
                ::shutdown(conn.get(), SHUT_WR);
                while (::recv(conn.get(), buffer, sizeof buffer, 0) > 0) {
                }
            }
        }
    }
    How how;
    SilentListener listener;
    std::thread thread;
};

}  // namespace

TEST_CASE("keepalive: a server closing with a request in flight loses it, as a read EOF or RST") {
    for (auto how : {ClosingServer::How::fin, ClosingServer::How::rst}) {
        bool fin = how == ClosingServer::How::fin;
        CAPTURE(fin);
        // Ten requests on one connection slot: five connections, each with
        // one request answered and the next one lost.
        load::KeepaliveStats st;
        {
            ClosingServer s(how, 5);
            auto config = keepalive_to(s.listener.address);
            config.connections = 1;
            config.count = 10;
            config.reconnect_delay = 1ms;
            st = load::run_keepalive(config).stats;
        }
        CHECK(st.sent == 10);
        CHECK(st.completed == 5);
        CHECK(st.lost == 5);
        CHECK(st.abandoned == 0);
        CHECK(st.errors.count(load::Phase::read, fin ? 0 : ECONNRESET) == 5);
        CHECK(st.errors.total() == 5);
        CHECK(st.connections.failed == 5);
        CHECK(st.connections.closed_by_server == 0);
        CHECK(st.connections.reset_by_server == 0);
    }
}

TEST_CASE("keepalive: refused connects are counted by phase and errno, and retried after a delay") {
    SilentListener placeholder;  // a port of ours; closing the listener makes it refuse
    auto target = placeholder.address;
    placeholder.fd.reset();
    auto config = keepalive_to(target);
    config.connections = 2;
    config.duration = 200ms;
    config.reconnect_delay = 20ms;
    auto result = load::run_keepalive(config);
    uint64_t refused = result.stats.errors.count(load::Phase::connect, ECONNREFUSED);
    CHECK(refused >= 2);
    CHECK(refused <= 2 * (200 / 20 + 2));  // the delay keeps retries from spinning
    CHECK(result.stats.connections.failed == refused);
    CHECK(result.stats.completed == 0);
    nlohmann::json j = result;
    CHECK(j["errors"]["connect"]["ECONNREFUSED"] == refused);
}

TEST_CASE("keepalive: a response that never comes is a read ETIMEDOUT and a lost request") {
    server::Config stalled;
    stalled.response_delay = 2s;
    RunningServer s(stalled);
    auto config = keepalive_to(s.address());
    config.connections = 2;
    config.count = 2;
    config.io_timeout = 100ms;
    auto result = load::run_keepalive(config);
    CHECK(result.stats.errors.count(load::Phase::read, ETIMEDOUT) == 2);
    CHECK(result.stats.lost == 2);
    CHECK(result.stats.completed == 0);
    CHECK(result.elapsed_s < 1.0);
}

TEST_CASE("keepalive: live counters and interval snapshots add up to the result") {
    RunningServer s;
    auto config = keepalive_to(s.address());
    config.duration = 500ms;
    config.connections = 4;
    config.threads = 2;
    uint64_t interval_requests = 0, interval_latencies = 0;
    int samples = 0;
    auto result = load::run_keepalive(
        config,
        [&](const load::KeepaliveInterval& i, const load::KeepaliveLive& live) {
            ++samples;
            interval_requests += i.completed;
            interval_latencies += i.latency.count();
            CHECK(i.end_s > i.start_s);
            CHECK(live.open <= 4);
            CHECK(live.completed >= interval_requests);
            nlohmann::json j = i;
            CHECK(j.contains("p99_us"));
        },
        100ms);
    CHECK(samples >= 3);
    CHECK(interval_requests > 0);
    CHECK(interval_requests <= result.stats.completed);
    CHECK(interval_latencies <= result.stats.completed);

    // With the driver in hand, the last interval collects the rest.
    load::KeepaliveDriver driver(config);
    driver.start();
    std::this_thread::sleep_for(150ms);
    auto first = driver.take_interval();
    CHECK(first.completed > 0);
    CHECK(driver.live().open == 4);
    driver.stop();
    auto stopped = driver.wait();
    auto rest = driver.take_interval();
    CHECK(stopped.stopped);
    CHECK(first.completed + rest.completed == stopped.stats.completed);
    CHECK(first.latency.count() + rest.latency.count() == stopped.stats.completed);
}

TEST_CASE("keepalive: 2,000 idle connections stay open and cost under 1 KiB each") {
    SilentListener listener;
    auto config = keepalive_to(listener.address);
    config.connections = 2000;
    config.threads = 2;
    config.idle = true;
    config.duration = 10s;
    config.sources = {net::Address::parse_host("127.0.0.2"), net::Address::parse_host("127.0.0.3")};
    load::KeepaliveDriver driver(config);
    uint64_t before = rss_bytes();
    driver.start();
    REQUIRE(eventually([&] { return driver.live().open == 2000; }, 300));
    uint64_t after = rss_bytes();
    std::this_thread::sleep_for(100ms);
    CHECK(driver.live().open == 2000);  // held, not dropped
    driver.stop();
    auto result = driver.wait();
    double per_connection = (static_cast<double>(after) - static_cast<double>(before)) / 2000;
    MESSAGE("RSS growth per idle connection: " << per_connection << " bytes");
    CHECK(per_connection < 1024);
    CHECK(result.stats.connections.opened == 2000);
    CHECK(result.stats.connections.closed_by_client == 2000);
    CHECK(result.stats.sent == 0);
    CHECK(result.stats.errors.total() == 0);
}

TEST_CASE("keepalive: think time paces each connection, jitter spreads the pauses") {
    RunningServer s;
    auto config = keepalive_to(s.address());
    config.connections = 4;
    config.duration = 1s;
    config.think_time = 200ms;
    auto st = load::run_keepalive(config).stats;
    // Each connection: a request at once, then one per 200 ms: 5 in 1 s
    // (the fifth falls due at 800 ms; a sixth would be at the end, 1 s).
    CHECK(st.sent >= 4 * 4);
    CHECK(st.sent <= 4 * 6);
    CHECK(st.completed == st.sent);
    CHECK(st.connections.opened == 4);

    // The pause survives a new connection: one request per connection.
    config.requests_per_conn = 1;
    st = load::run_keepalive(config).stats;
    CHECK(st.sent >= 4 * 4);
    CHECK(st.sent <= 4 * 6);
    // Each slot reconnects at once and waits out its pause on the new
    // connection, so the last one may open and carry nothing before the end.
    CHECK(st.connections.opened >= st.sent);
    CHECK(st.connections.opened <= st.sent + 4);
    CHECK(st.errors.total() == 0);
}

TEST_CASE("keepalive: think jitter draws each pause from think_time x [1-j, 1+j]") {
    // 50 connections, a request at once, pauses of 1 s, a 500 ms run:
    // without jitter no connection sends a second request; with jitter 1
    // (pauses of 0 to 2 s) each pause is under 500 ms with odds 1/4, so
    // about 14 do (two or fewer: odds under 1e-4).
    RunningServer s;
    auto config = keepalive_to(s.address());
    config.connections = 50;
    config.duration = 500ms;
    config.think_time = 1s;
    CHECK(load::run_keepalive(config).stats.sent == 50);
    config.think_jitter = 1;
    auto sent = load::run_keepalive(config).stats.sent;
    CHECK(sent > 50 + 2);
    CHECK(sent < 50 + 40);
}

TEST_CASE("keepalive: the idle-timeout race: a pool that reuses without looking loses requests, "
          "a client idle timeout below the server's loses none") {
    // The server closes a connection idle 300 ms at its next 100 ms sweep
    // (300-400 ms); each connection rests 250-450 ms between requests.
    server::Config quick;
    quick.keepalive_timeout = 300ms;
    RunningServer s(quick);
    auto config = keepalive_to(s.address());
    config.connections = 10;
    config.duration = 1500ms;
    config.think_time = 350ms;
    config.think_jitter = 0.3;
    config.reconnect_delay = 1ms;

    config.watch_idle = false;
    auto naive = load::run_keepalive(config).stats;
    // The reuses after the server's close go out on a connection it no
    // longer has: its FIN is read after the request left, an empty reply.
    CHECK(naive.lost > 0);
    CHECK(naive.errors.count(load::Phase::read, 0) + naive.errors.count(ECONNRESET) +
              naive.errors.count(EPIPE) ==
          naive.lost);
    CHECK(naive.connections.closed_by_server == 0);  // it never looked

    config.watch_idle = true;
    auto watching = load::run_keepalive(config).stats;
    CHECK(watching.connections.closed_by_server > 0);  // the FINs seen while idle
    CHECK(watching.lost <= naive.lost);

    config.watch_idle = false;
    config.client_idle_timeout = 200ms;  // below the server's 300 ms
    auto fixed = load::run_keepalive(config).stats;
    CHECK(fixed.lost == 0);
    CHECK(fixed.errors.total() == 0);
    CHECK(fixed.connections.closed_idle > 0);
    CHECK(fixed.completed == fixed.sent);
}

TEST_CASE("keepalive: after a server restart, jittered backoff spreads the reconnects") {
    // Every connection is lost at once when the server stops (closed loop:
    // each has a request in flight or about to be); the reconnect histogram
    // runs from that loss to the first response on the next connection.
    server::Config config_s;
    auto first = std::make_unique<RunningServer>(config_s);
    auto address = first->address();
    auto config = keepalive_to(address);
    config.connections = 40;
    config.duration = 3s;
    config.backoff = load::Backoff::jitter;
    config.backoff_max = 400ms;
    load::KeepaliveDriver driver(config);
    driver.start();
    REQUIRE(eventually([&] { return driver.live().open == 40; }));
    std::this_thread::sleep_for(100ms);
    first.reset();  // stops it: every connection closes
    server::Config again;
    again.listen = {address.to_string()};
    again.drain_timeout = 1s;
    server::Server second(again);
    second.start();
    auto st = driver.wait().stats;
    second.stop();
    REQUIRE(st.reconnect.count() >= 40);
    // Uniform waits over 400 ms: the reconnects are spread, not one burst.
    CHECK(st.reconnect.percentile(90) >= 200'000);
    CHECK(st.reconnect.percentile(10) <= 150'000);
    CHECK(st.reconnect.max() < 1'000'000);
    nlohmann::json j = load::KeepaliveResult{st};
    CHECK(j["reconnect"]["count"] == st.reconnect.count());
}

TEST_CASE("keepalive: bad options are one-line usage errors naming the option") {
    auto config = keepalive_to(net::Address::parse("127.0.0.1:9"));
    auto rejects = [](const std::function<void()>& f, const char* what) {
        try {
            f();
            FAIL("accepted: " << what);
        } catch (const Error& e) {
            std::string message = e.what();
            CHECK(e.exit() == Exit::usage);
            CHECK(message.find(what) != std::string::npos);
            CHECK(message.find('\n') == std::string::npos);
        }
    };
    auto with = [&](const std::function<void(load::KeepaliveConfig&)>& change) {
        auto c = config;
        change(c);
        return [c] { load::validate(c); };
    };
    rejects(with([](auto& c) { c.connections = 0; }), "--connections");
    rejects(with([](auto& c) { c.pipeline = 0; }), "--pipeline");
    rejects(with([](auto& c) { c.duration = 0s; }), "--duration");
    rejects(with([](auto& c) {
                c.duration = 0s;
                c.count = 100;  // a count is no deadline: a dead server never lets it finish
            }),
            "--duration");
    // Caps, so a typo is a usage error and not gigabytes (or a bad_alloc).
    rejects(with([](auto& c) { c.connections = 1'000'001; }), "--connections");
    rejects(with([](auto& c) { c.pipeline = 1025; }), "--pipeline");
    rejects(with([](auto& c) {
                c.connections = 1'000'000;
                c.pipeline = 1024;
            }),
            "--connections x --pipeline");
    rejects(
        [&] {
            auto c = config;
            c.connections = 1'000'000;
            c.pipeline = 1024;
            load::KeepaliveDriver driver(c);
        },
        "--pipeline");
    CHECK_NOTHROW(load::validate([&] {
        auto c = config;
        c.connections = 1'000'000;
        c.pipeline = 4;
        return c;
    }()));
    rejects(with([](auto& c) { c.ramp = 20s; }), "--ramp");
    rejects(with([](auto& c) { c.http_headers = {"no colon"}; }), "--header");
    rejects(with([](auto& c) { c.http_method = "get me"; }), "--method");
    rejects(with([](auto& c) { c.sources = {net::Address::parse_host("::1")}; }), "--source");
    rejects(with([](auto& c) { c.think_jitter = 1.5; }), "--think-jitter");
    rejects(with([](auto& c) {
                c.think_time = 1s;
                c.rate = 100;
            }),
            "--rate");
    rejects(with([](auto& c) {
                c.backoff = load::Backoff::jitter;
                c.backoff_max = 0s;
            }),
            "--backoff-max");
    rejects([] { load::parse_rate("1000"); }, "--rate");
    rejects([] { load::parse_rate("fast/s"); }, "--rate");
    rejects([] { load::parse_rate("10/hour"); }, "--rate");
    rejects([] { load::KeepaliveDriver driver({}); }, "--target");
    CHECK(load::parse_rate("1000/s") == 1000);
    CHECK(load::parse_rate("2.5k/s") == 2500);
    CHECK(load::parse_rate("600/m") == 10);
    nlohmann::json j = config;
    CHECK(j["connections"] == 10);
    CHECK(j["pipeline"] == 1);
}
