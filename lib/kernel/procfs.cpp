#include "kernel/procfs.hpp"

#include <fcntl.h>
#include <unistd.h>

#include "net/fd.hpp"

namespace sockdrill::kernel {

std::optional<std::string> read_proc_file(const std::string& path) {
    net::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return std::nullopt;
    std::string text;
    char buf[8192];
    while (true) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return std::nullopt;
        if (n == 0) return text;
        text.append(buf, static_cast<size_t>(n));
    }
}

}  // namespace sockdrill::kernel
