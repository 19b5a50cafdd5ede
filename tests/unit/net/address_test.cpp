#include "net/address.hpp"

#include <arpa/inet.h>

#include <doctest/doctest.h>

#include <string>

#include "../net/loopback.hpp"
#include "net/error.hpp"
#include "usage_error.hpp"

using sockdrill::Error;
using sockdrill::Exit;
using sockdrill::net::Address;

namespace {

// The message of the usage error parse() throws for text, or "" if it accepted it.
std::string refusal(std::string_view text) {
    return sockdrill::testing::usage_message([&] { Address::parse(text); });
}

}  // namespace

TEST_CASE("an IPv4 host and port parse and print back unchanged") {
    auto a = Address::parse("127.0.0.1:8080");
    CHECK(a.family() == AF_INET);
    CHECK(a.port() == 8080);
    CHECK(a.host() == "127.0.0.1");
    CHECK(a.to_string() == "127.0.0.1:8080");
    CHECK(a.len() == sizeof(sockaddr_in));
}

TEST_CASE("a bracketed IPv6 host parses and prints with brackets") {
    auto a = Address::parse("[::1]:443");
    CHECK(a.family() == AF_INET6);
    CHECK(a.port() == 443);
    CHECK(a.host() == "::1");
    CHECK(a.to_string() == "[::1]:443");
    CHECK(a.len() == sizeof(sockaddr_in6));
}

TEST_CASE("an empty host, star and 0.0.0.0 all mean the IPv4 any address") {
    CHECK(Address::parse(":9000").to_string() == "0.0.0.0:9000");
    CHECK(Address::parse("*:9000").to_string() == "0.0.0.0:9000");
    CHECK(Address::parse("0.0.0.0:9000").to_string() == "0.0.0.0:9000");
}

TEST_CASE("localhost is read as 127.0.0.1 without a resolver") {
    CHECK(Address::parse("localhost:80").to_string() == "127.0.0.1:80");
}

TEST_CASE("port 0 and port 65535 are accepted") {
    CHECK(Address::parse("127.0.0.1:0").port() == 0);
    CHECK(Address::parse("127.0.0.1:65535").port() == 65535);
}

TEST_CASE("a port out of range or not a number is a usage error naming the accepted forms") {
    for (auto text : {"127.0.0.1:65536", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:80x",
                      "127.0.0.1:-1"}) {
        CAPTURE(text);
        auto message = refusal(text);
        CHECK(message.find("port must be a number from 0 to 65535") != std::string::npos);
        CHECK(message.find("expected HOST:PORT, [IPV6]:PORT or :PORT") != std::string::npos);
        CHECK(message.find(text) != std::string::npos);
    }
}

TEST_CASE("a missing port is a usage error") {
    CHECK(refusal("127.0.0.1").find("missing :PORT") != std::string::npos);
}

TEST_CASE("an unbracketed IPv6 address is refused with a hint to use brackets") {
    CHECK(refusal("::1:80").find("IPv6 addresses go in brackets") != std::string::npos);
}

TEST_CASE("brackets are refused when unclosed, without a port, or around IPv4") {
    CHECK(refusal("[::1:80").find("missing ']'") != std::string::npos);
    CHECK(refusal("[::1]").find("missing :PORT after ]") != std::string::npos);
    CHECK(refusal("[::1]80").find("missing :PORT after ]") != std::string::npos);
    CHECK(refusal("[127.0.0.1]:80").find("[...] is for IPv6") != std::string::npos);
}

TEST_CASE("a host name other than localhost is refused, never resolved") {
    CHECK(refusal("example.com:80").find("not a numeric IPv4 or IPv6 address") != std::string::npos);
    CHECK(refusal("[fe80::zz]:80").find("not a numeric IPv4 or IPv6 address") != std::string::npos);
}

TEST_CASE("parse_host takes the address alone with an optional port") {
    auto v4 = Address::parse_host("198.18.0.1");
    CHECK(v4.family() == AF_INET);
    CHECK(v4.port() == 0);
    CHECK(v4.to_string() == "198.18.0.1:0");
    auto v6 = Address::parse_host("2001:db8::1", 8080);
    CHECK(v6.family() == AF_INET6);
    CHECK(v6.to_string() == "[2001:db8::1]:8080");
    CHECK_THROWS_AS(Address::parse_host("nope"), Error);
}

TEST_CASE("set_port changes the port of IPv4 and IPv6 addresses") {
    auto v4 = Address::parse("127.0.0.1:1");
    v4.set_port(4242);
    CHECK(v4.to_string() == "127.0.0.1:4242");
    auto v6 = Address::parse("[::1]:1");
    v6.set_port(4242);
    CHECK(v6.to_string() == "[::1]:4242");
}

TEST_CASE("a default-constructed address has no family, port 0 and prints a placeholder") {
    Address a;
    CHECK(a.family() == AF_UNSPEC);
    CHECK(a.port() == 0);
    CHECK(a.len() == 0);
    CHECK(a.host() == "?");
    CHECK_FALSE(a.is_loopback());
}

TEST_CASE("all of 127/8 and ::1 are loopback, other addresses are not") {
    CHECK(Address::parse("127.0.0.1:1").is_loopback());
    CHECK(Address::parse("127.255.0.9:1").is_loopback());
    CHECK(Address::parse("[::1]:1").is_loopback());
    CHECK_FALSE(Address::parse("128.0.0.1:1").is_loopback());
    CHECK_FALSE(Address::parse("0.0.0.0:1").is_loopback());
    CHECK_FALSE(Address::parse("[::]:1").is_loopback());
}

TEST_CASE("addresses compare equal by their printed form") {
    CHECK(Address::parse("localhost:80") == Address::parse("127.0.0.1:80"));
    CHECK_FALSE(Address::parse("127.0.0.1:80") == Address::parse("127.0.0.1:81"));
}

TEST_CASE("an address built from a sockaddr keeps family, host and port") {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(1234);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    Address a(reinterpret_cast<sockaddr*>(&sin), sizeof sin);
    CHECK(a.to_string() == "127.0.0.1:1234");
    CHECK(a.len() == sizeof sin);
}

TEST_CASE("local and peer addresses of a loopback connection mirror each other") {
    auto pair = sockdrill::test::loopback_pair();
    auto client_local = sockdrill::net::local_address(pair.client.get());
    auto client_peer = sockdrill::net::peer_address(pair.client.get());
    auto server_local = sockdrill::net::local_address(pair.server.get());
    auto server_peer = sockdrill::net::peer_address(pair.server.get());
    CHECK(client_local == server_peer);
    CHECK(client_peer == server_local);
    CHECK(client_peer.host() == "127.0.0.1");
    CHECK(client_local.port() != 0);
    CHECK(client_local.is_loopback());
}

TEST_CASE("peer_address of an unconnected socket throws ENOTCONN in context") {
    sockdrill::net::Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(fd);
    try {
        sockdrill::net::peer_address(fd.get());
        FAIL("peer_address did not throw");
    } catch (const Error& e) {
        CHECK(e.err() == ENOTCONN);
        CHECK(std::string(e.what()).find("getpeername: ENOTCONN") == 0);
    }
}

TEST_CASE("parse_local_target keeps --target on this machine") {
    using sockdrill::net::parse_local_target;
    CHECK(parse_local_target("127.0.0.1:80").port() == 80);
    CHECK(parse_local_target("127.3.2.1:8080").is_loopback());
    CHECK(parse_local_target("[::1]:443").port() == 443);
    auto usage = [](const char* text) {
        try {
            parse_local_target(text, "--target");
        } catch (const sockdrill::Error& e) {
            CHECK(e.exit() == sockdrill::Exit::usage);
            return std::string(e.what());
        }
        return std::string();
    };
    CHECK(usage("198.18.0.2:80").find("--target 198.18.0.2:80: expected a loopback address") == 0);
    CHECK(usage("10.0.0.1:80").find("expected a loopback address") != std::string::npos);
    CHECK(usage("127.0.0.1:0").find("a port other than 0") != std::string::npos);
    CHECK(usage("localhost").find("--target localhost: ") == 0);
}
