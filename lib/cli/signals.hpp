#pragma once
// Process-wide stop and statistics requests from signals. The handlers only
// set flags and write a byte to a self-pipe, so any loop can poll() the pipe
// next to its sockets and wake at once.
namespace sockdrill::cli {

/// Installs handlers for SIGINT, SIGTERM and SIGUSR1 (again on each call) and
/// ignores SIGPIPE, so writes to a reset peer fail with EPIPE instead.
void install_signal_handlers();
/// True once SIGINT or SIGTERM arrived (or request_stop() was called).
bool stop_requested();
/// The signal that asked to stop (SIGINT or SIGTERM), 0 for request_stop().
int stop_signal();
/// Asks every loop to stop, as SIGINT would, without a signal.
void request_stop();
/// Forgets an earlier stop request (tests that raise SIGINT on purpose).
void clear_stop_request();
/// True once per SIGUSR1 (reading clears it).
bool take_stats_request();
/// A descriptor that becomes readable on any of the above; drain_wakeup() clears it.
int wakeup_fd();
void drain_wakeup();

}  // namespace sockdrill::cli
