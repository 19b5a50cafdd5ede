// The keep-alive loop. Per request it aims at what wrk spends: one send()
// per batch of pipelined requests and one recv() per burst of responses,
// plus a share of epoll_pwait2; per connection one socket, one connect, one
// epoll_ctl and one close. How:
//  - Each socket is added once, edge-triggered, for EPOLLIN|EPOLLOUT|EPOLLRDHUP,
//    and never modified: with EPOLLET an EPOLLOUT in the mask only wakes the
//    loop when a full send buffer drains (SOCK_NOSPACE), so it costs nothing
//    while writes fit, and the first EPOLLOUT says the connect succeeded.
//  - A failed connect (EPOLLERR) is read with recv(), which returns the
//    pending socket error (sock_error), not with getsockopt(SO_ERROR).
//  - The request bytes are formatted once, `pipeline` copies back to back; a
//    batch of n requests is the last n copies, so a connection keeps only a
//    count of unsent bytes, and one shared read buffer serves every socket:
//    an idle connection holds no buffer at all.
//  - A short recv() drained the queue: with EPOLLET new data raises a new
//    edge, so there is no read until EAGAIN, and EPOLLRDHUP reports the
//    server's FIN with the data before it.
#include "load/keepalive_worker.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cmath>

#include "cli/signals.hpp"
#include "load/churn_worker.hpp"
#include "net/error.hpp"

namespace sockdrill::load::detail {

namespace {

constexpr size_t kReadBuffer = 64 * 1024;
constexpr int kMaxEvents = 256;
constexpr int64_t kNsPerUs = 1000;
constexpr int64_t kNsPerS = 1'000'000'000;
// The loop wakes at least this often to see a stop request.
constexpr int64_t kStopCheckNs = 50'000'000;
// An open-loop request sent this far after it was due is late.
constexpr int64_t kLateNs = 1'000'000;
// How often the worker hands its interval latencies to take_interval().
constexpr int64_t kPublishNs = 10'000'000;
// Connections opened per turn of the loop, so a burst of 50,000 opens does
// not keep the loop from the events of those already open.
constexpr size_t kOpensPerTurn = 256;

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

// --- set-up and the loop -------------------------------------------------

KeepaliveWorker::KeepaliveWorker(const KeepaliveConfig& config, const KeepalivePlan& plan,
                                 int64_t run_start_ns, int64_t run_end_ns,
                                 const std::atomic<bool>& stop, KeepaliveCells& cells,
                                 IntervalSlot& slot, KeepaliveStats& stats)
    : config_(config),
      plan_(plan),
      run_start_ns_(run_start_ns),
      run_end_ns_(run_end_ns),
      stop_(stop),
      cells_(cells),
      slot_(slot),
      stats_(stats),
      epoll_(::epoll_create1(EPOLL_CLOEXEC)),
      conns_(plan.connections),
      times_(static_cast<size_t>(plan.connections) * config.pipeline),
      random_(static_cast<uint32_t>(monotonic_ns()) ^ (plan.index * 2654435761u)),
      buffer_(std::make_unique<char[]>(kReadBuffer)) {
    if (!epoll_) throw Error::system("epoll_create1", errno);
    std::string request = format_request(config);
    request_size_ = request.size();
    batch_.reserve(request_size_ * config.pipeline);
    for (unsigned i = 0; i < config.pipeline; ++i) batch_ += request;
    ready_.reserve(conns_.size());
}

void KeepaliveWorker::run() {
    epoll_event events[kMaxEvents];
    while (true) {
        tick();
        if (stop_requested()) return finish(true);
        if (!done_sending_ && sending_over()) {
            // The last turn: what fell due before the end leaves if a
            // connection is free, so a late wake-up does not thin the schedule.
            dispatch_due();
            done_sending_ = true;
            drain_end_ns_ = now_ + to_ns(config_.drain_timeout);
        }
        if (done_sending_ && (outstanding_ == 0 || now_ >= drain_end_ns_))
            return finish(outstanding_ > 0);
        expire();
        open_due();
        dispatch_due();
        publish_interval(false);
        int ready = wait(events, kMaxEvents, next_wakeup_ns());
        for (int i = 0; i < ready; ++i)
            on_event(*static_cast<Conn*>(events[i].data.ptr), events[i].events);
    }
}

void KeepaliveWorker::tick() {
    now_ = monotonic_ns();
}

bool KeepaliveWorker::stop_requested() const {
    return stop_.load(std::memory_order_relaxed) ||
           (config_.stop_on_signal && cli::stop_requested());
}

// Nothing is sent once the duration is over, in either loop: the end of the
// run is a hard deadline, so a refusing, dead or stalled server cannot keep an
// open loop going (requests due but never sent are abandoned in finish()).
bool KeepaliveWorker::sending_over() const {
    return sent_ >= plan_.quota || now_ >= run_end_ns_;
}

bool KeepaliveWorker::may_send() const {
    return !config_.idle && !done_sending_ && !sending_over();
}

int64_t KeepaliveWorker::due_ns(uint64_t request) const {
    return plan_.first_due_ns + std::llround(static_cast<double>(request) * kNsPerS / plan_.rate);
}

// Open loop: requests due before `end_ns` that were not sent.
uint64_t KeepaliveWorker::due_unsent(int64_t end_ns) const {
    if (plan_.rate <= 0 || config_.idle || end_ns <= plan_.first_due_ns) return 0;
    // due_ns() rounds, so start from the estimate and settle on the exact count.
    double estimate = static_cast<double>(end_ns - plan_.first_due_ns) * plan_.rate / kNsPerS;
    auto due = static_cast<uint64_t>(std::min(std::ceil(estimate), 1e18));
    while (due > 0 && due_ns(due - 1) >= end_ns) --due;
    while (due_ns(due) < end_ns) ++due;
    due = std::min(due, plan_.quota);
    return due > sent_ ? due - sent_ : 0;
}

int64_t KeepaliveWorker::next_wakeup_ns() const {
    if (!connect_queue_.empty() && !done_sending_ && worth_opening()) return 0;
    int64_t wake = now_ + kStopCheckNs;
    if (!done_sending_) wake = std::min(wake, run_end_ns_);
    if (done_sending_) wake = std::min(wake, drain_end_ns_);
    for (const DeadlineList* list : {&connect_timers_, &io_timers_, &retry_timers_})
        if (list->head) wake = std::min(wake, list->head->deadline_ns);
    if (!timers_.empty()) wake = std::min(wake, timers_.top().first);
    if (interval_.count()) wake = std::min(wake, next_publish_ns_);
    if (next_initial_ < conns_.size() && !done_sending_)
        wake = std::min(wake, initial_open_ns(next_initial_));
    if (plan_.rate > 0 && may_send() && !ready_.empty()) wake = std::min(wake, due_ns(sent_));
    return std::max<int64_t>(0, wake - now_);
}

int KeepaliveWorker::wait(epoll_event* events, int max_events, int64_t timeout_ns) {
    count(Syscall::epoll_wait);
    return detail::wait_events(epoll_.get(), events, max_events, timeout_ns);
}

// The end of the run: every connection is closed by the client; requests
// still outstanding are abandoned (stop, drain timeout), not lost, and so are
// open-loop requests that fell due before the end but never left (no free
// connection: a refusing, stalled or saturated server), so the corrected
// accounting does not drop them.
void KeepaliveWorker::finish(bool abandon) {
    stats_.abandoned += due_unsent(std::min(now_, run_end_ns_));
    for (Conn& c : conns_) {
        if (abandon) {
            stats_.abandoned += c.outstanding;
            outstanding_ -= c.outstanding;
            c.outstanding = 0;
        }
        if (c.state != Conn::State::closed) end(c, End::run_over);
    }
    publish_interval(true);
}

void KeepaliveWorker::publish_interval(bool force) {
    if (!interval_.count() || (!force && now_ < next_publish_ns_)) return;
    {
        std::lock_guard lock(slot_.mutex);
        slot_.latency.merge(interval_);
    }
    interval_.reset();
    next_publish_ns_ = now_ + kPublishNs;
}

// --- opening connections -------------------------------------------------

void KeepaliveWorker::open_due() {
    if (done_sending_) return;
    size_t budget = kOpensPerTurn;
    while (budget > 0 && !connect_queue_.empty() && worth_opening()) {
        Conn& c = *connect_queue_.back();
        connect_queue_.pop_back();
        open(c);
        --budget;
    }
    while (budget > 0 && next_initial_ < conns_.size() && worth_opening()) {
        if (initial_open_ns(next_initial_) > now_) break;
        open(conns_[next_initial_++]);
        --budget;
    }
}

// Closed loop with a count: a connection opens only if a request is left
// for it once those still connecting took theirs, so the last requests do
// not open connections that would never carry one.
bool KeepaliveWorker::worth_opening() const {
    if (plan_.rate > 0 || config_.idle || plan_.quota == UINT64_MAX) return true;
    return plan_.quota - std::min(sent_, plan_.quota) > connecting_;
}

// The ramp: slot i opens at start + ramp * i / slots.
int64_t KeepaliveWorker::initial_open_ns(size_t slot) const {
    return run_start_ns_ + static_cast<int64_t>(static_cast<double>(slot) *
                                                static_cast<double>(to_ns(config_.ramp)) /
                                                static_cast<double>(conns_.size()));
}

void KeepaliveWorker::open(Conn& c) {
    ++stats_.connections.attempts;
    tick();
    c.start_ns = now_;
    count(Syscall::socket);
    int fd = ::socket(config_.target.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    c.state = Conn::State::connecting;
    ++connecting_;
    if (fd < 0) return fail(c, Phase::socket, errno);
    c.fd.reset(fd);
    if (!bind_source(c)) return;
    count(Syscall::connect);
    if (::connect(fd, config_.target.sa(), config_.target.len()) < 0 && errno != EINPROGRESS)
        return fail(c, Phase::connect, errno);
    epoll_event event{};
    event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    event.data.ptr = &c;
    count(Syscall::epoll_ctl);
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) < 0)
        return fail(c, Phase::connect, errno);
    arm(c, connect_timers_, to_ns(config_.connect_timeout));
}

// Sources rotate per connection. IP_BIND_ADDRESS_NO_PORT leaves the port to
// connect(), which picks it per (source, target) pair: each source address
// adds a whole ephemeral range, where bind() alone would reserve a port
// across every destination.
bool KeepaliveWorker::bind_source(Conn& c) {
    if (config_.sources.empty()) return true;
    int fd = c.fd.get();
    int on = 1;
    count(Syscall::setsockopt);
    if (::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on, sizeof on) < 0) {
        fail(c, Phase::bind, errno);
        return false;
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

void KeepaliveWorker::connected(Conn& c) {
    disarm(c);
    --connecting_;
    c.state = Conn::State::open;
    stats_.connect.record(to_us(now_ - c.start_ns));
    c.idle_since_ns = now_;
    ++stats_.connections.opened;
    if (c.reopened) ++stats_.connections.reconnects;
    c.reopened = true;
    KeepaliveCells::add(cells_.opened);
    stats_.connections.peak_open = std::max(stats_.connections.peak_open, ++open_);
    if (plan_.rate > 0) {
        make_ready(c);
    } else if (c.pause_first && c.pause_until_ns > now_) {
        // Its previous connection ended during (or just before) a pause:
        // the new one waits out the rest of it.
        c.pause_first = false;
        c.thinking = true;
        schedule(c, c.pause_until_ns);
    } else {
        c.pause_first = false;
        refill(c);
    }
}

// --- events --------------------------------------------------------------

void KeepaliveWorker::on_event(Conn& c, uint32_t events) {
    if (c.state == Conn::State::connecting) {
        if (events & (EPOLLERR | EPOLLHUP)) {
            // recv() returns the pending error of a failed connect and clears it.
            count(Syscall::recv);
            ssize_t n = ::recv(c.fd.get(), buffer_.get(), 1, MSG_PEEK);
            return fail(c, Phase::connect, n < 0 ? errno : ECONNABORTED);
        }
        if (!(events & EPOLLOUT)) return;
        tick();
        connected(c);
        if (c.state != Conn::State::open) return;
    }
    if (c.state != Conn::State::open) return;  // ended earlier in this batch of events
    // A client that does not watch its idle connections learns of the
    // server's FIN only from its next request: send_batch() reads after it,
    // as a blocking client's read() after its write() would.
    if (!config_.watch_idle && c.outstanding == 0 && c.unsent == 0) {
        if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) c.fin_unread = true;
        return;
    }
    if ((events & EPOLLOUT) && c.unsent) {
        if (!flush(c)) return;
        after_progress(c);
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) read(c, events);
}

// How many more requests the connection may take now.
unsigned KeepaliveWorker::free_slots(const Conn& c) const {
    uint64_t slots = config_.pipeline - c.outstanding;
    if (config_.requests_per_conn)
        slots = std::min(
            slots, config_.requests_per_conn - std::min(c.on_conn, config_.requests_per_conn));
    return static_cast<unsigned>(slots);
}

bool KeepaliveWorker::eligible(const Conn& c) const {
    return c.state == Conn::State::open && !c.server_closing && c.unsent == 0 && free_slots(c) > 0;
}

void KeepaliveWorker::make_ready(Conn& c) {
    if (c.in_ready || !eligible(c)) return;
    c.in_ready = true;
    ready_.push_back(&c);
}

// The most recently freed connection first: it fills its pipeline before the
// next one is used, so due requests leave in batches. Entries that stopped
// being eligible are dropped as they come up.
KeepaliveWorker::Conn* KeepaliveWorker::ready_top() {
    while (!ready_.empty()) {
        Conn* c = ready_.back();
        if (eligible(*c)) return c;
        c->in_ready = false;
        ready_.pop_back();
    }
    return nullptr;
}

// Open loop: each due request goes to a connection with a free slot, its
// time slot holding when it was due; requests with no free connection wait
// and their latency grows. Only requests due before the end leave; run()
// calls this once more in the turn that finds the run over.
void KeepaliveWorker::dispatch_due() {
    if (plan_.rate <= 0 || config_.idle || done_sending_) return;
    auto due_now = [&] {
        return sent_ < plan_.quota && due_ns(sent_) <= now_ && due_ns(sent_) < run_end_ns_;
    };
    while (due_now()) {
        Conn* c = ready_top();
        if (!c) return;
        unsigned slots = free_slots(*c), n = 0;
        while (n < slots && due_now()) {
            int64_t due = due_ns(sent_);
            time_slot(*c, c->outstanding + n) = due;
            if (now_ - due > kLateNs) ++stats_.late;
            ++sent_;
            ++n;
        }
        send_batch(*c, n);
    }
}

// Closed loop: the connection's free slots filled at once, timed from now.
void KeepaliveWorker::refill(Conn& c) {
    if (plan_.rate > 0 || !eligible(c) || !may_send()) return;
    auto n = static_cast<unsigned>(std::min<uint64_t>(free_slots(c), plan_.quota - sent_));
    tick();
    for (unsigned k = 0; k < n; ++k) time_slot(c, c.outstanding + k) = now_;
    sent_ += n;
    send_batch(c, n);
}

// The times of the n requests are in their slots already.
void KeepaliveWorker::send_batch(Conn& c, unsigned n) {
    if (n == 0) return;
    c.outstanding = static_cast<uint16_t>(c.outstanding + n);
    c.on_conn += n;
    outstanding_ += n;
    stats_.sent += n;
    KeepaliveCells::add(cells_.sent, n);
    c.unsent = static_cast<uint32_t>(n * request_size_);
    if (!flush(c)) return;
    arm(c, io_timers_, to_ns(config_.io_timeout));
    if (c.fin_unread) {
        // The edge that said so was ignored while idle: no new one may come.
        c.fin_unread = false;
        read(c, EPOLLIN | EPOLLRDHUP);
    }
}

// Writes what is left of the batch; false when the connection ended.
bool KeepaliveWorker::flush(Conn& c) {
    while (c.unsent) {
        count(Syscall::send);
        ssize_t n =
            ::send(c.fd.get(), batch_.data() + batch_.size() - c.unsent, c.unsent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return true;  // EPOLLOUT (in the mask) says when to go on
            fail(c, Phase::write, errno);
            return false;
        }
        c.unsent -= static_cast<uint32_t>(n);
        stats_.bytes_sent += static_cast<uint64_t>(n);
    }
    return true;
}

void KeepaliveWorker::read(Conn& c, uint32_t events) {
    char* buffer = buffer_.get();
    while (true) {
        count(Syscall::recv);
        ssize_t n = ::recv(c.fd.get(), buffer, kReadBuffer, 0);
        if (n > 0) {
            stats_.bytes_received += static_cast<uint64_t>(n);
            tick();
            if (!consume(c, buffer, static_cast<size_t>(n))) return;
            if (static_cast<size_t>(n) == kReadBuffer) continue;
            // A short read emptied the queue. If the FIN was already in it,
            // this is the end of the stream: no read() returning 0 needed.
            if (peer_fin_only(events)) return end_of_stream(c);
            break;
        }
        if (n == 0) return end_of_stream(c);
        if (errno == EINTR) continue;
        if (errno == EAGAIN) break;
        // A reset with nothing outstanding is how some servers end an idle
        // connection: a close, not a lost request.
        if (errno == ECONNRESET && c.outstanding == 0 && c.unsent == 0)
            return end(c, End::reset_by_server);
        return fail(c, Phase::read, errno);
    }
    after_progress(c);
}

// Feeds received bytes through the responses they complete; false when the
// connection ended (bytes nobody asked for, or a malformed response).
bool KeepaliveWorker::consume(Conn& c, const char* data, size_t size) {
    while (size > 0) {
        if (c.outstanding == 0) {
            fail(c, Phase::read, EPROTO);
            return false;
        }
        if (config_.payload == Payload::echo) {
            auto take = static_cast<uint32_t>(
                std::min<uint64_t>(size, config_.echo_size - c.echo_received));
            c.echo_received += take;
            data += take;
            size -= take;
            if (c.echo_received == config_.echo_size) {
                c.echo_received = 0;
                response_done(c);
            }
            continue;
        }
        auto step = c.scanner.feed({data, size});
        data += step.consumed;
        size -= step.consumed;
        if (step.status == http::ResponseScanner::Status::error) {
            fail(c, Phase::read, EPROTO);
            return false;
        }
        if (step.status == http::ResponseScanner::Status::more) break;
        int status = c.scanner.status_code();
        if (status < 200 || status > 299) ++stats_.non_2xx;
        if (c.scanner.connection_close()) c.server_closing = true;
        c.scanner.reset();
        response_done(c);
    }
    return true;
}

void KeepaliveWorker::response_done(Conn& c) {
    if (c.lost_ns) {
        stats_.reconnect.record(to_us(now_ - c.lost_ns));
        c.lost_ns = 0;
    }
    int64_t started = time_slot(c, 0);
    c.ring_head = static_cast<uint16_t>((c.ring_head + 1) % config_.pipeline);
    --c.outstanding;
    --outstanding_;
    uint64_t latency = to_us(now_ - started);
    stats_.latency.record(latency);
    interval_.record(latency);
    ++stats_.completed;
    KeepaliveCells::add(cells_.completed);
}

// The server closed. With nothing outstanding that is a close (its idle
// timeout, max requests, "Connection: close"); with requests outstanding
// they are lost and the connection failed: the idle-timeout race.
void KeepaliveWorker::end_of_stream(Conn& c) {
    if (config_.payload == Payload::http && c.outstanding > 0 &&
        c.scanner.finish_at_eof() == http::ResponseScanner::Status::complete) {
        c.scanner.reset();
        response_done(c);
    }
    if (c.outstanding == 0 && c.unsent == 0) return end(c, End::by_server);
    fail(c, Phase::read, 0);
}

// After responses arrived or a write went on: close the connection if its
// last request is answered, else keep its deadline and its pipeline going.
void KeepaliveWorker::after_progress(Conn& c) {
    const bool pauses = plan_.rate <= 0 && config_.think_time.count() > 0;
    if (c.outstanding == 0 && c.unsent == 0) {
        bool last = c.server_closing ||
                    (config_.requests_per_conn && c.on_conn >= config_.requests_per_conn);
        if (last) {
            // The next connection's first request keeps the pause too.
            if (pauses) {
                draw_pause(c);
                c.pause_first = true;
            }
            return end(c, c.server_closing ? End::announced : End::by_client);
        }
        disarm(c);
        c.idle_since_ns = now_;
    } else {
        arm(c, io_timers_, to_ns(config_.io_timeout));
    }
    if (plan_.rate > 0)
        make_ready(c);
    else if (!pauses)
        refill(c);
    else if (c.outstanding == 0 && c.unsent == 0)
        think(c);  // the next request after the pause (pipelined ones answered first)
}

// --- think time, the client's idle timeout, jittered reconnects ----------

void KeepaliveWorker::schedule(Conn& c, int64_t at) {
    c.timer_ns = at;
    timers_.emplace(at, &c);
}

// Sets pause_until_ns: think_time x [1 - jitter, 1 + jitter] from now.
void KeepaliveWorker::draw_pause(Conn& c) {
    double jitter = config_.think_jitter;
    double factor =
        jitter > 0 ? std::uniform_real_distribution<double>(1 - jitter, 1 + jitter)(random_) : 1.0;
    c.pause_until_ns = now_ + std::llround(static_cast<double>(to_ns(config_.think_time)) * factor);
}

void KeepaliveWorker::think(Conn& c) {
    draw_pause(c);
    c.thinking = true;
    schedule(c, c.pause_until_ns);
}

// Whether the server closed an idle connection whose FIN the loop has not
// handled yet (it arrived after the last wait returned): a peek, as a pool
// that watches its connections checks one before handing it out.
bool KeepaliveWorker::peer_closed(Conn& c) {
    char byte;
    count(Syscall::recv);
    ssize_t n = ::recv(c.fd.get(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR);
}

// The pause is over. A pool with an idle timeout does not hand out a
// connection idle that long: it closes it, and a new one carries the request.
void KeepaliveWorker::reuse(Conn& c) {
    // Still thinking: end() knows the close cost no request.
    if (config_.watch_idle && peer_closed(c)) return end(c, End::by_server);
    c.thinking = false;
    int64_t idle_limit = to_ns(config_.client_idle_timeout);
    if (idle_limit > 0 && now_ - c.idle_since_ns >= idle_limit) return end(c, End::idle_timeout);
    refill(c);
}

// Full jitter: spreads a crowd of slots that lost their connections at the
// same moment (a server restart) over backoff_max instead of one SYN burst.
void KeepaliveWorker::back_off(Conn& c) {
    auto wait = std::uniform_int_distribution<int64_t>(0, to_ns(config_.backoff_max) - 1)(random_);
    c.backing_off = true;
    schedule(c, now_ + wait);
}

// --- ending connections --------------------------------------------------

int64_t& KeepaliveWorker::time_slot(const Conn& c, unsigned k) {
    auto index = static_cast<size_t>(&c - conns_.data());
    return times_[index * config_.pipeline + (c.ring_head + k) % config_.pipeline];
}

void KeepaliveWorker::fail(Conn& c, Phase phase, int err) {
    stats_.errors.add(phase, err, now_ - run_start_ns_);
    KeepaliveCells::add(cells_.errors);
    end(c, End::failed);
}

// Closes the connection (close() also takes it out of the epoll set) and,
// while the run goes on, queues the slot to reopen: at once after a clean
// close, after reconnect_delay after a failure.
void KeepaliveWorker::end(Conn& c, End how) {
    disarm(c);
    if (c.state == Conn::State::connecting) --connecting_;
    if (c.state == Conn::State::open) {
        --open_;
        KeepaliveCells::add(cells_.closed);
        auto& counts = stats_.connections;
        switch (how) {
            case End::by_client:
            case End::run_over:
                ++counts.closed_by_client;
                break;
            case End::idle_timeout:
                ++counts.closed_idle;
                break;
            case End::announced:
            case End::by_server:
                ++counts.closed_by_server;
                break;
            case End::reset_by_server:
                ++counts.reset_by_server;
                break;
            case End::failed:
                break;
        }
    }
    if (how == End::failed) ++stats_.connections.failed;
    stats_.lost += c.outstanding;
    outstanding_ -= c.outstanding;
    if (c.fd) {
        count(Syscall::close);
        c.fd.reset();
    }
    c.state = Conn::State::closed;
    c.outstanding = c.ring_head = 0;
    c.unsent = c.echo_received = 0;
    c.on_conn = 0;
    c.server_closing = false;
    c.fin_unread = false;
    c.scanner.reset();
    bool was_thinking = c.thinking;
    c.thinking = false;
    if (how == End::run_over || done_sending_) return;
    // A connection closed during a pause cost no request: the slot pauses
    // on. One the server ended while in use (announced or not) or that
    // failed loses service until the next connection answers, and backs off
    // with jitter: a restart announces its closes too, and the clients'
    // reconnects are the storm.
    bool lost = how != End::by_client && how != End::idle_timeout && !was_thinking;
    if (was_thinking) c.pause_first = true;
    if (lost && !c.lost_ns) c.lost_ns = now_;
    if (lost && config_.backoff == Backoff::jitter) return back_off(c);
    if (how == End::failed)
        arm(c, retry_timers_, to_ns(config_.reconnect_delay));
    else
        connect_queue_.push_back(&c);
}

void KeepaliveWorker::arm(Conn& c, DeadlineList& list, int64_t timeout_ns) {
    if (c.list) c.list->remove(c);
    c.deadline_ns = now_ + timeout_ns;
    list.push_back(c);
}

void KeepaliveWorker::disarm(Conn& c) {
    if (c.list) c.list->remove(c);
}

void KeepaliveWorker::expire() {
    while (connect_timers_.head && connect_timers_.head->deadline_ns <= now_)
        fail(*connect_timers_.head, Phase::connect, ETIMEDOUT);
    while (io_timers_.head && io_timers_.head->deadline_ns <= now_) {
        Conn& c = *io_timers_.head;
        fail(c, c.unsent ? Phase::write : Phase::read, ETIMEDOUT);
    }
    while (retry_timers_.head && retry_timers_.head->deadline_ns <= now_) {
        Conn& c = *retry_timers_.head;
        retry_timers_.remove(c);
        connect_queue_.push_back(&c);
    }
    while (!timers_.empty() && timers_.top().first <= now_) {
        auto [at, conn] = timers_.top();
        timers_.pop();
        Conn& c = *conn;
        if (c.timer_ns != at) continue;  // the connection moved on
        if (c.thinking && c.state == Conn::State::open) {
            reuse(c);
        } else if (c.backing_off && c.state == Conn::State::closed) {
            c.backing_off = false;
            connect_queue_.push_back(&c);
        }
    }
}

}  // namespace sockdrill::load::detail
