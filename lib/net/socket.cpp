#include "net/socket.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <fmt/format.h>

#include "net/error.hpp"
#include "net/sockopt.hpp"

namespace sockdrill::net {

Fd listen_tcp(const Address& address, const ListenOptions& options) {
    int flags = SOCK_STREAM | SOCK_CLOEXEC | (options.nonblocking ? SOCK_NONBLOCK : 0);
    Fd fd(static_cast<int>(check(::socket(address.family(), flags, 0), "socket")));
    if (options.reuseaddr) set_reuseaddr(fd.get(), true);
    if (options.reuseport) set_reuseport(fd.get(), true);
    check(::bind(fd.get(), address.sa(), address.len()), fmt::format("bind {}", address.to_string()));
    check(::listen(fd.get(), options.backlog), fmt::format("listen {}", address.to_string()));
    return fd;
}

Fd connect_tcp(const Address& address, std::chrono::milliseconds timeout) {
    Fd fd(static_cast<int>(
        check(::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), "socket")));
    auto context = [&] { return fmt::format("connect {}", address.to_string()); };
    if (::connect(fd.get(), address.sa(), address.len()) < 0) {
        if (errno != EINPROGRESS) throw Error::system(context(), errno);
        pollfd p{fd.get(), POLLOUT, 0};
        int rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
        if (rc < 0) throw Error::system(context(), errno);
        if (rc == 0) throw Error::system(context(), ETIMEDOUT);
        if (int err = get_so_error(fd.get())) throw Error::system(context(), err);
    }
    set_nonblocking(fd.get(), false);
    return fd;
}

}  // namespace sockdrill::net
