// --io threads: the classic blocking server. An acceptor thread per worker
// waits in poll() on the listeners (so it can be woken to stop) and starts
// one thread per connection, which blocks in read() and write().
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <condition_variable>
#include <list>
#include <mutex>
#include <thread>

#include "net/error.hpp"
#include "net/sockopt.hpp"
#include "server/connection.hpp"
#include "server/worker.hpp"

namespace sockdrill::server {

namespace {

int64_t now_us() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

class ThreadWorker final : public Worker {
public:
    ThreadWorker(Shared& shared, std::vector<int> listeners)
        : shared_(shared),
          config_(shared.config),
          listeners_(std::move(listeners)),
          wake_fd_(static_cast<int>(check(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), "eventfd"))) {}

    void wake() override {
        uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(wake_fd_.get(), &one, sizeof one);
    }

    void snapshot(Snapshot& into) const override {
        std::lock_guard lock(mutex_);
        into.add(retired_);
        into.add(acceptor_stats_);
        for (const auto& t : threads_) into.add(t.stats);
    }

    void run() override {
        accept_loop();
        // Drain: idle connections are told to stop now (SHUT_RD wakes their
        // read()), busy ones get until the drain deadline.
        auto deadline = std::chrono::steady_clock::now() + config_.drain_timeout;
        std::unique_lock lock(mutex_);
        for (auto& t : threads_)
            if (t.idle.load()) ::shutdown(t.fd, SHUT_RD);
        if (!done_.wait_until(lock, deadline, [&] { return threads_.empty(); })) {
            for (auto& t : threads_) ::shutdown(t.fd, SHUT_RDWR);
            done_.wait(lock, [&] { return threads_.empty(); });
        }
    }

private:
    struct ConnThread {
        int fd = -1;
        std::atomic<bool> idle{true};
        Stats stats;
    };

    void accept_loop() {
        std::vector<pollfd> fds;
        fds.push_back({wake_fd_.get(), POLLIN, 0});
        if (!config_.pause_accept)
            for (int l : listeners_) fds.push_back({l, POLLIN, 0});
        int64_t next_accept = 0;
        while (!shared_.stopping.load()) {
            int timeout = -1;
            bool full = config_.max_conns &&
                        shared_.open_connections.load() >= static_cast<int64_t>(config_.max_conns);
            int64_t wait_for_delay = next_accept - now_us();
            bool accepting = !full && wait_for_delay <= 0;
            if (!accepting) timeout = full ? 50 : static_cast<int>(wait_for_delay / 1000 + 1);
            acceptor_stats_.syscall(Syscall::poll);
            int n = ::poll(fds.data(), accepting ? fds.size() : 1, timeout);
            if (n <= 0 || !accepting) continue;
            for (size_t i = 1; i < fds.size(); ++i) {
                if (!(fds[i].revents & POLLIN)) continue;
                acceptor_stats_.syscall(Syscall::accept4);
                int fd = ::accept4(fds[i].fd, nullptr, nullptr, SOCK_CLOEXEC);
                if (fd < 0) {
                    int err = errno;
                    if (err == EAGAIN || err == EINTR || err == ECONNABORTED) continue;
                    acceptor_stats_.error(Phase::accept, err);
                    if (err == EMFILE || err == ENFILE) {
                        acceptor_stats_.accept_backoffs.add();
                        std::this_thread::sleep_for(std::chrono::milliseconds(100));
                    }
                    continue;
                }
                acceptor_stats_.accepted.add();
                start_connection(fd);
                if (config_.accept_delay.count() > 0) {
                    next_accept = now_us() + config_.accept_delay.count();
                    break;
                }
            }
        }
    }

    void start_connection(int fd) {
        ConnThread* slot;
        {
            std::lock_guard lock(mutex_);
            threads_.emplace_back();
            slot = &threads_.back();
            slot->fd = fd;
        }
        shared_.open_connections.fetch_add(1);
        try {
            std::thread([this, slot] { serve_connection(*slot); }).detach();
        } catch (const std::system_error&) {
            // Out of threads: the connection is refused, the server goes on.
            acceptor_stats_.error(Phase::accept, EAGAIN);
            acceptor_stats_.close(CloseReason::error);
            ::close(fd);
            finish(slot);
        }
    }

    void finish(ConnThread* slot) {
        shared_.open_connections.fetch_sub(1);
        std::lock_guard lock(mutex_);
        retired_.add(slot->stats);
        for (auto it = threads_.begin(); it != threads_.end(); ++it)
            if (&*it == slot) {
                threads_.erase(it);
                break;
            }
        done_.notify_all();
    }

    void serve_connection(ConnThread& slot) {
        Protocol protocol(config_, slot.stats);
        Connection c;
        c.fd = slot.fd;
        protocol.configure_accepted(c.fd);
        // SO_RCVTIMEO turns a blocked read() into a timeout check; set once.
        auto tick = std::min(config_.header_timeout, config_.keepalive_timeout);
        slot.stats.syscall(Syscall::setsockopt);
        net::set_rcvtimeo(c.fd, std::max(tick, cli::Duration(10000)));
        std::string buf(64 * 1024, '\0');
        int64_t idle_since = now_us();
        CloseReason reason = CloseReason::peer_fin;
        bool abortive = false;
        while (true) {
            slot.idle = c.in.empty();
            if (shared_.stopping.load() && c.idle()) {
                reason = CloseReason::server_shutdown;
                break;
            }
            size_t want = buf.size();
            if (config_.stall_after) {
                if (c.bytes_read >= *config_.stall_after) {
                    // Stalled: hold the connection without reading until shutdown.
                    std::this_thread::sleep_for(std::chrono::milliseconds(100));
                    if (shared_.stopping.load()) { reason = CloseReason::server_shutdown; break; }
                    continue;
                }
                want = std::min<uint64_t>(want, *config_.stall_after - c.bytes_read);
            }
            long n = protocol.read(c.fd, buf.data(), want);
            int64_t now = now_us();
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                if (c.idle() && now - idle_since >= config_.keepalive_timeout.count()) {
                    reason = c.requests ? CloseReason::idle_timeout : CloseReason::header_timeout;
                    break;
                }
                if (!c.idle() && now - idle_since >= config_.header_timeout.count()) {
                    protocol.respond_error(c, 408);
                } else {
                    continue;
                }
            } else if (n < 0) {
                slot.stats.error(Phase::read, errno);
                reason = errno == ECONNRESET ? CloseReason::peer_rst : CloseReason::error;
                break;
            } else if (n == 0) {
                reason = shared_.stopping.load() ? CloseReason::server_shutdown : CloseReason::peer_fin;
                break;
            } else {
                slot.idle = false;
                c.bytes_read += static_cast<uint64_t>(n);
                std::string_view data(buf.data(), static_cast<size_t>(n));
                if (config_.mode == "echo") protocol.echo(c, data);
                if (config_.mode == "http") {
                    if (c.in.empty()) idle_since = now;
                    c.in.append(data);
                }
            }
            // Answer every complete request, sleeping through delays.
            bool failed = false;
            while (!failed) {
                if (config_.mode == "http" && c.state == ConnState::reading && !c.in.empty()) {
                    size_t used = protocol.process(c, c.in, now, shared_.stopping.load());
                    c.in.erase(0, used);
                }
                if (c.state == ConnState::delaying) {
                    if (!sleep_unless_shut_down(slot.stats, c.fd, c.plan.delay_us)) {
                        reason = CloseReason::server_shutdown;
                        failed = true;
                        break;
                    }
                    protocol.resume_after_delay(c, shared_.stopping.load());
                }
                if (!c.output_pending()) break;
                int err = 0;
                if (protocol.flush(c, err) == Flush::failed) {
                    reason = err == ECONNRESET ? CloseReason::peer_rst : CloseReason::error;
                    failed = true;
                }
                if (c.close_after_write) break;
            }
            if (failed) break;
            if (c.close_after_write) {
                reason = c.close_reason;
                abortive = c.abort_after_write || config_.close == "abortive";
                if (!abortive && config_.close == "lingering") {
                    linger_drain(protocol, c, buf);
                }
                break;
            }
            if (c.in.empty()) idle_since = now_us();
        }
        if (abortive) protocol.set_abortive(c.fd);
        slot.stats.close(reason);
        protocol.close_fd(c.fd);
        finish(&slot);
    }

    // Waits out a response delay in poll() rather than sleep(), so the drain's
    // shutdown() of the socket (POLLHUP, reported whatever the events) ends
    // it at once. False when the socket was shut down.
    static bool sleep_unless_shut_down(Stats& stats, int fd, int64_t delay_us) {
        int64_t end = now_us() + delay_us;
        for (int64_t left = delay_us; left > 0; left = end - now_us()) {
            pollfd p{fd, 0, 0};
            stats.syscall(Syscall::poll);
            if (::poll(&p, 1, static_cast<int>((left + 999) / 1000)) > 0) return false;
        }
        return true;
    }

    // shutdown(SHUT_WR), then read and drop input until EOF or the timeout.
    void linger_drain(Protocol& protocol, Connection& c, std::string& buf) {
        protocol.shutdown_write(c.fd);
        int64_t deadline = now_us() + config_.lingering_timeout.count();
        while (now_us() < deadline) {
            long n = protocol.read(c.fd, buf.data(), buf.size());
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return;
        }
    }

    Shared& shared_;
    const Config& config_;
    std::vector<int> listeners_;
    net::Fd wake_fd_;
    mutable std::mutex mutex_;
    std::condition_variable done_;
    std::list<ConnThread> threads_;
    Snapshot retired_;
    Stats acceptor_stats_;
};

}  // namespace

std::unique_ptr<Worker> make_thread_worker(Shared& shared, std::vector<int> listeners) {
    return std::make_unique<ThreadWorker>(shared, std::move(listeners));
}

}  // namespace sockdrill::server
