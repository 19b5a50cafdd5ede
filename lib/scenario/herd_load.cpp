// sockdrill-herd's client side: a few threads, each running a closed loop
// of nonblocking connections over one epoll. A connection picks a listener
// by weight, takes a CLOCK_MONOTONIC stamp, connects, sends the stamp and
// waits for the server to close; one not closed within --accept-timeout is
// given up with SO_LINGER {1, 0} (RST: no TIME-WAIT on the client side).
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cerrno>
#include <fmt/format.h>
#include <mutex>
#include <numeric>

#include "cli/signals.hpp"
#include "net/error.hpp"
#include "net/sockopt.hpp"
#include "scenario/herd_parts.hpp"

namespace sockdrill::scenario::herd {

WeightedPicker::WeightedPicker(std::vector<unsigned> weights)
    : weights_(std::move(weights)), current_(weights_.size(), 0) {
    for (unsigned w : weights_) total_ += w;
}

unsigned WeightedPicker::next() {
    size_t best = 0;
    for (size_t i = 0; i < weights_.size(); ++i) {
        current_[i] += weights_[i];
        if (current_[i] > current_[best]) best = i;
    }
    current_[best] -= total_;
    return static_cast<unsigned>(best);
}

namespace {

constexpr int kPollMs = 5;

struct Conn {
    int fd = -1;
    unsigned listener = 0;
    int64_t stamp_ns = 0;
    int64_t deadline_ns = 0;
    bool connected = false;  ///< stamp sent, waiting for the server's close
};

// One client thread's loop and counts, merged at the end (wrk's way).
class ClientThread {
public:
    ClientThread(const LoadConfig& config, unsigned slots, std::atomic<uint64_t>& budget, int64_t end_ns)
        : config_(config), picker_(config.weights), conns_(slots), budget_(budget), end_ns_(end_ns),
          per_listener_(config.ports.size()) {}

    void run() {
        ep_.reset(::epoll_create1(EPOLL_CLOEXEC));
        if (!ep_) throw Error::system("epoll_create1", errno);
        std::vector<epoll_event> events(64);
        for (;;) {
            int64_t now = monotonic_ns();
            bool may_start = now < end_ns_ && !cli::stop_requested();
            size_t active = 0;
            for (size_t i = 0; i < conns_.size(); ++i) {
                Conn& c = conns_[i];
                if (c.fd >= 0 && now >= c.deadline_ns) finish(c, Outcome::gave_up);
                if (c.fd < 0 && may_start) start(c, i);
                if (c.fd >= 0) ++active;
            }
            if (cli::stop_requested()) {
                for (auto& c : conns_)
                    if (c.fd >= 0) finish(c, Outcome::abandoned);
                interrupted_ = true;
                break;
            }
            if (active == 0 && !may_start) break;
            if (active == 0 && budget_exhausted_) break;
            int n = ::epoll_wait(ep_.get(), events.data(), static_cast<int>(events.size()), kPollMs);
            for (int e = 0; e < n; ++e) handle(conns_[events[e].data.u32], events[e].events);
        }
    }

    const std::vector<ListenerLoad>& per_listener() const { return per_listener_; }
    const std::map<std::string, uint64_t>& connect_errors() const { return connect_errors_; }
    const std::map<std::string, uint64_t>& read_errors() const { return read_errors_; }
    bool interrupted() const { return interrupted_; }

private:
    enum class Outcome { completed, gave_up, failed, abandoned };

    void start(Conn& c, size_t index) {
        if (config_.count) {
            // Every thread draws from one budget: --count connections in all.
            uint64_t left = budget_.load();
            do {
                if (left == 0) {
                    budget_exhausted_ = true;
                    return;
                }
            } while (!budget_.compare_exchange_weak(left, left - 1));
        }
        c.listener = picker_.next();
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(config_.ports[c.listener]);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c.fd < 0) return count_error(connect_errors_, c, errno);
        ++per_listener_[c.listener].started;
        c.stamp_ns = monotonic_ns();
        c.deadline_ns = c.stamp_ns + config_.accept_timeout.count() * 1000;
        c.connected = false;
        if (::connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 && errno != EINPROGRESS)
            return count_error(connect_errors_, c, errno);
        epoll_event ev{};
        ev.events = EPOLLOUT;
        ev.data.u32 = static_cast<uint32_t>(index);
        ::epoll_ctl(ep_.get(), EPOLL_CTL_ADD, c.fd, &ev);
    }

    void handle(Conn& c, uint32_t events) {
        if (c.fd < 0) return;
        if (!c.connected) {
            if (int err = net::get_so_error(c.fd)) return count_error(connect_errors_, c, err);
            // The accept queue holds the connection now; the stamp waits in
            // its receive queue for whoever accepts it.
            if (::send(c.fd, &c.stamp_ns, sizeof c.stamp_ns, MSG_NOSIGNAL) != sizeof c.stamp_ns)
                return count_error(read_errors_, c, errno);
            c.connected = true;
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.u32 = static_cast<uint32_t>(&c - conns_.data());
            ::epoll_ctl(ep_.get(), EPOLL_CTL_MOD, c.fd, &ev);
            return;
        }
        if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
        char byte;
        ssize_t n = ::recv(c.fd, &byte, 1, 0);
        if (n == 0) return finish(c, Outcome::completed);
        if (n < 0 && errno != EAGAIN) count_error(read_errors_, c, errno);
    }

    void count_error(std::map<std::string, uint64_t>& table, Conn& c, int err) {
        ++table[errno_name(err)];
        finish(c, Outcome::failed);
    }

    void finish(Conn& c, Outcome outcome) {
        if (c.fd < 0) return;
        auto& l = per_listener_[c.listener];
        if (outcome != Outcome::completed) {
            // Give up without leaving TIME-WAIT behind: RST.
            net::set_linger(c.fd, 0);
        }
        switch (outcome) {
        case Outcome::completed: ++l.completed; break;
        case Outcome::gave_up: ++l.gave_up; break;
        case Outcome::failed: ++l.failed; break;
        case Outcome::abandoned: ++l.abandoned; break;
        }
        ::close(c.fd);  // also removes it from the epoll
        c.fd = -1;
    }

    const LoadConfig& config_;
    WeightedPicker picker_;
    std::vector<Conn> conns_;
    std::atomic<uint64_t>& budget_;
    bool budget_exhausted_ = false;
    int64_t end_ns_;
    net::Fd ep_;
    std::vector<ListenerLoad> per_listener_;
    std::map<std::string, uint64_t> connect_errors_, read_errors_;
    bool interrupted_ = false;
};

}  // namespace

LoadResult run_load(const LoadConfig& config) {
    unsigned threads = std::max(1u, std::min(config.threads, config.concurrency));
    std::atomic<uint64_t> budget{config.count};
    int64_t start_ns = monotonic_ns();
    int64_t end_ns = start_ns + config.duration.count() * 1000;
    std::vector<std::unique_ptr<ClientThread>> clients;
    for (unsigned t = 0; t < threads; ++t) {
        unsigned slots = config.concurrency / threads + (t < config.concurrency % threads ? 1 : 0);
        clients.push_back(std::make_unique<ClientThread>(config, slots, budget, end_ns));
    }
    std::vector<std::thread> running;
    std::mutex failure_mutex;
    std::exception_ptr failure;
    for (auto& c : clients)
        running.emplace_back([&, client = c.get()] {
            try {
                client->run();
            } catch (...) {
                std::lock_guard lock(failure_mutex);
                failure = std::current_exception();
            }
        });
    for (auto& t : running) t.join();
    if (failure) std::rethrow_exception(failure);

    LoadResult result;
    result.elapsed_s = static_cast<double>(monotonic_ns() - start_ns) / 1e9;
    result.listeners.resize(config.ports.size());
    for (const auto& c : clients) {
        for (size_t k = 0; k < result.listeners.size(); ++k) {
            const auto& from = c->per_listener()[k];
            auto& to = result.listeners[k];
            to.started += from.started;
            to.completed += from.completed;
            to.gave_up += from.gave_up;
            to.failed += from.failed;
            to.abandoned += from.abandoned;
        }
        for (const auto& [name, n] : c->connect_errors()) result.connect_errors[name] += n;
        for (const auto& [name, n] : c->read_errors()) result.read_errors[name] += n;
        result.interrupted = result.interrupted || c->interrupted();
    }
    return result;
}

}  // namespace sockdrill::scenario::herd
