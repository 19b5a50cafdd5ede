// The keep-alive engine behind a few flags, for tests/bench/storm.sh until
// sockdrill-storm exists: one run, its config and result as one JSON object
// on stdout; --chart draws the latency histogram on stderr; --interval
// streams JSON Lines interval records on stderr; --rss adds the process's
// resident memory before the run and once every connection was open.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/options.hpp"
#include "cli/signals.hpp"
#include "load/keepalive.hpp"
#include "net/address.hpp"
#include "net/error.hpp"

using namespace sockdrill;

namespace {

// VmRSS of this process, in bytes (0 if /proc says nothing).
uint64_t rss_bytes() {
    std::ifstream status("/proc/self/status");
    std::string key;
    while (status >> key) {
        if (key == "VmRSS:") {
            uint64_t kib = 0;
            status >> kib;
            return kib * 1024;
        }
        status.ignore(4096, '\n');
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app("keepalive_driver: keep-alive load against a target, result as JSON");
    load::KeepaliveConfig config;
    std::string target, payload = "http", rate;
    std::vector<std::string> sources;
    uint64_t count = 0, echo_size = config.echo_size, requests_per_conn = 0;
    cli::Duration interval{0};
    bool chart = false, rss = false;
    app.add_option("--target", target, "HOST:PORT")->required();
    app.add_option("--threads,-t", config.threads, "epoll loops");
    app.add_option("--connections,-c", config.connections, "connections kept open");
    app.add_option("--rate", rate, "requests per second, open loop (1000/s, 10k/s)");
    cli::add_count(app, "--count", count, "requests in all (0: no limit)");
    cli::add_duration(app, "--duration,-d", config.duration, "no request after this");
    app.add_option("--pipeline", config.pipeline, "requests outstanding per connection");
    cli::add_count(app, "--requests-per-conn", requests_per_conn, "then reconnect (0: unlimited)");
    cli::add_duration(app, "--ramp", config.ramp, "open the connections over this time");
    app.add_flag("--idle", config.idle, "hold the connections without requests");
    cli::add_choice(app, "--payload", payload, {"http", "echo"}, "what each request carries");
    app.add_option("--method", config.http_method, "HTTP method");
    app.add_option("--path", config.http_path, "HTTP request target");
    app.add_option("--header,-H", config.http_headers, "extra header line \"Name: value\"");
    app.add_option("--body", config.http_body, "request body");
    cli::add_size(app, "--echo-size", echo_size, "bytes per echo request");
    app.add_option("--source", sources, "local addresses to bind, in turn")->delimiter(',');
    cli::add_duration(app, "--connect-timeout", config.connect_timeout, "connect deadline");
    cli::add_duration(app, "--io-timeout", config.io_timeout, "response deadline");
    cli::add_duration(app, "--interval", interval, "JSON Lines interval records on stderr");
    app.add_flag("--chart", chart, "draw the latency histogram on stderr");
    app.add_flag("--rss", rss, "report resident memory before and with every connection open");
    CLI11_PARSE(app, argc, argv);

    try {
        cli::install_signal_handlers();
        // Reached from the host's namespace: only loopback stays on this machine.
        config.target = net::parse_local_target(target);
        if (!rate.empty()) config.rate = load::parse_rate(rate);
        config.count = count;
        config.echo_size = echo_size;
        config.requests_per_conn = requests_per_conn;
        config.payload = load::parse_payload(payload);
        for (const auto& s : sources) {
            auto source = net::Address::parse_host(s);
            if (!source.is_loopback())
                throw Error::usage(fmt::format(
                    "--source {}: expected a loopback address (127.0.0.0/8 or ::1)", s));
            config.sources.push_back(source);
        }

        uint64_t rss_before = rss_bytes(), rss_open = 0;
        double all_open_s = -1;
        load::KeepaliveDriver driver(config);
        driver.start();
        // Samples every 20 ms for the RSS once all are open, and every
        // --interval for a JSON Lines record.
        auto tick = std::chrono::milliseconds(20);
        auto next_record = std::chrono::steady_clock::now() + interval;
        while (!driver.wait_for(tick)) {
            auto live = driver.live();
            if (rss && all_open_s < 0 && live.open >= config.connections) {
                rss_open = rss_bytes();
                all_open_s = live.elapsed_s;
            }
            if (interval.count() > 0 && std::chrono::steady_clock::now() >= next_record) {
                nlohmann::json record = driver.take_interval();
                std::fputs((record.dump() + "\n").c_str(), stderr);
                next_record += interval;
            }
        }
        auto result = driver.wait();
        nlohmann::json out{{"config", config}, {"results", result}};
        if (rss) {
            out["results"]["rss"] = {
                {"before_bytes", rss_before},
                {"all_open_bytes", rss_open},
                {"all_open_s", all_open_s},
                // Signed: RSS may have shrunk (pages given back) by the time all were open.
                {"per_connection_bytes",
                 rss_open ? (static_cast<double>(rss_open) - static_cast<double>(rss_before)) /
                                config.connections
                          : 0.0}};
        }
        std::puts(out.dump().c_str());
        if (chart) std::fputs(load::render_chart(result.stats.latency).c_str(), stderr);
        return 0;
    } catch (const Error& e) {
        fmt::print(stderr, "keepalive_driver: {}\n", e.what());
        return static_cast<int>(e.exit());
    }
}
