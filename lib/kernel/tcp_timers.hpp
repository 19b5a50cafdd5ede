#pragma once
// The kernel's TCP timer arithmetic, written out so a scenario can say what
// it expects before it measures: when keepalive gives up, when the
// retransmission timer gives up (tcp_retries2), how TCP_USER_TIMEOUT bounds
// both. The formulas follow net/ipv4/tcp_timer.c (tcp_model_timeout,
// retransmits_timed_out, tcp_keepalive_timer).
#include <chrono>
#include <optional>

#include "net/sockopt.hpp"

namespace sockdrill::kernel {

using std::chrono::milliseconds;

/// TCP_RTO_MIN and TCP_RTO_MAX (include/net/tcp.h).
constexpr milliseconds kRtoMin{200};
constexpr milliseconds kRtoMax{120000};

/// The kernel's HZ, from /boot/config-RELEASE; 250 (Debian's) when absent.
int kernel_hz();

/// What the kernel's timer wheel adds to a timer of this length, on
/// average: a timer lands in a level whose granularity is 8^level jiffies
/// (4 ms each at HZ=250), and expires at the next tick of that level, so a
/// 1 s timer fires up to 32 ms late and a 5 s one up to 256 ms late. The
/// predictions below add half of that per timer.
milliseconds timer_wheel_slack(milliseconds delay);

/// How long keepalive takes to declare a silent peer dead, counted from the
/// moment `since_last_ack` after the last segment the peer sent: the first
/// probe goes idle after that segment, then `count` probes `interval` apart
/// go unanswered. (tcp_keepalive_timer counts idle from the last receive.)
milliseconds keepalive_detection(const net::Keepalive& keepalive, milliseconds since_last_ack = milliseconds{0});

/// The retransmission give-up of tcp_retries2 = `retries` as the kernel
/// models it (tcp_model_timeout with TCP_RTO_MIN as the base): 200 ms *
/// (2^(retries+1) - 1) while the backoff is exponential, then 120 s per
/// retry. 15 (the default) gives 924.6 s.
milliseconds retries_model_timeout(int retries);

/// When a connection whose data goes unacknowledged is aborted, counted from
/// the moment the data was sent, for a connection with this `rto`:
/// - first a tail loss probe (RFC 8985) re-sends the last segment (see
///   LossProbe for when);
/// - one RTO later the retransmission timer fires; its first retransmission
///   stamps retrans_stamp, from which both limits are counted;
/// - the timer then doubles (expiries 2, 6, 14, ... RTOs later, each step
///   capped at 120 s) and aborts at the first expiry whose elapsed time
///   reaches tcp_retries2's modelled timeout;
/// - with TCP_USER_TIMEOUT the timer is clamped to it
///   (tcp_clamp_rto_to_user_timeout) and aborts exactly then.
/// What precedes the first RTO retransmission: a tail loss probe about one
/// RTO out (one segment in flight), or 2 srtt + 2 jiffies out (several), or
/// none (SACK off, tcp_early_retrans below 3).
enum class LossProbe { one_segment, several_segments, none };
milliseconds retransmission_giveup(milliseconds rto, int retries,
                                   std::optional<milliseconds> user_timeout = std::nullopt,
                                   LossProbe probe = LossProbe::one_segment);
/// When the first RTO retransmission goes: the loss probe, then the RTO.
milliseconds first_rto_retransmission(milliseconds rto, LossProbe probe = LossProbe::one_segment);

}  // namespace sockdrill::kernel
