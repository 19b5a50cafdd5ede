#pragma once
// The parts of sockdrill-herd (lib/scenario/herd*.cpp): the shared region
// the workers count into, the listeners, the workers and the client load.
#include <pthread.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "load/histogram.hpp"
#include "net/fd.hpp"
#include "scenario/herd.hpp"

namespace sockdrill::scenario::herd {

constexpr unsigned kMaxWorkers = 64;
constexpr unsigned kMaxListeners = 16;

/// Monotonic clock in nanoseconds: the same clock in every thread and
/// forked process, so a client's stamp and a worker's accept compare.
int64_t monotonic_ns();

/// One worker's counters. Written only by that worker, read by the parent
/// after the worker ended (join or waitpid orders the reads).
struct WorkerSlot {
    uint64_t returns = 0;        ///< returns from the blocking wait with something reported
    uint64_t empty_returns = 0;  ///< ... after which there was nothing to accept
    uint64_t timeouts = 0;       ///< waits that ended by their own timeout (to look at the stop flag)
    uint64_t sleeps = 0;         ///< voluntary context switches while running: each sleep ended by a wakeup
    uint64_t stamp_sleeps = 0;   ///< ... of which waiting for a client's stamp, not for a connection
    uint64_t accepts = 0;
    uint64_t accepts_by_listener[kMaxListeners] = {};
    uint64_t unread_stamps = 0;  ///< accepted, but the client's stamp never came (it gave up)
    uint64_t accept_errors = 0;  ///< accept() failed other than EAGAIN/EINTR (EMFILE, ECONNABORTED, ...)
    uint64_t cpu_us = 0;         ///< user + system time of the worker while running
    uint64_t cpu_us_at_start = 0, sleeps_at_start = 0;
    bool finished = false;       ///< cpu_us and sleeps are written: false if the worker was killed first
    bool ready = false;          ///< counted in the region's ready count (once, whatever happens after)
    int error = 0;               ///< errno of a failed set-up; 0 when it ran
    char error_what[64] = {};    ///< which call failed
};

/// What every worker shares, threads or processes alike: one
/// MAP_SHARED | MAP_ANONYMOUS mapping made before the workers start (a
/// forked child inherits it), holding the stop flag, the pthread accept
/// mutex, one slot per worker and one latency histogram per worker and
/// listener (fixed-size, so it lives in the mapping as it is).
class SharedRegion {
public:
    SharedRegion(unsigned workers, unsigned listeners);
    ~SharedRegion();
    SharedRegion(const SharedRegion&) = delete;
    SharedRegion& operator=(const SharedRegion&) = delete;

    std::atomic<bool>& stop() { return header()->stop; }
    std::atomic<unsigned>& ready() { return header()->ready; }
    pthread_mutex_t* mutex() { return &header()->mutex; }
    WorkerSlot& slot(unsigned worker);
    load::Histogram& latency(unsigned worker, unsigned listener);

private:
    struct Header {
        std::atomic<bool> stop{false};
        std::atomic<unsigned> ready{0};
        pthread_mutex_t mutex;
    };
    Header* header() { return static_cast<Header*>(base_); }

    void* base_ = nullptr;
    size_t size_ = 0;
    unsigned workers_, listeners_;
    size_t slots_at_ = 0, histograms_at_ = 0;
};

/// The listening sockets of one model run, on 127.0.0.1, each address its
/// own port. sockets[k] holds one socket, or one per worker (reuseport).
struct Listeners {
    std::vector<std::vector<net::Fd>> sockets;
    std::vector<uint16_t> ports;
    /// The socket worker w takes listener k's connections from.
    int fd(unsigned k, unsigned w) const;
    /// shutdown(SHUT_RD) on each: wakes every worker blocked in accept()
    /// or waiting on the listener (the listen socket closes: EINVAL).
    void shut_down() const;
};
Listeners make_listeners(AcceptModel model, unsigned listeners, unsigned workers);

/// What the accept mutex models share: made by the parent, removed at the end.
class AcceptMutex {
public:
    AcceptMutex(AcceptModel model, SharedRegion& region);
    ~AcceptMutex();
    AcceptMutex(const AcceptMutex&) = delete;
    AcceptMutex& operator=(const AcceptMutex&) = delete;

    AcceptModel model() const { return model_; }
    int file_fd() const { return file_.get(); }
    int semid() const { return semid_; }
    pthread_mutex_t* mutex() const { return mutex_; }

private:
    AcceptModel model_;
    net::Fd file_;
    int semid_ = -1;
    pthread_mutex_t* mutex_ = nullptr;
};

/// Everything a worker needs; the same for a thread and a forked child.
struct WorkerPlan {
    AcceptModel model;
    unsigned listeners = 1;
    const Listeners* sockets = nullptr;
    const AcceptMutex* mutex = nullptr;  ///< mutex models only
    SharedRegion* region = nullptr;
    bool process = false;                ///< CPU from RUSAGE_SELF instead of RUSAGE_THREAD
};

/// The workers of one model run, started at once and stopped by stop().
class Workers {
public:
    Workers(const WorkerPlan& plan, unsigned count, bool processes, cli::Duration bound);
    ~Workers();
    /// Waits (at most 5 s) until every worker is set up and about to wait.
    void wait_ready();
    /// Sets the stop flag, shuts the listeners down, joins the threads or
    /// reaps the children (SIGKILL for any still running after 1 s).
    void stop();

private:
    WorkerPlan plan_;
    std::vector<std::thread> threads_;
    std::vector<pid_t> children_;
    bool stopped_ = false;
};

/// The client load of one model run.
struct LoadConfig {
    std::vector<uint16_t> ports;
    std::vector<unsigned> weights;   ///< one per port
    unsigned concurrency = 32;
    unsigned threads = 2;
    uint64_t count = 0;              ///< 0: until duration
    cli::Duration duration{2000000};
    cli::Duration accept_timeout{1000000};
};

struct ListenerLoad {
    uint64_t started = 0;
    uint64_t completed = 0;  ///< the server closed (EOF) in time
    uint64_t gave_up = 0;    ///< not closed within --accept-timeout: closed with RST
    uint64_t failed = 0;     ///< connect or read failed
    uint64_t abandoned = 0;  ///< still in flight when SIGINT stopped the run
};

struct LoadResult {
    std::vector<ListenerLoad> listeners;
    std::map<std::string, uint64_t> connect_errors;  ///< errno name -> count
    std::map<std::string, uint64_t> read_errors;
    double elapsed_s = 0;  ///< first connect to last connection ended
    bool interrupted = false;
};

/// Closed-loop churn: `concurrency` connections in flight, each picks a
/// listener by weight, sends its monotonic stamp and waits for the server's
/// close. Ends after duration (or count), once every connection is done.
LoadResult run_load(const LoadConfig& config);

/// Picks listeners in proportion to weights, deterministically (nginx's
/// smooth weighted round robin: 5,1,1 gives a a b a c a a, not a a a a a b c).
class WeightedPicker {
public:
    explicit WeightedPicker(std::vector<unsigned> weights);
    unsigned next();

private:
    std::vector<unsigned> weights_;
    std::vector<int64_t> current_;
    int64_t total_ = 0;
};

}  // namespace sockdrill::scenario::herd
