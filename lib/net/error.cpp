#include "net/error.hpp"

#include <cstring>
#include <fmt/format.h>

namespace sockdrill {

std::string errno_name(int err) {
    if (const char* name = strerrorname_np(err)) return name;
    return fmt::format("E{}", err);
}

Error Error::system(std::string_view context, int err) {
    Exit exit = Exit::environment;
    switch (err) {
        case ECONNREFUSED:
        case ECONNRESET:
        case EHOSTUNREACH:
        case ENETUNREACH:
        case ETIMEDOUT:
        case EPIPE:
            exit = Exit::target;
            break;
        default:
            break;
    }
    return Error(exit, fmt::format("{}: {} ({})", context, errno_name(err), std::strerror(err)), err);
}

}  // namespace sockdrill
