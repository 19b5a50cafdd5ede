// The event-loop worker: one thread, one poller, level-triggered. A
// keep-alive request costs one read() and one write(), plus a share of the
// poller's wait; timeouts are found by a sweep every 100 ms rather than a
// timer per request, so the hot path touches no timer structure.
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <queue>
#include <thread>

#include "io/poller.hpp"
#include "net/error.hpp"
#include "server/connection.hpp"
#include "server/worker.hpp"

namespace sockdrill::server {

namespace {

constexpr int64_t kSweepUs = 100'000;
constexpr int64_t kAcceptBackoffUs = 100'000;  // after EMFILE/ENFILE
constexpr size_t kScratch = 64 * 1024;
constexpr int kAcceptBatch = 64;
constexpr int64_t kLimitRecheckUs = 20'000;  // at --max-conns, how often to look again

int64_t now_us() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

class EventWorker final : public Worker {
public:
    EventWorker(Shared& shared, std::vector<int> listeners)
        : shared_(shared),
          config_(shared.config),
          protocol_(shared.config, stats_),
          poller_(io::make_poller(shared.config.io)),
          listeners_(std::move(listeners)),
          wake_fd_(static_cast<int>(check(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), "eventfd"))),
          scratch_(new char[kScratch]) {
        if (!poller_->add(wake_fd_.get(), io::kRead))
            throw Error(Exit::environment, "select: descriptor limit reached at start");
        is_epoll_ = config_.io == "epoll";
        mode_ = config_.mode == "http" ? Mode::http : config_.mode == "echo" ? Mode::echo : Mode::discard;
        listening_ = !config_.pause_accept;
        if (listening_) enable_listeners(true);
    }

    void wake() override {
        uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(wake_fd_.get(), &one, sizeof one);
    }

    void snapshot(Snapshot& into) const override {
        into.add(stats_);
        const auto& ps = poller_syscalls_;
        into.syscalls[static_cast<size_t>(wait_call_)] += ps.wait.get();
        if (is_epoll_) into.syscalls[static_cast<size_t>(Syscall::epoll_ctl)] += ps.control.get();
    }

    void run() override {
        wait_call_ = config_.io == "epoll" ? Syscall::epoll_wait
                     : config_.io == "poll" ? Syscall::poll : Syscall::select;
        std::vector<io::Event> events(256);
        now_ = now_us();
        int64_t next_sweep = now_us() + kSweepUs;
        while (true) {
            int timeout = next_timeout(next_sweep);
            int n = poller_->wait(events, timeout);
            publish_poller_syscalls();
            now_ = now_us();
            for (int i = 0; i < n; ++i) dispatch(events[i]);
            fire_delays();
            if (listen_resume_at_ && now_ >= listen_resume_at_) resume_listeners_if_due();
            if (now_ >= next_sweep) {
                sweep();
                next_sweep = now_ + kSweepUs;
            }
            if (shared_.stopping.load(std::memory_order_relaxed) && !draining_) begin_drain();
            if (draining_ && (open_ == 0 || now_ >= drain_deadline_)) break;
        }
        for (size_t fd = 0; fd < conns_.size(); ++fd)
            if (conns_[fd]) close_now(*conns_[fd], CloseReason::server_shutdown);
    }

private:
    // --- loop plumbing -------------------------------------------------

    int next_timeout(int64_t next_sweep) {
        int64_t now = now_us();
        int64_t until = next_sweep;
        if (!delays_.empty()) until = std::min(until, delays_.top().at);
        if (!listening_ && listen_resume_at_) until = std::min(until, listen_resume_at_);
        // With nothing to time out, sleep until woken.
        if (open_ == 0 && delays_.empty() && !listen_resume_at_ && !draining_) return -1;
        return static_cast<int>(std::max<int64_t>(0, (until - now + 999) / 1000));
    }

    void publish_poller_syscalls() {
        const auto& s = poller_->syscalls();
        poller_syscalls_.wait.add(s.wait - published_.wait);
        poller_syscalls_.control.add(s.control - published_.control);
        published_ = s;
    }

    void dispatch(const io::Event& ev) {
        if (ev.fd == wake_fd_.get()) {
            uint64_t value;
            [[maybe_unused]] auto n = ::read(wake_fd_.get(), &value, sizeof value);
            return;
        }
        if (std::find(listeners_.begin(), listeners_.end(), ev.fd) != listeners_.end()) {
            accept_from(ev.fd);
            return;
        }
        if (static_cast<size_t>(ev.fd) >= conns_.size() || !conns_[ev.fd]) return;
        Connection& c = *conns_[ev.fd];
        if (ev.hangup && !(c.interest & io::kRead) && !c.output_pending()) {
            // Error or hang-up on a connection that is not reading (stalled,
            // delaying): epoll reports it whatever the interest, level-triggered,
            // so it must be closed now or the loop would spin on it.
            int err = 0;
            socklen_t len = sizeof err;
            ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err) stats_.error(Phase::read, err);
            close_now(c, err == ECONNRESET ? CloseReason::peer_rst : err ? CloseReason::error : CloseReason::peer_fin);
            return;
        }
        if (ev.writable || (ev.hangup && c.output_pending())) {
            on_writable(c);
            if (!conns_[ev.fd]) return;  // the write failed and closed it
        }
        if (c.state != ConnState::closed && (ev.readable || ev.hangup) && (c.interest & io::kRead))
            on_readable(c);
    }

    void enable_listeners(bool on) {
        for (int fd : listeners_) {
            if (on) {
                // EPOLLEXCLUSIVE: a listener shared by workers wakes one of them.
                if (!poller_->add(fd, io::kRead, config_.workers > 1 && !config_.reuseport))
                    throw Error(Exit::environment, "select: listener descriptor >= FD_SETSIZE");
            } else {
                poller_->remove(fd);
            }
        }
        listening_ = on;
    }

    void pause_listeners(int64_t until) {
        if (listening_) enable_listeners(false);
        listen_resume_at_ = until;
    }

    void resume_listeners_if_due() {
        if (listening_ || config_.pause_accept || draining_) return;
        if (listen_resume_at_ && now_ < listen_resume_at_) return;
        if (at_connection_limit()) {
            // --max-conns counts every worker's connections, and another
            // worker's close does not wake this one: look again shortly.
            listen_resume_at_ = now_ + kLimitRecheckUs;
            return;
        }
        listen_resume_at_ = 0;
        enable_listeners(true);
    }

    bool at_connection_limit() const {
        return config_.max_conns &&
               shared_.open_connections.load() >= static_cast<int64_t>(config_.max_conns);
    }

    // --- accepting -----------------------------------------------------

    void accept_from(int listener) {
        for (int i = 0; i < kAcceptBatch; ++i) {
            if (at_connection_limit()) {
                pause_listeners(now_ + kLimitRecheckUs);  // or sooner, when one of ours closes
                return;
            }
            if (config_.accept_delay.count() > 0 && now_ < next_accept_) {
                pause_listeners(next_accept_);
                return;
            }
            stats_.syscall(Syscall::accept4);
            int fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                int err = errno;
                if (err == EAGAIN || err == EINTR) return;
                stats_.error(Phase::accept, err);
                if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
                    // Level-triggered accept would spin on a full descriptor
                    // table: stop listening for a while; the backlog holds.
                    stats_.accept_backoffs.add();
                    pause_listeners(now_ + kAcceptBackoffUs);
                    return;
                }
                if (err == ECONNABORTED) continue;
                return;
            }
            stats_.accepted.add();
            if (!poller_->add(fd, io::kRead)) {
                // select(): FD_SET on fd >= FD_SETSIZE would corrupt memory.
                shared_.fd_setsize_refusals.fetch_add(1);
                stats_.close(CloseReason::error);
                protocol_.close_fd(fd);
                continue;
            }
            protocol_.configure_accepted(fd);
            if (static_cast<size_t>(fd) >= conns_.size()) conns_.resize(fd + 1024);
            auto c = std::make_unique<Connection>();
            c->fd = fd;
            c->interest = io::kRead;
            c->deadline_us = now_ + config_.header_timeout.count();
            c->last_progress_us = now_;
            conns_[fd] = std::move(c);
            ++open_;
            shared_.open_connections.fetch_add(1);
            if (config_.accept_delay.count() > 0) {
                next_accept_ = now_ + config_.accept_delay.count();
                pause_listeners(next_accept_);
                return;
            }
        }
    }

    // --- connections ---------------------------------------------------

    void on_readable(Connection& c) {
        size_t want = kScratch;
        if (config_.stall_after) want = std::min<uint64_t>(want, *config_.stall_after - c.bytes_read);
        long n = protocol_.read(c.fd, scratch_.get(), want);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) return;
            int err = errno;
            stats_.error(Phase::read, err);
            close_now(c, err == ECONNRESET ? CloseReason::peer_rst : CloseReason::error);
            return;
        }
        if (n == 0) {
            // Peer's FIN. A lingering close ends here too (clean drain).
            close_now(c, c.state == ConnState::lingering ? c.close_reason : CloseReason::peer_fin);
            return;
        }
        c.bytes_read += static_cast<uint64_t>(n);
        c.last_progress_us = now_;
        std::string_view data(scratch_.get(), static_cast<size_t>(n));
        if (c.state == ConnState::lingering || mode_ == Mode::discard) {
            // Input is drained and dropped.
        } else if (mode_ == Mode::echo) {
            protocol_.echo(c, data);
        } else if (c.in.empty()) {
            size_t used = protocol_.process(c, data, now_, draining_);
            if (used < data.size()) c.in.assign(data.substr(used));
        } else {
            c.in.append(data);
            consume_buffered(c);
        }
        if (config_.stall_after && c.bytes_read >= *config_.stall_after && c.state == ConnState::reading)
            c.state = ConnState::stalled;
        after_io(c);
    }

    // Parses input kept from earlier reads (pipelined or split requests).
    void consume_buffered(Connection& c) {
        size_t used = protocol_.process(c, c.in, now_, draining_);
        c.in.erase(0, used);
        if (c.in.empty()) std::string().swap(c.in);
    }

    void on_writable(Connection& c) {
        c.last_progress_us = now_;
        after_io(c);
    }

    // Flushes output, then decides what the connection waits for next.
    void after_io(Connection& c) {
        while (true) {
            if (c.output_pending()) {
                int err = 0;
                auto result = protocol_.flush(c, err);
                if (result == Flush::failed) {
                    close_now(c, err == ECONNRESET ? CloseReason::peer_rst : CloseReason::error);
                    return;
                }
                if (result == Flush::would_block) {
                    set_interest(c, io::kWrite);
                    return;
                }
            }
            if (c.close_after_write) {
                begin_close(c);
                return;
            }
            // Pipelined requests held back while output was pending.
            if (c.state == ConnState::reading && !c.in.empty() && mode_ == Mode::http) {
                size_t before = c.in.size();
                consume_buffered(c);
                if (c.output_pending() || c.close_after_write) continue;
                if (c.in.size() == before) break;
                continue;
            }
            break;
        }
        if (c.state == ConnState::delaying) {
            delays_.push({now_ + c.plan.delay_us, c.fd, c.requests});
            set_interest(c, io::kNone);
            return;
        }
        if (c.state == ConnState::stalled) {
            set_interest(c, io::kNone);
            return;
        }
        if (c.idle()) c.deadline_us = draining_ ? now_ : now_ + config_.keepalive_timeout.count();
        set_interest(c, io::kRead);
    }

    void set_interest(Connection& c, uint8_t interest) {
        if (c.interest == interest) return;
        poller_->modify(c.fd, interest);
        c.interest = interest;
    }

    void fire_delays() {
        while (!delays_.empty() && delays_.top().at <= now_) {
            Delay d = delays_.top();
            delays_.pop();
            if (static_cast<size_t>(d.fd) >= conns_.size() || !conns_[d.fd]) continue;
            Connection& c = *conns_[d.fd];
            if (c.state != ConnState::delaying || c.requests != d.request) continue;
            protocol_.resume_after_delay(c, draining_);
            after_io(c);
        }
    }

    // Server-side close, as --close says: FIN, RST, or shutdown+drain.
    void begin_close(Connection& c) {
        CloseReason reason = c.close_reason;
        if (c.abort_after_write || config_.close == "abortive") {
            protocol_.set_abortive(c.fd);
            close_now(c, reason);
        } else if (config_.close == "lingering" && c.state != ConnState::lingering) {
            // Apache's lingering close: the RST that close() with unread input
            // would send could destroy the response the client has not read.
            protocol_.shutdown_write(c.fd);
            c.state = ConnState::lingering;
            c.close_after_write = false;
            c.deadline_us = now_ + config_.lingering_timeout.count();
            std::string().swap(c.in);
            set_interest(c, io::kRead);
        } else {
            close_now(c, reason);
        }
    }

    void close_now(Connection& c, CloseReason reason) {
        int fd = c.fd;
        stats_.close(reason);
        // close() removes the descriptor from epoll; poll/select keep a table.
        if (!is_epoll_) poller_->remove(fd);
        protocol_.close_fd(fd);
        c.state = ConnState::closed;
        conns_[fd].reset();
        --open_;
        shared_.open_connections.fetch_sub(1);
        if (!listening_ && !draining_ && !config_.pause_accept && config_.max_conns &&
            now_ >= next_accept_) {
            listen_resume_at_ = 0;
            resume_listeners_if_due();
        }
    }

    void sweep() {
        resume_listeners_if_due();
        for (size_t fd = 0; fd < conns_.size(); ++fd) {
            if (!conns_[fd]) continue;
            Connection& c = *conns_[fd];
            if (draining_ && c.idle()) {
                close_now(c, CloseReason::server_shutdown);
                continue;
            }
            if (c.state == ConnState::stalled || c.state == ConnState::delaying) continue;
            if (c.output_pending()) {
                // A peer that stopped reading: a send timeout, as nginx's send_timeout.
                if (now_ - c.last_progress_us > config_.keepalive_timeout.count()) {
                    stats_.error(Phase::write, ETIMEDOUT);
                    close_now(c, CloseReason::error);
                }
                continue;
            }
            if (!c.deadline_us || now_ < c.deadline_us) continue;
            if (c.state == ConnState::lingering) {
                close_now(c, c.close_reason);
            } else if (c.idle()) {
                begin_close_with(c, c.requests == 0 ? CloseReason::header_timeout : CloseReason::idle_timeout);
            } else {
                // A head or body that did not arrive in time: 408, then close.
                protocol_.respond_error(c, 408);
                after_io(c);
            }
        }
    }

    void begin_close_with(Connection& c, CloseReason reason) {
        c.close_reason = reason;
        if (config_.close == "lingering") begin_close(c);
        else close_now(c, reason);
    }

    void begin_drain() {
        draining_ = true;
        drain_deadline_ = now_ + config_.drain_timeout.count();
        if (listening_) enable_listeners(false);
        listen_resume_at_ = 0;
        for (size_t fd = 0; fd < conns_.size(); ++fd)
            if (conns_[fd] && conns_[fd]->idle()) close_now(*conns_[fd], CloseReason::server_shutdown);
    }

    struct Delay {
        int64_t at;
        int fd;
        uint32_t request;
        bool operator>(const Delay& o) const { return at > o.at; }
    };

    enum class Mode { http, echo, discard };

    Shared& shared_;
    const Config& config_;
    bool is_epoll_ = true;
    Mode mode_ = Mode::http;
    Stats stats_;
    Protocol protocol_;
    std::unique_ptr<io::Poller> poller_;
    std::vector<int> listeners_;
    net::Fd wake_fd_;
    std::unique_ptr<char[]> scratch_;
    std::vector<std::unique_ptr<Connection>> conns_;  // indexed by fd
    std::priority_queue<Delay, std::vector<Delay>, std::greater<>> delays_;
    int64_t open_ = 0;
    int64_t now_ = 0;
    bool listening_ = false;
    int64_t listen_resume_at_ = 0;
    int64_t next_accept_ = 0;
    bool draining_ = false;
    int64_t drain_deadline_ = 0;
    Syscall wait_call_ = Syscall::epoll_wait;
    struct {
        Counter wait, control;
    } poller_syscalls_;
    io::PollerSyscalls published_;
};

}  // namespace

std::unique_ptr<Worker> make_event_worker(Shared& shared, std::vector<int> listeners) {
    return std::make_unique<EventWorker>(shared, std::move(listeners));
}

}  // namespace sockdrill::server
