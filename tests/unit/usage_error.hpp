#pragma once
// The unit tests' one way to look at a usage error: run the call, check
// that it threw Error(Exit::usage), and return its one-line message ("" when
// it did not throw), for CHECKs on what the message names.
#include <doctest/doctest.h>

#include <string>

#include "net/error.hpp"

namespace sockdrill::testing {

template <class F>
std::string usage_message(F&& f) {
    try {
        f();
    } catch (const Error& e) {
        CHECK(e.exit() == Exit::usage);
        return e.what();
    }
    return "";
}

}  // namespace sockdrill::testing
