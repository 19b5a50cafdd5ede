#include "scenario/census.hpp"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <ctime>
#include <fmt/chrono.h>
#include <fmt/format.h>

#include "cli/signals.hpp"
#include "kernel/counters.hpp"
#include "kernel/netns.hpp"
#include "kernel/sysctl.hpp"
#include "net/error.hpp"

namespace sockdrill::scenario {

namespace {

using kernel::Proto;
using kernel::SocketRecord;
using nlohmann::json;

constexpr int kStates[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};

const char* timer_name(int timer) {
    switch (timer) {
        case 1: return "retransmit";
        case 2: return "keepalive";
        case 3: return "time-wait";
        case 4: return "persist";
        default: return "";
    }
}

// Sleeps up to `d`, waking early on SIGINT/SIGTERM; false when asked to stop.
bool wait_or_stop(cli::Duration d) {
    auto until = std::chrono::steady_clock::now() + d;
    while (!cli::stop_requested()) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
        if (left.count() <= 0) return true;
        pollfd p{cli::wakeup_fd(), POLLIN, 0};
        ::poll(&p, 1, static_cast<int>(left.count()));
        cli::drain_wakeup();
    }
    return false;
}

bool has_filter(const kernel::DiagRequest& r) {
    return r.sport || r.dport || r.port || r.src || r.dst || r.states != kernel::kAllStates;
}

json config_json(const CensusConfig& c) {
    const auto& r = c.request;
    return json{{"tcp", r.tcp},
                {"udp", r.udp},
                {"ipv4", r.ipv4},
                {"ipv6", r.ipv6},
                {"state_mask", r.states},
                {"sport", r.sport ? json(*r.sport) : json(nullptr)},
                {"dport", r.dport ? json(*r.dport) : json(nullptr)},
                {"port", r.port ? json(*r.port) : json(nullptr)},
                {"src", r.src ? json(fmt::format("{}/{}", r.src->address.host(), r.src->bits)) : json(nullptr)},
                {"dst", r.dst ? json(fmt::format("{}/{}", r.dst->address.host(), r.dst->bits)) : json(nullptr)},
                {"listeners", c.listeners},
                {"sockets", c.sockets},
                {"columns", c.columns},
                {"group_by", c.group_by ? json(*c.group_by) : json(nullptr)},
                {"top", c.top},
                {"counters", c.counters},
                {"all", c.all_counters},
                {"watch_ms", cli::to_ms(c.watch)},
                {"count", c.count},
                {"netns", c.netns},
                {"kill", c.kill},
                {"dry_run", c.dry_run},
                {"record", c.record},
                {"replay", c.replay}};
}

// --- views ---------------------------------------------------------------

report::Table summary_table(const kernel::StateCounts& counts, const kernel::DiagRequest& request) {
    report::Table t{"", {"state", "ipv4", "ipv6", "total"}, {}};
    if (request.tcp) {
        for (int s : kStates) {
            if (!(request.states & (1u << s))) continue;
            t.rows.push_back({kernel::state_name(s), std::to_string(counts.counts[0][0][s]),
                              std::to_string(counts.counts[0][1][s]), std::to_string(counts.tcp(s))});
        }
        t.rows.push_back({"TCP total", std::to_string(counts.total(Proto::tcp, AF_INET)),
                          std::to_string(counts.total(Proto::tcp, AF_INET6)), std::to_string(counts.total(Proto::tcp))});
    }
    if (request.udp)
        t.rows.push_back({"UDP total", std::to_string(counts.total(Proto::udp, AF_INET)),
                          std::to_string(counts.total(Proto::udp, AF_INET6)), std::to_string(counts.total(Proto::udp))});
    return t;
}

// The --sockets columns as numbers, resolved once per run rather than by
// name for every cell.
enum class Column {
    local, peer, state, recv_q, send_q, timer, uid, inode, rtt_ms, rttvar_ms, rto_ms, cwnd, unacked, retrans,
    lost, backoff, probes, last_send_ms, last_recv_ms, bytes_acked, bytes_received, delivery_rate, unknown
};

Column column_id(const std::string& name) {
    static constexpr std::pair<std::string_view, Column> names[] = {
        {"local", Column::local},
        {"peer", Column::peer},
        {"state", Column::state},
        {"recv_q", Column::recv_q},
        {"send_q", Column::send_q},
        {"timer", Column::timer},
        {"uid", Column::uid},
        {"inode", Column::inode},
        {"rtt_ms", Column::rtt_ms},
        {"rttvar_ms", Column::rttvar_ms},
        {"rto_ms", Column::rto_ms},
        {"cwnd", Column::cwnd},
        {"unacked", Column::unacked},
        {"retrans", Column::retrans},
        {"lost", Column::lost},
        {"backoff", Column::backoff},
        {"probes", Column::probes},
        {"last_send_ms", Column::last_send_ms},
        {"last_recv_ms", Column::last_recv_ms},
        {"bytes_acked", Column::bytes_acked},
        {"bytes_received", Column::bytes_received},
        {"delivery_rate", Column::delivery_rate},
    };
    for (const auto& [n, id] : names)
        if (n == name) return id;
    return Column::unknown;
}

void put(std::string& out, uint64_t value) {
    char buf[24];
    auto end = std::to_chars(buf, buf + sizeof buf, value).ptr;
    out.append(buf, end);
}

// "{:.Nf}" of a double, as fmt and printf write it (correctly rounded).
void put_fixed(std::string& out, double value, int precision) {
    char buf[64];
    auto end = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::fixed, precision).ptr;
    out.append(buf, end);
}

// What Address::to_string gives ("127.0.0.1:80", "[::1]:80"), without
// inet_ntop's sprintf for IPv4 or a string per call.
void put_address(std::string& out, const net::Address& a) {
    if (a.family() == AF_INET) {
        const auto* b = reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in*>(a.sa())->sin_addr);
        for (int i = 0; i < 4; ++i) {
            if (i) out += '.';
            put(out, b[i]);
        }
    } else {
        char host[INET6_ADDRSTRLEN] = "?";
        if (a.family() == AF_INET6)
            inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(a.sa())->sin6_addr, host, sizeof host);
        out += '[';
        out += host;
        out += ']';
    }
    out += ':';
    put(out, a.port());
}

// Appends one cell's text (what std::to_string, Address::to_string and
// fmt::format("{:.3f}") would make) to `out`, without a string per cell.
void append_cell(std::string& out, const SocketRecord& s, Column column) {
    auto ms = [&](uint32_t us) { put_fixed(out, us / 1000.0, 3); };
    switch (column) {
        case Column::local: return put_address(out, s.local);
        case Column::peer: return put_address(out, s.peer);
        case Column::state: out += kernel::state_name(s.state == 12 ? 3 : s.state); return;
        case Column::recv_q: return put(out, s.recv_q);
        case Column::send_q: return put(out, s.send_q);
        case Column::timer:
            if (s.timer) {
                out += timer_name(s.timer);
                out += ',';
                put_fixed(out, s.expires_ms / 1000.0, 1);
                out += "s,";
                put(out, s.retrans);
            }
            return;
        case Column::uid: return put(out, s.uid);
        case Column::inode: return put(out, s.inode);
        default: break;
    }
    if (!s.info) return;
    const auto& i = *s.info;
    switch (column) {
        case Column::rtt_ms: return ms(i.rtt_us);
        case Column::rttvar_ms: return ms(i.rttvar_us);
        case Column::rto_ms: return ms(i.rto_us);
        case Column::cwnd: return put(out, i.snd_cwnd);
        case Column::unacked: return put(out, i.unacked);
        case Column::retrans:
            put(out, i.retrans);
            out += '/';
            return put(out, i.total_retrans);
        case Column::lost: return put(out, i.lost);
        case Column::backoff: return put(out, i.backoff);
        case Column::probes: return put(out, i.probes);
        case Column::last_send_ms: return put(out, i.last_data_sent_ms);
        case Column::last_recv_ms: return put(out, i.last_data_recv_ms);
        case Column::bytes_acked: return put(out, i.bytes_acked);
        case Column::bytes_received: return put(out, i.bytes_received);
        case Column::delivery_rate: return put(out, i.delivery_rate_bytes_per_s);
        default: return;
    }
}

// The --sockets table. Tens of thousands of rows as a report::Table of
// std::string cells, padded cell by cell with fmt in render_table, cost more
// than ss itself; so the cells go into one buffer as the dump streams in and
// each row is laid out into one line the way render_table would (same
// widths, numbers right-aligned, trailing blanks cut), handed over as a
// one-column table that renders to the same text.
class SocketRows {
public:
    explicit SocketRows(const std::vector<std::string>& columns) : columns_(columns) {
        for (const auto& col : columns) {
            ids_.push_back(column_id(col));
            width_.push_back(col.size());
        }
    }

    void add(const SocketRecord& s) {
        for (size_t c = 0; c < ids_.size(); ++c) {
            size_t begin = text_.size();
            append_cell(text_, s, ids_[c]);
            width_[c] = std::max(width_[c], text_.size() - begin);
            ends_.push_back(text_.size());
        }
    }

    /// The table as render_table would lay it out, one string per line,
    /// each starting with render_table's two-space indent.
    std::vector<std::string> lines() const {
        std::vector<std::string> out;
        size_t n = ids_.size(), rows = n ? ends_.size() / n : 0;
        out.reserve(rows + 1);
        std::string line;
        auto finish = [&]() {
            while (line.size() > 2 && line.back() == ' ') line.pop_back();
            out.push_back(line);
        };
        line = "  ";
        for (size_t c = 0; c < columns_.size(); ++c) {
            if (c) line += "  ";
            line += columns_[c];
            line.append(width_[c] - columns_[c].size(), ' ');
        }
        finish();
        size_t begin = 0;
        for (size_t row = 0; row < rows; ++row) {
            line.assign(2, ' ');
            for (size_t c = 0; c < n; ++c) {
                size_t end = ends_[row * n + c];
                std::string_view cell(text_.data() + begin, end - begin);
                begin = end;
                if (c) line += "  ";
                size_t pad = width_[c] - cell.size();
                if (c > 0 && report::looks_numeric(cell)) {
                    line.append(pad, ' ');
                    line += cell;
                } else {
                    line += cell;
                    line.append(pad, ' ');
                }
            }
            finish();
        }
        return out;
    }

    /// The same text as a one-column report::Table (each row one laid-out line).
    report::Table table() const {
        report::Table t{"", {}, {}};
        auto all = lines();
        t.columns.push_back(all.front().substr(2));
        t.rows.reserve(all.size() - 1);
        for (size_t i = 1; i < all.size(); ++i) t.rows.push_back({all[i].substr(2)});
        return t;
    }

private:
    const std::vector<std::string>& columns_;
    std::vector<Column> ids_;
    std::vector<size_t> width_;
    std::string text_;           // every cell, back to back
    std::vector<size_t> ends_;   // where each cell ends in text_
};

json socket_json(const SocketRecord& s) {
    json j{{"proto", s.proto == Proto::tcp ? "tcp" : "udp"},
           {"local", s.local.to_string()},
           {"peer", s.peer.to_string()},
           {"state", kernel::state_json_name(s.state)},
           {"recv_q", s.recv_q},
           {"send_q", s.send_q},
           {"timer", s.timer ? json{{"name", timer_name(s.timer)}, {"expires_ms", s.expires_ms}, {"retrans", s.retrans}}
                             : json(nullptr)},
           {"uid", s.uid},
           {"inode", s.inode}};
    if (s.info) j["tcp_info"] = *s.info;
    return j;
}

void add_counters(report::Report& r, const std::map<std::string, int64_t>& values, const CensusConfig& c,
                  const std::string& title, const std::string& unit) {
    report::Table t{title, {"counter", unit}, {}};
    if (c.explain) t.columns.push_back("meaning");
    auto add_row = [&](const std::string& name, int64_t value) {
        r.counters[name] = value;
        std::vector<std::string> row{name, std::to_string(value)};
        if (c.explain) row.push_back(std::string(kernel::explain_counter(name)));
        t.rows.push_back(std::move(row));
    };
    if (c.all_counters) {
        for (const auto& [name, value] : values) add_row(name, value);
    } else {
        for (const auto& info : kernel::curated_counters()) {
            auto it = values.find(std::string(info.name));
            if (it != values.end()) add_row(it->first, it->second);
        }
    }
    r.tables.push_back(std::move(t));
}

// --- modes ----------------------------------------------------------------

void run_kill(report::Report& r, kernel::DiagSource& source, const CensusConfig& c) {
    auto victims = kernel::sockets(source, c.request);
    report::Table t{c.dry_run ? "would destroy (--dry-run)" : "destroyed", {"local", "peer", "state"}, {}};
    json list = json::array();
    for (const auto& s : victims) {
        if (s.proto != Proto::tcp || s.state == 10) continue;  // listeners stay: that is close()'s job
        if (!c.dry_run) kernel::destroy_socket(s);
        t.rows.push_back({s.local.to_string(), s.peer.to_string(), kernel::state_name(s.state)});
        list.push_back(socket_json(s));
    }
    r.results[c.dry_run ? "would_destroy" : "destroyed"] = list;
    r.results["count"] = list.size();
    r.tables.push_back(std::move(t));
}

// with_socket_json: build results.sockets (for --json and --expect); the
// text view does not show it.
report::Report snapshot(kernel::DiagSource& source, const CensusConfig& c, bool with_socket_json) {
    report::Report r;
    r.command = "census";
    bool summary = !c.listeners && !c.sockets && !c.group_by && !(c.counters && !c.watch.count());
    if (summary || c.watch.count()) {
        auto counts = kernel::count_states(source, c.request);
        r.results.update(kernel::to_json(counts));
        r.tables.push_back(summary_table(counts, c.request));
    }
    if (c.listeners) {
        report::Table t{"listening sockets", {"local", "accept queue", "backlog", ""}, {}};
        json list = json::array();
        for (const auto& l : kernel::listeners(source, c.request)) {
            t.rows.push_back({l.local.to_string(), std::to_string(l.accept_queue), std::to_string(l.backlog),
                              l.full() ? "FULL: new connections are dropped" : ""});
            list.push_back({{"local", l.local.to_string()},
                            {"accept_queue", l.accept_queue},
                            {"backlog", l.backlog},
                            {"full", l.full()}});
        }
        r.results["listeners"] = list;
        r.tables.push_back(std::move(t));
    }
    if (c.sockets) {
        // Rows are formatted as the dump streams in (no vector of records);
        // the JSON list, which costs more than the text, only when a --json
        // or --expect will read it.
        SocketRows rows(c.columns);
        json list = json::array();
        source.dump(c.request, [&](const SocketRecord& s) {
            rows.add(s);
            if (with_socket_json) list.push_back(socket_json(s));
        });
        if (with_socket_json) r.results["sockets"] = std::move(list);
        r.tables.push_back(rows.table());
    }
    if (c.group_by) {
        auto by = kernel::parse_group_by(*c.group_by);
        report::Table t{fmt::format("top {} by {}", c.top, *c.group_by), {*c.group_by, "sockets", "states"}, {}};
        json list = json::array();
        for (const auto& g : kernel::group_sockets(source, c.request, by, c.top)) {
            std::string states;
            for (const auto& [state, n] : g.by_state) states += fmt::format("{}{} {}", states.empty() ? "" : ", ", state, n);
            t.rows.push_back({g.key, std::to_string(g.sockets), states});
            list.push_back({{"key", g.key}, {"sockets", g.sockets}, {"by_state", g.by_state}});
        }
        r.results["groups"] = list;
        r.tables.push_back(std::move(t));
    }
    return r;
}

std::string sample_line(const report::Report& r, const std::map<std::string, double>& rates) {
    std::string line = fmt::format("{:%H:%M:%S}", fmt::localtime(std::time(nullptr)));
    if (r.results.contains("tcp"))
        for (const auto& [state, n] : r.results["tcp"]["by_state"].items())
            if (n.get<uint64_t>() > 0) line += fmt::format(" {}={}", state, n.get<uint64_t>());
    for (const auto& [name, rate] : rates)
        if (rate != 0) line += fmt::format(" {}/s={:.1f}", name, rate);
    return line;
}

}  // namespace

const std::vector<std::pair<std::string, std::string>>& socket_columns() {
    static const std::vector<std::pair<std::string, std::string>> columns = {
        {"local", "local address:port"},
        {"peer", "peer address:port"},
        {"state", "TCP state, as ss names it"},
        {"recv_q", "bytes not yet read by the application (listeners: accept queue)"},
        {"send_q", "bytes not yet acknowledged by the peer (listeners: backlog)"},
        {"timer", "pending timer: retransmit, keepalive, time-wait or persist, time left, retries"},
        {"rtt_ms", "smoothed round-trip time"},
        {"rttvar_ms", "round-trip time variation"},
        {"rto_ms", "retransmission timeout"},
        {"cwnd", "congestion window (segments)"},
        {"unacked", "segments sent, not acknowledged"},
        {"retrans", "retransmitted segments in flight / in total"},
        {"lost", "segments considered lost"},
        {"backoff", "RTO backoff count"},
        {"probes", "unanswered zero-window or keepalive probes"},
        {"last_send_ms", "ms since data was last sent"},
        {"last_recv_ms", "ms since data was last received"},
        {"bytes_acked", "bytes acknowledged by the peer"},
        {"bytes_received", "bytes received"},
        {"delivery_rate", "delivery rate, bytes per second"},
        {"uid", "owner's user id"},
        {"inode", "socket inode (0: kernel-held, e.g. TIME-WAIT)"},
    };
    return columns;
}

void validate(const CensusConfig& c) {
    if (c.kill && !has_filter(c.request))
        throw Error::usage("--kill: refuses to run without a filter (--state, --sport, --dport, --port, --src or --dst)");
    if (c.dry_run && !c.kill) throw Error::usage("--dry-run: goes with --kill");
    if (c.kill && !c.replay.empty()) throw Error::usage("--kill: cannot destroy sockets of a --replay dump");
    if (!c.record.empty() && !c.replay.empty()) throw Error::usage("--record and --replay: choose one");
    if (c.group_by) kernel::parse_group_by(*c.group_by);
    for (const auto& col : c.columns) {
        bool known = false;
        for (const auto& [name, _] : socket_columns()) known = known || name == col;
        if (!known) {
            std::string all;
            for (const auto& [name, _] : socket_columns()) all += (all.empty() ? "" : ",") + name;
            throw Error::usage(fmt::format("--columns: unknown column \"{}\"; expected some of {}", col, all));
        }
    }
}

report::Report run_census(const CensusConfig& config, const cli::CommonOptions& common, cli::Output& output) {
    CensusConfig c = config;
    if (c.sockets && c.columns.empty())
        c.columns = {"local", "peer", "state", "recv_q", "send_q", "timer", "rtt_ms", "rto_ms", "cwnd", "retrans"};
    for (const auto& col : c.columns)
        if (col != "local" && col != "peer" && col != "state" && col != "recv_q" && col != "send_q" &&
            col != "timer" && col != "uid" && col != "inode")
            c.request.tcp_info = true;  // only ask the kernel for tcp_info when a column needs it
    if (c.sockets && common.json) c.request.tcp_info = true;

    // Enter the namespace first: the netlink socket and /proc/net follow it.
    if (!c.netns.empty()) kernel::enter_netns(kernel::open_netns(c.netns), c.netns);
    auto source = c.replay.empty() ? kernel::live_source(c.record) : kernel::replay_source(c.replay);
    auto sysctls = kernel::sysctls_json({"net.core.somaxconn", "net.ipv4.tcp_max_tw_buckets",
                                         "net.ipv4.ip_local_port_range", "net.ipv4.tcp_tw_reuse",
                                         "net.ipv4.tcp_fin_timeout"});
    auto finish = [&](report::Report r) {
        r.command = "census";
        r.mode = c.netns.empty() ? "host" : "netns";
        r.sysctls = sysctls;
        r.config = config_json(c);
        return r;
    };

    const bool with_socket_json = common.json || !common.expectations.empty();

    if (c.kill) {
        report::Report r;
        run_kill(r, *source, c);
        return finish(std::move(r));
    }

    if (c.watch.count() > 0) {
        // Re-sample every --watch until --count, --duration or SIGINT.
        auto start = std::chrono::steady_clock::now();
        auto counters = c.counters ? kernel::read_counters() : kernel::CounterSnapshot{};
        report::Report last;
        for (uint64_t n = 1;; ++n) {
            report::Report r = finish(snapshot(*source, c, with_socket_json));
            std::map<std::string, double> rates;
            if (c.counters) {
                auto now = kernel::read_counters();
                double secs = std::chrono::duration<double>(now.taken - counters.taken).count();
                auto deltas = kernel::counter_deltas(counters, now);
                std::map<std::string, int64_t> shown;
                for (const auto& info : kernel::curated_counters()) {
                    auto it = deltas.find(std::string(info.name));
                    if (it != deltas.end() && (c.all_counters || info.name != "CurrEstab")) {
                        shown[it->first] = it->second;
                        rates[it->first] = secs > 0 ? it->second / secs : 0;
                    }
                }
                if (c.all_counters) shown = deltas;
                add_counters(r, shown, c, "kernel counters (delta since the last sample)", "delta");
                json per_s = json::object();
                for (const auto& [name, rate] : rates) per_s[name] = std::round(rate * 10) / 10;
                r.results["counter_rates_per_s"] = per_s;
                counters = now;
            }
            r.results["sample"] = n;
            output.sample(r, sample_line(r, rates));
            last = std::move(r);
            if (c.count && n >= c.count) break;
            if (common.duration.count() && std::chrono::steady_clock::now() - start + c.watch > common.duration) break;
            if (!wait_or_stop(c.watch)) break;
        }
        last.tables.clear();  // the samples were the view; the final object carries the last figures
        return last;
    }

    report::Report r = snapshot(*source, c, with_socket_json);
    if (c.counters) {
        if (common.duration.count() > 0) {
            auto before = kernel::read_counters();
            wait_or_stop(common.duration);
            auto deltas = kernel::counter_deltas(before, kernel::read_counters());
            add_counters(r, deltas, c, fmt::format("kernel counters, delta over {}", cli::format_duration(common.duration)),
                         "delta");
        } else {
            add_counters(r, kernel::read_counters().values, c, "kernel counters since boot (give --duration for deltas)",
                         "value");
        }
    }
    return finish(std::move(r));
}

}  // namespace sockdrill::scenario
