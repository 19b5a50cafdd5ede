#include "net/error.hpp"

#include <cerrno>
#include <cstring>

#include <doctest/doctest.h>

#include <string>

using sockdrill::check;
using sockdrill::Error;
using sockdrill::errno_name;
using sockdrill::Exit;

TEST_CASE("errno values have their symbolic names") {
    CHECK(errno_name(ECONNRESET) == "ECONNRESET");
    CHECK(errno_name(ECONNREFUSED) == "ECONNREFUSED");
    CHECK(errno_name(EADDRNOTAVAIL) == "EADDRNOTAVAIL");
    CHECK(errno_name(ETIMEDOUT) == "ETIMEDOUT");
}

TEST_CASE("an unknown errno is named E followed by its number") {
    CHECK(errno_name(99999) == "E99999");
}

TEST_CASE("a system error reads context, symbolic name and strerror text") {
    auto e = Error::system("connect 127.0.0.1:9", ECONNREFUSED);
    CHECK(std::string(e.what()) ==
          std::string("connect 127.0.0.1:9: ECONNREFUSED (") + std::strerror(ECONNREFUSED) + ")");
    CHECK(e.err() == ECONNREFUSED);
}

TEST_CASE("errors that mean the peer is not there map to the target exit status") {
    for (int err : {ECONNREFUSED, ECONNRESET, EHOSTUNREACH, ENETUNREACH, ETIMEDOUT, EPIPE}) {
        CAPTURE(err);
        CHECK(Error::system("x", err).exit() == Exit::target);
    }
}

TEST_CASE("other system errors map to the environment exit status") {
    for (int err : {EMFILE, EADDRINUSE, EACCES, EPERM, EINVAL, EADDRNOTAVAIL}) {
        CAPTURE(err);
        CHECK(Error::system("x", err).exit() == Exit::environment);
    }
}

TEST_CASE("a usage error has exit status 2, no errno and the message as given") {
    auto e = Error::usage("--rate: expected a number");
    CHECK(e.exit() == Exit::usage);
    CHECK(static_cast<int>(e.exit()) == 2);
    CHECK(e.err() == 0);
    CHECK(std::string(e.what()) == "--rate: expected a number");
}

TEST_CASE("exit statuses are those of the output contract") {
    CHECK(static_cast<int>(Exit::ok) == 0);
    CHECK(static_cast<int>(Exit::expectation_failed) == 1);
    CHECK(static_cast<int>(Exit::usage) == 2);
    CHECK(static_cast<int>(Exit::environment) == 3);
    CHECK(static_cast<int>(Exit::target) == 4);
    CHECK(static_cast<int>(Exit::interrupted) == 130);
}

TEST_CASE("check returns a non-negative result unchanged") {
    CHECK(check(0, "x") == 0);
    CHECK(check(17, "x") == 17);
}

TEST_CASE("check throws a system error built from errno when the result is negative") {
    errno = EBADF;
    try {
        check(-1, "close 5");
        FAIL("check(-1) did not throw");
    } catch (const Error& e) {
        CHECK(e.err() == EBADF);
        CHECK(e.exit() == Exit::environment);
        CHECK(std::string(e.what()).find("close 5: EBADF") == 0);
    }
}

TEST_CASE("an Error is a std::runtime_error so generic handlers see its message") {
    try {
        throw Error::usage("bad");
    } catch (const std::runtime_error& e) {
        CHECK(std::string(e.what()) == "bad");
    }
}
