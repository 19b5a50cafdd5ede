#pragma once
// Entering another network namespace by name, path or process, as
// `ip netns exec` and `nsenter --net` do, for commands that inspect one.
#include <string_view>

#include "net/fd.hpp"

namespace sockdrill::kernel {

/// Opens a namespace: "NAME" (ip netns: /run/netns/NAME), a path
/// ("/proc/123/ns/net") or "pid:PID". Throws Error(usage) for a bad form and
/// Error(environment) when it does not exist or cannot be opened.
net::Fd open_netns(std::string_view spec);

/// Moves the calling thread into the namespace (setns). Sockets created
/// afterwards, netlink ones included, belong to it, and /proc/net shows it.
/// Throws Error(environment) naming CAP_SYS_ADMIN on EPERM.
void enter_netns(const net::Fd& ns, std::string_view spec);

}  // namespace sockdrill::kernel
