#include "cli/signals.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <mutex>

namespace sockdrill::cli {

namespace {

std::atomic<int> g_stop_signal{-1};  // -1: running; 0: request_stop(); else the signal
std::atomic<bool> g_stats{false};
int g_pipe[2] = {-1, -1};
std::once_flag g_once;

void wake() {
    if (g_pipe[1] >= 0) {
        char byte = 1;
        [[maybe_unused]] auto n = ::write(g_pipe[1], &byte, 1);  // full pipe: already awake
    }
}

void on_signal(int sig) {
    int saved = errno;
    if (sig == SIGUSR1) {
        g_stats = true;
    } else {
        int expected = -1;
        g_stop_signal.compare_exchange_strong(expected, sig);
    }
    wake();
    errno = saved;
}

}  // namespace

void install_signal_handlers() {
    std::call_once(g_once, [] {
        if (::pipe2(g_pipe, O_NONBLOCK | O_CLOEXEC) < 0) g_pipe[0] = g_pipe[1] = -1;
    });
    // Installed on every call, not once: whoever changed them since (a test
    // framework's crash handler, say) must not swallow the next SIGINT.
    {
        struct sigaction sa {};
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART;
        sigaction(SIGINT, &sa, nullptr);
        sigaction(SIGTERM, &sa, nullptr);
        sigaction(SIGUSR1, &sa, nullptr);
        signal(SIGPIPE, SIG_IGN);
    }
}

bool stop_requested() { return g_stop_signal.load(std::memory_order_relaxed) >= 0; }
int stop_signal() { return std::max(0, g_stop_signal.load()); }

void request_stop() {
    int expected = -1;
    g_stop_signal.compare_exchange_strong(expected, 0);
    wake();
}

void clear_stop_request() {
    g_stop_signal = -1;
    drain_wakeup();
}

bool take_stats_request() { return g_stats.exchange(false); }
int wakeup_fd() { return g_pipe[0]; }

void drain_wakeup() {
    char buf[64];
    while (g_pipe[0] >= 0 && ::read(g_pipe[0], buf, sizeof buf) > 0) {
    }
}

}  // namespace sockdrill::cli
