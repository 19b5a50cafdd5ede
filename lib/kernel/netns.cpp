#include "kernel/netns.hpp"

#include <fcntl.h>
#include <sched.h>

#include <charconv>
#include <fmt/format.h>
#include <string>

#include "net/error.hpp"

namespace sockdrill::kernel {

net::Fd open_netns(std::string_view spec) {
    std::string path;
    if (spec.rfind("pid:", 0) == 0) {
        auto pid_text = spec.substr(4);
        unsigned pid = 0;
        auto [end, ec] = std::from_chars(pid_text.data(), pid_text.data() + pid_text.size(), pid);
        if (ec != std::errc{} || end != pid_text.data() + pid_text.size() || pid == 0)
            throw Error::usage(fmt::format("--netns: expected pid:PID with a process id, got \"{}\"", spec));
        path = fmt::format("/proc/{}/ns/net", pid);
    } else if (spec.find('/') != std::string_view::npos) {
        path = std::string(spec);
    } else if (!spec.empty()) {
        path = fmt::format("/run/netns/{}", spec);
    } else {
        throw Error::usage("--netns: expected NAME, a /path, or pid:PID");
    }
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        throw Error(Exit::environment,
                    fmt::format("--netns {}: cannot open {}: {}", spec, path, errno_name(err)), err);
    }
    return net::Fd(fd);
}

void enter_netns(const net::Fd& ns, std::string_view spec) {
    if (::setns(ns.get(), CLONE_NEWNET) < 0) {
        int err = errno;
        throw Error(Exit::environment,
                    fmt::format("--netns {}: setns: {}{}", spec, errno_name(err),
                                err == EPERM ? " (needs CAP_SYS_ADMIN)" : err == EINVAL ? " (not a network namespace)" : ""),
                    err);
    }
}

}  // namespace sockdrill::kernel
