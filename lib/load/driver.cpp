#include "load/driver.hpp"

#include <sys/epoll.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <ctime>
#include <optional>

#include <fmt/format.h>

#include "load/churn_worker.hpp"
#include "net/error.hpp"
#include "sandbox/sandbox.hpp"

namespace sockdrill::load::detail {

int wait_events(int epoll_fd, epoll_event* events, int max_events, int64_t timeout_ns) {
    static std::atomic<bool> have_pwait2{true};
    int ready;
    if (have_pwait2.load(std::memory_order_relaxed)) {
        constexpr int64_t kNsPerS = 1'000'000'000;
        timespec timeout{timeout_ns / kNsPerS, timeout_ns % kNsPerS};
        ready = ::epoll_pwait2(epoll_fd, events, max_events, &timeout, nullptr);
        if (ready < 0 && errno == ENOSYS) {
            have_pwait2 = false;  // kernel before 5.11
            return 0;
        }
    } else {
        ready = ::epoll_wait(epoll_fd, events, max_events, static_cast<int>((timeout_ns + 999'999) / 1'000'000));
    }
    if (ready < 0) {
        if (errno == EINTR) return 0;
        throw Error::system("epoll_pwait2", errno);
    }
    return ready;
}

WorkerThreads::~WorkerThreads() {
    stop();
    for (auto& t : threads_)
        if (t->thread.joinable()) t->thread.join();
}

void WorkerThreads::start(size_t n, const net::Fd* netns, std::function<void(size_t)> body) {
    body_ = std::move(body);
    for (size_t i = 0; i < n; ++i) threads_.push_back(std::make_unique<Thread>());
    for (size_t i = 0; i < n; ++i) {
        Thread* t = threads_[i].get();
        t->thread = std::thread([this, t, i, netns] {
            try {
                // Sockets belong to the namespace of the thread that creates them.
                std::optional<sandbox::NetnsGuard> guard;
                if (netns) guard.emplace(*netns);
                body_(i);
            } catch (...) {
                t->failure = std::current_exception();
            }
            std::lock_guard lock(mutex_);
            t->ended_ns = monotonic_ns();
            ++ended_count_;
            ended_.notify_all();
        });
    }
}

bool WorkerThreads::wait_for(cli::Duration timeout) {
    std::unique_lock lock(mutex_);
    return ended_.wait_for(lock, timeout, [&] { return ended_count_ == threads_.size(); });
}

int64_t WorkerThreads::join(std::string_view what, int64_t since) {
    if (joined_) throw Error(Exit::environment, fmt::format("{}: wait() called twice", what));
    {
        std::unique_lock lock(mutex_);
        ended_.wait(lock, [&] { return ended_count_ == threads_.size(); });
    }
    for (auto& t : threads_) t->thread.join();
    joined_ = true;
    int64_t last_end = since;
    for (auto& t : threads_) {
        if (t->failure) std::rethrow_exception(t->failure);
        last_end = std::max(last_end, t->ended_ns);
    }
    return last_end;
}

}  // namespace sockdrill::load::detail
