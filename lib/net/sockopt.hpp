#pragma once
// Typed socket options. Each setter throws Error naming the option
// ("setsockopt TCP_USER_TIMEOUT: EINVAL"), each getter reads back what the
// kernel actually holds (which may differ: SO_RCVBUF is doubled by the kernel).
#include <chrono>
#include <optional>

namespace sockdrill::net {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::seconds;

/// SO_LINGER. nullopt = off (close() returns at once, FIN sent in background);
/// 0 = abortive close (RST, no TIME_WAIT); N = close() blocks up to N s.
void set_linger(int fd, std::optional<int> seconds);
std::optional<int> get_linger(int fd);

/// The keepalive triple: idle time before the first probe, interval between
/// probes, probes before the connection is declared dead.
struct Keepalive {
    seconds idle{7200};
    seconds interval{75};
    int count = 9;
};
/// SO_KEEPALIVE on plus TCP_KEEPIDLE/TCP_KEEPINTVL/TCP_KEEPCNT.
void set_keepalive(int fd, const Keepalive& keepalive);
void set_keepalive_off(int fd);
/// nullopt when SO_KEEPALIVE is off.
std::optional<Keepalive> get_keepalive(int fd);

/// TCP_USER_TIMEOUT: how long sent data may stay unacknowledged. 0 = kernel default.
void set_user_timeout(int fd, milliseconds timeout);
milliseconds get_user_timeout(int fd);

void set_nodelay(int fd, bool on);
bool get_nodelay(int fd);
void set_cork(int fd, bool on);
bool get_cork(int fd);
/// TCP_QUICKACK is not sticky: the kernel may leave quick-ack mode by itself.
void set_quickack(int fd, bool on);

/// SO_RCVTIMEO / SO_SNDTIMEO: blocking read()/write() fail with EAGAIN after this. 0 = never.
void set_rcvtimeo(int fd, microseconds timeout);
microseconds get_rcvtimeo(int fd);
void set_sndtimeo(int fd, microseconds timeout);
microseconds get_sndtimeo(int fd);

/// SO_RCVBUF / SO_SNDBUF. The getter returns the kernel's value (twice the request).
void set_rcvbuf(int fd, int bytes);
int get_rcvbuf(int fd);
void set_sndbuf(int fd, int bytes);
int get_sndbuf(int fd);

void set_reuseaddr(int fd, bool on);
void set_reuseport(int fd, bool on);
bool get_reuseport(int fd);

/// SO_ERROR: the pending socket error, cleared by reading it (0 when none).
int get_so_error(int fd);
/// FIONREAD / SIOCINQ: bytes waiting in the receive queue.
int bytes_unread(int fd);
/// SIOCOUTQ: bytes in the send queue, not yet acknowledged by the peer.
int bytes_unacked(int fd);

void set_nonblocking(int fd, bool on);

}  // namespace sockdrill::net
