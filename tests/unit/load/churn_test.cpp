// load::ChurnDriver against the embedded server on loopback: bounds,
// exchanges, close modes as the kernel's census sees them, errors as data,
// open-loop pacing, source rotation, stop and live counters.
#include "load/churn.hpp"

#include <netinet/tcp.h>
#include <sys/socket.h>

#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli/signals.hpp"
#include "kernel/census.hpp"
#include "net/error.hpp"
#include "net/socket.hpp"
#include "sandbox/sandbox.hpp"
#include "server/server.hpp"

using namespace std::chrono_literals;
using sockdrill::Error;
using sockdrill::Exit;
namespace cli = sockdrill::cli;
namespace kernel = sockdrill::kernel;
namespace load = sockdrill::load;
namespace net = sockdrill::net;
namespace sandbox = sockdrill::sandbox;
namespace server = sockdrill::server;

namespace {

// The embedded server on 127.0.0.1:<any>, stopped at the end of the scope.
struct RunningServer {
    explicit RunningServer(server::Config config = {}) : server(adjust(std::move(config))) {
        server.start();
    }
    ~RunningServer() { server.stop(); }
    net::Address address() const { return server.addresses().front(); }
    uint16_t port() const { return address().port(); }
    static server::Config adjust(server::Config c) {
        c.listen = {"127.0.0.1:0"};
        c.drain_timeout = 1s;
        return c;
    }
    server::Server server;
};

load::ChurnConfig churn_to(const net::Address& target) {
    load::ChurnConfig c;
    c.target = target;
    c.connect_timeout = 2s;
    c.io_timeout = 2s;
    c.stop_on_signal = false;  // tests that want SIGINT's effect say so
    return c;
}

// Polls until f() holds or two seconds pass; the kernel finishes a close
// (the peer's FIN, TIME-WAIT) a moment after close() returns.
bool eventually(const std::function<bool()>& f) {
    for (int i = 0; i < 200; ++i) {
        if (f()) return true;
        std::this_thread::sleep_for(10ms);
    }
    return f();
}

constexpr int kTimeWait = 6;  // TCP_TIME_WAIT

// TIME-WAIT sockets whose local (sport) or remote (dport) port is `port`:
// the client's side of a connection to the server has dport = server port.
uint64_t time_wait(std::optional<uint16_t> sport, std::optional<uint16_t> dport) {
    kernel::DiagRequest request;
    request.udp = false;
    request.states = 1u << kTimeWait;
    request.sport = sport;
    request.dport = dport;
    auto source = kernel::live_source();
    return kernel::count_states(*source, request).tcp(kTimeWait);
}
uint64_t client_time_wait(uint16_t server_port) {
    return time_wait(std::nullopt, server_port);
}
uint64_t server_time_wait(uint16_t server_port) {
    return time_wait(server_port, std::nullopt);
}

uint64_t closed_by(const RunningServer& s, server::CloseReason reason) {
    return s.server.snapshot().closed[static_cast<size_t>(reason)];
}

// A port nothing listens on: bound (so nobody else takes it) but not listening,
// so a SYN to it gets RST.
struct ClosedPort {
    ClosedPort() : fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
        auto any = net::Address::parse("127.0.0.1:0");
        REQUIRE(::bind(fd.get(), any.sa(), any.len()) == 0);
        address = net::local_address(fd.get());
    }
    net::Fd fd;
    net::Address address;
};

}  // namespace

TEST_CASE("the count bound starts exactly that many connections, spread over threads") {
    RunningServer s;
    auto config = churn_to(s.address());
    config.count = 137;
    config.concurrency = 10;
    config.threads = 2;
    auto result = load::run_churn(config);
    CHECK(result.stats.started == 137);
    CHECK(result.stats.completed == 137);
    CHECK(result.stats.failed == 0);
    CHECK(result.stats.abandoned == 0);
    CHECK(result.stats.errors.total() == 0);
    CHECK(result.stats.total.count() == 137);
    CHECK(!result.stopped);
    CHECK(eventually([&] { return s.server.snapshot().accepted == 137; }));
}

TEST_CASE("the duration bound ends a run with no count, and connections in flight finish") {
    RunningServer s;
    auto config = churn_to(s.address());
    config.duration = 300ms;
    config.concurrency = 4;
    auto result = load::run_churn(config);
    CHECK(result.elapsed_s >= 0.3);
    CHECK(result.elapsed_s < 1.5);
    CHECK(result.stats.completed > 10);
    CHECK(result.stats.abandoned == 0);
    CHECK(result.stats.completed == result.stats.started);
    CHECK(result.conn_per_s() > 0);
}

TEST_CASE("HTTP: K exchanges per connection, each read to the end of its response") {
    RunningServer s;
    auto config = churn_to(s.address());
    config.count = 20;
    config.exchanges = 4;
    config.concurrency = 5;
    auto result = load::run_churn(config);
    CHECK(result.stats.completed == 20);
    CHECK(result.stats.exchanges == 80);
    CHECK(result.stats.non_2xx == 0);
    CHECK(result.stats.connect.count() == 20);
    CHECK(result.stats.ttfb.count() == 20);
    CHECK(result.stats.ttfb.min() >= result.stats.connect.min());
    CHECK(eventually(
        [&] { return s.server.snapshot().requests == 80 && s.server.snapshot().accepted == 20; }));

    // A status other than 2xx is counted, not failed.
    config.http_path = "/status/503";
    config.exchanges = 1;
    config.count = 3;
    auto missing = load::run_churn(config);
    CHECK(missing.stats.completed == 3);
    CHECK(missing.stats.non_2xx == 3);
}

TEST_CASE("echo: S bytes out and the same S bytes back, K times per connection") {
    server::Config echo;
    echo.mode = "echo";
    RunningServer s(echo);
    auto config = churn_to(s.address());
    config.payload = load::Payload::echo;
    config.echo_size = 100'000;  // more than one read, often more than one write
    config.exchanges = 3;
    config.count = 10;
    auto result = load::run_churn(config);
    CHECK(result.stats.completed == 10);
    CHECK(result.stats.exchanges == 30);
    CHECK(result.stats.bytes_sent == 3'000'000);
    CHECK(result.stats.bytes_received == 3'000'000);
}

TEST_CASE("close=client: the client holds TIME-WAIT, the server none") {
    RunningServer s;
    uint16_t port = s.port();
    uint64_t client_before = client_time_wait(port), server_before = server_time_wait(port);
    auto config = churn_to(s.address());
    config.count = 25;
    config.close = load::CloseMode::client;
    auto result = load::run_churn(config);
    REQUIRE(result.stats.completed == 25);
    CHECK(eventually([&] { return client_time_wait(port) - client_before == 25; }));
    CHECK(server_time_wait(port) - server_before == 0);
    CHECK(eventually([&] { return closed_by(s, server::CloseReason::peer_fin) == 25; }));
}

TEST_CASE("close=server: the client waits for the server's FIN, so the server holds TIME-WAIT") {
    RunningServer s;
    uint16_t port = s.port();
    uint64_t client_before = client_time_wait(port), server_before = server_time_wait(port);
    auto config = churn_to(s.address());
    config.count = 25;
    config.exchanges = 2;  // keep-alive first, "Connection: close" on the last
    config.close = load::CloseMode::server;
    auto result = load::run_churn(config);
    REQUIRE(result.stats.completed == 25);
    CHECK(result.stats.exchanges == 50);
    CHECK(eventually([&] { return server_time_wait(port) - server_before == 25; }));
    CHECK(client_time_wait(port) - client_before == 0);
    CHECK(closed_by(s, server::CloseReason::server_close) == 25);
}

TEST_CASE("close=server with echo: the server's idle timeout sends the FIN the client waits for") {
    server::Config echo;
    echo.mode = "echo";
    echo.keepalive_timeout = 50ms;
    RunningServer s(echo);
    auto config = churn_to(s.address());
    config.payload = load::Payload::echo;
    config.count = 6;
    config.concurrency = 6;
    config.close = load::CloseMode::server;
    auto result = load::run_churn(config);
    CHECK(result.stats.completed == 6);
    CHECK(result.stats.total.min() >= 50'000);  // each waited for the server's timeout
    CHECK(eventually([&] { return server_time_wait(s.port()) >= 6; }));
}

TEST_CASE("close=linger0: RST instead of FIN, no TIME-WAIT on either side") {
    RunningServer s;
    uint16_t port = s.port();
    uint64_t client_before = client_time_wait(port), server_before = server_time_wait(port);
    auto config = churn_to(s.address());
    config.count = 25;
    config.close = load::CloseMode::linger0;
    auto result = load::run_churn(config);
    REQUIRE(result.stats.completed == 25);
    // The server reads ECONNRESET on each: the RST arrived.
    CHECK(eventually([&] { return closed_by(s, server::CloseReason::peer_rst) == 25; }));
    CHECK(client_time_wait(port) - client_before == 0);
    CHECK(server_time_wait(port) - server_before == 0);
}

TEST_CASE("a server that resets instead of closing is an ECONNRESET of the close phase") {
    server::Config abortive;
    abortive.close = "abortive";
    RunningServer s(abortive);
    auto config = churn_to(s.address());
    config.count = 5;
    config.close = load::CloseMode::server;
    auto result = load::run_churn(config);
    CHECK(result.stats.exchanges == 5);  // the response arrived before the RST
    CHECK(result.stats.failed == 5);
    CHECK(result.stats.errors.count(load::Phase::close, ECONNRESET) == 5);
}

TEST_CASE("a refused connect is counted by phase and errno, with when it first happened") {
    ClosedPort closed;
    auto config = churn_to(closed.address);
    config.count = 8;
    config.concurrency = 2;
    auto result = load::run_churn(config);
    CHECK(result.stats.started == 8);
    CHECK(result.stats.failed == 8);
    CHECK(result.stats.completed == 0);
    CHECK(result.stats.errors.count(load::Phase::connect, ECONNREFUSED) == 8);
    CHECK(result.stats.errors.count(ECONNREFUSED) == 8);
    CHECK(result.stats.errors.total() == 8);
    auto first = result.stats.errors.first_s(load::Phase::connect, ECONNREFUSED);
    REQUIRE(first.has_value());
    CHECK(*first >= 0);
    CHECK(*first <= result.elapsed_s);
    CHECK(result.stats.errors.first_s(ECONNREFUSED) == first);
    CHECK(!result.stats.errors.first_s(load::Phase::read, ECONNREFUSED).has_value());

    nlohmann::json j = result;
    CHECK(j["errors"]["connect"]["ECONNREFUSED"] == 8);
    CHECK(j["first_error_s"]["connect"]["ECONNREFUSED"].get<double>() >= 0);
}

TEST_CASE("a response that never comes is ETIMEDOUT in the read phase after io_timeout") {
    server::Config slow;
    slow.response_delay = 2s;
    RunningServer s(slow);
    auto config = churn_to(s.address());
    config.count = 3;
    config.concurrency = 3;
    config.io_timeout = 100ms;
    auto result = load::run_churn(config);
    CHECK(result.stats.errors.count(load::Phase::read, ETIMEDOUT) == 3);
    CHECK(result.elapsed_s < 1.0);
    CHECK(result.stats.connect.count() == 3);  // they did connect
}

TEST_CASE("open loop: the rate is kept on schedule over a second") {
    RunningServer s;
    auto config = churn_to(s.address());
    config.rate = 400;
    config.duration = 1s;
    config.threads = 2;
    config.max_in_flight = 200;
    auto result = load::run_churn(config);
    CAPTURE(result.stats.started);
    // 400 starts scheduled in [0, 1 s), every one of them started.
    CHECK(result.stats.started == 400);
    CHECK(result.stats.completed == result.stats.started);
    // Elapsed includes the drain of the last connections; a loaded CI core stretches it.
    CHECK(result.conn_per_s() == doctest::Approx(400).epsilon(0.10));
}

TEST_CASE("sources rotate per connection, with and without IP_BIND_ADDRESS_NO_PORT") {
    for (bool no_port : {false, true}) {
        CAPTURE(no_port);
        RunningServer s;
        auto config = churn_to(s.address());
        config.count = 10;
        config.concurrency = 1;
        config.sources = {net::Address::parse_host("127.0.0.2"),
                          net::Address::parse_host("127.0.0.3")};
        config.bind_no_port = no_port;
        config.reuseaddr = true;
        auto result = load::run_churn(config);
        REQUIRE(result.stats.completed == 10);
        // The client's TIME-WAIT sockets name the address each one was bound to.
        std::map<std::string, int> by_source;
        REQUIRE(eventually([&] { return client_time_wait(s.port()) == 10; }));
        kernel::DiagRequest request;
        request.udp = false;
        request.states = 1u << kTimeWait;
        request.dport = s.port();
        auto census = kernel::live_source();
        for (const auto& record : kernel::sockets(*census, request))
            ++by_source[record.local.host()];
        CHECK(by_source["127.0.0.2"] == 5);
        CHECK(by_source["127.0.0.3"] == 5);
    }
}

TEST_CASE("stop() and SIGINT end a run early, live counters move while it runs") {
    RunningServer s;
    auto config = churn_to(s.address());
    config.duration = 30s;
    config.concurrency = 4;
    {
        load::ChurnDriver driver(config);
        driver.start();
        std::this_thread::sleep_for(150ms);
        auto live = driver.live();
        CHECK(live.started > 0);
        CHECK(live.completed > 0);
        CHECK(live.in_flight <= 4);
        CHECK(live.elapsed_s > 0.1);
        driver.stop();
        auto result = driver.wait();
        CHECK(result.stopped);
        CHECK(result.elapsed_s < 2);
        CHECK(result.stats.started ==
              result.stats.completed + result.stats.failed + result.stats.abandoned);
    }
    {
        config.stop_on_signal = true;
        std::vector<load::LiveCounters> samples;
        std::thread interrupt([] {
            std::this_thread::sleep_for(250ms);
            cli::request_stop();  // what the SIGINT handler does
        });
        auto result = load::run_churn(
            config, [&](const load::LiveCounters& l) { samples.push_back(l); }, 50ms);
        interrupt.join();
        cli::clear_stop_request();
        CHECK(result.stopped);
        CHECK(result.elapsed_s < 2);
        REQUIRE(samples.size() >= 2);
        for (size_t i = 1; i < samples.size(); ++i)
            CHECK(samples[i].completed >= samples[i - 1].completed);
    }
}

TEST_CASE("one exchange costs six syscalls per connection, plus a share of epoll_wait") {
    // socket, connect, send (right after connect), epoll_ctl, recv, close;
    // linger0 adds the setsockopt(SO_LINGER). On loopback the handshake is
    // done before connect() returns, so the early send never waits.
    using load::Syscall;
    RunningServer s;
    for (auto mode : {load::CloseMode::client, load::CloseMode::server, load::CloseMode::linger0}) {
        CAPTURE(load::close_mode_name(mode));
        auto config = churn_to(s.address());
        config.count = 200;
        config.concurrency = 10;
        config.close = mode;
        auto result = load::run_churn(config);
        REQUIRE(result.stats.completed == 200);
        const auto& calls = result.stats.syscalls;
        auto of = [&](Syscall c) { return calls[static_cast<size_t>(c)]; };
        for (auto c : {Syscall::socket, Syscall::connect, Syscall::send, Syscall::recv,
                       Syscall::epoll_ctl, Syscall::close})
            CHECK(of(c) == 200);
        CHECK(of(Syscall::setsockopt) == (mode == load::CloseMode::linger0 ? 200 : 0));
        CHECK(of(Syscall::bind) == 0);
        CHECK(of(Syscall::epoll_wait) <= 2 * 200);
        nlohmann::json j = result;
        CHECK(j["syscalls"]["socket"] == 200);
        CHECK(j["syscalls_per_conn"].get<double>() ==
              doctest::Approx(result.stats.syscalls_total() / 200.0));
    }
}

TEST_CASE("bad configurations are usage errors naming the option") {
    auto config = churn_to(net::Address::parse("127.0.0.1:9"));
    auto rejects = [](load::ChurnConfig c, const char* what) {
        try {
            load::validate(c);
            FAIL("accepted: " << what);
        } catch (const Error& e) {
            CHECK(e.exit() == Exit::usage);
            CHECK(std::string(e.what()).find(what) != std::string::npos);
        }
    };
    auto zero_concurrency = config;
    zero_concurrency.concurrency = 0;
    rejects(zero_concurrency, "concurrency");
    auto unbounded = config;
    unbounded.duration = 0s;
    rejects(unbounded, "count or a duration");
    auto v6_source = config;
    v6_source.sources = {net::Address::parse_host("::1")};
    rejects(v6_source, "source");
    auto no_port = config;
    no_port.target = net::Address::parse("127.0.0.1:0");
    rejects(no_port, "port");
    auto zero_exchanges = config;
    zero_exchanges.exchanges = 0;
    rejects(zero_exchanges, "exchanges");
    CHECK_THROWS_AS(load::parse_close_mode("rst"), Error);
    CHECK(load::parse_close_mode("linger0") == load::CloseMode::linger0);
    CHECK(load::parse_payload("echo") == load::Payload::echo);
}

TEST_CASE("the result's JSON has the connections, the rate, three histograms and the errors") {
    RunningServer s;
    auto config = churn_to(s.address());
    config.count = 5;
    nlohmann::json j = load::run_churn(config);
    CHECK(j["connections"]["completed"] == 5);
    CHECK(j["conn_per_s"].get<double>() > 0);
    for (const char* h : {"connect", "ttfb", "total"}) {
        CHECK(j["latency"][h]["count"] == 5);
        CHECK(j["latency"][h].contains("p99_us"));
    }
    CHECK(j["errors"].empty());
    nlohmann::json cj = config;
    CHECK(cj["close"] == "client");
    CHECK(cj["payload"] == "http");
}

TEST_CASE("netns: workers create their sockets inside the sandbox's client namespace") {
    auto reason = sandbox::unavailable_reason();
    if (!reason.empty()) {
        const char* ci = std::getenv("CI");
        if (ci && std::string_view(ci) == "true") FAIL("CI=true but " << reason);
        MESSAGE("skipped: " << reason);
        return;
    }
    sandbox::Sandbox box;
    // The server is bound inside the server's namespace, on its veth address.
    auto target = box.run_in(sandbox::Side::server, [] {
        server::Config c;
        c.listen = {"198.18.0.2:0"};
        c.drain_timeout = 1s;
        return std::make_unique<server::Server>(c);
    });
    target->start();
    auto config = churn_to(target->addresses().front());
    config.netns = &box.netns(sandbox::Side::client);
    config.count = 20;
    config.threads = 2;
    auto result = load::run_churn(config);
    target->stop();
    CHECK(result.stats.completed == 20);
    CHECK(target->snapshot().accepted == 20);
    // TIME-WAIT is in the client's namespace, not the host's.
    CHECK(client_time_wait(target->addresses().front().port()) == 0);
    uint16_t port = target->addresses().front().port();
    CHECK(box.run_in(sandbox::Side::client,
                     [&] { return eventually([&] { return client_time_wait(port) == 20; }); }));
}
