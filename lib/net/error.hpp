#pragma once
// One error type for the whole toolkit: it carries the exit status of
// DESIGN.md, the errno when a syscall failed, and the context that says what
// was being done ("connect 198.18.0.2:8080: ECONNREFUSED").
#include <stdexcept>
#include <string>
#include <string_view>

namespace sockdrill {

/// Exit statuses shared by every command (DESIGN.md, "Output contract").
enum class Exit : int {
    ok = 0,
    expectation_failed = 1,
    usage = 2,
    environment = 3,
    target = 4,
    interrupted = 130,
};

/// The symbolic name of an errno value ("ECONNRESET"), or "E<n>" if unknown.
std::string errno_name(int err);

/// The error every wrapper throws; caught once, in run_main().
class Error : public std::runtime_error {
public:
    Error(Exit exit, std::string message, int err = 0)
        : std::runtime_error(std::move(message)), exit_(exit), errno_(err) {}

    /// A failed syscall: "<context>: <ENAME> (<strerror>)". Errors that mean
    /// the peer is not there (refused, unreachable, reset) map to Exit::target,
    /// the rest to Exit::environment.
    static Error system(std::string_view context, int err);

    /// A bad value from the user; exit status 2.
    static Error usage(std::string message) { return Error(Exit::usage, std::move(message)); }

    Exit exit() const { return exit_; }
    int err() const { return errno_; }

private:
    Exit exit_;
    int errno_;
};

/// Throws Error::system(context, errno) when rc < 0, returns rc otherwise.
inline long check(long rc, std::string_view context);

}  // namespace sockdrill

#include <cerrno>
namespace sockdrill {
inline long check(long rc, std::string_view context) {
    if (rc < 0) throw Error::system(context, errno);
    return rc;
}
}  // namespace sockdrill
