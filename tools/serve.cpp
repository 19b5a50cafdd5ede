// sockdrill-serve: the configurable target server. This file only binds
// flags to server::Config; the server lives in lib/server.
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/run_main.hpp"
#include "server/config.hpp"
#include "server/serve.hpp"

using namespace sockdrill;

namespace {

struct Options {
    server::Config server;
    cli::Duration stats_interval{0};
    std::string config_file;
};

void bind(CLI::App& app, Options& o) {
    auto& s = o.server;
    // What it serves and where.
    cli::add_choice(app, "--mode", s.mode, {"http", "echo", "discard"},
                    "Protocol: HTTP/1.x, echo every byte back, or read and discard");
    app.add_option("--listen", s.listen,
                   "Listen on ADDR:PORT (repeatable; port 0 picks a free port)")
        ->type_name("ADDR:PORT")
        ->capture_default_str();
    cli::add_choice(app, "--io", s.io, {"epoll", "poll", "select", "threads"},
                    "I/O model; threads = one blocking thread per connection");
    app.add_option("--workers", s.workers, "Worker threads, each with its own event loop")
        ->check(CLI::Range(1u, 256u))
        ->capture_default_str();
    app.add_flag("--reuseport", s.reuseport, "One SO_REUSEPORT listener per worker");
    app.add_option("--backlog", s.backlog, "listen() backlog (the kernel caps it at somaxconn)")
        ->check(CLI::Range(0, 1 << 20))
        ->capture_default_str();

    // Pathology knobs.
    app.add_flag("--nodelay", s.nodelay, "Set TCP_NODELAY on accepted connections");
    app.add_flag("--cork", s.cork, "TCP_CORK on before and off after each response");
    app.add_option("--split-writes", s.split_writes, "Write each response in N write() calls")
        ->check(CLI::Range(1u, 64u))
        ->capture_default_str();
    cli::add_linger(app, "--linger", s.linger,
                    "SO_LINGER on accepted connections: off, or SECS (0 = RST on close)");
    cli::add_choice(app, "--close", s.close, {"normal", "abortive", "lingering"},
                    "How the server closes: FIN, RST (SO_LINGER 0), or shutdown+drain+close");
    cli::add_duration(app, "--lingering-timeout", s.lingering_timeout,
                      "With --close lingering: how long to drain input before close");
    cli::add_duration(app, "--keepalive-timeout", s.keepalive_timeout,
                      "Close a keep-alive connection idle this long");
    cli::add_count(app, "--max-requests", s.max_requests,
                   "Close a connection after N requests (0 = unlimited)");
    cli::add_duration(app, "--header-timeout", s.header_timeout,
                      "408 and close when a request head is not complete in time");
    cli::add_size(app, "--response-size", s.response_size, "Body size of a plain GET");
    cli::add_duration(app, "--response-delay", s.response_delay, "Wait before every response");
    cli::add_duration(app, "--accept-delay", s.accept_delay,
                      "Wait this long before each accept(), so the backlog fills");
    app.add_flag("--pause-accept", s.pause_accept, "Never accept(): the backlog fills and overflows");
    cli::add_size(app, "--stall-after", s.stall_after,
                  "Stop reading a connection after SIZE bytes (the window closes)");
    app.add_flag("--check-closed", s.check_closed,
                 "getsockopt(SO_ERROR) before each request, as Puma did");
    app.add_flag("--peername", s.peername, "getpeername() on every request");
    cli::add_keepalive(app, "--tcp-keepalive", s.tcp_keepalive,
                       "SO_KEEPALIVE with TCP_KEEPIDLE,TCP_KEEPINTVL,TCP_KEEPCNT");
    cli::add_duration(app, "--user-timeout", s.user_timeout,
                      "TCP_USER_TIMEOUT on accepted connections");
    cli::add_size(app, "--rcvbuf", s.rcvbuf, "SO_RCVBUF of accepted connections");
    cli::add_size(app, "--sndbuf", s.sndbuf, "SO_SNDBUF of accepted connections");
    cli::add_count(app, "--max-conns", s.max_conns,
                   "Stop accepting while N connections are open (0 = unlimited)");
    cli::add_size(app, "--max-header-size", s.max_header_size,
                  "Answer 431 to a request head larger than this");
    cli::add_size(app, "--max-body-size", s.max_body_size,
                  "Answer 413 to a request body larger than this");
    cli::add_duration(app, "--drain-timeout", s.drain_timeout,
                      "On SIGTERM/SIGINT, let in-flight requests finish for this long");
    cli::add_duration(app, "--stats-interval", o.stats_interval,
                      "Print statistics every DURATION (JSON Lines with --json)");
    app.add_option("--config", o.config_file,
                   "TOML file whose keys are these long option names; flags override it")
        ->type_name("FILE")
        ->check(CLI::ExistingFile);
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    cli::Command command;
    command.name = "serve";
    command.summary = std::string(cli::command_summary("serve"));
    command.common = cli::kJson;
    command.stop_signal_is_success = true;
    command.bind = [&](CLI::App& app) { bind(app, options); };
    command.after_parse = [&](CLI::App& app) {
        if (!options.config_file.empty()) cli::apply_config_file(app, options.config_file);
        server::validate(options.server);
    };
    command.run = [&](const cli::CommonOptions& common, cli::Output& output) {
        return server::serve(options.server, options.stats_interval, common, output);
    };
    return cli::run_main(argc, argv, command);
}
