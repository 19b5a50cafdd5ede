#include "net/tcp_info.hpp"

#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "../net/loopback.hpp"
#include "net/error.hpp"

namespace net = sockdrill::net;

TEST_CASE("TCP state numbers map to the names ss prints") {
    CHECK(std::string(net::tcp_state_name(TCP_ESTABLISHED)) == "ESTAB");
    CHECK(std::string(net::tcp_state_name(TCP_SYN_SENT)) == "SYN-SENT");
    CHECK(std::string(net::tcp_state_name(TCP_SYN_RECV)) == "SYN-RECV");
    CHECK(std::string(net::tcp_state_name(TCP_FIN_WAIT1)) == "FIN-WAIT-1");
    CHECK(std::string(net::tcp_state_name(TCP_FIN_WAIT2)) == "FIN-WAIT-2");
    CHECK(std::string(net::tcp_state_name(TCP_TIME_WAIT)) == "TIME-WAIT");
    CHECK(std::string(net::tcp_state_name(TCP_CLOSE)) == "UNCONN");
    CHECK(std::string(net::tcp_state_name(TCP_CLOSE_WAIT)) == "CLOSE-WAIT");
    CHECK(std::string(net::tcp_state_name(TCP_LAST_ACK)) == "LAST-ACK");
    CHECK(std::string(net::tcp_state_name(TCP_LISTEN)) == "LISTEN");
    CHECK(std::string(net::tcp_state_name(TCP_CLOSING)) == "CLOSING");
    CHECK(std::string(net::tcp_state_name(12)) == "NEW-SYN-RECV");
}

TEST_CASE("out-of-range TCP state numbers are UNKNOWN") {
    CHECK(std::string(net::tcp_state_name(0)) == "UNKNOWN");
    CHECK(std::string(net::tcp_state_name(-1)) == "UNKNOWN");
    CHECK(std::string(net::tcp_state_name(13)) == "UNKNOWN");
    CHECK(std::string(net::tcp_state_name(255)) == "UNKNOWN");
}

TEST_CASE("a fresh socket reads as UNCONN and a listener as LISTEN") {
    net::Fd fresh(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(fresh);
    CHECK(net::tcp_info(fresh.get()).state == "UNCONN");
    auto listener = net::listen_tcp(net::Address::parse("127.0.0.1:0"));
    CHECK(net::tcp_info(listener.get()).state == "LISTEN");
}

TEST_CASE("both ends of a loopback connection are ESTAB and count the bytes they exchanged") {
    auto pair = sockdrill::test::loopback_pair();
    REQUIRE(::write(pair.client.get(), "0123456789", 10) == 10);
    char buf[16];
    REQUIRE(::read(pair.server.get(), buf, sizeof buf) == 10);
    // Loopback acknowledges in softirq context before read() can return, so
    // the sender's bytes_acked is final by now (+1 for the SYN is not counted).
    auto server = net::tcp_info(pair.server.get());
    auto client = net::tcp_info(pair.client.get());
    CHECK(server.state == "ESTAB");
    CHECK(client.state == "ESTAB");
    CHECK(server.bytes_received == 10);
    CHECK(client.bytes_acked >= 10);
    CHECK(client.snd_cwnd > 0);
    CHECK(client.rto_us > 0);
    CHECK(client.total_retrans == 0);
    CHECK(client.unacked == 0);
}

TEST_CASE("after the peer's FIN the receiving side is CLOSE-WAIT and the closer in FIN-WAIT") {
    auto pair = sockdrill::test::loopback_pair();
    REQUIRE(::shutdown(pair.client.get(), SHUT_WR) == 0);
    char byte;
    REQUIRE(::read(pair.server.get(), &byte, 1) == 0);  // the FIN has arrived
    CHECK(net::tcp_info(pair.server.get()).state == "CLOSE-WAIT");
    // FIN-WAIT-1 until the (possibly delayed) ACK of the FIN arrives, then FIN-WAIT-2.
    auto closer = net::tcp_info(pair.client.get()).state;
    CHECK((closer == "FIN-WAIT-1" || closer == "FIN-WAIT-2"));
}

TEST_CASE("tcp_info on a non-socket throws naming TCP_INFO") {
    int pipe_fds[2];
    REQUIRE(::pipe(pipe_fds) == 0);
    net::Fd r(pipe_fds[0]), w(pipe_fds[1]);
    try {
        net::tcp_info(r.get());
        FAIL("tcp_info on a pipe did not throw");
    } catch (const sockdrill::Error& e) {
        CHECK(e.err() == ENOTSOCK);
        CHECK(std::string(e.what()).find("getsockopt TCP_INFO: ENOTSOCK") == 0);
    }
}

TEST_CASE("TcpInfo serialises every field under its snake_case key") {
    net::TcpInfo info;
    info.state = "ESTAB";
    info.rtt_us = 42;
    info.bytes_acked = 1ull << 40;
    info.delivery_rate_bytes_per_s = 7;
    nlohmann::json j = info;
    CHECK(j.size() == 18);
    CHECK(j["state"] == "ESTAB");
    CHECK(j["rtt_us"] == 42);
    CHECK(j["bytes_acked"] == (1ull << 40));
    CHECK(j["delivery_rate_bytes_per_s"] == 7);
    for (auto key : {"retransmits", "probes", "backoff", "rto_us", "rttvar_us", "snd_cwnd", "unacked",
                     "lost", "retrans", "total_retrans", "last_data_sent_ms", "last_data_recv_ms",
                     "last_ack_recv_ms", "bytes_received"}) {
        CAPTURE(key);
        CHECK(j.contains(key));
        CHECK(j[key] == 0);
    }
}
