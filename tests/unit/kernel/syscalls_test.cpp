// kernel::SyscallCounter: perf tracepoint counts of a thread's and another
// process's syscalls, exact for syscalls made on purpose; bad pids and names.
#include "kernel/syscalls.hpp"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <ctime>
#include <thread>

#include "net/error.hpp"

using sockdrill::Error;
using sockdrill::Exit;
namespace kernel = sockdrill::kernel;

namespace {

// Without CAP_PERFMON (root) the tracepoints are closed: the tests say so
// and check the error instead.
bool counting_allowed() {
    auto why = kernel::syscall_counting_unavailable();
    if (!why.empty()) MESSAGE("syscall counting unavailable: " << why);
    return why.empty();
}

}  // namespace

TEST_CASE("syscalls: every syscall tracepoint is listed by name") {
    auto ids = kernel::syscall_tracepoints();
    CHECK(ids.count("read") == 1);
    CHECK(ids.count("getppid") == 1);
    CHECK(ids.count("accept4") == 1);
}

TEST_CASE("syscalls: the calling thread's syscalls, counted exactly") {
    if (!counting_allowed()) return;
    kernel::SyscallCounter counter(0, {"getppid", "getpid"});
    counter.start();
    for (int i = 0; i < 1000; ++i) ::syscall(SYS_getppid);
    ::syscall(SYS_getpid);
    counter.stop();
    for (int i = 0; i < 10; ++i) ::syscall(SYS_getppid);  // stopped: not counted
    auto counts = counter.counts();
    CHECK(counts["getppid"] == 1000);
    CHECK(counts["getpid"] == 1);
    CHECK(counter.total() == 1001);
    CHECK(counter.threads() == 1);
}

TEST_CASE("syscalls: another process's threads, and those it starts later") {
    if (!counting_allowed()) return;
    int go[2], done[2];
    REQUIRE(::pipe(go) == 0);
    REQUIRE(::pipe(done) == 0);
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        char byte;
        if (::read(go[0], &byte, 1) != 1) ::_exit(1);
        for (int i = 0; i < 300; ++i) ::syscall(SYS_getppid);
        std::thread([] {
            for (int i = 0; i < 200; ++i) ::syscall(SYS_getppid);
        }).join();
        [[maybe_unused]] auto wrote = ::write(done[1], "x", 1);
        ::pause();
        ::_exit(0);
    }
    {
        kernel::SyscallCounter counter(child, {"getppid"});
        counter.start();
        REQUIRE(::write(go[1], "x", 1) == 1);
        char byte;
        REQUIRE(::read(done[0], &byte, 1) == 1);
        counter.stop();
        CHECK(counter.counts()["getppid"] == 500);
    }
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    for (int fd : {go[0], go[1], done[0], done[1]}) ::close(fd);
}

TEST_CASE("syscalls: a pid that does not exist and an unknown syscall are usage errors") {
    if (!counting_allowed()) return;
    pid_t gone = ::fork();
    if (gone == 0) ::_exit(0);
    ::waitpid(gone, nullptr, 0);  // reaped: the pid names nothing now
    try {
        kernel::SyscallCounter counter(gone);
        FAIL("counted a process that is gone");
    } catch (const Error& e) {
        CHECK(e.exit() == Exit::usage);
        CHECK(std::string(e.what()).find("no such process") != std::string::npos);
    }
    try {
        kernel::SyscallCounter counter(0, {"no_such_call"});
        FAIL("accepted an unknown syscall");
    } catch (const Error& e) {
        CHECK(e.exit() == Exit::usage);
        CHECK(std::string(e.what()).find("no_such_call") != std::string::npos);
    }
}

TEST_CASE("syscalls: numbers name the syscalls of this architecture") {
    CHECK(kernel::syscall_name_of(SYS_read) == "read");
    CHECK(kernel::syscall_name_of(SYS_getppid) == "getppid");
    CHECK(kernel::syscall_name_of(SYS_accept4) == "accept4");
    CHECK(kernel::syscall_name_of(99999) == "syscall_99999");
}

TEST_CASE("syscalls: all() counts every syscall, named or not, and cpu_ns the thread's CPU") {
    if (!counting_allowed()) return;
    kernel::SyscallCounter counter(0, {"getppid"});
    counter.start();
    for (int i = 0; i < 100; ++i) ::syscall(SYS_getppid);
    for (int i = 0; i < 50; ++i) ::syscall(SYS_getpid);
    // 10 ms of this thread's CPU, however long the machine makes it wait for it.
    auto cpu_ms = [] {
        timespec ts{};
        ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
    };
    for (double start = cpu_ms(); cpu_ms() - start < 10;) {
    }
    counter.stop();
    CHECK(counter.counts()["getppid"] == 100);
    CHECK(counter.total() == 100);
    CHECK(counter.all() >= 150);
    REQUIRE(counter.cpu_ns().has_value());
    CHECK(*counter.cpu_ns() >= 10'000'000);
}

TEST_CASE("syscalls: the sampler names what a process calls, in threads it starts later too") {
    if (!counting_allowed()) return;
    int go[2], done[2];
    REQUIRE(::pipe(go) == 0);
    REQUIRE(::pipe(done) == 0);
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        char byte;
        if (::read(go[0], &byte, 1) != 1) ::_exit(1);
        ::syscall(SYS_getppid);
        std::thread([] { ::syscall(SYS_getpgid, 0); }).join();
        [[maybe_unused]] auto wrote = ::write(done[1], "x", 1);
        ::pause();
        ::_exit(0);
    }
    {
        kernel::SyscallSampler sampler(child);
        sampler.start();
        REQUIRE(::write(go[1], "x", 1) == 1);
        char byte;
        REQUIRE(::read(done[0], &byte, 1) == 1);
        sampler.stop();
        auto seen = sampler.seen();
        CHECK(seen.names.count("getppid") == 1);
        CHECK(seen.names.count("getpgid") == 1);  // made by a thread started after the sampler opened
        CHECK(seen.names.count("getsid") == 0);   // never called
        CHECK(seen.lost == 0);
    }
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    for (int fd : {go[0], go[1], done[0], done[1]}) ::close(fd);
}
