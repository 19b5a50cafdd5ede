#include "kernel/counters.hpp"

#include "kernel/procfs.hpp"

#include <charconv>
#include <vector>

#include <nlohmann/json.hpp>

namespace sockdrill::kernel {

namespace {

std::vector<std::string_view> split_words(std::string_view line) {
    std::vector<std::string_view> words;
    size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
        size_t start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
        if (i > start) words.push_back(line.substr(start, i - start));
    }
    return words;
}

std::string key_for(std::string_view section, std::string_view name) {
    if (section == "TcpExt" || section == "Tcp") return std::string(name);
    return std::string(section) + "." + std::string(name);
}

bool to_int(std::string_view text, int64_t& value) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    return ec == std::errc{} && end == text.data() + text.size();
}

std::string slurp(const char* path) { return read_proc_file(path).value_or(""); }

constexpr CounterInfo kCurated[] = {
    {"ListenOverflows", "accept queue full: a completed handshake was dropped (the SYN-ACK's ACK ignored)"},
    {"ListenDrops", "SYNs or ACKs dropped at a listener for any reason (includes ListenOverflows)"},
    {"TCPReqQFullDrop", "SYN dropped because the SYN queue was full and syncookies were off"},
    {"TCPReqQFullDoCookies", "SYN queue full: answered with a syncookie instead"},
    {"SyncookiesSent", "syncookies sent: the SYN queue overflowed (flood or a slow accept loop)"},
    {"SyncookiesFailed", "ACKs with an invalid syncookie"},
    {"TCPAbortOnData", "RST sent on close with unread data, or SO_LINGER {on,0}"},
    {"TCPAbortOnClose", "RST sent because the socket was closed with unread received data"},
    {"TCPAbortOnLinger", "connection reset when the linger timeout ran out in FIN-WAIT-2"},
    {"TCPAbortOnTimeout", "connection killed after retransmissions or keepalive probes ran out"},
    {"TCPAbortOnMemory", "connection reset because TCP ran out of memory (orphans, tcp_mem)"},
    {"TCPAbortFailed", "wanted to send a RST but could not allocate it"},
    {"TCPKeepAlive", "keepalive probes sent"},
    {"TCPTimeouts", "retransmission timeouts fired (RTO expired)"},
    {"TCPSynRetrans", "SYN and SYN-ACK retransmissions: the peer or its accept queue did not answer"},
    {"TCPLossProbes", "tail loss probes sent"},
    {"TCPDelivered", "segments delivered to the peer (acknowledged)"},
    {"DelayedACKs", "delayed ACKs sent (the ~40 ms timer fired)"},
    {"TW", "sockets that finished TIME_WAIT normally"},
    {"TWRecycled", "TIME_WAIT sockets reused for a new outgoing connection (tcp_tw_reuse)"},
    {"TWKilled", "TIME_WAIT sockets killed early"},
    {"TCPTimeWaitOverflow", "TIME_WAIT not kept because tcp_max_tw_buckets was reached"},
    {"PAWSEstab", "segments dropped by PAWS (old timestamp) on established connections"},
    {"TCPBacklogDrop", "segments dropped because the socket backlog was full (a busy owner)"},
    {"TCPRcvQDrop", "segments dropped because the receive queue was full"},
    {"TCPZeroWindowDrop", "segments dropped because the receive window was zero"},
    {"TCPToZeroWindowAdv", "times we advertised a zero window (a reader that stopped reading)"},
    {"TCPFromZeroWindowAdv", "times our window opened again after zero"},
    {"TCPWantZeroWindowAdv", "times we wanted to close the window"},
    {"ActiveOpens", "connections we opened (connect(): SYN-SENT)"},
    {"PassiveOpens", "connections accepted by the kernel (SYN-RECV)"},
    {"AttemptFails", "connects that failed: RST or timeout in SYN-SENT/SYN-RECV"},
    {"EstabResets", "established or CLOSE-WAIT connections reset"},
    {"CurrEstab", "connections now in ESTABLISHED or CLOSE-WAIT (a gauge, not a counter)"},
    {"OutRsts", "RST segments sent"},
    {"RetransSegs", "segments retransmitted"},
    {"InErrs", "segments received with errors (bad checksum, ...)"},
    {"Udp.RcvbufErrors", "UDP datagrams dropped because the receive buffer was full"},
    {"Udp.SndbufErrors", "UDP datagrams dropped because the send buffer was full"},
};

}  // namespace

void parse_section_pairs(std::string_view text, std::map<std::string, int64_t>& into) {
    std::vector<std::string_view> lines;
    size_t start = 0;
    while (start < text.size()) {
        auto end = text.find('\n', start);
        if (end == std::string_view::npos) end = text.size();
        lines.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    // "Section: Name Name ..." followed by "Section: value value ...".
    for (size_t i = 0; i + 1 < lines.size(); i += 2) {
        auto names = split_words(lines[i]);
        auto values = split_words(lines[i + 1]);
        if (names.empty() || values.empty() || names[0] != values[0] || names[0].back() != ':') continue;
        std::string_view section = names[0].substr(0, names[0].size() - 1);
        for (size_t k = 1; k < names.size() && k < values.size(); ++k) {
            int64_t value = 0;
            if (to_int(values[k], value)) into[key_for(section, names[k])] = value;
        }
    }
}

void parse_name_value(std::string_view text, std::map<std::string, int64_t>& into) {
    size_t start = 0;
    while (start < text.size()) {
        auto end = text.find('\n', start);
        if (end == std::string_view::npos) end = text.size();
        auto words = split_words(text.substr(start, end - start));
        start = end + 1;
        int64_t value = 0;
        if (words.size() != 2 || !to_int(words[1], value)) continue;
        // "Ip6InReceives" -> "Ip6.InReceives", "Udp6InErrors" -> "Udp6.InErrors".
        std::string_view name = words[0];
        size_t split = 0;
        while (split < name.size() && !(split > 0 && std::isupper(static_cast<unsigned char>(name[split])) &&
                                        std::isdigit(static_cast<unsigned char>(name[split - 1]))))
            ++split;
        if (split >= name.size()) into[std::string(name)] = value;
        else into[std::string(name.substr(0, split)) + "." + std::string(name.substr(split))] = value;
    }
}

CounterSnapshot read_counters() {
    CounterSnapshot s;
    parse_section_pairs(slurp("/proc/thread-self/net/netstat"), s.values);
    parse_section_pairs(slurp("/proc/thread-self/net/snmp"), s.values);
    parse_name_value(slurp("/proc/thread-self/net/snmp6"), s.values);
    s.taken = std::chrono::steady_clock::now();
    return s;
}

std::map<std::string, int64_t> counter_deltas(const CounterSnapshot& before, const CounterSnapshot& after) {
    std::map<std::string, int64_t> deltas;
    for (const auto& [name, value] : after.values) {
        auto it = before.values.find(name);
        deltas[name] = value - (it == before.values.end() ? 0 : it->second);
    }
    return deltas;
}

nlohmann::json counter_deltas_json(const CounterSnapshot& before, const CounterSnapshot& after,
                                   std::span<const char* const> names) {
    auto deltas = counter_deltas(before, after);
    nlohmann::json j = nlohmann::json::object();
    for (const char* name : names) {
        auto it = deltas.find(name);
        j[name] = it == deltas.end() ? 0 : it->second;
    }
    return j;
}

std::span<const CounterInfo> curated_counters() { return kCurated; }

std::string_view explain_counter(std::string_view name) {
    for (const auto& c : kCurated)
        if (c.name == name) return c.explanation;
    return {};
}

}  // namespace sockdrill::kernel
