#include <doctest/doctest.h>

#include <csignal>

#include "cli/run_main.hpp"
#include "cli/signals.hpp"
#include "net/error.hpp"

using namespace sockdrill;

namespace {

cli::Command command_with(std::function<report::Report(const cli::CommonOptions&, cli::Output&)> run) {
    cli::Command c;
    c.name = "unittest";
    c.summary = "a command for tests";
    c.common = cli::kJson | cli::kExpect;
    c.run = std::move(run);
    return c;
}

int run(const cli::Command& c, std::vector<std::string> args) {
    args.insert(args.begin(), "sockdrill-unittest");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    return cli::run_main(static_cast<int>(argv.size()), argv.data(), c);
}

report::Report result_with(double p99) {
    report::Report r;
    r.command = "unittest";
    r.results = {{"p99_ms", p99}};
    return r;
}

}  // namespace

TEST_CASE("run_main exits 0 when every expectation holds and 1 when one fails") {
    auto c = command_with([](const cli::CommonOptions&, cli::Output&) { return result_with(3.1); });
    CHECK(run(c, {"--json", "--expect", "p99_ms < 5"}) == 0);
    CHECK(run(c, {"--json", "--expect", "p99_ms < 5", "--expect", "p99_ms > 4"}) == 1);
}

TEST_CASE("run_main maps usage errors to 2 and environment errors to 3") {
    auto ok = command_with([](const cli::CommonOptions&, cli::Output&) { return result_with(1); });
    CHECK(run(ok, {"--no-such-flag"}) == 2);
    CHECK(run(ok, {"--expect", "p99_ms <"}) == 2);
    auto env = command_with([](const cli::CommonOptions&, cli::Output&) -> report::Report {
        throw Error(Exit::environment, "needs CAP_NET_ADMIN");
    });
    CHECK(run(env, {}) == 3);
    auto target = command_with([](const cli::CommonOptions&, cli::Output&) -> report::Report {
        throw Error::system("connect 127.0.0.1:1", ECONNREFUSED);
    });
    CHECK(run(target, {}) == 4);
}

TEST_CASE("sigint during a run prints the partial result and exits 130") {
    bool rendered_after_signal = false;
    auto c = command_with([&](const cli::CommonOptions&, cli::Output&) {
        std::raise(SIGINT);  // the handler run_main installed sets the stop flag
        rendered_after_signal = cli::stop_requested();
        return result_with(2);
    });
    CHECK(run(c, {"--json"}) == 130);
    CHECK(rendered_after_signal);
    cli::clear_stop_request();
}
