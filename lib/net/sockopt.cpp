#include "net/sockopt.hpp"

#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <fmt/format.h>

#include "net/error.hpp"

namespace sockdrill::net {

namespace {

template <typename T>
void set_opt(int fd, int level, int name, const T& value, const char* label) {
    if (::setsockopt(fd, level, name, &value, sizeof value) < 0)
        throw Error::system(fmt::format("setsockopt {}", label), errno);
}

template <typename T>
T get_opt(int fd, int level, int name, const char* label) {
    T value{};
    socklen_t len = sizeof value;
    if (::getsockopt(fd, level, name, &value, &len) < 0)
        throw Error::system(fmt::format("getsockopt {}", label), errno);
    return value;
}

timeval to_timeval(microseconds us) {
    return timeval{static_cast<time_t>(us.count() / 1000000),
                   static_cast<suseconds_t>(us.count() % 1000000)};
}

microseconds from_timeval(const timeval& tv) {
    return microseconds(static_cast<long long>(tv.tv_sec) * 1000000 + tv.tv_usec);
}

}  // namespace

void set_linger(int fd, std::optional<int> seconds) {
    linger l{seconds.has_value() ? 1 : 0, seconds.value_or(0)};
    set_opt(fd, SOL_SOCKET, SO_LINGER, l, "SO_LINGER");
}

std::optional<int> get_linger(int fd) {
    auto l = get_opt<linger>(fd, SOL_SOCKET, SO_LINGER, "SO_LINGER");
    if (!l.l_onoff) return std::nullopt;
    return l.l_linger;
}

void set_keepalive(int fd, const Keepalive& k) {
    set_opt(fd, SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE");
    set_opt(fd, IPPROTO_TCP, TCP_KEEPIDLE, static_cast<int>(k.idle.count()), "TCP_KEEPIDLE");
    set_opt(fd, IPPROTO_TCP, TCP_KEEPINTVL, static_cast<int>(k.interval.count()), "TCP_KEEPINTVL");
    set_opt(fd, IPPROTO_TCP, TCP_KEEPCNT, k.count, "TCP_KEEPCNT");
}

void set_keepalive_off(int fd) { set_opt(fd, SOL_SOCKET, SO_KEEPALIVE, 0, "SO_KEEPALIVE"); }

std::optional<Keepalive> get_keepalive(int fd) {
    if (!get_opt<int>(fd, SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE")) return std::nullopt;
    Keepalive k;
    k.idle = seconds(get_opt<int>(fd, IPPROTO_TCP, TCP_KEEPIDLE, "TCP_KEEPIDLE"));
    k.interval = seconds(get_opt<int>(fd, IPPROTO_TCP, TCP_KEEPINTVL, "TCP_KEEPINTVL"));
    k.count = get_opt<int>(fd, IPPROTO_TCP, TCP_KEEPCNT, "TCP_KEEPCNT");
    return k;
}

void set_user_timeout(int fd, milliseconds timeout) {
    set_opt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, static_cast<unsigned>(timeout.count()),
            "TCP_USER_TIMEOUT");
}

milliseconds get_user_timeout(int fd) {
    return milliseconds(get_opt<unsigned>(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, "TCP_USER_TIMEOUT"));
}

void set_nodelay(int fd, bool on) { set_opt(fd, IPPROTO_TCP, TCP_NODELAY, int(on), "TCP_NODELAY"); }
bool get_nodelay(int fd) { return get_opt<int>(fd, IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY") != 0; }
void set_cork(int fd, bool on) { set_opt(fd, IPPROTO_TCP, TCP_CORK, int(on), "TCP_CORK"); }
bool get_cork(int fd) { return get_opt<int>(fd, IPPROTO_TCP, TCP_CORK, "TCP_CORK") != 0; }
void set_quickack(int fd, bool on) {
    set_opt(fd, IPPROTO_TCP, TCP_QUICKACK, int(on), "TCP_QUICKACK");
}

void set_rcvtimeo(int fd, microseconds t) {
    set_opt(fd, SOL_SOCKET, SO_RCVTIMEO, to_timeval(t), "SO_RCVTIMEO");
}
microseconds get_rcvtimeo(int fd) {
    return from_timeval(get_opt<timeval>(fd, SOL_SOCKET, SO_RCVTIMEO, "SO_RCVTIMEO"));
}
void set_sndtimeo(int fd, microseconds t) {
    set_opt(fd, SOL_SOCKET, SO_SNDTIMEO, to_timeval(t), "SO_SNDTIMEO");
}
microseconds get_sndtimeo(int fd) {
    return from_timeval(get_opt<timeval>(fd, SOL_SOCKET, SO_SNDTIMEO, "SO_SNDTIMEO"));
}

void set_rcvbuf(int fd, int bytes) { set_opt(fd, SOL_SOCKET, SO_RCVBUF, bytes, "SO_RCVBUF"); }
int get_rcvbuf(int fd) { return get_opt<int>(fd, SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF"); }
void set_sndbuf(int fd, int bytes) { set_opt(fd, SOL_SOCKET, SO_SNDBUF, bytes, "SO_SNDBUF"); }
int get_sndbuf(int fd) { return get_opt<int>(fd, SOL_SOCKET, SO_SNDBUF, "SO_SNDBUF"); }

void set_reuseaddr(int fd, bool on) {
    set_opt(fd, SOL_SOCKET, SO_REUSEADDR, int(on), "SO_REUSEADDR");
}
void set_reuseport(int fd, bool on) {
    set_opt(fd, SOL_SOCKET, SO_REUSEPORT, int(on), "SO_REUSEPORT");
}
bool get_reuseport(int fd) {
    return get_opt<int>(fd, SOL_SOCKET, SO_REUSEPORT, "SO_REUSEPORT") != 0;
}

int get_so_error(int fd) { return get_opt<int>(fd, SOL_SOCKET, SO_ERROR, "SO_ERROR"); }

int bytes_unread(int fd) {
    int n = 0;
    check(::ioctl(fd, SIOCINQ, &n), "ioctl SIOCINQ");
    return n;
}

int bytes_unacked(int fd) {
    int n = 0;
    check(::ioctl(fd, SIOCOUTQ, &n), "ioctl SIOCOUTQ");
    return n;
}

void set_nonblocking(int fd, bool on) {
    int flags = static_cast<int>(check(::fcntl(fd, F_GETFL), "fcntl F_GETFL"));
    flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
    check(::fcntl(fd, F_SETFL, flags), "fcntl F_SETFL");
}

}  // namespace sockdrill::net
