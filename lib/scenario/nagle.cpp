// sockdrill-nagle: each variant starts the embedded server configured the
// variant's way (or uses --target), opens one keep-alive connection, sends
// requests one after another and times each response; a packet tap on the
// client's interface shows when the client acknowledged the first segment
// of each response and when the rest followed.
#include "scenario/nagle.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <fmt/format.h>
#include <map>
#include <memory>

#include "cli/signals.hpp"
#include "http/response_scanner.hpp"
#include "kernel/counters.hpp"
#include "kernel/sysctl.hpp"
#include "load/histogram.hpp"
#include "net/error.hpp"
#include "net/socket.hpp"
#include "net/sockopt.hpp"
#include "sandbox/hosts.hpp"
#include "sandbox/sandbox.hpp"
#include "server/server.hpp"

namespace sockdrill::scenario {

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using sandbox::Side;

constexpr NagleVariant kAllVariants[] = {NagleVariant::default_, NagleVariant::nodelay, NagleVariant::cork,
                                         NagleVariant::one_write, NagleVariant::quickack};

// The client's counters that tell the story: DelayedACKs counts the client's
// delayed-ACK timer sending an ACK (tcp_delack_timer -> LINUX_MIB_DELAYEDACKS).
constexpr const char* kCounters[] = {"DelayedACKs", "DelayedACKLocked", "DelayedACKLost"};

double ms_between(Clock::time_point from, Clock::time_point to) {
    return std::chrono::duration<double, std::milli>(to - from).count();
}

// Sequence numbers compare modulo 2^32 (RFC 793's SEQ_GEQ).
bool seq_geq(uint32_t a, uint32_t b) { return int32_t(a - b) >= 0; }

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

using sandbox::Hosts;

// What one variant's request loop measured.
struct Loop {
    load::Histogram latency;
    uint64_t stalled = 0;
    uint64_t connections = 0;
    double measured_s = 0;  ///< from the first measured request to the last response
    std::string ended = "requests";
    std::map<std::string, std::map<std::string, uint64_t>> errors;  ///< phase -> errno name -> count
    std::vector<net::Address> client_addresses;  ///< one per connection, in order: the tap reads each flow
    bool warmup_cut = false;  ///< a connection closed before its warm-up ended: later ones had none
};

bool wait_readable(int fd, Clock::time_point deadline) {
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0 || cli::stop_requested()) return false;
        pollfd fds[2] = {{fd, POLLIN, 0}, {cli::wakeup_fd(), POLLIN, 0}};
        int n = ::poll(fds, 2, int(std::min<long>(left, 200)));
        if (n < 0 && errno != EINTR) return false;
        if (n > 0 && fds[0].revents) return true;
    }
}

// Keep-alive connections, requests one after another: up to `requests`
// timed from send() to the response's last byte, each connection's first
// `warmup` unmeasured. A fresh connection starts in quick-ACK mode (the
// receiver ACKs at once until tcp_incr_quickack()'s budget is spent), so
// after the server closes and the loop reconnects, the new connection warms
// up again, or its first requests would look stall-free. With quickack,
// TCP_QUICKACK is set after every read: the kernel clears it by itself (it
// is not sticky), and setting it while an ACK is pending sends that ACK at
// once (tcp_setsockopt -> tcp_cleanup_rbuf).
Loop request_loop(const Hosts& h, const net::Address& server, const NagleConfig& config, bool quickack,
                  Clock::time_point deadline) {
    Loop loop;
    const std::string path = config.path.empty() ? "/" : config.path;
    const std::string request = fmt::format("GET {} HTTP/1.1\r\nHost: {}\r\n\r\n", path, server.to_string());
    auto stall_us = uint64_t(config.stall_threshold.count());
    std::vector<char> buffer(64 * 1024);
    net::Fd fd;
    uint64_t warmup_left = 0;
    auto open = [&] {
        // A server that closes within the warm-up would keep every request
        // unmeasured: from then on, connections are measured from their first.
        if (warmup_left > 0) loop.warmup_cut = true;
        warmup_left = loop.warmup_cut ? 0 : config.warmup;
        fd = h.in(Side::client, [&] { return net::connect_tcp(server, 2s); });
        loop.client_addresses.push_back(net::local_address(fd.get()));
        if (quickack) net::set_quickack(fd.get(), true);
        ++loop.connections;
    };
    open();
    Clock::time_point measuring_since{};
    bool measuring = false;
    Clock::duration warmup_since_measuring{};  // later connections' warm-ups, not part of the measured rate
    while (loop.latency.count() < config.requests) {
        if (cli::stop_requested()) {
            loop.ended = "interrupted";
            break;
        }
        if (Clock::now() >= deadline) {
            loop.ended = "duration";
            break;
        }
        if (!fd) open();  // the server closed the previous connection after its response
        const bool warmup = warmup_left > 0;
        auto sent_at = Clock::now();
        if (!warmup && !measuring) {
            measuring_since = sent_at;
            measuring = true;
        }
        if (::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) != ssize_t(request.size())) {
            loop.errors["write"][errno_name(errno)]++;
            loop.ended = "error";
            break;
        }
        http::ResponseScanner scanner;
        bool complete = false, failed = false;
        while (!complete) {
            if (!wait_readable(fd.get(), deadline)) {
                loop.ended = cli::stop_requested() ? "interrupted" : "duration";
                failed = true;
                break;
            }
            ssize_t n = ::recv(fd.get(), buffer.data(), buffer.size(), 0);
            if (n <= 0) {
                loop.errors["read"][n == 0 ? "EOF" : errno_name(errno)]++;
                loop.ended = "error";
                failed = true;
                break;
            }
            if (quickack) net::set_quickack(fd.get(), true);
            auto step = scanner.feed(std::string_view(buffer.data(), size_t(n)));
            if (step.status == http::ResponseScanner::Status::error) {
                loop.errors["read"]["not HTTP"]++;
                loop.ended = "error";
                failed = true;
                break;
            }
            complete = step.status == http::ResponseScanner::Status::complete;
        }
        if (failed) break;
        auto done_at = Clock::now();
        if (warmup) {
            --warmup_left;
            if (measuring) warmup_since_measuring += done_at - sent_at;
        } else {
            auto us = uint64_t(std::chrono::duration_cast<std::chrono::microseconds>(done_at - sent_at).count());
            loop.latency.record(us);
            if (us > stall_us) ++loop.stalled;
            loop.measured_s = std::chrono::duration<double>(done_at - measuring_since - warmup_since_measuring).count();
        }
        if (scanner.connection_close()) fd.reset();
    }
    return loop;
}

// How the embedded server writes in each variant.
server::Config server_config(NagleVariant v, const NagleConfig& config, const Hosts& h) {
    server::Config sc;
    sc.listen = {h.address(Side::server).to_string()};
    sc.response_size = config.response_size;
    sc.split_writes = v == NagleVariant::one_write ? 1 : config.split_writes;
    sc.nodelay = v == NagleVariant::nodelay;
    sc.cork = v == NagleVariant::cork;
    sc.drain_timeout = 1s;
    return sc;
}

std::string server_writes(NagleVariant v, const NagleConfig& config, bool target) {
    if (target) return "the target's";
    unsigned n = v == NagleVariant::one_write ? 1 : config.split_writes;
    std::string writes = n == 1 ? "one write" : fmt::format("{} writes", n);
    if (v == NagleVariant::nodelay) return writes + ", NODELAY";
    if (v == NagleVariant::cork) return writes + ", CORK";
    return writes;
}

std::string fmt_ms(double ms) { return ms >= 10 ? fmt::format("{:.1f} ms", ms) : fmt::format("{:.2f} ms", ms); }

}  // namespace

std::string variant_name(NagleVariant v) {
    switch (v) {
    case NagleVariant::default_: return "default";
    case NagleVariant::nodelay: return "nodelay";
    case NagleVariant::cork: return "cork";
    case NagleVariant::one_write: return "one-write";
    case NagleVariant::quickack: return "quickack";
    }
    return "?";
}

std::string variant_key(NagleVariant v) {
    auto name = variant_name(v);
    std::replace(name.begin(), name.end(), '-', '_');
    return name;
}

std::vector<NagleVariant> parse_nagle_variants(const std::vector<std::string>& values) {
    std::vector<NagleVariant> variants;
    auto add = [&](NagleVariant v) {
        if (std::find(variants.begin(), variants.end(), v) != variants.end())
            throw Error::usage(fmt::format("--variant: {} given twice", variant_name(v)));
        variants.push_back(v);
    };
    for (const auto& value : values) {
        size_t start = 0;
        while (start <= value.size()) {
            size_t comma = value.find(',', start);
            std::string word = value.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
            start = comma == std::string::npos ? value.size() + 1 : comma + 1;
            if (word == "all") {
                for (auto v : kAllVariants) add(v);
                continue;
            }
            auto it = std::find_if(std::begin(kAllVariants), std::end(kAllVariants),
                                   [&](NagleVariant v) { return variant_name(v) == word; });
            if (it == std::end(kAllVariants))
                throw Error::usage(fmt::format(
                    "--variant: unknown variant \"{}\" (expected all, default, nodelay, cork, one-write or quickack)",
                    word));
            add(*it);
        }
    }
    if (variants.empty()) throw Error::usage("--variant: no variant given");
    return variants;
}

void validate(const NagleConfig& config, const cli::CommonOptions& common) {
    // Bounded so that the loop's counts cannot overflow and a run ends in reasonable time.
    if (config.requests == 0) throw Error::usage("--requests: expected at least 1 request, got 0");
    if (config.requests > kMaxNagleRequests)
        throw Error::usage(fmt::format("--requests: expected at most {}, got {}", kMaxNagleRequests, config.requests));
    if (config.warmup > kMaxNagleWarmup)
        throw Error::usage(fmt::format("--warmup: expected at most {}, got {}", kMaxNagleWarmup, config.warmup));
    if (config.split_writes < 1 || config.split_writes > 64)
        throw Error::usage(fmt::format("--split-writes: expected 1 to 64, got {}", config.split_writes));
    if (common.duration.count() <= 0) throw Error::usage("--duration: expected a duration above 0, like 10s");
    if (config.stall_threshold.count() <= 0)
        throw Error::usage("--stall-threshold: expected a duration above 0, like 20ms");
    if (!config.path.empty() && config.path[0] != '/')
        throw Error::usage(fmt::format("--path: expected a path starting with /, got \"{}\"", config.path));
    if (config.path.find_first_of(" \r\n") != std::string::npos)
        throw Error::usage("--path: spaces and line breaks are not allowed");
    if (!common.target.empty()) {
        net::parse_local_target(common.target);
        for (auto v : variants_to_run(config, common))
            if (v != NagleVariant::default_ && v != NagleVariant::quickack)
                throw Error::usage(fmt::format(
                    "--variant {}: against --target only default and quickack run (the others change the server)",
                    variant_name(v)));
    }
}

std::vector<NagleVariant> variants_to_run(const NagleConfig& config, const cli::CommonOptions& common) {
    if (common.target.empty() || !config.all_variants) return config.variants;
    return {NagleVariant::default_, NagleVariant::quickack};
}

AckTiming ack_timing(std::span<const sandbox::Segment> segments, const net::Address& client,
                     const net::Address& server) {
    AckTiming t;
    const sandbox::Segment* first_data = nullptr;  // the current response's first segment
    Clock::time_point acked_at{};                  // when the client acknowledged it
    bool acked = false, released = false;
    std::vector<const sandbox::Segment*> flow;
    for (const auto& s : segments)
        if ((s.src == client && s.dst == server) || (s.src == server && s.dst == client)) flow.push_back(&s);
    std::stable_sort(flow.begin(), flow.end(), [](auto* a, auto* b) { return a->at < b->at; });
    for (const auto* s : flow) {
        if (s->src == client) {
            if (first_data && !acked && (s->flags & sandbox::kAck) &&
                seq_geq(s->ack, first_data->seq + first_data->payload_bytes)) {
                acked_at = s->at;
                acked = true;
                t.ack_delay_ms.push_back(ms_between(first_data->at, s->at));
            }
            if (s->payload_bytes > 0) {  // a request: the next response starts after it
                first_data = nullptr;
                acked = false;
                released = false;
            }
        } else if (s->payload_bytes > 0) {
            ++t.data_segments_in;
            if (!first_data) {
                first_data = s;
                ++t.responses;
            } else if (acked && !released) {
                t.released_after_ack_ms.push_back(ms_between(acked_at, s->at));
                released = true;
            }
        }
    }
    return t;
}

report::Report run_nagle(const NagleConfig& config, const cli::CommonOptions& common, cli::Output& output) {
    validate(config, common);
    report::Report r;
    r.command = "nagle";
    const bool against_target = !common.target.empty();
    const std::string why_not = sandbox::unavailable_reason();
    const bool sandboxed = !against_target && !common.no_sandbox && why_not.empty();
    r.mode = against_target ? "target" : sandboxed ? "sandbox" : "host";
    if (!sandboxed && !against_target && !common.no_sandbox)
        r.notes.push_back(fmt::format("host mode on loopback: {}", why_not));

    // Set up: the two hosts, once for every variant.
    Hosts h;
    if (sandboxed) h.box = std::make_unique<sandbox::Sandbox>();
    std::optional<net::Address> target;
    if (against_target) target = net::parse_local_target(common.target);

    report::Table table{"nagle: per-request latency of each variant, one keep-alive connection each",
                        {"variant", "server writes", "client", "requests", "p50", "p99", "max", "req/s",
                         "stalled", "tap: seg->ACK", "tap: ACK->next seg"},
                        {}};
    report::json results = report::json::object();
    std::map<std::string, int64_t> counter_totals;
    std::string tap_error;
    const auto variants_run = variants_to_run(config, common);
    for (auto v : variants_run) {
        if (cli::stop_requested()) break;
        output.status(fmt::format("variant {}: {} requests", variant_name(v), config.requests));
        // Start the server the variant's way (or use the target).
        std::unique_ptr<server::Server> server;
        net::Address address;
        if (target) {
            address = *target;
        } else {
            auto sc = server_config(v, config, h);
            server = h.in(Side::server, [&] { return std::make_unique<server::Server>(sc); });
            server->start();
            address = server->addresses().front();
        }
        // The tap on the client's interface, from before the handshake.
        std::unique_ptr<sandbox::Tap> tap;
        try {
            tap = std::make_unique<sandbox::Tap>(h.client_netns(), h.client_interface());
        } catch (const Error& e) {
            tap_error = e.what();
        }
        auto before = h.in(Side::client, [] { return kernel::read_counters(); });

        // Run: warm up, then the measured requests.
        bool quickack = v == NagleVariant::quickack;
        Loop loop = request_loop(h, address, config, quickack, Clock::now() + common.duration);

        // Collect: counters, the tap, the server's failure if any.
        auto deltas = kernel::counter_deltas(before, h.in(Side::client, [] { return kernel::read_counters(); }));
        if (server) server->stop();
        report::json row;
        row["variant"] = variant_name(v);
        row["server_writes"] = target ? report::json(nullptr) : report::json(server_config(v, config, h).split_writes);
        row["server_nodelay"] = v == NagleVariant::nodelay;
        row["server_cork"] = v == NagleVariant::cork;
        row["client_quickack"] = quickack;
        const auto& hist = loop.latency;
        row["requests"] = hist.count();
        row["connections"] = loop.connections;
        row["ended"] = loop.ended;
        auto ms = [](uint64_t us) { return double(us) / 1000.0; };
        row["min_ms"] = ms(hist.min());
        row["mean_ms"] = hist.mean() / 1000.0;
        row["p50_ms"] = ms(hist.percentile(50));
        row["p90_ms"] = ms(hist.percentile(90));
        row["p99_ms"] = ms(hist.percentile(99));
        row["max_ms"] = ms(hist.max());
        double rate = loop.measured_s > 0 ? double(hist.count()) / loop.measured_s : 0;
        row["requests_per_s"] = rate;
        row["stalled"] = loop.stalled;
        row["stalled_pct"] = hist.count() ? 100.0 * double(loop.stalled) / double(hist.count()) : 0.0;
        report::json latency;
        load::to_json(latency, hist);
        row["latency"] = latency;
        report::json counters = report::json::object();
        for (const char* name : kCounters) {
            auto it = deltas.find(name);
            int64_t d = it == deltas.end() ? 0 : it->second;
            counters[name] = d;
            counter_totals[name] += d;
        }
        row["counters"] = counters;
        report::json errors = report::json::object();
        for (const auto& [phase, names] : loop.errors)
            for (const auto& [name, n] : names) {
                errors[phase][name] = n;
                uint64_t sum = r.errors.contains(phase) && r.errors[phase].contains(name) ? r.errors[phase][name].get<uint64_t>() : 0;
                r.errors[phase][name] = sum + n;
            }
        row["errors"] = errors;
        std::string tap_delay = "-", tap_release = "-";
        if (tap) {
            tap->stop();
            auto segments = tap->segments();
            // Each connection's flow on its own (the server may have closed and the loop reconnected).
            AckTiming t;
            for (const auto& client : loop.client_addresses) {
                auto one = ack_timing(segments, client, address);
                t.responses += one.responses;
                t.data_segments_in += one.data_segments_in;
                t.ack_delay_ms.insert(t.ack_delay_ms.end(), one.ack_delay_ms.begin(), one.ack_delay_ms.end());
                t.released_after_ack_ms.insert(t.released_after_ack_ms.end(), one.released_after_ack_ms.begin(),
                                               one.released_after_ack_ms.end());
            }
            report::json w;
            w["responses"] = t.responses;
            w["data_segments_in"] = t.data_segments_in;
            w["data_segments_per_response"] = t.responses ? double(t.data_segments_in) / double(t.responses) : 0.0;
            w["ack_delay_ms_p50"] = t.ack_delay_ms.empty() ? report::json(nullptr) : report::json(median(t.ack_delay_ms));
            w["ack_delay_ms_max"] = t.ack_delay_ms.empty()
                                        ? report::json(nullptr)
                                        : report::json(*std::max_element(t.ack_delay_ms.begin(), t.ack_delay_ms.end()));
            w["released_by_ack"] = t.released_after_ack_ms.size();
            w["released_after_ack_ms_p50"] =
                t.released_after_ack_ms.empty() ? report::json(nullptr) : report::json(median(t.released_after_ack_ms));
            row["tap"] = w;
            if (!t.ack_delay_ms.empty()) tap_delay = fmt_ms(median(t.ack_delay_ms));
            if (!t.released_after_ack_ms.empty())
                tap_release = fmt::format("{} ({}/{})", fmt_ms(median(t.released_after_ack_ms)),
                                          t.released_after_ack_ms.size(), t.responses);
        } else {
            row["tap"] = nullptr;
        }
        results[variant_key(v)] = row;
        table.rows.push_back({variant_name(v), server_writes(v, config, bool(target)),
                              quickack ? "QUICKACK" : "delayed ACK", std::to_string(hist.count()),
                              fmt_ms(ms(hist.percentile(50))), fmt_ms(ms(hist.percentile(99))), fmt_ms(ms(hist.max())),
                              fmt::format("{:.0f}", rate),
                              fmt::format("{}/{}", loop.stalled, hist.count()), tap_delay, tap_release});
        if (loop.ended != "requests")
            r.notes.push_back(fmt::format("{}: ended early ({}) after {} measured requests", variant_name(v),
                                          loop.ended, hist.count()));
        if (loop.warmup_cut)
            r.notes.push_back(fmt::format("{}: the server closed a connection within its warm-up ({} requests); later "
                                          "connections were measured from their first request, in quick-ACK mode",
                                          variant_name(v), config.warmup));
        if (server && !server->failure().empty())
            r.notes.push_back(fmt::format("{}: the server failed: {}", variant_name(v), server->failure()));
    }
    output.clear_status();

    // Render: the verdict in one line, the notes, the frame.
    bool interrupted = cli::stop_requested();
    results["interrupted"] = interrupted;
    if (interrupted) r.notes.push_back("interrupted: partial result");
    if (!tap_error.empty())
        r.notes.push_back(fmt::format("no packet tap ({}): the tap columns are empty", tap_error));
    if (!sandboxed) r.notes.push_back("counters are the whole host's: other connections move them too");
    if (results.contains("default") && results["default"]["requests"].get<uint64_t>() > 0) {
        const auto& d = results["default"];
        r.notes.push_back(fmt::format("default: {} of {} requests slower than {} (p50 {})", d["stalled"].get<uint64_t>(),
                                      d["requests"].get<uint64_t>(), cli::format_duration(config.stall_threshold),
                                      fmt_ms(d["p50_ms"].get<double>())));
    }
    for (const auto& [name, total] : counter_totals) r.counters[name] = total;
    r.results = results;
    report::json variants = report::json::array();
    for (auto v : variants_run) variants.push_back(variant_name(v));
    r.config = {{"variant", variants},
                {"requests", config.requests},
                {"warmup", config.warmup},
                {"duration_s", cli::to_seconds(common.duration)},
                {"response_size_bytes", config.response_size},
                {"split_writes", config.split_writes},
                {"stall_threshold_ms", cli::to_ms(config.stall_threshold)},
                {"path", config.path.empty() ? "/" : config.path},
                {"no_sandbox", common.no_sandbox}};
    if (target) r.config["target"] = common.target;
    auto read_sysctls = [] {
        return kernel::sysctls_json({"net.ipv4.tcp_autocorking"});
    };
    r.sysctls = h.in(Side::client, read_sysctls);
    r.tables.push_back(std::move(table));
    return r;
}

}  // namespace sockdrill::scenario
