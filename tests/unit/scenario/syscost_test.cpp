// sockdrill-syscost's --compare words: the sockdrill-serve flags each adds,
// joined with '+', and one-line usage errors naming --compare.
#include "scenario/syscost.hpp"

#include <doctest/doctest.h>

#include "net/error.hpp"
#include "usage_error.hpp"

using sockdrill::Error;
using sockdrill::Exit;
using namespace sockdrill::scenario;

namespace {

std::vector<std::string> args(const char* text) { return parse_syscost_variant(text).serve_args; }

std::string usage_error(const char* text) {
    return sockdrill::testing::usage_message([&] { parse_syscost_variant(text); });
}

}  // namespace

TEST_CASE("syscost: each --compare word is the server flag it names") {
    CHECK(args("lean").empty());
    CHECK(args("check-closed") == std::vector<std::string>{"--check-closed"});
    CHECK(args("peername") == std::vector<std::string>{"--peername"});
    CHECK(args("cork") == std::vector<std::string>{"--cork"});
    CHECK(args("nodelay") == std::vector<std::string>{"--nodelay"});
    CHECK(args("split-writes=3") == std::vector<std::string>{"--split-writes", "3"});
    CHECK(args("io=select") == std::vector<std::string>{"--io", "select"});
    CHECK(args("check-closed+cork+io=poll") == std::vector<std::string>{"--check-closed", "--cork", "--io", "poll"});
    CHECK(parse_syscost_variant("check-closed+cork").name == "check-closed+cork");
}

TEST_CASE("syscost: a bad --compare word is a usage error naming it") {
    CHECK(usage_error("fast").find("--compare: \"fast\": unknown \"fast\"") != std::string::npos);
    CHECK(usage_error("io=kqueue").find("io= takes epoll, poll, select or threads") != std::string::npos);
    CHECK(usage_error("split-writes=0").find("split-writes=N") != std::string::npos);
    CHECK(usage_error("split-writes=x").find("split-writes=N") != std::string::npos);
    CHECK(usage_error("cork+").find("nothing after '+'") != std::string::npos);
    CHECK(usage_error("+cork").find("unknown \"\"") != std::string::npos);
    CHECK(usage_error("").find("--compare: an empty entry") != std::string::npos);
}

TEST_CASE("syscost: the default variants, lean first, and the server's names through glibc's") {
    auto variants = default_syscost_variants();
    REQUIRE(variants.size() == 8);
    CHECK(variants.front().name == "lean");
    auto select = syscall_aliases("select");
    CHECK(std::find(select.begin(), select.end(), "pselect6") != select.end());
    CHECK(syscall_aliases("getsockopt") == std::vector<std::string>{"getsockopt"});
}
