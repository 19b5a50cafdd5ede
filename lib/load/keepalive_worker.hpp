#pragma once
// One thread of the keep-alive engine: an edge-triggered epoll loop over a
// fixed set of connection slots, with its own plain statistics. Internal to
// KeepaliveDriver (keepalive.hpp); a test or a command uses the driver.
#include <sys/epoll.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include "http/response_scanner.hpp"
#include "load/keepalive.hpp"
#include "net/fd.hpp"

namespace sockdrill::load::detail {

/// The counters one worker writes and any thread reads: one writer, so a
/// relaxed load and store (no locked instruction) is enough.
struct alignas(64) KeepaliveCells {
    std::atomic<uint64_t> sent{0}, completed{0}, errors{0}, opened{0}, closed{0};
    static void add(std::atomic<uint64_t>& cell, uint64_t n = 1) {
        cell.store(cell.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
};

/// Latencies a worker hands to take_interval(): the worker merges its own
/// interval histogram in every 10 ms, the reader swaps it out.
struct IntervalSlot {
    std::mutex mutex;
    Histogram latency;
};

/// One worker's share of the run.
struct KeepalivePlan {
    unsigned index = 0;
    unsigned connections = 1;     ///< slots this worker keeps open
    uint64_t quota = UINT64_MAX;  ///< requests this worker sends
    double rate = 0;              ///< open loop: its requests due per second; 0 = closed loop
    int64_t first_due_ns = 0;     ///< open loop: when its first request is due
};

class KeepaliveWorker {
  public:
    /// Creates the epoll instance and the connection slots; run() does the rest.
    /// run_end_ns is the hard deadline for sending. Throws Error when epoll_create1 fails.
    KeepaliveWorker(const KeepaliveConfig& config, const KeepalivePlan& plan, int64_t run_start_ns,
                    int64_t run_end_ns, const std::atomic<bool>& stop, KeepaliveCells& cells,
                    IntervalSlot& interval, KeepaliveStats& stats);
    /// Runs until the quota, the duration (plus drain) or a stop request ends it.
    void run();

  private:
    struct Conn;
    /// Connections under one timeout, in deadline order (load/driver.hpp).
    using DeadlineList = detail::DeadlineList<Conn>;
    /// How a connection ended.
    enum class End : uint8_t {
        by_client,        ///< requests_per_conn reached
        idle_timeout,     ///< the client's pool idle timeout
        announced,        ///< the server said "Connection: close" and answered everything
        by_server,        ///< the server's FIN with nothing outstanding
        reset_by_server,  ///< the server's RST with nothing outstanding
        failed,
        run_over,
    };
    /// One connection slot, reopened from one connection to the next. Kept
    /// small: 50,000 idle ones must cost under 1 KiB each, so no buffer of
    /// its own (the read buffer and the request bytes are the worker's).
    struct Conn {
        enum class State : uint8_t { closed, connecting, open };
        net::Fd fd;
        State state = State::closed;
        bool server_closing = false;  ///< the server said "Connection: close"
        bool in_ready = false;        ///< on ready_ (open loop)
        bool reopened = false;        ///< the slot had a connection before
        bool thinking = false;        ///< idle, its next request on timers_ (think time)
        bool backing_off = false;     ///< closed, its reconnect on timers_ (jitter)
        bool pause_first = false;     ///< the next connection's first request waits for pause_until_ns
        bool fin_unread = false;      ///< watch_idle off: an idle connection's hang-up left unread
        uint16_t outstanding = 0;     ///< requests sent, response not yet complete
        uint16_t ring_head = 0;       ///< the oldest outstanding request's time slot
        uint32_t unsent = 0;          ///< bytes of the last batch still to write
        uint32_t echo_received = 0;   ///< echo: bytes of the current reply read
        uint64_t on_conn = 0;         ///< requests sent on this connection
        int64_t start_ns = 0;         ///< socket() called
        int64_t deadline_ns = 0;
        int64_t timer_ns = 0;         ///< its entry on timers_, while thinking or backing off
        int64_t pause_until_ns = 0;   ///< the end of its current think pause
        int64_t idle_since_ns = 0;    ///< when its last request was answered
        int64_t lost_ns = 0;          ///< when the slot lost a connection; 0 = not waiting
        Conn* prev = nullptr;
        Conn* next = nullptr;
        DeadlineList* list = nullptr;
        http::ResponseScanner scanner;
    };

    void tick();
    bool stop_requested() const;
    bool sending_over() const;
    bool may_send() const;
    int64_t due_ns(uint64_t request) const;
    uint64_t due_unsent(int64_t end_ns) const;
    int64_t next_wakeup_ns() const;
    int wait(epoll_event* events, int max_events, int64_t timeout_ns);
    void finish(bool abandon);
    void publish_interval(bool force);

    void open_due();
    bool worth_opening() const;
    int64_t initial_open_ns(size_t slot) const;
    void open(Conn& c);
    bool bind_source(Conn& c);
    void connected(Conn& c);

    void on_event(Conn& c, uint32_t events);
    unsigned free_slots(const Conn& c) const;
    bool eligible(const Conn& c) const;
    void make_ready(Conn& c);
    Conn* ready_top();
    void dispatch_due();
    void refill(Conn& c);
    void send_batch(Conn& c, unsigned n);
    bool flush(Conn& c);
    void read(Conn& c, uint32_t events);
    bool consume(Conn& c, const char* data, size_t size);
    void response_done(Conn& c);
    void end_of_stream(Conn& c);
    void after_progress(Conn& c);

    void count(Syscall call) { ++stats_.syscalls[static_cast<size_t>(call)]; }
    int64_t& time_slot(const Conn& c, unsigned k);
    void fail(Conn& c, Phase phase, int err);
    void end(Conn& c, End how);
    void think(Conn& c);
    void draw_pause(Conn& c);
    bool peer_closed(Conn& c);
    void reuse(Conn& c);
    void back_off(Conn& c);
    void schedule(Conn& c, int64_t at);
    void arm(Conn& c, DeadlineList& list, int64_t timeout_ns);
    void disarm(Conn& c);
    void expire();

    const KeepaliveConfig& config_;
    const KeepalivePlan plan_;
    const int64_t run_start_ns_;
    const int64_t run_end_ns_;
    const std::atomic<bool>& stop_;
    KeepaliveCells& cells_;
    IntervalSlot& slot_;
    KeepaliveStats& stats_;

    net::Fd epoll_;
    std::vector<Conn> conns_;
    /// Each slot's outstanding requests' start times (send, or due in open
    /// loop), `pipeline` per connection, used as a ring.
    std::vector<int64_t> times_;
    std::vector<Conn*> ready_;  ///< open loop: connections with a free slot, most recent last
    std::vector<Conn*> connect_queue_;  ///< slots to reopen now
    DeadlineList connect_timers_, io_timers_, retry_timers_;
    /// Think pauses and jittered reconnects: random deadlines, so a heap
    /// rather than a DeadlineList. An entry whose connection moved on (it
    /// ended while thinking) no longer matches its timer_ns and is skipped.
    using Timer = std::pair<int64_t, Conn*>;
    std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
    std::minstd_rand random_;
    /// `pipeline` copies of the request back to back: a batch of n is its last n.
    std::string batch_;
    size_t request_size_ = 0;
    std::unique_ptr<char[]> buffer_;
    Histogram interval_;  ///< latencies not yet published to slot_

    int64_t now_ = 0;
    uint64_t sent_ = 0;         ///< requests sent (open loop: taken from the schedule)
    uint64_t outstanding_ = 0;  ///< over every connection
    uint64_t open_ = 0;
    uint64_t connecting_ = 0;
    size_t next_initial_ = 0;  ///< the next slot to open for the first time (ramp)
    size_t next_source_ = 0;
    bool done_sending_ = false;
    int64_t drain_end_ns_ = 0;
    int64_t next_publish_ns_ = 0;
};

}  // namespace sockdrill::load::detail
