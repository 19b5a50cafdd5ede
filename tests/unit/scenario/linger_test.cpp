#include <doctest/doctest.h>

#include "net/error.hpp"
#include "scenario/linger.hpp"

using namespace sockdrill;
using namespace sockdrill::scenario;

namespace {
int usage_error(std::vector<std::string> values) {
    try {
        parse_linger_cases(values);
    } catch (const Error& e) {
        CHECK(std::string(e.what()).find("--case") != std::string::npos);
        return static_cast<int>(e.exit());
    }
    return 0;
}
}  // namespace

TEST_CASE("--case all is every case, linger=T with one second") {
    auto all = parse_linger_cases({"all"});
    REQUIRE(all.size() == 5);
    CHECK(all[0].name() == "normal");
    CHECK(all[2].name() == "linger=1");
    CHECK(all[4].name() == "pipeline");
}

TEST_CASE("--case linger=T takes whole seconds") {
    CHECK(parse_linger_cases({"linger=3"})[0].linger_seconds == 3);
    CHECK(parse_linger_cases({"linger=3s"})[0].linger_seconds == 3);
    CHECK(parse_linger_cases({"normal", "unread"}).size() == 2);
}

TEST_CASE("bad --case values are usage errors naming the flag") {
    CHECK(usage_error({"gentle"}) == 2);
    CHECK(usage_error({"linger=-1"}) == 2);
    CHECK(usage_error({"linger=0"}) == 2);
    CHECK(usage_error({"linger=1.5"}) == 2);
    CHECK(usage_error({"linger=999"}) == 2);
    CHECK(usage_error({"linger="}) == 2);
    CHECK(usage_error({"normal", "normal"}) == 2);
}

TEST_CASE("--target runs only the cases that need one end") {
    LingerConfig config;
    config.cases = parse_linger_cases({"normal"});
    cli::CommonOptions common;
    common.target = "127.0.0.1:80";
    CHECK_THROWS_AS(validate(config, common), Error);
    config.cases = parse_linger_cases({"pipeline", "linger0"});
    CHECK_NOTHROW(validate(config, common));
    common.target = "198.18.0.2:80";
    CHECK_THROWS_AS(validate(config, common), Error);
}
