#pragma once
// What every load driver (ChurnDriver, KeepaliveDriver) does with its
// threads, apart from the loop each one runs: one thread per worker, each in
// the run's network namespace, a count of ended workers under a condition
// variable for wait_for() and wait(), each worker's failure kept for wait()
// to rethrow; and the sampling loop of the run_* helpers.
#include <sys/epoll.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "cli/units.hpp"
#include "net/fd.hpp"

namespace sockdrill::load::detail {

/// A worker's connections waiting under one timeout, in deadline order:
/// every entry got the same timeout when it was appended and the clock only
/// moves on, so the front is always the next to expire. Intrusive: Conn has
/// `prev`, `next` and `list` members, so arming and disarming allocate nothing.
template <class Conn>
struct DeadlineList {
    Conn* head = nullptr;
    Conn* tail = nullptr;
    void push_back(Conn& c) {
        c.prev = tail;
        c.next = nullptr;
        (tail ? tail->next : head) = &c;
        tail = &c;
        c.list = this;
    }
    void remove(Conn& c) {
        (c.prev ? c.prev->next : head) = c.next;
        (c.next ? c.next->prev : tail) = c.prev;
        c.prev = c.next = nullptr;
        c.list = nullptr;
    }
};

/// The worker threads of one run. Declare it after every member its bodies
/// use: its destructor stops the run and joins the threads first.
class WorkerThreads {
  public:
    WorkerThreads() = default;
    /// Stops the run if it is still going and joins the threads.
    ~WorkerThreads();
    WorkerThreads(const WorkerThreads&) = delete;
    WorkerThreads& operator=(const WorkerThreads&) = delete;

    /// Starts `n` threads; thread i enters `netns` (nullptr = stay) and runs
    /// body(i). What body throws is kept for join() to rethrow.
    void start(size_t n, const net::Fd* netns, std::function<void(size_t)> body);
    /// The flag the workers poll; set by stop().
    const std::atomic<bool>& stop_flag() const { return stop_; }
    /// Asks every worker to end now.
    void stop() { stop_.store(true, std::memory_order_relaxed); }
    bool stop_requested() const { return stop_.load(); }
    /// Waits up to `timeout` for every worker to end; true when they have.
    bool wait_for(cli::Duration timeout);
    /// Waits for every worker, joins the threads and rethrows the first
    /// failure; returns when the last one ended (`since` if none ran).
    /// `what` names the driver in the error of a second call.
    int64_t join(std::string_view what, int64_t since);

  private:
    struct Thread {
        std::thread thread;
        std::exception_ptr failure;
        int64_t ended_ns = 0;
    };
    std::function<void(size_t)> body_;
    std::vector<std::unique_ptr<Thread>> threads_;
    std::atomic<bool> stop_{false};
    std::mutex mutex_;
    std::condition_variable ended_;
    size_t ended_count_ = 0;
    bool joined_ = false;
};

/// The run_* helpers' loop: until the driver's run ends, `sample` every
/// `interval` on a fixed grid, so a slow callback does not stretch the interval.
/// One epoll wait with a timeout in nanoseconds (epoll_pwait2, so open-loop
/// schedules land on time rather than on the next millisecond; epoll_wait on
/// kernels before 5.11). Returns the events ready, 0 on EINTR or timeout;
/// throws on any other error.
int wait_events(int epoll_fd, ::epoll_event* events, int max_events, int64_t timeout_ns);

template <class Driver>
void sample_until_end(Driver& driver, cli::Duration interval, const std::function<void()>& sample) {
    auto next = std::chrono::steady_clock::now() + interval;
    while (!driver.wait_for(
        std::chrono::duration_cast<cli::Duration>(next - std::chrono::steady_clock::now()))) {
        sample();
        next += interval;
    }
}

}  // namespace sockdrill::load::detail
