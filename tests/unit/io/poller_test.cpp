#include "io/poller.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <array>
#include <string>
#include <vector>

#include "net/error.hpp"
#include "net/fd.hpp"

using sockdrill::io::Event;
using sockdrill::io::kNone;
using sockdrill::io::kRead;
using sockdrill::io::kWrite;
using sockdrill::io::make_poller;
using sockdrill::net::Fd;

namespace {

constexpr const char* kPollers[] = {"epoll", "poll", "select"};
// Long enough for an event that is already pending; never reached when the test passes.
constexpr int kWaitMs = 100;

struct SocketPair {
    Fd a, b;
};

SocketPair socket_pair() {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) == 0);
    return {Fd(fds[0]), Fd(fds[1])};
}

void send_byte(int fd) { REQUIRE(::write(fd, "x", 1) == 1); }

// Waits once and returns the events.
std::vector<Event> wait_events(sockdrill::io::Poller& poller, int timeout_ms) {
    std::array<Event, 16> events;
    int n = poller.wait(events, timeout_ms);
    REQUIRE(n >= 0);
    return {events.begin(), events.begin() + n};
}

// Fills b's receive queue (and a's send queue) until a write would block.
void fill(int fd) {
    std::string chunk(65536, 'x');
    while (::write(fd, chunk.data(), chunk.size()) > 0) {
    }
    REQUIRE(errno == EAGAIN);
}

}  // namespace

TEST_CASE("make_poller builds each poller by name with its wait syscall") {
    CHECK(std::string(make_poller("epoll")->name()) == "epoll");
    CHECK(std::string(make_poller("epoll")->wait_syscall()) == "epoll_wait");
    CHECK(std::string(make_poller("poll")->name()) == "poll");
    CHECK(std::string(make_poller("poll")->wait_syscall()) == "poll");
    CHECK(std::string(make_poller("select")->name()) == "select");
    CHECK(std::string(make_poller("select")->wait_syscall()) == "select");
}

TEST_CASE("an unknown poller name is a usage error naming --io and the choices") {
    try {
        make_poller("kqueue");
        FAIL("kqueue accepted");
    } catch (const sockdrill::Error& e) {
        CHECK(e.exit() == sockdrill::Exit::usage);
        CHECK(std::string(e.what()) == "--io: expected epoll, poll, select or threads, got \"kqueue\"");
    }
}

TEST_CASE("a socket with nothing to read gives no event before the timeout") {
    for (auto name : kPollers) {
        CAPTURE(name);
        auto poller = make_poller(name);
        auto pair = socket_pair();
        REQUIRE(poller->add(pair.b.get(), kRead));
        CHECK(wait_events(*poller, 0).empty());
    }
}

TEST_CASE("a socket becomes readable after the peer writes") {
    for (auto name : kPollers) {
        CAPTURE(name);
        auto poller = make_poller(name);
        auto pair = socket_pair();
        REQUIRE(poller->add(pair.b.get(), kRead));
        send_byte(pair.a.get());
        auto events = wait_events(*poller, kWaitMs);
        REQUIRE(events.size() == 1);
        CHECK(events[0].fd == pair.b.get());
        CHECK(events[0].readable);
        CHECK_FALSE(events[0].writable);
        CHECK_FALSE(events[0].hangup);
    }
}

TEST_CASE("readiness is level-triggered: unread data is reported again") {
    for (auto name : kPollers) {
        CAPTURE(name);
        auto poller = make_poller(name);
        auto pair = socket_pair();
        REQUIRE(poller->add(pair.b.get(), kRead));
        send_byte(pair.a.get());
        CHECK(wait_events(*poller, kWaitMs).size() == 1);
        CHECK(wait_events(*poller, kWaitMs).size() == 1);
        char byte;
        REQUIRE(::read(pair.b.get(), &byte, 1) == 1);
        CHECK(wait_events(*poller, 0).empty());
    }
}

TEST_CASE("a socket with send space is writable") {
    for (auto name : kPollers) {
        CAPTURE(name);
        auto poller = make_poller(name);
        auto pair = socket_pair();
        REQUIRE(poller->add(pair.a.get(), kWrite));
        auto events = wait_events(*poller, kWaitMs);
        REQUIRE(events.size() == 1);
        CHECK(events[0].fd == pair.a.get());
        CHECK(events[0].writable);
        CHECK_FALSE(events[0].readable);
    }
}

TEST_CASE("a socket whose send buffer is full is not writable until the peer reads") {
    for (auto name : kPollers) {
        CAPTURE(name);
        auto poller = make_poller(name);
        auto pair = socket_pair();
        fill(pair.a.get());
        REQUIRE(poller->add(pair.a.get(), kWrite));
        CHECK(wait_events(*poller, 0).empty());
        std::string sink(1 << 20, '\0');
        while (::read(pair.b.get(), sink.data(), sink.size()) > 0) {
        }
        auto events = wait_events(*poller, kWaitMs);
        REQUIRE(events.size() == 1);
        CHECK(events[0].writable);
    }
}

TEST_CASE("modify switches interest between read, write and none") {
    for (auto name : kPollers) {
        CAPTURE(name);
        auto poller = make_poller(name);
        auto pair = socket_pair();
        send_byte(pair.a.get());
        REQUIRE(poller->add(pair.b.get(), kRead));
        auto events = wait_events(*poller, kWaitMs);
        REQUIRE(events.size() == 1);
        CHECK(events[0].readable);

        poller->modify(pair.b.get(), kNone);
        CHECK(wait_events(*poller, 0).empty());

        poller->modify(pair.b.get(), kWrite);
        events = wait_events(*poller, kWaitMs);
        REQUIRE(events.size() == 1);
        CHECK(events[0].writable);
        CHECK_FALSE(events[0].readable);

        poller->modify(pair.b.get(), kRead | kWrite);
        events = wait_events(*poller, kWaitMs);
        REQUIRE(events.size() == 1);
        CHECK(events[0].readable);
        CHECK(events[0].writable);
    }
}

TEST_CASE("a removed socket is no longer reported") {
    for (auto name : kPollers) {
        CAPTURE(name);
        auto poller = make_poller(name);
        auto pair = socket_pair();
        REQUIRE(poller->add(pair.b.get(), kRead));
        send_byte(pair.a.get());
        poller->remove(pair.b.get());
        CHECK(wait_events(*poller, 0).empty());
    }
}

TEST_CASE("removing one of several sockets keeps reporting the others") {
    for (auto name : kPollers) {
        CAPTURE(name);
        auto poller = make_poller(name);
        auto first = socket_pair(), second = socket_pair(), third = socket_pair();
        for (auto* pair : {&first, &second, &third}) {
            REQUIRE(poller->add(pair->b.get(), kRead));
            send_byte(pair->a.get());
        }
        CHECK(wait_events(*poller, kWaitMs).size() == 3);
        poller->remove(first.b.get());
        auto events = wait_events(*poller, kWaitMs);
        REQUIRE(events.size() == 2);
        for (const auto& ev : events) {
            CHECK((ev.fd == second.b.get() || ev.fd == third.b.get()));
            CHECK(ev.readable);
        }
        poller->remove(third.b.get());
        events = wait_events(*poller, kWaitMs);
        REQUIRE(events.size() == 1);
        CHECK(events[0].fd == second.b.get());
    }
}

TEST_CASE("a peer's close makes the socket report readable, and hangup where the poller can tell") {
    for (auto name : kPollers) {
        CAPTURE(name);
        auto poller = make_poller(name);
        auto pair = socket_pair();
        REQUIRE(poller->add(pair.b.get(), kRead));
        pair.a.reset();
        auto events = wait_events(*poller, kWaitMs);
        REQUIRE(events.size() == 1);
        CHECK(events[0].readable);
        // select() has no hang-up set: the next read() returning 0 tells.
        if (std::string(name) != "select") CHECK(events[0].hangup);
        char byte;
        CHECK(::read(pair.b.get(), &byte, 1) == 0);
    }
}

TEST_CASE("wait fills no more events than the span holds") {
    for (auto name : kPollers) {
        CAPTURE(name);
        auto poller = make_poller(name);
        auto first = socket_pair(), second = socket_pair();
        for (auto* pair : {&first, &second}) {
            REQUIRE(poller->add(pair->b.get(), kRead));
            send_byte(pair->a.get());
        }
        std::array<Event, 1> one;
        CHECK(poller->wait(one, kWaitMs) == 1);
        CHECK(one[0].readable);
    }
}

TEST_CASE("each wait is counted as one syscall, and epoll counts its control calls") {
    for (auto name : kPollers) {
        CAPTURE(name);
        auto poller = make_poller(name);
        auto pair = socket_pair();
        REQUIRE(poller->add(pair.b.get(), kRead));
        poller->modify(pair.b.get(), kWrite);
        wait_events(*poller, 0);
        wait_events(*poller, 0);
        poller->remove(pair.b.get());
        CHECK(poller->syscalls().wait == 2);
        CHECK(poller->syscalls().control == (std::string(name) == "epoll" ? 3u : 0u));
    }
}

TEST_CASE("epoll accepts an exclusive wakeup registration") {
    auto poller = make_poller("epoll");
    auto pair = socket_pair();
    REQUIRE(poller->add(pair.b.get(), kRead, /*exclusive=*/true));
    send_byte(pair.a.get());
    CHECK(wait_events(*poller, kWaitMs).size() == 1);
}

TEST_CASE("epoll refuses to add the same descriptor twice with an error naming epoll_ctl") {
    auto poller = make_poller("epoll");
    auto pair = socket_pair();
    REQUIRE(poller->add(pair.b.get(), kRead));
    CHECK_THROWS_WITH_AS(poller->add(pair.b.get(), kRead), doctest::Contains("epoll_ctl ADD: EEXIST"),
                         sockdrill::Error);
}

TEST_CASE("select refuses a descriptor at or above FD_SETSIZE, epoll and poll take it") {
    constexpr int kHighFd = 1100;
    static_assert(kHighFd >= FD_SETSIZE);
    rlimit original{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &original) == 0);
    if (original.rlim_cur <= static_cast<rlim_t>(kHighFd)) {
        if (original.rlim_max <= static_cast<rlim_t>(kHighFd)) {
            MESSAGE("skipped: RLIMIT_NOFILE hard limit " << original.rlim_max << " is below " << kHighFd + 1);
            return;
        }
        rlimit raised = original;
        raised.rlim_cur = kHighFd + 1;
        REQUIRE(::setrlimit(RLIMIT_NOFILE, &raised) == 0);
    }
    auto pair = socket_pair();
    Fd high(::fcntl(pair.b.get(), F_DUPFD_CLOEXEC, kHighFd));
    REQUIRE(high.get() >= kHighFd);
    send_byte(pair.a.get());

    auto select = make_poller("select");
    CHECK_FALSE(select->add(high.get(), kRead));
    select->modify(high.get(), kRead);  // ignored, never writes past the fd_set
    select->remove(high.get());
    CHECK(wait_events(*select, 0).empty());

    for (auto name : {"epoll", "poll"}) {
        CAPTURE(name);
        auto poller = make_poller(name);
        CHECK(poller->add(high.get(), kRead));
        auto events = wait_events(*poller, kWaitMs);
        REQUIRE(events.size() == 1);
        CHECK(events[0].fd == high.get());
        CHECK(events[0].readable);
    }
    high.reset();
    ::setrlimit(RLIMIT_NOFILE, &original);
}

TEST_CASE("select refuses a negative descriptor") {
    auto poller = make_poller("select");
    CHECK_FALSE(poller->add(-1, kRead));
}
