// The server's self-checks for `sockdrill suite`: each starts the embedded
// server in-process on 127.0.0.1:0 and talks to it with a plain blocking
// socket, as a client program would.
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include "net/error.hpp"
#include "net/socket.hpp"
#include "net/sockopt.hpp"
#include "scenario/suite.hpp"
#include "server/server.hpp"

namespace sockdrill::scenario {

namespace {

using namespace std::chrono_literals;

// A started server that stops when it goes out of scope.
struct RunningServer {
    explicit RunningServer(server::Config config) : server(adjust(std::move(config))) { server.start(); }
    ~RunningServer() { server.stop(); }
    net::Fd connect() {
        auto fd = net::connect_tcp(server.addresses().front(), 2s);
        net::set_rcvtimeo(fd.get(), 2s);  // a check never blocks for long
        return fd;
    }
    static server::Config adjust(server::Config c) {
        c.listen = {"127.0.0.1:0"};
        c.drain_timeout = 1s;
        return c;
    }
    server::Server server;
};

void send_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0) throw Error::system("send", errno);
        data.remove_prefix(static_cast<size_t>(n));
    }
}

// What one read() after the response said: "EOF", an errno name, or "data"/"timeout".
std::string after_response(int fd) {
    char byte;
    ssize_t n = ::recv(fd, &byte, 1, 0);
    if (n == 0) return "EOF";
    if (n > 0) return "more data";
    if (errno == EAGAIN) return "timeout";
    return errno_name(errno);
}

// Reads one HTTP response; returns its body size, or -1 on a short read.
long read_response(int fd, std::string& buffer) {
    while (true) {
        auto end = buffer.find("\r\n\r\n");
        if (end != std::string::npos) {
            auto cl = buffer.find("Content-Length: ");
            if (cl == std::string::npos || cl > end) return -1;
            long length = std::stol(buffer.substr(cl + 16));
            size_t total = end + 4 + static_cast<size_t>(length);
            while (buffer.size() < total) {
                char chunk[16384];
                ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
                if (n <= 0) return -1;
                buffer.append(chunk, static_cast<size_t>(n));
            }
            buffer.erase(0, total);
            return length;
        }
        char chunk[16384];
        ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) return -1;
        buffer.append(chunk, static_cast<size_t>(n));
    }
}

Check echo_round_trip() {
    server::Config config;
    config.mode = "echo";
    RunningServer s(config);
    auto fd = s.connect();
    std::string payload(4096, 'x');
    for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>('a' + i % 26);
    send_all(fd.get(), payload);
    std::string got;
    while (got.size() < payload.size()) {
        char chunk[4096];
        ssize_t n = ::recv(fd.get(), chunk, sizeof chunk, 0);
        if (n <= 0) break;
        got.append(chunk, static_cast<size_t>(n));
    }
    return {"serve", "echo round trip", fmt::format("{}/{} bytes back", got == payload ? got.size() : 0, payload.size()),
            "all bytes, in order", got == payload};
}

Check keepalive_requests() {
    constexpr int kRequests = 100;
    RunningServer s(server::Config{});
    auto fd = s.connect();
    std::string buffer;
    int answered = 0;
    for (int i = 0; i < kRequests; ++i) {
        send_all(fd.get(), "GET / HTTP/1.1\r\nHost: selfcheck\r\n\r\n");
        if (read_response(fd.get(), buffer) < 0) break;
        ++answered;
    }
    auto accepted = s.server.snapshot().accepted;
    return {"serve", fmt::format("HTTP/1.1 keep-alive: {} requests, one connection", kRequests),
            fmt::format("{} responses on {} connection(s)", answered, accepted), "100 on 1",
            answered == kRequests && accepted == 1};
}

Check http10_closes() {
    RunningServer s(server::Config{});
    auto fd = s.connect();
    send_all(fd.get(), "GET / HTTP/1.0\r\n\r\n");
    std::string buffer;
    long body = read_response(fd.get(), buffer);
    std::string after = after_response(fd.get());
    return {"serve", "HTTP/1.0 without keep-alive: response, then close",
            fmt::format("{} body bytes, then {}", body, after), "12 body bytes, then EOF",
            body == 12 && after == "EOF"};
}

Check pipelining_in_order() {
    RunningServer s(server::Config{});
    auto fd = s.connect();
    const std::vector<long> sizes = {1, 100, 0, 5000, 20000, 7, 64 * 1024, 3};
    std::string batch;
    for (long n : sizes) batch += fmt::format("GET /bytes/{} HTTP/1.1\r\nHost: selfcheck\r\n\r\n", n);
    send_all(fd.get(), batch);
    std::string buffer;
    size_t in_order = 0;
    for (long expected : sizes) {
        if (read_response(fd.get(), buffer) != expected) break;
        ++in_order;
    }
    return {"serve", fmt::format("pipelining: {} requests in one write", sizes.size()),
            fmt::format("{}/{} responses in order", in_order, sizes.size()), "all, in order",
            in_order == sizes.size()};
}

Check close_mode(const std::string& mode, const std::string& expected) {
    server::Config config;
    config.close = mode;
    RunningServer s(config);
    auto fd = s.connect();
    send_all(fd.get(), "GET / HTTP/1.1\r\nHost: selfcheck\r\nConnection: close\r\n\r\n");
    std::string buffer;
    long body = read_response(fd.get(), buffer);
    std::string after = after_response(fd.get());
    return {"serve", fmt::format("--close {}: what the client reads after the response", mode),
            fmt::format("response ({} bytes), then {}", body, after), expected,
            body == 12 && after == expected};
}

// A check that throws (server failed to bind, ...) is a failed check, not a crash.
template <typename F>
Check guarded(const std::string& name, F f) {
    try {
        return f();
    } catch (const std::exception& e) {
        return {"serve", name, fmt::format("error: {}", e.what()), "no error", false};
    }
}

}  // namespace

std::vector<Check> server_selfchecks(const SuiteContext&) {
    return {
        guarded("echo round trip", echo_round_trip),
        guarded("HTTP keep-alive", keepalive_requests),
        guarded("HTTP/1.0 close", http10_closes),
        guarded("pipelining", pipelining_in_order),
        guarded("--close abortive", [] { return close_mode("abortive", "ECONNRESET"); }),
        guarded("--close normal", [] { return close_mode("normal", "EOF"); }),
    };
}

}  // namespace sockdrill::scenario
