#pragma once
// The ways a peer vanishes, and the one that needs no network change:
// `forget`, a socket closed in TCP_REPAIR mode, which sends nothing. Its
// peer stays half-open until it sends a segment, which the host answers
// with RST because it no longer knows the connection.
#include <string_view>

#include "net/fd.hpp"

namespace sockdrill::sandbox {

/// How the peer disappears (sockdrill-halfopen --vanish).
enum class Vanish {
    cut,        ///< its link goes down: nothing in or out
    blackhole,  ///< its host drops everything from us and answers nothing
    forget,     ///< its socket is gone without a packet (the host rebooted)
    stall,      ///< it is alive but its application stopped reading
};

/// Parses "cut", "blackhole", "forget" or "stall"; throws Error(usage) naming --vanish.
Vanish parse_vanish(std::string_view text);
std::string_view vanish_name(Vanish vanish);
/// cut and blackhole change the network, so they need the sandbox.
bool needs_sandbox(Vanish vanish);

/// Empty when this process may forget a socket (CAP_NET_ADMIN), else why not.
std::string forget_unavailable_reason();

/// Closes an established TCP socket without sending FIN or RST: TCP_REPAIR
/// on, then close() (tcp_close() -> tcp_disconnect() skips the reset in
/// repair mode). Needs CAP_NET_ADMIN; throws Error(environment) naming it.
void forget(net::Fd socket);

}  // namespace sockdrill::sandbox
