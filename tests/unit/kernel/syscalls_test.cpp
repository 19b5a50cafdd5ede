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

// A forked child that runs `body` when told to, says it is done, and waits
// to be killed: the traced process of the tests below. The destructor kills
// and reaps it, also when a REQUIRE ends the test early.
class TracedChild {
  public:
    explicit TracedChild(void (*body)()) {
        REQUIRE(::pipe(go_) == 0);
        REQUIRE(::pipe(done_) == 0);
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            char byte;
            if (::read(go_[0], &byte, 1) != 1) ::_exit(1);
            body();
            [[maybe_unused]] auto wrote = ::write(done_[1], "x", 1);
            ::pause();
            ::_exit(0);
        }
    }
    ~TracedChild() {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        for (int fd : {go_[0], go_[1], done_[0], done_[1]}) ::close(fd);
    }
    pid_t pid() const { return pid_; }
    /// Runs the body and returns when it is done.
    void run() {
        REQUIRE(::write(go_[1], "x", 1) == 1);
        char byte;
        REQUIRE(::read(done_[0], &byte, 1) == 1);
    }

  private:
    int go_[2] = {-1, -1}, done_[2] = {-1, -1};
    pid_t pid_ = -1;
};

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
    TracedChild child([] {
        for (int i = 0; i < 300; ++i) ::syscall(SYS_getppid);
        std::thread([] {
            for (int i = 0; i < 200; ++i) ::syscall(SYS_getppid);
        }).join();
    });
    kernel::SyscallCounter counter(child.pid(), {"getppid"});
    counter.start();
    child.run();
    counter.stop();
    CHECK(counter.counts()["getppid"] == 500);
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
    TracedChild child([] {
        ::syscall(SYS_getppid);
        std::thread([] { ::syscall(SYS_getpgid, 0); }).join();
    });
    kernel::SyscallSampler sampler(child.pid());
    sampler.start();
    child.run();
    sampler.stop();
    auto seen = sampler.seen();
    CHECK(seen.names.count("getppid") == 1);
    CHECK(seen.names.count("getpgid") == 1);  // made by a thread started after the sampler opened
    CHECK(seen.names.count("getsid") == 0);   // never called
    CHECK(seen.lost == 0);
}
