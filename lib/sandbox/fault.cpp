#include "sandbox/fault.hpp"

#include <linux/capability.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <fmt/format.h>

#include "net/error.hpp"
#include "sandbox/sandbox.hpp"

namespace sockdrill::sandbox {

namespace {
constexpr std::pair<Vanish, std::string_view> kNames[] = {
    {Vanish::cut, "cut"}, {Vanish::blackhole, "blackhole"}, {Vanish::forget, "forget"}, {Vanish::stall, "stall"}};
}

Vanish parse_vanish(std::string_view text) {
    for (auto [vanish, name] : kNames)
        if (text == name) return vanish;
    throw Error::usage(fmt::format("--vanish: expected cut, blackhole, forget or stall, got \"{}\"", text));
}

std::string_view vanish_name(Vanish vanish) {
    for (auto [v, name] : kNames)
        if (v == vanish) return name;
    return "?";
}

bool needs_sandbox(Vanish vanish) { return vanish == Vanish::cut || vanish == Vanish::blackhole; }

std::string forget_unavailable_reason() {
    return has_capability(CAP_NET_ADMIN) ? ""
                                         : "--vanish forget closes a socket in TCP_REPAIR mode, which needs CAP_NET_ADMIN";
}

void forget(net::Fd socket) {
    int on = 1;  // TCP_REPAIR_ON
    if (::setsockopt(socket.get(), IPPROTO_TCP, TCP_REPAIR, &on, sizeof on) < 0) {
        int err = errno;
        throw Error(Exit::environment,
                    fmt::format("setsockopt TCP_REPAIR: {}{}", errno_name(err),
                                err == EPERM ? " (closing a socket silently needs CAP_NET_ADMIN)" : ""),
                    err);
    }
    socket.reset();
}

}  // namespace sockdrill::sandbox
