// `sockdrill suite` checks for the census: it must see the sockets a
// scenario made, in the states the scenario knows they are in.
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>
#include <thread>

#include "kernel/census.hpp"
#include "net/error.hpp"
#include "net/socket.hpp"
#include "scenario/suite.hpp"
#include "server/server.hpp"

namespace sockdrill::scenario {

namespace {

using namespace std::chrono_literals;

Check established_agree_with_server() {
    constexpr int kClients = 8;
    server::Config config;
    config.listen = {"127.0.0.1:0"};
    config.drain_timeout = 1s;
    server::Server server(config);
    server.start();
    uint16_t port = server.addresses().front().port();
    std::vector<net::Fd> clients;
    for (int i = 0; i < kClients; ++i) clients.push_back(net::connect_tcp(server.addresses().front(), 2s));
    // The server accepts asynchronously: wait until it has them all.
    for (int i = 0; i < 200 && server.snapshot().current_connections() < kClients; ++i)
        std::this_thread::sleep_for(5ms);
    auto served = server.snapshot().current_connections();

    kernel::DiagRequest request;
    request.udp = false;
    request.sport = port;  // the server's side of each connection, and the listener
    auto source = kernel::live_source();
    auto counts = kernel::count_states(*source, request);
    auto listening = kernel::listeners(*source, request);
    server.stop();
    bool ok = counts.tcp(1) == served && served == kClients && counts.tcp(10) == 1 && listening.size() == 1;
    return {"census",
            fmt::format("sees the server's {} connections (sport {})", kClients, port),
            fmt::format("{} ESTAB + {} LISTEN; server says {} open", counts.tcp(1), counts.tcp(10), served),
            fmt::format("{} ESTAB + 1 LISTEN, same as the server", kClients), ok};
}

Check time_wait_on_the_closing_side() {
    auto listener = net::listen_tcp(net::Address::parse("127.0.0.1:0"), {});
    auto address = net::local_address(listener.get());
    auto client = net::connect_tcp(address, 2s);
    net::Fd accepted;
    for (int i = 0; i < 200 && !accepted; ++i) {
        int fd = ::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) accepted.reset(fd);
        else std::this_thread::sleep_for(5ms);
    }
    auto client_port = net::local_address(client.get()).port();
    // The client closes first, so it holds TIME-WAIT; the server side is
    // then closed too and leaves nothing.
    client.reset();
    std::this_thread::sleep_for(20ms);
    accepted.reset();
    std::this_thread::sleep_for(20ms);
    // The exact four-tuple: other sockets on the host may share either port.
    kernel::DiagRequest request;
    request.udp = false;
    request.sport = client_port;
    request.dport = address.port();
    request.src = kernel::Prefix::parse("127.0.0.1");
    request.dst = kernel::Prefix::parse("127.0.0.1");
    auto source = kernel::live_source();
    auto client_side = kernel::count_states(*source, request);
    std::swap(request.sport, request.dport);
    auto server_side = kernel::count_states(*source, request);
    bool ok = client_side.tcp(6) == 1 && server_side.tcp(6) == 0;
    return {"census", "the side that closes first holds TIME-WAIT",
            fmt::format("client {} TIME-WAIT, server {} TIME-WAIT", client_side.tcp(6), server_side.tcp(6)),
            "client 1, server 0", ok};
}

template <typename F>
Check guarded(const std::string& name, F f) {
    try {
        return f();
    } catch (const std::exception& e) {
        return {"census", name, fmt::format("error: {}", e.what()), "no error", false};
    }
}

}  // namespace

std::vector<Check> census_checks(const SuiteContext&) {
    return {guarded("census sees the server's connections", established_agree_with_server),
            guarded("TIME-WAIT on the closing side", time_wait_on_the_closing_side)};
}

}  // namespace sockdrill::scenario
