#include "net/sockopt.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <string>

#include "../net/loopback.hpp"
#include "net/error.hpp"

using namespace std::chrono_literals;
using sockdrill::Error;
using sockdrill::net::Fd;
namespace net = sockdrill::net;

namespace {

Fd tcp_socket() {
    Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(fd);
    return fd;
}

// Writes all of text on a blocking socket.
void send_all(int fd, std::string_view text) {
    while (!text.empty()) {
        ssize_t n = ::write(fd, text.data(), text.size());
        REQUIRE(n > 0);
        text.remove_prefix(static_cast<size_t>(n));
    }
}

}  // namespace

TEST_CASE("linger is off on a new socket") {
    auto fd = tcp_socket();
    CHECK_FALSE(net::get_linger(fd.get()).has_value());
}

TEST_CASE("linger zero is read back as on with zero seconds") {
    auto fd = tcp_socket();
    net::set_linger(fd.get(), 0);
    auto linger = net::get_linger(fd.get());
    REQUIRE(linger.has_value());
    CHECK(*linger == 0);
}

TEST_CASE("linger N is read back as N and nullopt turns it off again") {
    auto fd = tcp_socket();
    net::set_linger(fd.get(), 7);
    CHECK(net::get_linger(fd.get()) == std::optional<int>(7));
    net::set_linger(fd.get(), std::nullopt);
    CHECK_FALSE(net::get_linger(fd.get()).has_value());
}

TEST_CASE("keepalive is off on a new socket") {
    auto fd = tcp_socket();
    CHECK_FALSE(net::get_keepalive(fd.get()).has_value());
}

TEST_CASE("the keepalive triple is read back as set and can be turned off") {
    auto fd = tcp_socket();
    net::set_keepalive(fd.get(), net::Keepalive{30s, 5s, 3});
    auto keepalive = net::get_keepalive(fd.get());
    REQUIRE(keepalive.has_value());
    CHECK(keepalive->idle == 30s);
    CHECK(keepalive->interval == 5s);
    CHECK(keepalive->count == 3);
    net::set_keepalive_off(fd.get());
    CHECK_FALSE(net::get_keepalive(fd.get()).has_value());
}

TEST_CASE("a keepalive idle of zero seconds is refused and the error names TCP_KEEPIDLE") {
    auto fd = tcp_socket();
    try {
        net::set_keepalive(fd.get(), net::Keepalive{0s, 5s, 3});
        FAIL("set_keepalive accepted idle 0");
    } catch (const Error& e) {
        CHECK(e.err() == EINVAL);
        CHECK(std::string(e.what()).find("setsockopt TCP_KEEPIDLE: EINVAL") == 0);
    }
}

TEST_CASE("TCP_USER_TIMEOUT is read back in milliseconds, 0 by default") {
    auto fd = tcp_socket();
    CHECK(net::get_user_timeout(fd.get()) == 0ms);
    net::set_user_timeout(fd.get(), 1500ms);
    CHECK(net::get_user_timeout(fd.get()) == 1500ms);
}

TEST_CASE("TCP_NODELAY and TCP_CORK toggle on and off") {
    auto fd = tcp_socket();
    CHECK_FALSE(net::get_nodelay(fd.get()));
    net::set_nodelay(fd.get(), true);
    CHECK(net::get_nodelay(fd.get()));
    net::set_nodelay(fd.get(), false);
    CHECK_FALSE(net::get_nodelay(fd.get()));

    CHECK_FALSE(net::get_cork(fd.get()));
    net::set_cork(fd.get(), true);
    CHECK(net::get_cork(fd.get()));
    net::set_cork(fd.get(), false);
    CHECK_FALSE(net::get_cork(fd.get()));
}

TEST_CASE("TCP_QUICKACK can be set on a connected socket") {
    auto pair = sockdrill::test::loopback_pair();
    CHECK_NOTHROW(net::set_quickack(pair.client.get(), true));
    CHECK_NOTHROW(net::set_quickack(pair.client.get(), false));
}

TEST_CASE("receive and send timeouts are read back in microseconds, 0 by default") {
    auto fd = tcp_socket();
    CHECK(net::get_rcvtimeo(fd.get()) == 0us);
    CHECK(net::get_sndtimeo(fd.get()) == 0us);
    net::set_rcvtimeo(fd.get(), 1500ms);
    net::set_sndtimeo(fd.get(), 2s);
    CHECK(net::get_rcvtimeo(fd.get()) == 1500ms);
    CHECK(net::get_sndtimeo(fd.get()) == 2s);
}

TEST_CASE("a receive timeout makes a blocking read fail with EAGAIN") {
    auto pair = sockdrill::test::loopback_pair();
    net::set_rcvtimeo(pair.client.get(), 20ms);
    char byte;
    ssize_t n = ::read(pair.client.get(), &byte, 1);
    CHECK(n == -1);
    CHECK((errno == EAGAIN || errno == EWOULDBLOCK));
}

TEST_CASE("the kernel doubles SO_RCVBUF and SO_SNDBUF requests") {
    auto fd = tcp_socket();
    net::set_rcvbuf(fd.get(), 32768);
    net::set_sndbuf(fd.get(), 32768);
    CHECK(net::get_rcvbuf(fd.get()) == 65536);
    CHECK(net::get_sndbuf(fd.get()) == 65536);
}

TEST_CASE("SO_REUSEPORT toggles on and off") {
    auto fd = tcp_socket();
    CHECK_FALSE(net::get_reuseport(fd.get()));
    net::set_reuseport(fd.get(), true);
    CHECK(net::get_reuseport(fd.get()));
    net::set_reuseport(fd.get(), false);
    CHECK_FALSE(net::get_reuseport(fd.get()));
    CHECK_NOTHROW(net::set_reuseaddr(fd.get(), true));
}

TEST_CASE("SO_ERROR is 0 on a healthy connected socket") {
    auto pair = sockdrill::test::loopback_pair();
    CHECK(net::get_so_error(pair.client.get()) == 0);
}

TEST_CASE("SO_ERROR reports ECONNREFUSED once after a refused non-blocking connect, then clears") {
    // Find a closed loopback port: bind, read the port, close without listening.
    auto probe = tcp_socket();
    auto any = net::Address::parse("127.0.0.1:0");
    REQUIRE(::bind(probe.get(), any.sa(), any.len()) == 0);
    auto closed_port = net::local_address(probe.get());
    probe.reset();

    Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    REQUIRE(fd);
    int rc = ::connect(fd.get(), closed_port.sa(), closed_port.len());
    if (rc < 0 && errno == EINPROGRESS) {
        pollfd p{fd.get(), POLLOUT, 0};
        REQUIRE(::poll(&p, 1, 1000) == 1);
        CHECK(net::get_so_error(fd.get()) == ECONNREFUSED);
    } else {
        CHECK(errno == ECONNREFUSED);
    }
    CHECK(net::get_so_error(fd.get()) == 0);
}

TEST_CASE("bytes_unread counts what the peer wrote and the reader has not read") {
    auto pair = sockdrill::test::loopback_pair();
    CHECK(net::bytes_unread(pair.server.get()) == 0);
    send_all(pair.client.get(), "hello");
    // Loopback delivers synchronously into the peer's receive queue.
    CHECK(net::bytes_unread(pair.server.get()) == 5);
    char buf[2];
    REQUIRE(::read(pair.server.get(), buf, sizeof buf) == 2);
    CHECK(net::bytes_unread(pair.server.get()) == 3);
}

TEST_CASE("bytes_unacked is 0 once loopback has acknowledged everything") {
    auto pair = sockdrill::test::loopback_pair();
    CHECK(net::bytes_unacked(pair.client.get()) == 0);
}

TEST_CASE("set_nonblocking toggles O_NONBLOCK and keeps other flags") {
    auto fd = tcp_socket();
    net::set_nonblocking(fd.get(), true);
    CHECK((::fcntl(fd.get(), F_GETFL) & O_NONBLOCK) != 0);
    CHECK((::fcntl(fd.get(), F_GETFD) & FD_CLOEXEC) != 0);
    net::set_nonblocking(fd.get(), false);
    CHECK((::fcntl(fd.get(), F_GETFL) & O_NONBLOCK) == 0);
}

TEST_CASE("an option on a closed descriptor throws EBADF naming the option") {
    int fd;
    {
        auto owned = tcp_socket();
        fd = owned.get();
    }
    try {
        net::set_nodelay(fd, true);
        FAIL("set_nodelay on a closed fd did not throw");
    } catch (const Error& e) {
        CHECK(e.err() == EBADF);
        CHECK(std::string(e.what()).find("setsockopt TCP_NODELAY: EBADF") == 0);
        CHECK(e.exit() == sockdrill::Exit::environment);
    }
    CHECK_THROWS_WITH_AS(net::get_user_timeout(fd), doctest::Contains("getsockopt TCP_USER_TIMEOUT"),
                         Error);
    CHECK_THROWS_WITH_AS(net::bytes_unread(fd), doctest::Contains("ioctl SIOCINQ"), Error);
}
