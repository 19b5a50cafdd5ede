// sockdrill-herd's server side: listeners, the shared region, the accept
// mutexes and one worker loop per accept model. Each worker takes ONE
// connection per wakeup (nginx's multi_accept off, Apache's one accept per
// poll), reads the client's 8-byte stamp, and closes first, so TIME-WAIT
// stays on the server side and the client's ephemeral ports stay free.
//
// What the kernel does that the models show (net/ipv4/inet_connection_sock.c,
// fs/eventpoll.c, net/core/sock_reuseport.c, 6.x):
//  - a thread blocked in accept() waits with prepare_to_wait_exclusive(): a
//    new connection wakes one of them (wake-one accept, since 2.3/2.4);
//  - epoll adds its own entry to the listener's wait queue, non-exclusive:
//    every epoll holding the listener is woken, and every epoll_wait()
//    waiting on it wakes; one that re-polls the listener after another
//    worker's accept() finds nothing and sleeps again without returning,
//    the others return and their accept() gets EAGAIN (the herd);
//  - EPOLLEXCLUSIVE (4.5) makes that entry exclusive: one (or a few) of the
//    waiting epolls is woken per event;
//  - SO_REUSEPORT gives each worker its own listen socket and queue; the
//    kernel hashes the 4-tuple to pick one (reuseport_select_sock), so no
//    one else is woken, and a busy worker's queue waits for it (imbalance);
//  - fcntl and flock locks wake every blocked waiter on unlock, which
//    retries; SysV semaphores and futexes hand over to one.
#include "scenario/herd_parts.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/sem.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <new>
#include <optional>
#include <stdexcept>

#include "kernel/sysctl.hpp"
#include "net/address.hpp"
#include "net/error.hpp"
#include "net/socket.hpp"

namespace sockdrill::scenario::herd {

namespace {

// How long a worker waits before it looks at the stop flag again.
constexpr int kWaitMs = 50;
// How long it waits for a client's stamp at most (in kWaitMs slices).
constexpr int kStampWaitMs = 1000;
// listen()'s backlog: far more than --concurrency, so no SYN is dropped
// and the queue never hides the herd (somaxconn clamps it).
constexpr int kBacklog = 4096;

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

// blocking and select-multi leave their listeners blocking: the point of
// select-multi is the child that lost the race and now blocks in accept().
bool blocking_listeners(AcceptModel m) { return m == AcceptModel::blocking || m == AcceptModel::select_multi; }

}  // namespace

int64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// --- shared region ----------------------------------------------------------

SharedRegion::SharedRegion(unsigned workers, unsigned listeners) : workers_(workers), listeners_(listeners) {
    slots_at_ = round_up(sizeof(Header), 64);
    histograms_at_ = round_up(slots_at_ + workers * sizeof(WorkerSlot), 64);
    size_ = histograms_at_ + size_t{workers} * listeners * sizeof(load::Histogram);
    base_ = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (base_ == MAP_FAILED) {
        base_ = nullptr;
        throw Error::system("mmap shared region", errno);
    }
    static_assert(std::atomic<bool>::is_always_lock_free && std::atomic<unsigned>::is_always_lock_free,
                  "the stop flag must work across processes");
    new (base_) Header;
    auto* bytes = static_cast<char*>(base_);
    for (unsigned w = 0; w < workers; ++w) new (bytes + slots_at_ + w * sizeof(WorkerSlot)) WorkerSlot;
    for (size_t i = 0; i < size_t{workers} * listeners; ++i)
        new (bytes + histograms_at_ + i * sizeof(load::Histogram)) load::Histogram;
}

SharedRegion::~SharedRegion() {
    if (base_) ::munmap(base_, size_);
}

WorkerSlot& SharedRegion::slot(unsigned worker) {
    return *reinterpret_cast<WorkerSlot*>(static_cast<char*>(base_) + slots_at_ + worker * sizeof(WorkerSlot));
}

load::Histogram& SharedRegion::latency(unsigned worker, unsigned listener) {
    size_t i = size_t{worker} * listeners_ + listener;
    return *reinterpret_cast<load::Histogram*>(static_cast<char*>(base_) + histograms_at_ + i * sizeof(load::Histogram));
}

// --- listeners --------------------------------------------------------------

namespace {

net::Fd listen_socket(AcceptModel model, uint16_t port, bool reuseport) {
    net::ListenOptions options;
    options.backlog = kBacklog;
    options.reuseaddr = false;  // port 0: nothing to reuse
    options.reuseport = reuseport;
    options.nonblocking = !blocking_listeners(model);
    return net::listen_tcp(net::Address::parse_host("127.0.0.1", port), options);
}

}  // namespace

int Listeners::fd(unsigned k, unsigned w) const {
    const auto& group = sockets[k];
    return group[group.size() == 1 ? 0 : w % group.size()].get();
}

void Listeners::shut_down() const {
    for (const auto& group : sockets)
        for (const auto& s : group) ::shutdown(s.get(), SHUT_RD);
}

Listeners make_listeners(AcceptModel model, unsigned listeners, unsigned workers) {
    Listeners l;
    bool reuseport = model == AcceptModel::reuseport;
    for (unsigned k = 0; k < listeners; ++k) {
        // reuseport: the first socket takes a free port, the others join it.
        std::vector<net::Fd> group;
        group.push_back(listen_socket(model, 0, reuseport));
        uint16_t port = net::local_address(group.front().get()).port();
        for (unsigned w = 1; reuseport && w < workers; ++w) group.push_back(listen_socket(model, port, true));
        l.sockets.push_back(std::move(group));
        l.ports.push_back(port);
    }
    return l;
}

// --- accept mutexes ---------------------------------------------------------

AcceptMutex::AcceptMutex(AcceptModel model, SharedRegion& region) : model_(model) {
    switch (model) {
    case AcceptModel::mutex_fcntl:
    case AcceptModel::mutex_flock: {
        // An unlinked temporary file: nothing is left behind, even after
        // kill -9. Each worker opens it again through /proc/self/fd, so
        // each holds its own open file description: OFD locks and flock
        // locks belong to the description, and so exclude threads too.
        char path[] = "/tmp/sockdrill-herd.XXXXXX";
        file_.reset(::mkostemp(path, O_CLOEXEC));
        if (!file_) throw Error::system("mkostemp /tmp/sockdrill-herd.XXXXXX", errno);
        ::unlink(path);
        break;
    }
    case AcceptModel::mutex_sysvsem: {
        semid_ = ::semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
        if (semid_ < 0) throw Error::system("semget", errno);
        if (::semctl(semid_, 0, SETVAL, 1) < 0) {
            int err = errno;
            ::semctl(semid_, 0, IPC_RMID);
            throw Error::system("semctl SETVAL", err);
        }
        break;
    }
    case AcceptModel::mutex_pthread: {
        // Robust: a child killed while holding it does not block the rest
        // (the next locker gets EOWNERDEAD and makes it consistent).
        pthread_mutexattr_t attr;
        pthread_mutexattr_init(&attr);
        pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
        pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
        int rc = pthread_mutex_init(region.mutex(), &attr);
        pthread_mutexattr_destroy(&attr);
        if (rc != 0) throw Error::system("pthread_mutex_init", rc);
        mutex_ = region.mutex();
        break;
    }
    default:
        break;
    }
}

AcceptMutex::~AcceptMutex() {
    if (semid_ >= 0) ::semctl(semid_, 0, IPC_RMID);
    if (mutex_) pthread_mutex_destroy(mutex_);
}

namespace {

// One worker's handle on the accept mutex.
class MutexHandle {
public:
    explicit MutexHandle(const AcceptMutex& m) : m_(m) {
        if (m.model() == AcceptModel::mutex_fcntl || m.model() == AcceptModel::mutex_flock) {
            own_.reset(::open(fmt::format("/proc/self/fd/{}", m.file_fd()).c_str(), O_RDWR | O_CLOEXEC));
            if (!own_) throw Error::system("open accept lock file", errno);
        }
    }
    void lock() { change(true); }
    void unlock() { change(false); }

private:
    void change(bool lock) {
        int rc = 0;
        do {
            switch (m_.model()) {
            case AcceptModel::mutex_fcntl: {
                struct flock fl {};
                fl.l_type = lock ? F_WRLCK : F_UNLCK;
                fl.l_whence = SEEK_SET;
                rc = ::fcntl(own_.get(), F_OFD_SETLKW, &fl);
                break;
            }
            case AcceptModel::mutex_flock: rc = ::flock(own_.get(), lock ? LOCK_EX : LOCK_UN); break;
            case AcceptModel::mutex_sysvsem: {
                sembuf op{0, static_cast<short>(lock ? -1 : 1), SEM_UNDO};
                rc = ::semop(m_.semid(), &op, 1);
                break;
            }
            case AcceptModel::mutex_pthread: {
                int err = lock ? pthread_mutex_lock(m_.mutex()) : pthread_mutex_unlock(m_.mutex());
                if (err == EOWNERDEAD) err = pthread_mutex_consistent(m_.mutex());
                if (err) throw Error::system(lock ? "pthread_mutex_lock" : "pthread_mutex_unlock", err);
                return;
            }
            default: return;
            }
        } while (rc < 0 && errno == EINTR);
        if (rc < 0) throw Error::system(lock ? "accept mutex lock" : "accept mutex unlock", errno);
    }

    const AcceptMutex& m_;
    net::Fd own_;
};

// --- the worker loops -------------------------------------------------------

struct Usage {
    uint64_t cpu_us = 0;
    uint64_t sleeps = 0;
};

// A worker sleeps each time it blocks (in epoll_wait, select, poll, accept
// or a lock) and is counted as a voluntary context switch when it does: the
// number of times it was woken, including the wakeups the kernel absorbs
// (epoll_wait re-polls a woken listener, finds its connection taken and
// sleeps again without returning).
Usage usage(bool process) {
    rusage ru{};
    ::getrusage(process ? RUSAGE_SELF : RUSAGE_THREAD, &ru);
    auto us = [](const timeval& tv) { return uint64_t(tv.tv_sec) * 1000000 + uint64_t(tv.tv_usec); };
    return {us(ru.ru_utime) + us(ru.ru_stime), static_cast<uint64_t>(ru.ru_nvcsw)};
}

// wait_ready() waits for one count per worker: a worker that fails after
// it counted (a lock error in run_mutex) must not count again.
void count_ready(WorkerSlot& slot, SharedRegion& region) {
    if (slot.ready) return;
    slot.ready = true;
    region.ready().fetch_add(1);
}

class Worker {
public:
    Worker(const WorkerPlan& plan, unsigned index)
        : plan_(plan), index_(index), slot_(plan.region->slot(index)), stop_(plan.region->stop()) {}

    void run() {
        switch (plan_.model) {
        case AcceptModel::blocking: run_blocking(); break;
        case AcceptModel::epoll_shared:
        case AcceptModel::epoll_exclusive:
        case AcceptModel::reuseport: run_epoll(); break;
        case AcceptModel::select_multi: run_select(); break;
        default: run_mutex(); break;
        }
    }

private:
    int listener_fd(unsigned k) const { return plan_.sockets->fd(k, index_); }
    // Set up and about to wait for the first time: CPU time and sleeps count from here.
    void ready() {
        auto u = usage(plan_.process);
        slot_.cpu_us_at_start = u.cpu_us;
        slot_.sleeps_at_start = u.sleeps;
        count_ready(slot_, *plan_.region);
    }
    bool stopping() const { return stop_.load(std::memory_order_relaxed); }

    // Reads the client's stamp, records the accept latency, closes first.
    void serve(int conn, unsigned k, int64_t accepted_ns) {
        ++slot_.accepts;
        ++slot_.accepts_by_listener[k];
        int64_t stamp = 0;
        ssize_t n = ::recv(conn, &stamp, sizeof stamp, MSG_DONTWAIT | MSG_WAITALL);
        if (n < 0 && errno == EAGAIN) {
            // Accepted before the stamp came: the client sends it once its
            // connect() completes. This sleep is not an accept wakeup. It
            // ends when the run stops, so stop() does not have to kill a
            // worker that waits here before it wrote its CPU and sleeps.
            uint64_t before = usage(plan_.process).sleeps;
            pollfd p{conn, POLLIN, 0};
            for (int waited = 0; waited < kStampWaitMs && !stopping(); waited += kWaitMs) {
                if (::poll(&p, 1, kWaitMs) <= 0) continue;
                n = ::recv(conn, &stamp, sizeof stamp, MSG_WAITALL);
                break;
            }
            slot_.stamp_sleeps += usage(plan_.process).sleeps - before;
        }
        if (n == static_cast<ssize_t>(sizeof stamp) && stamp > 0 && stamp <= accepted_ns)
            plan_.region->latency(index_, k).record(static_cast<uint64_t>((accepted_ns - stamp) / 1000));
        else
            ++slot_.unread_stamps;  // the client gave up (RST) before we got to it
        ::close(conn);
    }

    // accept() failed other than EAGAIN or EINTR (EMFILE, ENOBUFS,
    // ECONNABORTED, ...): counted, and the worker goes on, as a server
    // would. Out of descriptors the connection stays queued and the
    // listener stays readable: pause 1 ms rather than spin on it.
    void accept_failed(int err) {
        ++slot_.accept_errors;
        if (err == EMFILE || err == ENFILE) ::usleep(1000);
    }

    // One accept4() on listener k: the connection (or -1 and errno) and when it returned.
    struct Accepted {
        int conn = -1;
        int err = 0;
        int64_t at_ns = 0;
    };
    Accepted accept_from(unsigned k) {
        Accepted a;
        a.conn = ::accept4(listener_fd(k), nullptr, nullptr, SOCK_CLOEXEC);
        a.err = errno;
        a.at_ns = monotonic_ns();
        return a;
    }
    // A blocking accept4() on listener k; nullopt when the run stopped
    // meanwhile (the listener shutdown wakes it), closing what it got.
    std::optional<Accepted> accept_unless_stopped(unsigned k) {
        auto a = accept_from(k);
        if (!stopping()) return a;
        if (a.conn >= 0) ::close(a.conn);
        return std::nullopt;
    }

    // Accepts one connection from listener k; counts an empty wakeup on EAGAIN.
    void take_one(unsigned k) {
        auto a = accept_from(k);
        if (a.conn >= 0) return serve(a.conn, k, a.at_ns);
        if (a.err == EAGAIN || a.err == EWOULDBLOCK) ++slot_.empty_returns;
        else if (a.err != EINTR) accept_failed(a.err);
    }

    void run_blocking() {
        // The kernel queues accept() waiters exclusively: one wakes per connection.
        unsigned k = index_ % plan_.listeners;
        ready();
        while (!stopping()) {
            auto a = accept_unless_stopped(k);
            if (!a) break;
            if (a->conn < 0 && a->err == EINTR) continue;
            ++slot_.returns;
            if (a->conn >= 0) serve(a->conn, k, a->at_ns);
            else if (a->err == EAGAIN) ++slot_.empty_returns;
            else if (a->err == EINVAL) break;  // the listener was shut down
            else accept_failed(a->err);
        }
    }

    void run_epoll() {
        net::Fd ep(::epoll_create1(EPOLL_CLOEXEC));
        if (!ep) throw Error::system("epoll_create1", errno);
        for (unsigned k = 0; k < plan_.listeners; ++k) {
            epoll_event ev{};
            ev.events = EPOLLIN;
            if (plan_.model == AcceptModel::epoll_exclusive) ev.events |= EPOLLEXCLUSIVE;
            ev.data.u32 = k;
            check(::epoll_ctl(ep.get(), EPOLL_CTL_ADD, listener_fd(k), &ev), "epoll_ctl ADD listener");
        }
        ready();
        while (!stopping()) {
            // One event per wakeup: a level-triggered listener goes back to
            // the tail of the ready list, so several listeners take turns.
            epoll_event ev{};
            int n = ::epoll_wait(ep.get(), &ev, 1, kWaitMs);
            if (n == 0) ++slot_.timeouts;
            if (n <= 0 || stopping()) continue;
            ++slot_.returns;
            take_one(ev.data.u32);
        }
    }

    void run_select() {
        int max_fd = -1;
        for (unsigned k = 0; k < plan_.listeners; ++k) max_fd = std::max(max_fd, listener_fd(k));
        if (max_fd >= FD_SETSIZE) throw Error(Exit::environment, fmt::format("select: descriptor {} is beyond FD_SETSIZE", max_fd));
        ready();
        while (!stopping()) {
            fd_set readable;
            FD_ZERO(&readable);
            for (unsigned k = 0; k < plan_.listeners; ++k) FD_SET(listener_fd(k), &readable);
            timeval tv{0, kWaitMs * 1000};
            int n = ::select(max_fd + 1, &readable, nullptr, nullptr, &tv);
            if (n == 0) ++slot_.timeouts;
            if (n <= 0 || stopping()) continue;
            ++slot_.returns;
            // The first ready listener, always from the first: as long as
            // listener 0 has a connection waiting, the others wait too.
            unsigned k = 0;
            while (!FD_ISSET(listener_fd(k), &readable)) ++k;
            // Every child woke for this connection; if another took it, this
            // one now blocks in accept() on k, deaf to the other listeners.
            pollfd still{listener_fd(k), POLLIN, 0};
            bool lost = ::poll(&still, 1, 0) == 0;
            if (lost) ++slot_.empty_returns;
            auto a = accept_unless_stopped(k);
            if (!a) break;
            if (lost) ++slot_.returns;  // the blocked accept() returning is a second wakeup
            if (a->conn >= 0) serve(a->conn, k, a->at_ns);
            else if (a->err != EAGAIN && a->err != EINTR) accept_failed(a->err);
        }
    }

    void run_mutex() {
        MutexHandle mutex(*plan_.mutex);
        std::vector<pollfd> fds(plan_.listeners);
        for (unsigned k = 0; k < plan_.listeners; ++k) fds[k] = {listener_fd(k), POLLIN, 0};
        unsigned next = 0;  // Apache starts each scan after the last served listener
        ready();
        while (!stopping()) {
            mutex.lock();
            if (stopping()) {
                mutex.unlock();
                break;
            }
            int n = ::poll(fds.data(), fds.size(), kWaitMs);
            if (n == 0) ++slot_.timeouts;
            if (n <= 0 || stopping()) {
                mutex.unlock();
                continue;
            }
            ++slot_.returns;
            unsigned k = next;
            while (!(fds[k].revents & POLLIN)) k = (k + 1) % plan_.listeners;
            next = (k + 1) % plan_.listeners;
            auto a = accept_from(k);
            mutex.unlock();
            if (a.conn >= 0) serve(a.conn, k, a.at_ns);
            else if (a.err == EAGAIN) ++slot_.empty_returns;
            else if (a.err != EINTR) accept_failed(a.err);
        }
    }

    WorkerPlan plan_;
    unsigned index_;
    WorkerSlot& slot_;
    std::atomic<bool>& stop_;
};

// A worker never throws: a failure is recorded in its slot, and a failed
// set-up still counts as ready, so the parent does not wait for it.
void run_worker(const WorkerPlan& plan, unsigned index) {
    WorkerSlot& slot = plan.region->slot(index);
    try {
        Worker(plan, index).run();
    } catch (const std::exception& e) {
        auto* err = dynamic_cast<const Error*>(&e);
        slot.error = err && err->err() ? err->err() : EINVAL;
        std::snprintf(slot.error_what, sizeof slot.error_what, "%s", e.what());
        count_ready(slot, *plan.region);
    }
    if (slot.error) return;
    auto u = usage(plan.process);
    slot.cpu_us = u.cpu_us - slot.cpu_us_at_start;
    slot.sleeps = u.sleeps - slot.sleeps_at_start;
    slot.finished = true;
}

// How many threads the process has now (1 if /proc cannot tell).
size_t threads_in_process() {
    std::error_code ec;
    size_t n = 0;
    for (std::filesystem::directory_iterator it("/proc/self/task", ec), end; !ec && it != end; it.increment(ec)) ++n;
    return ec || n == 0 ? 1 : n;
}

}  // namespace

// --- starting and stopping workers ------------------------------------------

Workers::Workers(const WorkerPlan& plan, unsigned count, bool processes, cli::Duration bound) : plan_(plan) {
    plan_.process = processes;
    if (!processes) {
        try {
            for (unsigned w = 0; w < count; ++w) threads_.emplace_back([this, w] { run_worker(plan_, w); });
        } catch (...) {
            stop();  // the destructor will not run: join the threads already started
            throw;
        }
        return;
    }
    // fork() copies the calling thread only: a lock another thread held at
    // that moment (malloc's, stdio's, the locale fmt reads) stays locked in
    // the child for good, and the child runs malloc and fmt. So the process
    // must be single-threaded here: run_model_here forks before run_load
    // starts the client threads (and after the previous model joined its
    // own), and the sysvsem model's IPC namespace is entered on the main
    // thread. Checked, so that a later change cannot break it quietly.
    if (size_t n = threads_in_process(); n != 1)
        throw std::logic_error(fmt::format("herd: forking workers from a process with {} threads", n));
    pid_t parent = ::getpid();
    unsigned bound_s = static_cast<unsigned>(cli::to_seconds(bound)) + 5;
    for (unsigned w = 0; w < count; ++w) {
        pid_t pid = ::fork();
        if (pid < 0) {
            int err = errno;
            stop();
            throw Error::system("fork", err);
        }
        if (pid == 0) {
            // The child dies with the thread that forked it, and on its own
            // after the run's bound; Ctrl-C is the parent's to handle.
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) ::_exit(1);
            ::signal(SIGINT, SIG_IGN);
            ::signal(SIGTERM, SIG_DFL);
            ::alarm(bound_s);
            run_worker(plan_, w);
            ::_exit(0);
        }
        children_.push_back(pid);
    }
}

Workers::~Workers() { stop(); }

void Workers::wait_ready() {
    size_t expected = threads_.size() + children_.size();
    int64_t deadline = monotonic_ns() + int64_t{5} * 1000000000;
    while (plan_.region->ready().load() < expected && monotonic_ns() < deadline) ::usleep(1000);
    // Ready is counted just before the first wait: give them a moment to block.
    ::usleep(20000);
}

void Workers::stop() {
    if (stopped_) return;
    stopped_ = true;
    plan_.region->stop().store(true);
    plan_.sockets->shut_down();
    for (auto& t : threads_) t.join();
    int64_t deadline = monotonic_ns() + 1000000000;
    for (pid_t pid : children_) {
        for (;;) {
            pid_t r = ::waitpid(pid, nullptr, WNOHANG);
            if (r == pid || (r < 0 && errno != EINTR)) break;
            if (monotonic_ns() > deadline) {
                ::kill(pid, SIGKILL);
                while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
                }
                break;
            }
            ::usleep(2000);
        }
    }
}

}  // namespace sockdrill::scenario::herd
