// sockdrill-herd: the accept thundering herd. N workers on one or more
// listeners, once per accept model (blocking accept, shared epoll,
// EPOLLEXCLUSIVE, SO_REUSEPORT, Apache's accept mutexes, select over several
// listeners), and how many times each worker woke per accepted connection.
// This file binds flags to scenario::HerdConfig; the scenario lives in
// lib/scenario/herd*.cpp.
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/run_main.hpp"
#include "net/error.hpp"
#include "scenario/herd.hpp"

using namespace sockdrill;
using namespace std::chrono_literals;

namespace {

struct Options {
    scenario::HerdConfig herd;
    std::vector<std::string> models{"all"};
    std::string weights;
    uint64_t workers = 4, listeners = 1, concurrency = 32, client_threads = 2, count = 0;
};

void bind(CLI::App& app, Options& o) {
    auto& h = o.herd;
    app.add_option("--model", o.models,
                   "Accept models to compare, a comma list or all: blocking, epoll-shared, epoll-exclusive, "
                   "reuseport, mutex-fcntl, mutex-flock, mutex-sysvsem, mutex-pthread, select-multi")
        // The words in the type name become the completions' choices.
        ->type_name("{all,blocking,epoll-shared,epoll-exclusive,reuseport,mutex-fcntl,mutex-flock,mutex-sysvsem,"
                    "mutex-pthread,select-multi}")
        ->delimiter(',')
        ->capture_default_str();
    cli::add_count(app, "--workers", o.workers, "Accepting workers (threads, or processes with --processes)");
    app.add_flag("--processes", h.processes, "Fork the workers instead of starting threads (Apache prefork)");
    cli::add_count(app, "--listeners", o.listeners,
                   "Listening addresses, each its own port (select-multi takes 2 unless told)");
    app.add_option("--weights", o.weights, "Share of new connections per listener, one per listener (90,10)")
        ->type_name("LIST");
    cli::add_count(app, "--concurrency", o.concurrency, "Client connections in flight (closed loop)");
    cli::add_count(app, "--client-threads", o.client_threads, "Client threads driving them");
    cli::add_count(app, "--count", o.count, "Connections per model in all (0: until --duration)");
    cli::add_duration(app, "--accept-timeout", h.accept_timeout,
                      "A client gives up a connection the server has not closed after this");
    cli::add_duration(app, "--starve-threshold", h.starve_threshold,
                      "A listener whose slowest accept took this long is starved");
}

void resolve(CLI::App& app, Options& o) {
    auto& h = o.herd;
    auto given = [&](const char* name) { return app.get_option(name)->count() > 0; };
    h.models = scenario::parse_models(o.models);
    if (!o.weights.empty()) h.weights = scenario::parse_weights(o.weights);
    h.listeners_given = given("--listeners");
    // --weights alone says how many listeners there are.
    h.listeners = !h.listeners_given && !h.weights.empty() ? static_cast<unsigned>(h.weights.size())
                                                            : static_cast<unsigned>(std::min<uint64_t>(o.listeners, 100000));
    h.workers = static_cast<unsigned>(std::min<uint64_t>(o.workers, 100000));
    h.concurrency = static_cast<unsigned>(std::min<uint64_t>(o.concurrency, 100000));
    h.client_threads = static_cast<unsigned>(std::min<uint64_t>(o.client_threads, 1000));
    h.count = o.count;
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    cli::Command command;
    command.name = "herd";
    command.summary = std::string(cli::command_summary("herd"));
    command.common = cli::kJson | cli::kExpect | cli::kDuration;
    command.default_duration = 2s;
    command.bind = [&](CLI::App& app) { bind(app, options); };
    command.after_parse = [&](CLI::App& app) { resolve(app, options); };
    command.run = [&](const cli::CommonOptions& common, cli::Output& output) {
        return scenario::run_herd(options.herd, common, output);
    };
    return cli::run_main(argc, argv, command);
}
