#pragma once
// One thread of the churn driver: an edge-triggered epoll loop over
// non-blocking client sockets, with its own plain statistics. Internal to
// ChurnDriver (churn.hpp); a test or a command uses the driver.
#include <sys/epoll.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "http/response_scanner.hpp"
#include "load/churn.hpp"
#include "net/fd.hpp"

namespace sockdrill::load::detail {

/// CLOCK_MONOTONIC in nanoseconds (a vDSO call, not a syscall).
int64_t monotonic_ns();

/// One worker's share of the run.
struct WorkerPlan {
    unsigned index = 0;
    uint64_t quota = UINT64_MAX;  ///< connections this worker starts
    unsigned slots = 1;           ///< the most connections it has in flight
    double rate = 0;              ///< open loop: its starts per second; 0 = closed loop
    int64_t first_start_ns = 0;   ///< open loop: its first scheduled start
};

class ChurnWorker {
public:
    /// Creates the epoll instance and the connection slots; run() does the rest.
    /// run_end_ns 0 = no duration bound. Throws Error when epoll_create1 fails.
    ChurnWorker(const ChurnConfig& config, const WorkerPlan& plan, int64_t run_start_ns,
                int64_t run_end_ns, const std::atomic<bool>& stop, LiveCells& live,
                ChurnStats& stats);
    /// Runs until the quota, the duration (plus drain) or a stop request ends it.
    void run();

private:
    struct Conn;
    /// Connections under one timeout, in deadline order (load/driver.hpp).
    using DeadlineList = detail::DeadlineList<Conn>;
    /// One connection slot, reused from one connection to the next.
    struct Conn {
        enum class State : uint8_t { free, connecting, writing, reading, awaiting_eof };
        net::Fd fd;
        State state = State::free;
        bool registered = false;      ///< added to the epoll set
        bool watching_write = false;  ///< EPOLLOUT is in its epoll events
        bool connected = false;
        bool first_byte = false;
        bool speculative = false;  ///< the write right after connect() is a guess
        uint32_t exchange = 0;     ///< exchanges completed
        uint64_t sent = 0;         ///< bytes of the current request written
        uint64_t received = 0;     ///< echo: bytes of the current reply read
        int64_t start_ns = 0;      ///< socket() called
        int64_t origin_ns = 0;     ///< what total time counts from (the schedule, in open loop)
        int64_t deadline_ns = 0;
        Conn* prev = nullptr;
        Conn* next = nullptr;
        DeadlineList* list = nullptr;
        http::ResponseScanner scanner;
    };

    int64_t tick();
    bool stop_requested() const;
    bool may_start() const;
    int64_t next_scheduled_ns() const;
    int64_t next_wakeup_ns() const;
    int wait(epoll_event* events, int max_events, int64_t timeout_ns);

    void start_due();
    void start(Conn& c, int64_t origin_ns);
    bool bind_source(Conn& c);
    bool speculate();
    void note_speculation(bool hit);

    void on_event(Conn& c, uint32_t events);
    void send_request(Conn& c);
    void wait_writable(Conn& c);
    bool watch(Conn& c, bool want_write);
    void read_response(Conn& c, uint32_t events);
    http::ResponseScanner::Status consume(Conn& c, const char* data, size_t size);
    void end_of_stream(Conn& c, uint32_t events);
    void exchange_done(Conn& c, uint32_t events);
    void await_eof(Conn& c, uint32_t events, bool from_event);

    void count(Syscall call) { ++stats_.syscalls[static_cast<size_t>(call)]; }
    void close_socket(Conn& c);
    void complete(Conn& c);
    void fail(Conn& c, Phase phase, int err);
    void release(Conn& c);
    void abandon_all();
    void arm(Conn& c, DeadlineList& list, int64_t timeout_ns);
    void expire(DeadlineList& list);
    const std::string& request_for(const Conn& c) const;

    const ChurnConfig& config_;
    const WorkerPlan plan_;
    const int64_t run_start_ns_;
    const int64_t run_end_ns_;
    const std::atomic<bool>& stop_;
    LiveCells& live_;
    ChurnStats& stats_;

    net::Fd epoll_;
    std::vector<Conn> conns_;
    std::vector<Conn*> free_;
    DeadlineList connect_timers_, io_timers_;
    std::string request_;       ///< every exchange but the last
    std::string last_request_;  ///< the last exchange (HTTP close=server: "Connection: close")
    std::unique_ptr<char[]> buffer_;

    int64_t now_ = 0;
    uint64_t started_ = 0;
    uint64_t in_flight_ = 0;
    uint64_t scheduled_ = 0;  ///< open loop: starts taken from the schedule so far
    size_t next_source_ = 0;
    bool draining_ = false;
    int64_t drain_end_ns_ = 0;
    int speculation_credit_ = 16;
    uint32_t speculation_probe_ = 0;
};

}  // namespace sockdrill::load::detail
