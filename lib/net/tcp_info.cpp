#include "net/tcp_info.hpp"

#include <netinet/in.h>
#include <linux/tcp.h>  // the kernel's tcp_info: glibc's lacks bytes_acked and later fields
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "net/error.hpp"

namespace sockdrill::net {

const char* tcp_state_name(int state) {
    static constexpr const char* names[] = {
        "UNKNOWN",   "ESTAB",      "SYN-SENT",  "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2",
        "TIME-WAIT", "UNCONN",     "CLOSE-WAIT", "LAST-ACK", "LISTEN",     "CLOSING",
        "NEW-SYN-RECV"};
    if (state < 0 || state >= static_cast<int>(std::size(names))) return "UNKNOWN";
    return names[state];
}

TcpInfo tcp_info_from_bytes(const void* data, size_t len) {
    struct ::tcp_info raw {};
    std::memcpy(&raw, data, std::min(len, sizeof raw));
    TcpInfo info;
    info.state = tcp_state_name(raw.tcpi_state);
    info.state_number = raw.tcpi_state;
    info.retransmits = raw.tcpi_retransmits;
    info.probes = raw.tcpi_probes;
    info.backoff = raw.tcpi_backoff;
    info.rto_us = raw.tcpi_rto;
    info.rtt_us = raw.tcpi_rtt;
    info.rttvar_us = raw.tcpi_rttvar;
    info.snd_cwnd = raw.tcpi_snd_cwnd;
    info.snd_mss = raw.tcpi_snd_mss;
    info.unacked = raw.tcpi_unacked;
    info.lost = raw.tcpi_lost;
    info.retrans = raw.tcpi_retrans;
    info.total_retrans = raw.tcpi_total_retrans;
    info.last_data_sent_ms = raw.tcpi_last_data_sent;
    info.last_data_recv_ms = raw.tcpi_last_data_recv;
    info.last_ack_recv_ms = raw.tcpi_last_ack_recv;
    info.bytes_acked = raw.tcpi_bytes_acked;
    info.bytes_received = raw.tcpi_bytes_received;
    info.delivery_rate_bytes_per_s = raw.tcpi_delivery_rate;
    return info;
}

TcpInfo tcp_info(int fd) {
    struct ::tcp_info raw {};
    socklen_t len = sizeof raw;
    check(::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &raw, &len), "getsockopt TCP_INFO");
    return tcp_info_from_bytes(&raw, len);
}

void to_json(nlohmann::json& j, const TcpInfo& i) {
    j = nlohmann::json{{"state", i.state},
                       {"retransmits", i.retransmits},
                       {"probes", i.probes},
                       {"backoff", i.backoff},
                       {"rto_us", i.rto_us},
                       {"rtt_us", i.rtt_us},
                       {"rttvar_us", i.rttvar_us},
                       {"snd_cwnd", i.snd_cwnd},
                       {"unacked", i.unacked},
                       {"lost", i.lost},
                       {"retrans", i.retrans},
                       {"total_retrans", i.total_retrans},
                       {"last_data_sent_ms", i.last_data_sent_ms},
                       {"last_data_recv_ms", i.last_data_recv_ms},
                       {"last_ack_recv_ms", i.last_ack_recv_ms},
                       {"bytes_acked", i.bytes_acked},
                       {"bytes_received", i.bytes_received},
                       {"delivery_rate_bytes_per_s", i.delivery_rate_bytes_per_s}};
}

}  // namespace sockdrill::net
