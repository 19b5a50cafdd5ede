#pragma once
// sockdrill-serve as a child process, for scenarios that must measure the
// server apart from the client: its syscalls are counted by its pid
// (sockdrill-syscost), which an in-process server would share with the
// load. The binary is the one beside the running command (the build tree,
// or the install's bindir), else sockdrill-serve on PATH, as the
// dispatcher finds commands.
//
// The child dies with its parent (PR_SET_PDEATHSIG SIGKILL), so a killed
// scenario leaves no server behind; it is stopped with SIGTERM (and SIGKILL
// after a grace period) and reaped by the destructor otherwise.
#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "net/address.hpp"
#include "net/fd.hpp"

namespace sockdrill::server {

class ServeProcess {
  public:
    /// Starts `sockdrill-serve --json ARGS...` and waits up to `timeout` for
    /// its "listening ADDR:PORT" lines. ARGS should say where to listen
    /// (--listen 127.0.0.1:0). Throws Error(environment) when the binary is
    /// missing, or the server exits or stays silent (its stderr quoted).
    ServeProcess(const std::vector<std::string>& args, std::chrono::milliseconds timeout = std::chrono::seconds(5));
    ~ServeProcess();
    ServeProcess(const ServeProcess&) = delete;
    ServeProcess& operator=(const ServeProcess&) = delete;

    pid_t pid() const { return pid_; }
    /// The listeners, in --listen order.
    const std::vector<net::Address>& addresses() const { return addresses_; }
    /// The server's statistics now (SIGUSR1, one JSON line): its "results".
    nlohmann::json stats(std::chrono::milliseconds timeout = std::chrono::seconds(5));
    /// SIGTERM, then waits up to `timeout` (SIGKILL after it); true when it exited 0.
    bool stop(std::chrono::milliseconds timeout = std::chrono::seconds(5));

  private:
    /// The next line of the child's stdout; Error(environment) after `timeout`.
    std::string read_line(std::chrono::milliseconds timeout);
    /// What the child wrote to stderr, for error messages.
    std::string stderr_text() const;

    pid_t pid_ = -1;
    net::Fd stdout_;
    net::Fd stderr_;  ///< a memfd: the child's stderr
    std::string buffered_;
    std::vector<net::Address> addresses_;
};

/// The sockdrill-serve binary this command would run: beside
/// /proc/self/exe, else found on PATH; empty when neither exists.
std::string serve_binary();

}  // namespace sockdrill::server
