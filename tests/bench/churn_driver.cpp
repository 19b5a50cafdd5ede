// The churn driver behind a few flags, for tests/bench/churn.sh until
// sockdrill-timewait exists: one run, its config and result as one JSON
// object on stdout, and with --chart the total-time histogram on stderr.
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/options.hpp"
#include "cli/signals.hpp"
#include "load/churn.hpp"
#include "net/address.hpp"
#include "net/error.hpp"

using namespace sockdrill;

int main(int argc, char** argv) {
    CLI::App app("churn_driver: one connection per transaction against a target, result as JSON");
    load::ChurnConfig config;
    std::string target, payload = "http", close = "client";
    std::vector<std::string> sources;
    uint64_t count = 0, echo_size = config.echo_size;
    bool chart = false;
    app.add_option("--target", target, "HOST:PORT")->required();
    app.add_option("--threads", config.threads, "epoll loops");
    app.add_option("--concurrency,-c", config.concurrency, "connections in flight (closed loop)");
    app.add_option("--rate", config.rate, "connections started per second (open loop)");
    app.add_option("--max-in-flight", config.max_in_flight, "open loop: the most in flight");
    cli::add_count(app, "--count", count, "connections in all (0: no limit)");
    cli::add_duration(app, "--duration", config.duration, "no new connection after this");
    app.add_option("--exchanges", config.exchanges, "request/response pairs per connection");
    cli::add_choice(app, "--payload", payload, {"http", "echo"}, "what each exchange carries");
    cli::add_size(app, "--echo-size", echo_size, "bytes per echo exchange");
    app.add_option("--path", config.http_path, "HTTP request target");
    cli::add_choice(app, "--close", close, {"client", "server", "linger0"}, "who closes, and how");
    app.add_flag("--bind-no-port", config.bind_no_port, "IP_BIND_ADDRESS_NO_PORT before bind()");
    app.add_flag("--reuseaddr", config.reuseaddr, "SO_REUSEADDR before bind()");
    app.add_option("--source", sources, "local addresses to bind, in turn")->delimiter(',');
    cli::add_duration(app, "--connect-timeout", config.connect_timeout, "connect deadline");
    cli::add_duration(app, "--io-timeout", config.io_timeout, "response deadline");
    app.add_flag("--chart", chart, "draw the total-time histogram on stderr");
    CLI11_PARSE(app, argc, argv);

    try {
        cli::install_signal_handlers();
        config.target = net::Address::parse(target);
        config.count = count;
        config.echo_size = echo_size;
        config.payload = load::parse_payload(payload);
        config.close = load::parse_close_mode(close);
        for (const auto& s : sources) config.sources.push_back(net::Address::parse_host(s));
        auto result = load::run_churn(config);
        nlohmann::json out{{"config", config}, {"results", result}};
        std::puts(out.dump().c_str());
        if (chart) std::fputs(load::render_chart(result.stats.total).c_str(), stderr);
        return 0;
    } catch (const Error& e) {
        fmt::print(stderr, "churn_driver: {}\n", e.what());
        return static_cast<int>(e.exit());
    }
}
