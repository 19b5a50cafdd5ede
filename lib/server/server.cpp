#include "server/server.hpp"

#include <sys/select.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <mutex>
#include <thread>

#include "cli/signals.hpp"
#include "net/error.hpp"
#include "net/socket.hpp"
#include "server/worker.hpp"

namespace sockdrill::server {

void validate(const Config& c) {
    if (c.listen.empty()) throw Error::usage("--listen: at least one ADDR:PORT is needed");
    for (const auto& l : c.listen) {
        try {
            net::Address::parse(l);
        } catch (const Error& e) {
            throw Error::usage(fmt::format("--listen: {}", e.what()));
        }
    }
    if (c.workers < 1) throw Error::usage("--workers: expected at least 1");
    if (c.reuseport && c.io == "threads" && c.workers < 2)
        throw Error::usage("--reuseport: needs --workers 2 or more to mean anything");
    if (c.max_header_size < 64) throw Error::usage("--max-header-size: expected at least 64 bytes");
    if (c.keepalive_timeout.count() <= 0) throw Error::usage("--keepalive-timeout: expected more than 0");
    if (c.header_timeout.count() <= 0) throw Error::usage("--header-timeout: expected more than 0");
    if (c.stall_after && *c.stall_after == 0) throw Error::usage("--stall-after: expected at least 1 byte");
}

void to_json(nlohmann::json& j, const Config& c) {
    auto opt_duration = [](const std::optional<Duration>& d) -> nlohmann::json {
        return d ? nlohmann::json(cli::to_ms(*d)) : nlohmann::json(nullptr);
    };
    auto opt_size = [](const std::optional<uint64_t>& s) -> nlohmann::json {
        return s ? nlohmann::json(*s) : nlohmann::json(nullptr);
    };
    j = nlohmann::json{
        {"mode", c.mode},
        {"listen", c.listen},
        {"io", c.io},
        {"workers", c.workers},
        {"reuseport", c.reuseport},
        {"backlog", c.backlog},
        {"nodelay", c.nodelay},
        {"cork", c.cork},
        {"split_writes", c.split_writes},
        {"linger_s", c.linger ? nlohmann::json(*c.linger) : nlohmann::json(nullptr)},
        {"close", c.close},
        {"lingering_timeout_ms", cli::to_ms(c.lingering_timeout)},
        {"keepalive_timeout_ms", cli::to_ms(c.keepalive_timeout)},
        {"max_requests", c.max_requests},
        {"header_timeout_ms", cli::to_ms(c.header_timeout)},
        {"response_size_bytes", c.response_size},
        {"response_delay_ms", cli::to_ms(c.response_delay)},
        {"accept_delay_ms", cli::to_ms(c.accept_delay)},
        {"pause_accept", c.pause_accept},
        {"stall_after_bytes", opt_size(c.stall_after)},
        {"check_closed", c.check_closed},
        {"peername", c.peername},
        {"tcp_keepalive",
         c.tcp_keepalive ? nlohmann::json{{"idle_s", c.tcp_keepalive->idle.count()},
                                          {"interval_s", c.tcp_keepalive->interval.count()},
                                          {"count", c.tcp_keepalive->count}}
                         : nlohmann::json(nullptr)},
        {"user_timeout_ms", opt_duration(c.user_timeout)},
        {"rcvbuf_bytes", opt_size(c.rcvbuf)},
        {"sndbuf_bytes", opt_size(c.sndbuf)},
        {"max_conns", c.max_conns},
        {"max_header_size_bytes", c.max_header_size},
        {"max_body_size_bytes", c.max_body_size},
        {"drain_timeout_ms", cli::to_ms(c.drain_timeout)}};
}

struct Server::Impl {
    Config config;
    Shared shared{config};
    std::vector<net::Address> addresses;
    std::vector<std::vector<net::Fd>> listeners;  // [worker][listen address]; one set when shared
    std::vector<std::unique_ptr<Worker>> workers;
    std::vector<std::thread> threads;
    bool stopped = false;
    std::mutex failure_mutex;
    std::string failure;  ///< why a worker stopped early, empty when none did

    explicit Impl(Config c) : config(std::move(c)) {}

    std::vector<net::Fd> bind_all(bool reuseport) {
        std::vector<net::Fd> fds;
        net::ListenOptions options;
        options.backlog = config.backlog;
        options.reuseport = reuseport;
        for (size_t i = 0; i < config.listen.size(); ++i) {
            // Later reuseport groups bind the port the first group was given.
            net::Address address = addresses.size() > i ? addresses[i] : net::Address::parse(config.listen[i]);
            fds.push_back(net::listen_tcp(address, options));
            if (config.io == "select" && fds.back().get() >= FD_SETSIZE)
                throw Error(Exit::environment, "--io select: listener descriptor is past FD_SETSIZE");
            if (addresses.size() <= i) addresses.push_back(net::local_address(fds.back().get()));
        }
        return fds;
    }
};

Server::Server(Config config) : impl_(std::make_unique<Impl>(std::move(config))) {
    validate(impl_->config);
    size_t groups = impl_->config.reuseport ? impl_->config.workers : 1;
    for (size_t g = 0; g < groups; ++g) impl_->listeners.push_back(impl_->bind_all(impl_->config.reuseport));
}

Server::~Server() { stop(); }

const std::vector<net::Address>& Server::addresses() const { return impl_->addresses; }
const Config& Server::config() const { return impl_->config; }

void Server::start() {
    auto& im = *impl_;
    for (unsigned w = 0; w < im.config.workers; ++w) {
        std::vector<int> fds;
        for (const auto& fd : im.listeners[im.config.reuseport ? w : 0]) fds.push_back(fd.get());
        im.workers.push_back(im.config.io == "threads" ? make_thread_worker(im.shared, fds)
                                                       : make_event_worker(im.shared, fds));
    }
    for (auto& worker : im.workers)
        im.threads.emplace_back([&im, w = worker.get()] {
            try {
                w->run();
            } catch (const std::exception& e) {
                // A worker that cannot go on stops the whole server, which
                // then reports why instead of terminating the process.
                std::lock_guard lock(im.failure_mutex);
                if (im.failure.empty()) im.failure = e.what();
                im.shared.stopping = true;
                for (auto& other : im.workers) other->wake();
                cli::request_stop();
            }
        });
}

void Server::stop() {
    auto& im = *impl_;
    if (im.stopped) return;
    im.stopped = true;
    im.shared.stopping = true;
    for (auto& worker : im.workers) worker->wake();
    for (auto& t : im.threads) t.join();
    im.listeners.clear();
}

Snapshot Server::snapshot() const {
    Snapshot s;
    for (const auto& worker : impl_->workers) worker->snapshot(s);
    return s;
}

std::string Server::failure() const {
    std::lock_guard lock(impl_->failure_mutex);
    return impl_->failure;
}

uint64_t Server::fd_setsize_refusals() const { return impl_->shared.fd_setsize_refusals.load(); }

}  // namespace sockdrill::server
