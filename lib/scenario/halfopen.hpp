#pragma once
// sockdrill-halfopen as a function: a peer vanishes without a FIN or RST
// (link cut, blackhole, forgotten socket, stalled application) while the
// victim waits, and each detection method runs on its own connection, so
// one run shows how long every defence takes to notice, against the
// kernel's own formula.
#include <optional>
#include <string>
#include <vector>

#include "cli/run_main.hpp"
#include "net/sockopt.hpp"
#include "sandbox/fault.hpp"

namespace sockdrill::scenario {

using namespace std::chrono_literals;

/// A way for the victim to notice that its peer is gone.
enum class Method { none, rcvtimeo, poll, keepalive, user_timeout, retries2, heartbeat };

/// One --detect value: the method and its setting.
struct Detector {
    Method method = Method::none;
    cli::Duration timeout{0};     ///< rcvtimeo, poll, user-timeout, heartbeat
    net::Keepalive keepalive;     ///< keepalive
    int retries2 = 0;             ///< retries2

    /// The key in results and --expect paths: "keepalive", "user_timeout".
    std::string key() const;
    /// The value as given back: "keepalive=1s,1s,2".
    std::string spec() const;
    /// Needs data in flight to mean anything (user-timeout, retries2).
    bool needs_pending_data() const;
};

/// Parses --detect values: "all", or METHOD[=VALUE] for none, rcvtimeo=D,
/// poll=D, keepalive=IDLE,INTVL,CNT, user-timeout=D, retries2=N,
/// heartbeat=D. A bare method takes the demonstration value of "all".
/// Throws Error(usage) naming --detect and the accepted form.
std::vector<Detector> parse_detectors(const std::vector<std::string>& values);

struct HalfopenConfig {
    sandbox::Vanish vanish = sandbox::Vanish::cut;
    cli::Duration after = 500ms;            ///< healthy time before the peer vanishes
    bool pending_data = false;              ///< every victim has unacknowledged data in flight
    uint64_t pending_size = 1024;           ///< bytes written at the vanish (stall: until the window closes)
    std::vector<Detector> detectors;
    cli::Duration max_wait = 30s;           ///< bound on every wait
    std::string side = "client";            ///< client: we are the victim; server: we vanish
    // --side server: the embedded server's knobs.
    cli::Duration server_idle_timeout = 60s;
    std::optional<net::Keepalive> server_keepalive;
    std::optional<cli::Duration> server_user_timeout;
};

/// What the kernel formula predicts for one detector: when the victim
/// notices (nullopt: never, it would block forever) and what it sees.
struct Theory {
    std::optional<cli::Duration> detect_after;
    std::string saw;      ///< "ETIMEDOUT", "ECONNRESET", "EAGAIN", "poll 0", "no pong", "blocked"
    std::string formula;  ///< "idle 1s - 0.4s since last ACK + 1s * 2"
    /// Counted from when the peer's window shut, not from the vanish (the
    /// run adds that moment, as the tap saw it).
    bool from_window_shut = false;
    /// How much the mechanism itself wanders around `detect_after` (a
    /// periodic sweep fires anywhere in its period): added to the tolerance.
    cli::Duration spread{0};
};
/// `rto` is the connection's RTO and `since_last_ack` how long ago the peer
/// last sent anything, both at the vanish; `retries2` the namespace's value;
/// `segments` how many segments the pending data takes (the loss probe
/// comes sooner for several).
Theory predict(const Detector& detector, sandbox::Vanish vanish, bool pending, cli::Duration rto,
               cli::Duration since_last_ack, int retries2, int segments = 1);

/// Checks what the parser cannot; throws Error(usage).
void validate(const HalfopenConfig& config, const cli::CommonOptions& common);
/// Runs the scenario (sockdrill.halfopen/1).
report::Report run_halfopen(const HalfopenConfig& config, const cli::CommonOptions& common, cli::Output& output);

}  // namespace sockdrill::scenario
