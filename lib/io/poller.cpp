#include "io/poller.hpp"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>

#include <fmt/format.h>
#include <vector>

#include "net/error.hpp"
#include "net/fd.hpp"

namespace sockdrill::io {

namespace {

class EpollPoller final : public Poller {
public:
    EpollPoller() : epfd_(static_cast<int>(check(::epoll_create1(EPOLL_CLOEXEC), "epoll_create1"))) {}

    bool add(int fd, uint8_t interest, bool exclusive) override {
        epoll_event ev{mask(interest) | (exclusive ? EPOLLEXCLUSIVE : 0u), {}};
        ev.data.fd = fd;
        ++syscalls_.control;
        check(::epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, fd, &ev), "epoll_ctl ADD");
        return true;
    }
    void modify(int fd, uint8_t interest) override {
        epoll_event ev{mask(interest), {}};
        ev.data.fd = fd;
        ++syscalls_.control;
        check(::epoll_ctl(epfd_.get(), EPOLL_CTL_MOD, fd, &ev), "epoll_ctl MOD");
    }
    void remove(int fd) override {
        // Closing a descriptor removes it from epoll too; callers that close
        // right after do not call this (one syscall less per connection).
        ++syscalls_.control;
        ::epoll_ctl(epfd_.get(), EPOLL_CTL_DEL, fd, nullptr);
    }
    int wait(std::span<Event> events, int timeout_ms) override {
        epoll_event raw[256];
        int max = static_cast<int>(std::min<size_t>(events.size(), std::size(raw)));
        ++syscalls_.wait;
        int n = ::epoll_wait(epfd_.get(), raw, max, timeout_ms);
        if (n < 0) {
            if (errno == EINTR) return 0;
            throw Error::system("epoll_wait", errno);
        }
        for (int i = 0; i < n; ++i) {
            events[i] = Event{raw[i].data.fd, (raw[i].events & EPOLLIN) != 0,
                              (raw[i].events & EPOLLOUT) != 0,
                              (raw[i].events & (EPOLLERR | EPOLLHUP)) != 0};
        }
        return n;
    }
    const char* name() const override { return "epoll"; }
    const char* wait_syscall() const override { return "epoll_wait"; }

private:
    static uint32_t mask(uint8_t interest) {
        return ((interest & kRead) ? EPOLLIN : 0u) | ((interest & kWrite) ? EPOLLOUT : 0u);
    }
    net::Fd epfd_;
};

class PollPoller final : public Poller {
public:
    bool add(int fd, uint8_t interest, bool) override {
        if (static_cast<size_t>(fd) >= slot_.size()) slot_.resize(fd + 1, -1);
        slot_[fd] = static_cast<int>(fds_.size());
        fds_.push_back(pollfd{fd, mask(interest), 0});
        return true;
    }
    void modify(int fd, uint8_t interest) override {
        if (static_cast<size_t>(fd) < slot_.size() && slot_[fd] >= 0)
            fds_[slot_[fd]].events = mask(interest);
    }
    void remove(int fd) override {
        if (static_cast<size_t>(fd) >= slot_.size() || slot_[fd] < 0) return;
        int at = slot_[fd];
        fds_[at] = fds_.back();
        slot_[fds_[at].fd] = at;
        fds_.pop_back();
        slot_[fd] = -1;
    }
    int wait(std::span<Event> events, int timeout_ms) override {
        ++syscalls_.wait;
        int ready = ::poll(fds_.data(), fds_.size(), timeout_ms);
        if (ready < 0) {
            if (errno == EINTR) return 0;
            throw Error::system("poll", errno);
        }
        int n = 0;
        for (size_t i = 0; i < fds_.size() && n < ready && static_cast<size_t>(n) < events.size(); ++i) {
            short r = fds_[i].revents;
            if (!r) continue;
            events[n++] = Event{fds_[i].fd, (r & POLLIN) != 0, (r & POLLOUT) != 0,
                                (r & (POLLERR | POLLHUP | POLLNVAL)) != 0};
        }
        return n;
    }
    const char* name() const override { return "poll"; }
    const char* wait_syscall() const override { return "poll"; }

private:
    static short mask(uint8_t interest) {
        return static_cast<short>(((interest & kRead) ? POLLIN : 0) | ((interest & kWrite) ? POLLOUT : 0));
    }
    std::vector<pollfd> fds_;
    std::vector<int> slot_;  // fd -> index in fds_, -1 when absent
};

class SelectPoller final : public Poller {
public:
    SelectPoller() {
        FD_ZERO(&read_);
        FD_ZERO(&write_);
    }
    bool add(int fd, uint8_t interest, bool) override {
        // FD_SET past FD_SETSIZE writes outside the fd_set: refuse instead.
        if (fd < 0 || fd >= FD_SETSIZE) return false;
        modify(fd, interest);
        max_fd_ = std::max(max_fd_, fd);
        return true;
    }
    void modify(int fd, uint8_t interest) override {
        if (fd < 0 || fd >= FD_SETSIZE) return;
        if (interest & kRead) FD_SET(fd, &read_); else FD_CLR(fd, &read_);
        if (interest & kWrite) FD_SET(fd, &write_); else FD_CLR(fd, &write_);
    }
    void remove(int fd) override {
        if (fd < 0 || fd >= FD_SETSIZE) return;
        FD_CLR(fd, &read_);
        FD_CLR(fd, &write_);
        while (max_fd_ >= 0 && !FD_ISSET(max_fd_, &read_) && !FD_ISSET(max_fd_, &write_)) --max_fd_;
    }
    int wait(std::span<Event> events, int timeout_ms) override {
        fd_set r = read_, w = write_;
        timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
        ++syscalls_.wait;
        int ready = ::select(max_fd_ + 1, &r, &w, nullptr, timeout_ms < 0 ? nullptr : &tv);
        if (ready < 0) {
            if (errno == EINTR) return 0;
            throw Error::system("select", errno);
        }
        int n = 0;
        for (int fd = 0; fd <= max_fd_ && n < ready && static_cast<size_t>(n) < events.size(); ++fd) {
            bool readable = FD_ISSET(fd, &r), writable = FD_ISSET(fd, &w);
            if (readable || writable) events[n++] = Event{fd, readable, writable, false};
        }
        return n;
    }
    const char* name() const override { return "select"; }
    const char* wait_syscall() const override { return "select"; }

private:
    fd_set read_, write_;
    int max_fd_ = -1;
};

}  // namespace

std::unique_ptr<Poller> make_poller(const std::string& name) {
    if (name == "epoll") return std::make_unique<EpollPoller>();
    if (name == "poll") return std::make_unique<PollPoller>();
    if (name == "select") return std::make_unique<SelectPoller>();
    throw Error::usage(fmt::format("--io: expected epoll, poll, select or threads, got \"{}\"", name));
}

}  // namespace sockdrill::io
