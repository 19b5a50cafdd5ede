#pragma once
// sockdrill-syscost as functions: the syscalls a server makes per request,
// by name, counted with the kernel's syscall tracepoints on the server's
// pid (kernel::SyscallCounter) while a fixed number of requests is driven
// at it. The embedded server runs as a child process per variant (lean, or
// with --check-closed, --peername, --cork, --split-writes, another --io),
// so its pid holds only its own syscalls, and each count is checked against
// the server's own. With --target and --target-pid the same count is taken
// on a real server: Puma's "14 syscalls per request" table, on your server.
#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "cli/run_main.hpp"

namespace sockdrill::scenario {

/// One server configuration to count.
struct SyscostVariant {
    std::string name;                     ///< as written: "lean", "check-closed+cork", "io=select"
    std::vector<std::string> serve_args;  ///< the sockdrill-serve flags it adds
};

/// Parses one --compare entry: lean, check-closed, peername, cork, nodelay,
/// split-writes=N, io=MODEL, or several joined by '+' ("check-closed+cork").
/// Throws Error(usage) naming --compare and the word.
SyscostVariant parse_syscost_variant(std::string_view text);

/// The variants compared when --compare is not given.
std::vector<SyscostVariant> default_syscost_variants();

struct SyscostConfig {
    std::vector<SyscostVariant> variants = default_syscost_variants();
    bool compare_given = false;  ///< --compare was given (refused with --target)
    uint64_t requests = 20000;  ///< per variant
    unsigned connections = 1;   ///< keep-alive connections carrying them
    bool keepalive = true;      ///< false: one request per connection
    std::string path = "/";     ///< the request target
    /// A real server's processes (--target-pid, with --target): counted
    /// together, nothing started.
    std::vector<pid_t> target_pids;
    /// After the last response, how long the server may take to see the
    /// client's close before counting stops.
    cli::Duration settle = std::chrono::milliseconds(200);
    /// The throughput pass after the count, not counted: requests/s with
    /// this many connections for this long (0: none).
    unsigned load_connections = 16;
    cli::Duration load_time = std::chrono::seconds(1);
};

/// Checks what the option parser cannot; throws Error(usage) naming the flag
/// (a --target-pid that does not exist, --target-pid without --target).
void validate(const SyscostConfig& config, const cli::CommonOptions& common);

/// Counts each variant, or the target (sockdrill.syscost/1).
report::Report run_syscost(const SyscostConfig& config, const cli::CommonOptions& common, cli::Output& output);

/// The tracepoints a server's own count of `name` (server::syscall_name) may
/// be made through: glibc's select() is pselect6 on some architectures,
/// epoll_wait() epoll_pwait, and so on.
std::vector<std::string> syscall_aliases(std::string_view name);

}  // namespace sockdrill::scenario
