// server::Protocol driven the way the event worker drives it, on the server
// end of a real loopback TCP connection; the client end reads the responses.
#include "server/connection.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "../net/loopback.hpp"
#include "net/sockopt.hpp"

using namespace std::chrono_literals;
using sockdrill::server::CloseReason;
using sockdrill::server::Config;
using sockdrill::server::Connection;
using sockdrill::server::ConnState;
using sockdrill::server::Flush;
using sockdrill::server::Protocol;
using sockdrill::server::Stats;
using sockdrill::server::Syscall;
namespace net = sockdrill::net;

namespace {

constexpr int64_t kNow = 1'000'000'000;  // the loop's clock, any fixed value

// A server connection on loopback plus the engine that answers it.
struct Harness {
    explicit Harness(Config cfg = {}) : config(std::move(cfg)), protocol(config, stats) {
        pair = sockdrill::test::loopback_pair();
        net::set_nonblocking(pair.server.get(), true);
        c.fd = pair.server.get();
    }

    // What the event worker does with one read(): parse straight from the
    // read buffer when nothing is kept, else append and parse what is kept.
    void feed(std::string_view data, int64_t now = kNow, bool stopping = false) {
        if (c.in.empty()) {
            size_t used = protocol.process(c, data, now, stopping);
            if (used < data.size()) c.in.assign(data.substr(used));
        } else {
            c.in.append(data);
            consume_buffered(now, stopping);
        }
    }
    // Parses input held back earlier (after output drained).
    void consume_buffered(int64_t now = kNow, bool stopping = false) {
        size_t used = protocol.process(c, c.in, now, stopping);
        c.in.erase(0, used);
    }

    // Flushes everything, reading on the client side whenever the socket is full.
    std::string flush_and_read() {
        std::string received;
        while (true) {
            int err = 0;
            auto result = protocol.flush(c, err);
            REQUIRE(result != Flush::failed);
            received += read_available();
            if (result == Flush::done) break;
        }
        return received + read_available();
    }

    // Whatever has reached the client, without blocking.
    std::string read_available() {
        std::string received;
        char buf[65536];
        while (true) {
            ssize_t n = ::recv(pair.client.get(), buf, sizeof buf, MSG_DONTWAIT);
            if (n <= 0) break;
            received.append(buf, static_cast<size_t>(n));
        }
        return received;
    }

    Config config;
    Stats stats;
    Protocol protocol;
    sockdrill::test::LoopbackPair pair;
    Connection c;
};

struct Response {
    std::string head;
    std::string body;
};

// Splits a byte stream of responses (each framed by Content-Length) into heads and bodies.
std::vector<Response> split_responses(std::string_view stream) {
    std::vector<Response> responses;
    while (!stream.empty()) {
        auto end = stream.find("\r\n\r\n");
        REQUIRE(end != std::string_view::npos);
        Response r;
        r.head = std::string(stream.substr(0, end + 4));
        stream.remove_prefix(end + 4);
        size_t length = 0;
        auto at = r.head.find("Content-Length: ");
        if (at != std::string::npos) length = std::stoul(r.head.substr(at + 16));
        REQUIRE(stream.size() >= length);
        r.body = std::string(stream.substr(0, length));
        stream.remove_prefix(length);
        responses.push_back(std::move(r));
    }
    return responses;
}

// "Hello world\n" repeated, cut to size bytes: what a generated body must read as.
std::string repeated_hello(size_t size) {
    std::string text;
    while (text.size() < size) text += "Hello world\n";
    text.resize(size);
    return text;
}

bool starts_with(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

constexpr std::string_view kGet = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

}  // namespace

TEST_CASE("pipelined requests are answered in order in Connection::out") {
    Harness h;
    std::string requests = "GET /bytes/3 HTTP/1.1\r\nHost: a\r\n\r\n"
                           "GET /status/404/bytes/5 HTTP/1.1\r\nHost: a\r\n\r\n"
                           "GET /bytes/7 HTTP/1.1\r\nHost: a\r\n\r\n";
    CHECK(h.protocol.process(h.c, requests, kNow, false) == requests.size());
    auto responses = split_responses(h.c.out);
    REQUIRE(responses.size() == 3);
    CHECK(starts_with(responses[0].head, "HTTP/1.1 200 OK\r\n"));
    CHECK(responses[0].body == "Hel");
    CHECK(starts_with(responses[1].head, "HTTP/1.1 404 Not Found\r\n"));
    CHECK(responses[1].body == "Hello");
    CHECK(starts_with(responses[2].head, "HTTP/1.1 200 OK\r\n"));
    CHECK(responses[2].body == "Hello w");
    CHECK(h.c.requests == 3);
    CHECK(h.stats.requests.get() == 3);
    CHECK(h.stats.responses_2xx.get() == 2);
    CHECK(h.stats.responses_4xx.get() == 1);
    CHECK_FALSE(h.c.close_after_write);
    CHECK(h.c.state == ConnState::reading);
}

TEST_CASE("a plain GET gets the configured body cut from the Hello world pattern") {
    Config config;
    config.response_size = 30;
    Harness h(config);
    h.feed(kGet);
    auto responses = split_responses(h.c.out);
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].body == "Hello world\nHello world\nHello ");
    CHECK(h.c.idle() == false);  // output pending until flushed
}

TEST_CASE("a partial head consumes nothing, sends nothing and starts the header deadline") {
    Harness h;
    std::string_view partial = "GET / HTTP/1.1\r\nHo";
    CHECK(h.protocol.process(h.c, partial, kNow, false) == 0);
    CHECK(h.c.out.empty());
    CHECK(h.c.requests == 0);
    CHECK(h.c.deadline_us == kNow + h.config.header_timeout.count());
}

TEST_CASE("more bytes of the same head do not push the header deadline back") {
    Harness h;
    h.feed("GET / HTTP/1.1\r\n", kNow);
    REQUIRE(h.c.in == "GET / HTTP/1.1\r\n");
    auto first_deadline = h.c.deadline_us;
    h.feed("Host: slow", kNow + 1'000'000);
    CHECK(h.c.deadline_us == first_deadline);
    CHECK(h.c.out.empty());
    h.feed("loris\r\n\r\n", kNow + 2'000'000);
    CHECK(h.c.in.empty());
    CHECK(h.c.deadline_us == 0);
    REQUIRE(split_responses(h.c.out).size() == 1);
}

TEST_CASE("a request split at every byte is answered exactly once") {
    Harness h;
    for (char byte : kGet) h.feed(std::string_view(&byte, 1));
    CHECK(h.c.in.empty());
    CHECK(h.c.requests == 1);
    CHECK(split_responses(h.c.out).size() == 1);
}

TEST_CASE("a Content-Length body is skipped across calls before the response") {
    Harness h;
    h.feed("POST /bytes/2 HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n12345");
    CHECK(h.c.in.empty());  // the body is consumed, not kept
    CHECK(h.c.body_to_skip == 5);
    CHECK(h.c.plan_pending);
    CHECK(h.c.out.empty());
    CHECK(h.c.deadline_us == kNow + h.config.header_timeout.count());
    h.feed("678");
    CHECK(h.c.body_to_skip == 2);
    CHECK(h.c.out.empty());
    h.feed(std::string("90") + std::string(kGet));
    CHECK(h.c.body_to_skip == 0);
    CHECK_FALSE(h.c.plan_pending);
    auto responses = split_responses(h.c.out);
    REQUIRE(responses.size() == 2);
    CHECK(responses[0].body == "He");
    CHECK(responses[1].body.size() == h.config.response_size);
    CHECK(h.c.requests == 2);
}

TEST_CASE("a chunked body is decoded across calls and the next request follows it") {
    Harness h;
    h.feed("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
    CHECK(h.c.chunked != nullptr);
    CHECK(h.c.out.empty());
    h.feed("lo\r\n6\r\n world\r\n");
    CHECK(h.c.out.empty());
    h.feed(std::string("0\r\n\r\n") + std::string(kGet));
    CHECK(h.c.chunked == nullptr);
    CHECK(h.c.in.empty());
    CHECK(split_responses(h.c.out).size() == 2);
    CHECK(h.c.requests == 2);
}

TEST_CASE("a malformed chunked body is a 400 that closes the connection") {
    Harness h;
    h.feed("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    auto responses = split_responses(h.c.out);
    REQUIRE(responses.size() == 1);
    CHECK(starts_with(responses[0].head, "HTTP/1.1 400 "));
    CHECK(h.c.close_after_write);
    CHECK(h.c.close_reason == CloseReason::bad_request);
}

TEST_CASE("a Content-Length over max_body_size is answered 413 and closed") {
    Config config;
    config.max_body_size = 1000;
    Harness h(config);
    std::string request = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\nxxxx";
    CHECK(h.protocol.process(h.c, request, kNow, false) == request.size());
    auto responses = split_responses(h.c.out);
    REQUIRE(responses.size() == 1);
    CHECK(starts_with(responses[0].head, "HTTP/1.1 413 Content Too Large\r\n"));
    CHECK(responses[0].head.find("Connection: close\r\n") != std::string::npos);
    CHECK(h.c.close_after_write);
    CHECK(h.c.close_reason == CloseReason::bad_request);
    CHECK(h.stats.responses_4xx.get() == 1);
}

TEST_CASE("a Content-Length equal to max_body_size is accepted") {
    Config config;
    config.max_body_size = 4;
    Harness h(config);
    h.feed("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nabcd");
    auto responses = split_responses(h.c.out);
    REQUIRE(responses.size() == 1);
    CHECK(starts_with(responses[0].head, "HTTP/1.1 200 "));
}

TEST_CASE("a chunked body over max_body_size is answered 413 and closed") {
    Config config;
    config.max_body_size = 4;
    Harness h(config);
    h.feed("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    auto responses = split_responses(h.c.out);
    REQUIRE(responses.size() == 1);
    CHECK(starts_with(responses[0].head, "HTTP/1.1 413 "));
    CHECK(h.c.close_after_write);
}

TEST_CASE("a head larger than max_header_size is answered 431 and closed") {
    Config config;
    config.max_header_size = 64;
    Harness h(config);
    std::string request = "GET / HTTP/1.1\r\nX-Long: " + std::string(100, 'a') + "\r\n\r\n";
    CHECK(h.protocol.process(h.c, request, kNow, false) == request.size());
    auto responses = split_responses(h.c.out);
    REQUIRE(responses.size() == 1);
    CHECK(starts_with(responses[0].head, "HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    CHECK(h.c.close_after_write);
    CHECK(h.c.close_reason == CloseReason::bad_request);
}

TEST_CASE("a malformed head is a 400 and nothing after it is parsed") {
    Harness h;
    std::string stream = "GET / HTTP/1.1\r\nBad Header : x\r\n\r\n" + std::string(kGet);
    CHECK(h.protocol.process(h.c, stream, kNow, false) == stream.size());
    auto responses = split_responses(h.c.out);
    REQUIRE(responses.size() == 1);
    CHECK(starts_with(responses[0].head, "HTTP/1.1 400 "));
    CHECK(h.c.close_after_write);
    CHECK(h.c.requests == 0);
}

TEST_CASE("no new response is started while a generated body is still to be sent") {
    Harness h;
    std::string stream = "GET /bytes/100000 HTTP/1.1\r\nHost: a\r\n\r\n" + std::string(kGet);
    size_t first_head = stream.size() - kGet.size();
    CHECK(h.protocol.process(h.c, stream, kNow, false) == first_head);
    CHECK(h.c.body_to_send == 100000);
    CHECK(h.c.requests == 1);
    // The event worker keeps the rest; nothing more is parsed while backed up.
    h.c.in.assign(stream.substr(first_head));
    h.consume_buffered();
    CHECK(h.c.requests == 1);
    CHECK(h.c.in == kGet);

    auto received = h.flush_and_read();
    CHECK(h.c.body_to_send == 0);
    h.consume_buffered();
    CHECK(h.c.requests == 2);
    CHECK(h.c.in.empty());
    received += h.flush_and_read();
    auto responses = split_responses(received);
    REQUIRE(responses.size() == 2);
    CHECK(responses[0].body.size() == 100000);
    CHECK(responses[1].body.size() == h.config.response_size);
}

TEST_CASE("parsing stops while more than 64 KiB of output waits for the peer") {
    Harness h;
    std::string stream;
    for (int i = 0; i < 10; ++i) stream += "GET /bytes/16KiB HTTP/1.1\r\nHost: a\r\n\r\n";
    size_t used = h.protocol.process(h.c, stream, kNow, false);
    CHECK(used < stream.size());
    CHECK(h.c.requests < 10);
    CHECK(h.c.out.size() > 64 * 1024);
    CHECK(h.c.out.size() < 64 * 1024 + 17 * 1024);  // stops after the response that crossed the line
}

TEST_CASE("flush writes the response to the socket and the peer reads it") {
    Harness h;
    h.feed(kGet);
    auto received = h.flush_and_read();
    CHECK(starts_with(received, "HTTP/1.1 200 OK\r\n"));
    auto responses = split_responses(received);
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].body == "Hello world\n");
    CHECK(h.c.out.empty());
    CHECK(h.c.out_offset == 0);
    CHECK_FALSE(h.c.output_pending());
    CHECK(h.c.idle());
    CHECK(h.stats.bytes_out.get() == received.size());
}

TEST_CASE("a 1 MiB generated body reaches the peer at its full length") {
    Harness h;
    h.feed("GET /bytes/1MiB HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(h.c.body_to_send == 1048576);
    auto responses = split_responses(h.flush_and_read());
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].head.find("Content-Length: 1048576\r\n") != std::string::npos);
    CHECK(responses[0].body.size() == 1048576);
    CHECK(starts_with(responses[0].body, "Hello world\n"));
}

TEST_CASE("a generated body stays the Hello world pattern when the socket takes it in pieces") {
    // A small send buffer makes write() accept part of a pattern block; the
    // next write must continue from where the last one stopped.
    Harness h;
    net::set_sndbuf(h.c.fd, 4096);
    h.feed("GET /bytes/200000 HTTP/1.1\r\nHost: a\r\n\r\n");
    auto responses = split_responses(h.flush_and_read());
    REQUIRE(responses.size() == 1);
    REQUIRE(responses[0].body.size() == 200000);
    const auto& body = responses[0].body;
    auto expected = repeated_hello(200000);
    size_t first_difference =
        static_cast<size_t>(std::mismatch(body.begin(), body.end(), expected.begin()).first - body.begin());
    CAPTURE(body.substr(first_difference - std::min<size_t>(first_difference, 12), 24));
    CHECK(first_difference == body.size());
}

TEST_CASE("split_writes sends one response in that many writes") {
    Config config;
    config.split_writes = 3;
    Harness h(config);
    h.feed(kGet);
    CHECK(h.c.split_chunk > 0);
    auto received = h.flush_and_read();
    CHECK(split_responses(received).size() == 1);
    auto writes = h.stats.syscalls[static_cast<size_t>(Syscall::write)].get() +
                  h.stats.syscalls[static_cast<size_t>(Syscall::writev)].get();
    CHECK(writes == 3);
    CHECK(h.c.split_chunk == 0);
}

TEST_CASE("cork is set for a response and released by flush") {
    Config config;
    config.cork = true;
    Harness h(config);
    h.feed(kGet);
    CHECK(h.c.corked);
    CHECK(net::get_cork(h.c.fd));
    h.flush_and_read();
    CHECK_FALSE(h.c.corked);
    CHECK_FALSE(net::get_cork(h.c.fd));
}

TEST_CASE("flush fails with the errno when the peer has reset the connection") {
    Harness h;
    net::set_linger(h.pair.client.get(), 0);
    h.pair.client.reset();  // RST
    h.feed(kGet);
    auto old = ::signal(SIGPIPE, SIG_IGN);
    int err = 0;
    auto result = h.protocol.flush(h.c, err);
    ::signal(SIGPIPE, old);
    CHECK(result == Flush::failed);
    CHECK((err == ECONNRESET || err == EPIPE));
}

TEST_CASE("Expect: 100-continue gets an interim response before the final one") {
    Harness h;
    h.feed("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
    CHECK(h.c.out == "HTTP/1.1 100 Continue\r\n\r\n");
    h.feed("abc");
    CHECK(starts_with(h.c.out, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"));
}

TEST_CASE("an HTTP/1.0 request is answered in 1.0 and closes, leaving later requests unread") {
    Harness h;
    std::string first = "GET / HTTP/1.0\r\n\r\n";
    std::string stream = first + std::string(kGet);
    CHECK(h.protocol.process(h.c, stream, kNow, false) == first.size());
    auto responses = split_responses(h.c.out);
    REQUIRE(responses.size() == 1);
    CHECK(starts_with(responses[0].head, "HTTP/1.0 200 OK\r\n"));
    CHECK(responses[0].head.find("Connection: close\r\n") != std::string::npos);
    CHECK(h.c.close_after_write);
    CHECK(h.c.close_reason == CloseReason::server_close);
}

TEST_CASE("an HTTP/1.0 keep-alive request is answered with keep-alive and stays open") {
    Harness h;
    h.feed("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    auto responses = split_responses(h.c.out);
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].head.find("Connection: keep-alive\r\n") != std::string::npos);
    CHECK_FALSE(h.c.close_after_write);
}

TEST_CASE("max_requests answers the Nth request with close and parses no further") {
    Config config;
    config.max_requests = 2;
    Harness h(config);
    std::string stream = std::string(kGet) + std::string(kGet) + std::string(kGet);
    CHECK(h.protocol.process(h.c, stream, kNow, false) == 2 * kGet.size());
    auto responses = split_responses(h.c.out);
    REQUIRE(responses.size() == 2);
    CHECK(responses[0].head.find("Connection: close") == std::string::npos);
    CHECK(responses[1].head.find("Connection: close\r\n") != std::string::npos);
    CHECK(h.c.close_after_write);
    CHECK(h.c.close_reason == CloseReason::max_requests);
}

TEST_CASE("a stopping server closes after the current response") {
    Harness h;
    h.feed(kGet, kNow, /*stopping=*/true);
    CHECK(h.c.close_after_write);
    CHECK(h.c.close_reason == CloseReason::server_shutdown);
    CHECK(h.c.out.find("Connection: close\r\n") != std::string::npos);
}

TEST_CASE("/abort marks the connection for RST after the response") {
    Harness h;
    h.feed("GET /abort HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(h.c.close_after_write);
    CHECK(h.c.abort_after_write);
    CHECK(h.c.close_reason == CloseReason::abort);
}

TEST_CASE("a delayed response waits in the delaying state until resumed") {
    Harness h;
    h.feed("GET /delay/10ms/bytes/4 HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(h.c.state == ConnState::delaying);
    CHECK(h.c.plan_pending);
    CHECK(h.c.plan.delay_us == 10000);
    CHECK(h.c.out.empty());
    h.protocol.resume_after_delay(h.c, false);
    CHECK(h.c.state == ConnState::reading);
    CHECK_FALSE(h.c.plan_pending);
    auto responses = split_responses(h.c.out);
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].body == "Hell");
}

TEST_CASE("a delayed response resumed while stopping closes the connection") {
    Harness h;
    h.feed("GET /delay/10ms HTTP/1.1\r\nHost: a\r\n\r\n");
    h.protocol.resume_after_delay(h.c, true);
    CHECK(h.c.close_after_write);
    CHECK(h.c.close_reason == CloseReason::server_shutdown);
}

TEST_CASE("HEAD gets Content-Length but no body") {
    Harness h;
    h.feed("HEAD /bytes/100 HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(h.c.out.find("Content-Length: 100\r\n") != std::string::npos);
    CHECK(h.c.out.substr(h.c.out.size() - 4) == "\r\n\r\n");
    CHECK(h.c.body_to_send == 0);
}

TEST_CASE("respond_error 408 closes with the header_timeout reason") {
    Harness h;
    h.feed("GET / HTTP/1.1\r\n");
    h.protocol.respond_error(h.c, 408);
    CHECK(starts_with(h.c.out, "HTTP/1.1 408 Request Timeout\r\n"));
    CHECK(h.c.close_after_write);
    CHECK(h.c.close_reason == CloseReason::header_timeout);
}

TEST_CASE("echo queues the bytes back unchanged") {
    Harness h;
    h.protocol.echo(h.c, "ping\r\n");
    CHECK(h.flush_and_read() == "ping\r\n");
}

TEST_CASE("check_closed and peername cost one syscall per request") {
    Config config;
    config.check_closed = true;
    config.peername = true;
    Harness h(config);
    h.feed(std::string(kGet) + std::string(kGet));
    CHECK(h.stats.syscalls[static_cast<size_t>(Syscall::getsockopt)].get() == 2);
    CHECK(h.stats.syscalls[static_cast<size_t>(Syscall::getpeername)].get() == 2);
}

TEST_CASE("configure_accepted applies the configured socket options") {
    Config config;
    config.nodelay = true;
    config.linger = 0;
    config.tcp_keepalive = net::Keepalive{30s, 5s, 3};
    config.user_timeout = 1500ms;
    Harness h(config);
    h.protocol.configure_accepted(h.c.fd);
    CHECK(net::get_nodelay(h.c.fd));
    CHECK(net::get_linger(h.c.fd) == std::optional<int>(0));
    auto keepalive = net::get_keepalive(h.c.fd);
    REQUIRE(keepalive.has_value());
    CHECK(keepalive->idle == 30s);
    CHECK(net::get_user_timeout(h.c.fd) == 1500ms);
}
