// The churn loop. What it keeps per connection is the syscall budget of the
// issue: socket, connect, send, epoll_ctl, recv, close, and a share of
// epoll_pwait2. The tricks that get it there:
//  - SOCK_NONBLOCK|SOCK_CLOEXEC in socket(): no fcntl.
//  - The request goes out right after connect() returns EINPROGRESS, without
//    waiting for EPOLLOUT. On loopback and veth the SYN, SYN-ACK and ACK are
//    all processed before connect() returns (the softirq runs when the
//    sender re-enables bottom halves, and release_sock() applies the
//    SYN-ACK), so the guess almost always holds. When it does not (a real
//    network), send() says EAGAIN and the connection waits for EPOLLOUT; the
//    guess is then dropped until it starts paying again.
//  - A failed connect is read from send()'s errno (sk_stream_wait_connect
//    returns the pending socket error), never with getsockopt(SO_ERROR).
//  - One epoll_ctl(ADD) per connection, edge-triggered, EPOLLOUT only when a
//    write has to wait: closing the socket removes it from the epoll set.
//  - One recv() per response: a short read drained the receive queue, and
//    with EPOLLET new data raises a new edge, so no read until EAGAIN.
//  - EPOLLRDHUP reports the server's FIN with the data it follows, so the
//    close=server mode needs no read() that returns 0.
#include "load/churn_worker.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cmath>

#include <fmt/format.h>

#include "cli/signals.hpp"
#include "net/error.hpp"

namespace sockdrill::load::detail {

namespace {

constexpr size_t kReadBuffer = 64 * 1024;
constexpr int kMaxEvents = 256;
constexpr int64_t kNsPerUs = 1000;
constexpr int64_t kNsPerS = 1'000'000'000;
// The loop wakes at least this often to see a stop request.
constexpr int64_t kStopCheckNs = 50'000'000;
// An open-loop start this far behind its schedule is late.
constexpr int64_t kLateNs = 1'000'000;
// Speculative writes: credit gained per hit, lost per miss, and how often a
// guess is tried anyway once the credit is gone.
constexpr int kMaxSpeculationCredit = 16;
constexpr int kSpeculationMissCost = 4;
constexpr uint32_t kSpeculationProbeEvery = 64;

constexpr uint32_t kPeerClosed = EPOLLRDHUP | EPOLLHUP;

int64_t to_ns(Duration d) {
    return d.count() * kNsPerUs;
}
uint64_t to_us(int64_t ns) {
    return ns > 0 ? static_cast<uint64_t>(ns / kNsPerUs) : 0;
}

bool peer_fin_only(uint32_t events) {
    return (events & EPOLLRDHUP) && !(events & EPOLLERR);
}

}  // namespace

int64_t monotonic_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * kNsPerS + ts.tv_nsec;
}

// --- set-up and the loop -------------------------------------------------

ChurnWorker::ChurnWorker(const ChurnConfig& config, const WorkerPlan& plan, int64_t run_start_ns,
                         int64_t run_end_ns, const std::atomic<bool>& stop, LiveCells& live,
                         ChurnStats& stats)
    : config_(config),
      plan_(plan),
      run_start_ns_(run_start_ns),
      run_end_ns_(run_end_ns),
      stop_(stop),
      live_(live),
      stats_(stats),
      epoll_(::epoll_create1(EPOLL_CLOEXEC)),
      conns_(plan.slots),
      buffer_(std::make_unique<char[]>(kReadBuffer)) {
    if (!epoll_) throw Error::system("epoll_create1", errno);
    free_.reserve(conns_.size());
    for (auto it = conns_.rbegin(); it != conns_.rend(); ++it) free_.push_back(&*it);
    if (config.payload == Payload::echo) {
        request_.resize(config.echo_size);
        for (size_t i = 0; i < request_.size(); ++i) request_[i] = static_cast<char>('a' + i % 26);
        last_request_ = request_;
    } else {
        std::string host = config.http_host.empty() ? config.target.to_string() : config.http_host;
        request_ = fmt::format("GET {} HTTP/1.1\r\nHost: {}\r\n\r\n", config.http_path, host);
        last_request_ =
            config.close == CloseMode::server
                ? fmt::format("GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                              config.http_path, host)
                : request_;
    }
}

void ChurnWorker::run() {
    epoll_event events[kMaxEvents];
    while (true) {
        tick();
        if (stop_requested()) return abandon_all();
        if (!draining_ && run_end_ns_ && now_ >= run_end_ns_) {
            draining_ = true;
            drain_end_ns_ = now_ + to_ns(config_.drain_timeout);
        }
        if (draining_ && now_ >= drain_end_ns_) return abandon_all();
        expire(connect_timers_);
        expire(io_timers_);
        start_due();
        if (in_flight_ == 0 && !may_start()) return;
        int ready = wait(events, kMaxEvents, next_wakeup_ns());
        for (int i = 0; i < ready; ++i)
            on_event(*static_cast<Conn*>(events[i].data.ptr), events[i].events);
    }
}

int64_t ChurnWorker::tick() {
    return now_ = monotonic_ns();
}

bool ChurnWorker::stop_requested() const {
    return stop_.load(std::memory_order_relaxed) ||
           (config_.stop_on_signal && cli::stop_requested());
}

// Closed loop starts nothing once the duration is over. Open loop starts
// every connection scheduled before the end, even if the loop only gets to
// it after the end (a busy CPU must not thin out the schedule).
bool ChurnWorker::may_start() const {
    if (started_ >= plan_.quota) return false;
    if (plan_.rate <= 0) return !draining_;
    return !run_end_ns_ || next_scheduled_ns() < run_end_ns_;
}

int64_t ChurnWorker::next_scheduled_ns() const {
    return plan_.first_start_ns +
           std::llround(static_cast<double>(scheduled_) * kNsPerS / plan_.rate);
}

int64_t ChurnWorker::next_wakeup_ns() const {
    int64_t wake = now_ + kStopCheckNs;
    if (run_end_ns_ && !draining_) wake = std::min(wake, run_end_ns_);
    if (draining_) wake = std::min(wake, drain_end_ns_);
    for (const DeadlineList* list : {&connect_timers_, &io_timers_})
        if (list->head) wake = std::min(wake, list->head->deadline_ns);
    if (may_start() && !free_.empty()) {
        if (plan_.rate <= 0) return 0;  // the start budget ran out: more to start at once
        wake = std::min(wake, next_scheduled_ns());
    }
    return std::max<int64_t>(0, wake - now_);
}

int ChurnWorker::wait(epoll_event* events, int max_events, int64_t timeout_ns) {
    count(Syscall::epoll_wait);
    return detail::wait_events(epoll_.get(), events, max_events, timeout_ns);
}

// --- starting connections ------------------------------------------------

void ChurnWorker::start_due() {
    // At most one start per slot per turn of the loop: connections that fail
    // at once (EADDRNOTAVAIL) must not keep the loop from its events.
    for (size_t budget = conns_.size(); budget > 0 && may_start() && !free_.empty(); --budget) {
        int64_t origin = now_;
        if (plan_.rate > 0) {
            origin = next_scheduled_ns();
            if (origin > now_) break;
            ++scheduled_;
            if (now_ - origin > kLateNs) ++stats_.late_starts;
        }
        Conn& c = *free_.back();
        free_.pop_back();
        start(c, origin);
    }
}

void ChurnWorker::start(Conn& c, int64_t origin_ns) {
    ++started_;
    ++in_flight_;
    ++stats_.started;
    LiveCells::bump(live_.started);
    c.start_ns = tick();
    c.origin_ns = std::min(origin_ns, c.start_ns);
    c.exchange = 0;
    c.sent = c.received = 0;
    c.connected = c.first_byte = c.registered = c.watching_write = false;
    c.scanner.reset();

    count(Syscall::socket);
    int fd = ::socket(config_.target.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail(c, Phase::socket, errno);
    c.fd.reset(fd);
    c.state = Conn::State::connecting;
    if (!bind_source(c)) return;
    count(Syscall::connect);
    if (::connect(fd, config_.target.sa(), config_.target.len()) < 0 && errno != EINPROGRESS)
        return fail(c, Phase::connect, errno);
    arm(c, connect_timers_, to_ns(config_.connect_timeout));
    if (speculate()) {
        c.speculative = true;
        send_request(c);
    } else {
        watch(c, true);
    }
}

// Sources rotate per connection; IP_BIND_ADDRESS_NO_PORT leaves the port to
// connect(), which can then share a port among different destinations
// instead of reserving one at bind() time.
bool ChurnWorker::bind_source(Conn& c) {
    int fd = c.fd.get();
    int on = 1;
    if (config_.reuseaddr) {
        count(Syscall::setsockopt);
        if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0) {
            fail(c, Phase::bind, errno);
            return false;
        }
    }
    if (config_.sources.empty()) return true;
    if (config_.bind_no_port) {
        count(Syscall::setsockopt);
        if (::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on, sizeof on) < 0) {
            fail(c, Phase::bind, errno);
            return false;
        }
    }
    const net::Address& source =
        config_.sources[(plan_.index + next_source_++) % config_.sources.size()];
    count(Syscall::bind);
    if (::bind(fd, source.sa(), source.len()) < 0) {
        fail(c, Phase::bind, errno);
        return false;
    }
    return true;
}

bool ChurnWorker::speculate() {
    return speculation_credit_ > 0 || ++speculation_probe_ % kSpeculationProbeEvery == 0;
}

void ChurnWorker::note_speculation(bool hit) {
    speculation_credit_ = hit ? std::min(speculation_credit_ + 1, kMaxSpeculationCredit)
                              : std::max(speculation_credit_ - kSpeculationMissCost, 0);
}

// --- events --------------------------------------------------------------

void ChurnWorker::on_event(Conn& c, uint32_t events) {
    switch (c.state) {
        case Conn::State::connecting:
        case Conn::State::writing:
            // The write itself reports a failed connect or a reset.
            if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) send_request(c);
            return;
        case Conn::State::reading:
            if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) read_response(c, events);
            return;
        case Conn::State::awaiting_eof:
            return await_eof(c, events, true);
        case Conn::State::free:
            return;
    }
}

void ChurnWorker::send_request(Conn& c) {
    const std::string& request = request_for(c);
    while (c.sent < request.size()) {
        int64_t before = tick();
        count(Syscall::send);
        ssize_t n =
            ::send(c.fd.get(), request.data() + c.sent, request.size() - c.sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (c.speculative) {
            c.speculative = false;
            note_speculation(n >= 0 || errno != EAGAIN);
        }
        if (n < 0) {
            int err = errno;
            if (err == EAGAIN) return wait_writable(c);
            // Before the connection is known to be up, an error is the
            // connect's (ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH); a reset or
            // EPIPE means it was up and the server dropped it.
            bool established = c.connected || err == ECONNRESET || err == EPIPE;
            return fail(c, established ? Phase::write : Phase::connect, err);
        }
        if (!c.connected) {
            c.connected = true;
            stats_.connect.record(to_us(before - c.start_ns));
        }
        c.sent += static_cast<uint64_t>(n);
        stats_.bytes_sent += static_cast<uint64_t>(n);
    }
    c.sent = c.received = 0;
    c.scanner.reset();
    c.state = Conn::State::reading;
    arm(c, io_timers_, to_ns(config_.io_timeout));
    watch(c, false);
}

void ChurnWorker::wait_writable(Conn& c) {
    if (c.connected && c.state != Conn::State::writing) {
        c.state = Conn::State::writing;
        arm(c, io_timers_, to_ns(config_.io_timeout));
    }
    watch(c, true);
}

// Adds the socket to the epoll set on first use; EPOLLOUT is asked for only
// when a write waits, since an edge for writability otherwise wakes the loop
// for nothing.
bool ChurnWorker::watch(Conn& c, bool want_write) {
    if (c.registered && (c.watching_write || !want_write)) return true;
    epoll_event event{};
    event.events = EPOLLIN | EPOLLRDHUP | EPOLLET | (want_write ? EPOLLOUT : 0u);
    event.data.ptr = &c;
    int op = c.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    count(Syscall::epoll_ctl);
    if (::epoll_ctl(epoll_.get(), op, c.fd.get(), &event) < 0) {
        fail(c, c.connected ? Phase::write : Phase::connect, errno);
        return false;
    }
    c.registered = true;
    c.watching_write = want_write;
    return true;
}

void ChurnWorker::read_response(Conn& c, uint32_t events) {
    char* buffer = buffer_.get();
    while (true) {
        count(Syscall::recv);
        ssize_t n = ::recv(c.fd.get(), buffer, kReadBuffer, 0);
        if (n > 0) {
            if (!c.first_byte && c.exchange == 0) stats_.ttfb.record(to_us(tick() - c.start_ns));
            c.first_byte = true;
            stats_.bytes_received += static_cast<uint64_t>(n);
            auto status = consume(c, buffer, static_cast<size_t>(n));
            if (status == http::ResponseScanner::Status::complete) return exchange_done(c, events);
            if (status == http::ResponseScanner::Status::error) return fail(c, Phase::read, EPROTO);
            if (static_cast<size_t>(n) == kReadBuffer) continue;
            // A short read emptied the queue. If the FIN was already in it,
            // this is the end of the stream: no read() returning 0 needed.
            if (peer_fin_only(events)) return end_of_stream(c, events);
            return;
        }
        if (n == 0) return end_of_stream(c, events);
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return;
        return fail(c, Phase::read, errno);
    }
}

http::ResponseScanner::Status ChurnWorker::consume(Conn& c, const char* data, size_t size) {
    if (config_.payload == Payload::echo) {
        c.received += size;
        return c.received >= config_.echo_size ? http::ResponseScanner::Status::complete
                                               : http::ResponseScanner::Status::more;
    }
    auto step = c.scanner.feed({data, size});
    if (step.status == http::ResponseScanner::Status::complete &&
        (c.scanner.status_code() < 200 || c.scanner.status_code() > 299))
        ++stats_.non_2xx;
    return step.status;
}

// The server closed while a response was still expected: complete only for
// an HTTP body that ends at the close.
void ChurnWorker::end_of_stream(Conn& c, uint32_t events) {
    if (config_.payload == Payload::http &&
        c.scanner.finish_at_eof() == http::ResponseScanner::Status::complete)
        return exchange_done(c, (events & ~EPOLLERR) | EPOLLRDHUP);
    fail(c, Phase::read, 0);
}

void ChurnWorker::exchange_done(Conn& c, uint32_t events) {
    ++stats_.exchanges;
    if (++c.exchange < config_.exchanges) {
        c.state = Conn::State::writing;
        arm(c, io_timers_, to_ns(config_.io_timeout));
        return send_request(c);
    }
    if (config_.close == CloseMode::server) return await_eof(c, events, false);
    if (config_.close == CloseMode::linger0) {
        // SO_LINGER {1, 0}: close() sends RST and skips TIME-WAIT (tcp_close ->
        // tcp_disconnect), the abortive close of the seed story.
        linger abortive{1, 0};
        count(Syscall::setsockopt);
        if (::setsockopt(c.fd.get(), SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive) < 0)
            return fail(c, Phase::close, errno);
    }
    complete(c);
}

// close=server: the server's FIN ends the connection cleanly, its RST is an
// error of the close phase. `from_event`: these events are new; otherwise
// they are the ones that delivered the last response.
void ChurnWorker::await_eof(Conn& c, uint32_t events, bool from_event) {
    if (events & EPOLLERR) {
        count(Syscall::recv);
        ssize_t n = ::recv(c.fd.get(), buffer_.get(), kReadBuffer, 0);
        if (n == 0) return complete(c);
        return fail(c, Phase::close, n < 0 ? errno : EPROTO);
    }
    if (events & kPeerClosed) return complete(c);
    if (!from_event) {
        c.state = Conn::State::awaiting_eof;
        arm(c, io_timers_, to_ns(config_.io_timeout));
        return;
    }
    if (!(events & EPOLLIN)) return;
    // Bytes after the last response: read past them to the FIN.
    while (true) {
        count(Syscall::recv);
        ssize_t n = ::recv(c.fd.get(), buffer_.get(), kReadBuffer, 0);
        if (n == 0) return complete(c);
        if (n > 0) {
            stats_.bytes_received += static_cast<uint64_t>(n);
            if (static_cast<size_t>(n) < kReadBuffer) return;
            continue;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return;
        return fail(c, Phase::close, errno);
    }
}

// --- ending connections --------------------------------------------------

void ChurnWorker::complete(Conn& c) {
    close_socket(c);
    stats_.total.record(to_us(tick() - c.origin_ns));
    ++stats_.completed;
    LiveCells::bump(live_.completed);
    release(c);
}

void ChurnWorker::fail(Conn& c, Phase phase, int err) {
    stats_.errors.add(phase, err, now_ - run_start_ns_);
    ++stats_.failed;
    LiveCells::bump(live_.failed);
    release(c);
}

// close() also takes the socket out of the epoll set (its last reference goes).
void ChurnWorker::release(Conn& c) {
    if (c.list) c.list->remove(c);
    close_socket(c);
    c.state = Conn::State::free;
    free_.push_back(&c);
    --in_flight_;
    LiveCells::bump(live_.ended);
}

void ChurnWorker::close_socket(Conn& c) {
    if (!c.fd) return;
    count(Syscall::close);
    c.fd.reset();
}

void ChurnWorker::abandon_all() {
    for (Conn& c : conns_) {
        if (c.state == Conn::State::free) continue;
        ++stats_.abandoned;
        release(c);
    }
}

void ChurnWorker::arm(Conn& c, DeadlineList& list, int64_t timeout_ns) {
    if (c.list) c.list->remove(c);
    c.deadline_ns = now_ + timeout_ns;
    list.push_back(c);
}

void ChurnWorker::expire(DeadlineList& list) {
    while (list.head && list.head->deadline_ns <= now_) {
        Conn& c = *list.head;
        Phase phase = c.state == Conn::State::connecting ? Phase::connect
                      : c.state == Conn::State::writing  ? Phase::write
                      : c.state == Conn::State::reading  ? Phase::read
                                                         : Phase::close;
        fail(c, phase, ETIMEDOUT);
    }
}

const std::string& ChurnWorker::request_for(const Conn& c) const {
    return c.exchange + 1 >= config_.exchanges ? last_request_ : request_;
}

}  // namespace sockdrill::load::detail
