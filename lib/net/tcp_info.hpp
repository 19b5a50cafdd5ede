#pragma once
// A snapshot of the kernel's struct tcp_info for one socket, in plain units.
#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace sockdrill::net {

/// What `ss -i` shows, read with getsockopt(TCP_INFO).
struct TcpInfo {
    std::string state;            ///< ss's name: ESTAB, TIME-WAIT, ...
    int state_number = 0;         ///< the kernel's TCP_ESTABLISHED, ... (7 = TCP_CLOSE)
    uint32_t retransmits = 0;     ///< retransmissions of the current segment
    uint32_t probes = 0;          ///< unanswered zero-window / keepalive probes
    uint32_t backoff = 0;         ///< exponential backoff count
    uint32_t rto_us = 0;
    uint32_t rtt_us = 0;
    uint32_t rttvar_us = 0;
    uint32_t snd_cwnd = 0;
    uint32_t snd_mss = 0;
    uint32_t unacked = 0;         ///< segments sent, not acknowledged
    uint32_t lost = 0;
    uint32_t retrans = 0;         ///< segments retransmitted, in flight
    uint32_t total_retrans = 0;
    uint32_t last_data_sent_ms = 0;
    uint32_t last_data_recv_ms = 0;
    uint32_t last_ack_recv_ms = 0;
    uint64_t bytes_acked = 0;
    uint64_t bytes_received = 0;
    uint64_t delivery_rate_bytes_per_s = 0;
};

/// getsockopt(TCP_INFO); throws Error on failure.
TcpInfo tcp_info(int fd);
/// From the raw struct tcp_info bytes a kernel sent (getsockopt or
/// INET_DIAG_INFO); an older kernel's shorter struct leaves the rest 0.
TcpInfo tcp_info_from_bytes(const void* data, size_t len);

/// ss's name for a TCP state number (TCP_ESTABLISHED -> "ESTAB").
const char* tcp_state_name(int state);

void to_json(nlohmann::json& j, const TcpInfo& info);

}  // namespace sockdrill::net
