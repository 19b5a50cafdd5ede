// sockdrill-halfopen --side client: one lane per detection method, each
// with its own sandbox (so per-namespace sysctls such as tcp_retries2 stay
// with their method), its own peer and its own victim connection. The peer
// vanishes on every lane at the same moment; each victim then waits the
// way its method waits, and a watchdog bounds them all by --max-wait.
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cerrno>
#include <fmt/format.h>
#include <future>
#include <thread>

#include "cli/signals.hpp"
#include "kernel/counters.hpp"
#include "kernel/sock_diag.hpp"
#include "kernel/sysctl.hpp"
#include "net/error.hpp"
#include "net/socket.hpp"
#include "net/tcp_info.hpp"
#include "sandbox/sandbox.hpp"
#include "sandbox/tap.hpp"
#include "scenario/halfopen_parts.hpp"

namespace sockdrill::scenario {

namespace {

using Clock = std::chrono::steady_clock;
using sandbox::Side;
using sandbox::Vanish;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

// The server host's application: it echoes whatever it reads (the
// heartbeat's pong) until it is told to stall (stop reading) or to forget
// (close its socket in TCP_REPAIR mode: no FIN, no RST).
class Peer {
public:
    explicit Peer(net::Fd socket)
        : socket_(std::move(socket)), wake_(::eventfd(0, EFD_CLOEXEC)), thread_([this] { loop(); }) {}
    ~Peer() {
        command_ = Command::quit;
        signal();
        thread_.join();
    }
    /// Stalls or forgets; returns once it is done.
    void vanish(Vanish how) {
        std::promise<void> done;
        auto finished = done.get_future();
        done_ = &done;
        command_ = how == Vanish::forget ? Command::forget : Command::stall;
        signal();
        if (finished.wait_for(2s) != std::future_status::ready) {
            done_ = nullptr;
            throw Error(Exit::environment, "halfopen: the peer did not vanish within 2 s");
        }
        if (error_) std::rethrow_exception(error_);
    }

private:
    enum class Command { echo, stall, forget, quit };
    void signal() {
        uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof one);
    }
    void loop() {
        char buffer[4096];
        bool reading = true;
        while (command_ != Command::quit) {
            pollfd fds[2] = {{wake_.get(), POLLIN, 0}, {socket_.get(), short(reading ? POLLIN : 0), 0}};
            if (::poll(fds, socket_ ? 2 : 1, 1000) < 0 && errno != EINTR) break;
            if (fds[0].revents) {
                uint64_t n;
                [[maybe_unused]] auto r = ::read(wake_.get(), &n, sizeof n);
                if (command_ == Command::stall) {
                    reading = false;
                    finish();
                } else if (command_ == Command::forget && socket_) {
                    try {
                        sandbox::forget(std::move(socket_));
                    } catch (...) {
                        error_ = std::current_exception();
                    }
                    finish();
                }
                continue;
            }
            if (reading && socket_ && (fds[1].revents & (POLLIN | POLLERR | POLLHUP))) {
                ssize_t n = ::read(socket_.get(), buffer, sizeof buffer);
                if (n <= 0) reading = false;
                else if (::send(socket_.get(), buffer, size_t(n), MSG_NOSIGNAL) < 0) reading = false;
            }
        }
    }
    void finish() {
        if (auto* done = done_.exchange(nullptr)) done->set_value();
    }

    net::Fd socket_;
    net::Fd wake_;
    std::atomic<Command> command_{Command::echo};
    std::atomic<std::promise<void>*> done_{nullptr};
    std::exception_ptr error_;
    std::thread thread_;
};

// What one victim saw.
struct Outcome {
    bool detected = false;
    bool timed_out = false;          ///< the watchdog ended the wait at --max-wait
    double detected_ms = 0;          ///< from the vanish
    std::string saw;                 ///< errno name, "EOF", "poll 0", "no pong", "blocked"
    uint64_t pending_written = 0;
    net::TcpInfo info;               ///< after the wait
};

// One detection method: its sandbox, tap, peer and victim.
struct Lane {
    Detector detector;
    bool pending = false;
    std::unique_ptr<sandbox::Sandbox> box;  ///< null in host mode
    std::unique_ptr<sandbox::Tap> tap;
    std::string tap_error;
    net::Fd victim;
    net::Address local, peer_address;
    std::unique_ptr<Peer> peer;
    kernel::CounterSnapshot counters_before;
    // At the vanish:
    Clock::time_point vanished_at;
    net::TcpInfo info_at_vanish;
    Theory theory;
    std::atomic<bool> waiting{false};
    std::atomic<bool> watchdog_fired{false};
    Outcome outcome;
    std::string failure;  ///< why the victim's thread failed, if it did
};

template <class F>
decltype(auto) in_client(Lane& lane, F&& f) {
    if (!lane.box) return std::forward<F>(f)();
    return lane.box->run_in(Side::client, std::forward<F>(f));
}
template <class F>
decltype(auto) in_server(Lane& lane, F&& f) {
    if (!lane.box) return std::forward<F>(f)();
    return lane.box->run_in(Side::server, std::forward<F>(f));
}

bool wait_readable(int fd, milliseconds timeout) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, int(timeout.count())) > 0;
}

// Connects the victim to its peer and proves the connection works with one
// echoed line, then sets the method's socket options.
void connect_lane(Lane& lane, bool sandboxed, const HalfopenConfig& config) {
    if (sandboxed) {
        sandbox::Options options;
        if (lane.detector.method == Method::retries2)
            options.client_sysctls["net.ipv4.tcp_retries2"] = std::to_string(lane.detector.retries2);
        lane.box = std::make_unique<sandbox::Sandbox>(options);
    }
    net::ListenOptions listen;
    listen.nonblocking = false;
    auto where = lane.box ? lane.box->address(Side::server, 7) : net::Address::parse("127.0.0.1:0");
    net::Fd listener = in_server(lane, [&] { return net::listen_tcp(where, listen); });
    auto target = net::local_address(listener.get());
    try {
        static const net::Fd here;  // an empty Fd: the tap stays in the current namespace
        lane.tap = std::make_unique<sandbox::Tap>(lane.box ? lane.box->netns(Side::client) : here,
                                                  lane.box ? lane.box->interface(Side::client) : "lo");
    } catch (const Error& e) {
        lane.tap_error = e.what();  // the run goes on; the wire column says why it is empty
    }
    lane.victim = in_client(lane, [&] { return net::connect_tcp(target, 2s); });
    if (!wait_readable(listener.get(), 2000ms)) throw Error(Exit::environment, "halfopen: the peer never saw the connection");
    net::Fd accepted(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!accepted) throw Error::system("halfopen: accept", errno);
    // Both ends close with RST when the run is over (or the process is
    // killed): a FIN into a cut link would keep an orphan, and with it the
    // namespace, alive for tcp_orphan_retries (about 100 s). TCP_REPAIR
    // (forget) is not affected: tcp_close() checks repair first.
    net::set_linger(lane.victim.get(), 0);
    net::set_linger(accepted.get(), 0);
    lane.local = net::local_address(lane.victim.get());
    lane.peer_address = target;
    lane.peer = std::make_unique<Peer>(std::move(accepted));

    int fd = lane.victim.get();
    const auto& d = lane.detector;
    if (d.method == Method::keepalive) net::set_keepalive(fd, d.keepalive);
    if (d.method == Method::rcvtimeo) net::set_rcvtimeo(fd, d.timeout);
    if (d.method == Method::user_timeout) net::set_user_timeout(fd, duration_cast<milliseconds>(d.timeout));
    lane.pending = config.pending_data || d.needs_pending_data();

    constexpr std::string_view hello = "hello\n";
    if (::send(fd, hello.data(), hello.size(), MSG_NOSIGNAL) != ssize_t(hello.size()))
        throw Error::system("halfopen: send hello", errno);
    char echo[16];
    if (!wait_readable(fd, 2000ms) || ::recv(fd, echo, sizeof echo, 0) != ssize_t(hello.size()))
        throw Error(Exit::environment, "halfopen: the peer did not echo the hello line");
    lane.counters_before = in_client(lane, [] { return kernel::read_counters(); });
}

// Writes the data that stays unacknowledged; returns the bytes written.
// Never blocks: a send buffer that fills up waits in poll(), bounded by
// the deadline (a blocked send() would not wake for the watchdog).
uint64_t write_pending(int fd, uint64_t size, Clock::time_point deadline) {
    std::vector<char> chunk(64 * 1024, 'x');
    uint64_t written = 0;
    while (written < size && Clock::now() < deadline) {
        ssize_t n = ::send(fd, chunk.data(), std::min<uint64_t>(chunk.size(), size - written),
                           MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            written += uint64_t(n);
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR) break;
        pollfd p{fd, POLLOUT, 0};
        ::poll(&p, 1, 20);
    }
    return written;
}

// Against a stalled peer the victim keeps writing, as a producer would,
// until the peer's receive buffer is full and its window shuts; then its
// kernel answers zero-window probes. MSG_DONTWAIT per call, so the victim's
// own blocking read() stays blocking.
void keep_writing(int fd, const std::atomic<bool>& stop, std::atomic<uint64_t>& written, int& error) {
    std::vector<char> chunk(64 * 1024, 'x');
    while (!stop) {
        ssize_t n = ::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            written += uint64_t(n);
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            error = errno;  // the connection is gone; this call took its error
            return;
        }
        pollfd p{fd, POLLOUT, 0};
        ::poll(&p, 1, 20);
    }
}

std::string read_error_name(ssize_t n, int err) {
    if (n == 0) return "EOF";
    return std::string(errno_name(err));
}

// Blocks in read() the way the method makes it block; returns what read()
// returned (data is consumed and the read repeated).
void wait_in_read(Lane& lane, Outcome& out) {
    char buffer[4096];
    for (;;) {
        ssize_t n = ::read(lane.victim.get(), buffer, sizeof buffer);
        if (n > 0) continue;
        int err = errno;
        if (n == 0 && lane.watchdog_fired) return;  // shutdown(SHUT_RD) by the watchdog
        if (n < 0 && err == EINTR) continue;
        out.detected = true;
        out.saw = read_error_name(n, err);
        return;
    }
}

// poll() for at most `timeout`, resumed after a signal; -1 if the
// watchdog ended the wait (its shutdown(SHUT_RD) makes the socket readable).
int poll_in(Lane& lane, Clock::time_point until) {
    for (;;) {
        auto left = duration_cast<milliseconds>(until - Clock::now());
        pollfd p{lane.victim.get(), POLLIN, 0};
        int ready = ::poll(&p, 1, int(std::max<int64_t>(left.count(), 0)));
        if (lane.watchdog_fired) return -1;
        if (ready >= 0) return ready;
        if (errno != EINTR) return -1;
    }
}

// poll() with the method's timeout.
void wait_in_poll(Lane& lane, Outcome& out, Clock::time_point deadline) {
    auto start = Clock::now();
    auto until = std::min(start + lane.detector.timeout, deadline);
    int ready = poll_in(lane, until);
    if (ready < 0) return;
    if (ready == 0) {
        if (start + lane.detector.timeout > deadline) return;  // --max-wait came first
        out.detected = true;
        out.saw = "poll 0";
        return;
    }
    char buffer[4096];
    ssize_t n = ::read(lane.victim.get(), buffer, sizeof buffer);
    out.detected = n <= 0;
    out.saw = n <= 0 ? read_error_name(n, errno) : "data";
}

// An application ping with a deadline: send, wait for the pong, repeat.
void wait_for_pong(Lane& lane, Outcome& out, Clock::time_point deadline) {
    int fd = lane.victim.get();
    auto deadline_pong = duration_cast<milliseconds>(lane.detector.timeout);
    char buffer[4096];
    while (Clock::now() < deadline) {
        constexpr std::string_view ping = "ping\n";
        // MSG_DONTWAIT: behind a full send buffer the ping cannot leave, and
        // the deadline runs all the same.
        if (::send(fd, ping.data(), ping.size(), MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno != EAGAIN) {
            out.detected = true;
            out.saw = std::string(errno_name(errno));
            return;
        }
        auto sent = Clock::now();
        int ready = poll_in(lane, std::min(sent + deadline_pong, deadline));
        if (ready < 0) return;
        if (ready == 0) {
            if (sent + deadline_pong > deadline) return;
            out.detected = true;
            out.saw = "no pong";
            return;
        }
        ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n <= 0) {
            out.detected = true;
            out.saw = read_error_name(n, errno);
            return;
        }
        // A pong: the peer lives. Ping again when the interval is up.
        std::this_thread::sleep_until(std::min(sent + deadline_pong, deadline));
    }
}

void wait_for_detection(Lane& lane, const HalfopenConfig& config, Clock::time_point deadline) {
    Outcome& out = lane.outcome;
    int fd = lane.victim.get();
    std::atomic<bool> stop_writing{false};
    std::atomic<uint64_t> written{0};
    int write_error = 0;
    std::jthread writer;  // joins on every way out
    if (lane.pending && config.vanish == Vanish::stall)
        writer = std::jthread([&] { keep_writing(fd, stop_writing, written, write_error); });
    else if (lane.pending)
        written = write_pending(fd, config.pending_size, deadline);
    switch (lane.detector.method) {
    case Method::poll: wait_in_poll(lane, out, deadline); break;
    case Method::heartbeat: wait_for_pong(lane, out, deadline); break;
    default: wait_in_read(lane, out); break;
    }
    stop_writing = true;
    if (writer.joinable()) writer.join();
    out.pending_written = written;
    // The kernel reports a socket error once, to whichever call asks first
    // (sock_error() clears it): when the writer took it, read() saw EOF.
    if (write_error && out.saw == "EOF") out.saw = std::string(errno_name(write_error));
    auto now = Clock::now();
    out.detected_ms = ms_between(lane.vanished_at, now);
    out.timed_out = !out.detected;
    if (!out.detected) out.saw = "blocked";
    out.info = net::tcp_info(fd);
}

// A victim's thread: waits, and never lets an exception escape (it would
// end the process): the failure is reported on its row.
void run_victim(Lane& lane, const HalfopenConfig& config, Clock::time_point deadline) {
    try {
        wait_for_detection(lane, config, deadline);
    } catch (const std::exception& e) {
        lane.outcome.saw = "error";
        lane.failure = e.what();
    }
    lane.waiting = false;
}

void vanish(Lane& lane, Vanish how) {
    switch (how) {
    case Vanish::cut: lane.box->cut(); break;
    case Vanish::blackhole: lane.box->blackhole(); break;
    case Vanish::forget:
    case Vanish::stall: lane.peer->vanish(how); break;
    }
}

std::string wire_text(const Lane& lane, const sandbox::FlowSummary& s) {
    if (!lane.tap) return "-";
    std::vector<std::string> parts;
    if (s.keepalive_probes_out) parts.push_back(fmt::format("{} keepalive probes", s.keepalive_probes_out));
    if (s.zero_window_probes_out) parts.push_back(fmt::format("{} window probes", s.zero_window_probes_out));
    if (s.retransmissions_out) parts.push_back(fmt::format("{} retransmits", s.retransmissions_out));
    if (s.rst_in) parts.push_back("RST in");
    if (s.rst_out) parts.push_back("RST out");
    if (s.fin_in) parts.push_back("FIN in");
    if (s.fin_out) parts.push_back("FIN out");
    if (parts.empty()) {
        if (!s.segments_out) return s.segments_in ? fmt::format("{} back", s.segments_in) : "silence";
        return s.segments_in ? fmt::format("{} sent, {} back", s.segments_out, s.segments_in)
                             : fmt::format("{} sent, none back", s.segments_out);
    }
    if (s.segments_in && !s.rst_in && !s.fin_in) parts.push_back(fmt::format("{} back", s.segments_in));
    std::string text = parts[0];
    for (size_t i = 1; i < parts.size(); ++i) text += ", " + parts[i];
    return text;
}

// The connection's segments from the vanish on, for the JSON: what the
// victim's kernel sent and got, with times relative to the vanish.
report::json timeline(const std::vector<sandbox::Segment>& segments, const net::Address& local,
                      const net::Address& peer, Clock::time_point vanished_at) {
    constexpr size_t kMaxEntries = 64;
    report::json entries = report::json::array();
    for (const auto& s : segments) {
        bool out = s.src == local && s.dst == peer;
        if ((!out && !(s.src == peer && s.dst == local)) || s.at < vanished_at) continue;
        if (entries.size() == kMaxEntries) break;
        entries.push_back({{"at_ms", std::round(ms_between(vanished_at, s.at) * 10) / 10},
                           {"direction", out ? "out" : "in"},
                           {"flags", sandbox::flags_text(s.flags)},
                           {"seq", s.seq},
                           {"payload_bytes", s.payload_bytes},
                           {"window", s.window}});
    }
    return entries;
}

// When the peer first advertised a zero window after the vanish, by the tap.
std::optional<cli::Duration> window_shut_at(const Lane& lane) {
    if (!lane.tap) return std::nullopt;
    for (const auto& s : lane.tap->segments())
        if (s.at >= lane.vanished_at && s.src == lane.peer_address && s.dst == lane.local && s.window == 0 &&
            !(s.flags & sandbox::kRst))
            return duration_cast<cli::Duration>(s.at - lane.vanished_at);
    return std::nullopt;
}

double tolerance_ms(double theory) { return std::max(0.05 * theory, 50.0); }

bool within_tolerance(double measured, double theory) { return std::abs(measured - theory) <= tolerance_ms(theory); }

// Did the victim behave as predicted? Detected in time with the predicted
// errno, or still waiting when the prediction is past --max-wait; when it
// falls within the tolerance of --max-wait either outcome agrees.
bool verdict(std::optional<double> theory_ms, const std::string& expected_saw, const Outcome& o, double max_wait_ms) {
    bool detected_as_predicted = theory_ms && o.detected && within_tolerance(o.detected_ms, *theory_ms) &&
                                 o.saw == expected_saw;
    if (!theory_ms || *theory_ms - tolerance_ms(*theory_ms) > max_wait_ms) return !o.detected;
    if (*theory_ms + tolerance_ms(*theory_ms) < max_wait_ms) return detected_as_predicted;
    return detected_as_predicted || !o.detected;
}

}  // namespace

std::string format_ms(std::optional<double> ms) {
    if (!ms) return "never";
    if (*ms < 1000) return fmt::format("{:.0f} ms", *ms);
    if (*ms < 600000) return fmt::format("{:.2f} s", *ms / 1000);
    return fmt::format("{:.0f} s", *ms / 1000);
}

report::Report run_halfopen_client(const HalfopenConfig& config, const cli::CommonOptions& common,
                                   cli::Output& output) {
    report::Report r;
    r.command = "halfopen";
    // Where: the sandbox when we may build one, else the host's loopback for
    // the vanish modes that need no network change.
    std::string why_not = sandbox::unavailable_reason();
    bool sandboxed = !common.no_sandbox && why_not.empty();
    if (!sandboxed && !common.no_sandbox && sandbox::needs_sandbox(config.vanish))
        throw Error(Exit::environment, fmt::format("--vanish {} needs the sandbox: {}",
                                                   sandbox::vanish_name(config.vanish), why_not));
    if (config.vanish == Vanish::forget && !sandbox::forget_unavailable_reason().empty())
        throw Error(Exit::environment, sandbox::forget_unavailable_reason());
    for (const auto& d : config.detectors)
        if (!sandboxed && d.method == Method::retries2)
            throw Error(Exit::environment, fmt::format("--detect retries2 needs the sandbox: {}", why_not));
    r.mode = sandboxed ? "sandbox" : "host";
    if (!sandboxed && !common.no_sandbox)
        r.notes.push_back(fmt::format("host mode on loopback: {}", why_not));

    // Set up: one lane per method, each connected and verified.
    std::vector<std::unique_ptr<Lane>> lanes;
    for (const auto& d : config.detectors) {
        auto lane = std::make_unique<Lane>();
        lane->detector = d;
        connect_lane(*lane, sandboxed, config);
        lanes.push_back(std::move(lane));
    }
    // The sysctls in force where the victims live (a new namespace starts
    // from the kernel's defaults, not the host's).
    // (A retries2 lane has its own tcp_retries2: read another when there is one.)
    auto typical = std::find_if(lanes.begin(), lanes.end(),
                                [](auto& l) { return l->detector.method != Method::retries2; });
    r.sysctls = in_client(typical == lanes.end() ? *lanes.front() : **typical, [] {
        return kernel::sysctls_json({"net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_keepalive_intvl",
                                     "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_retries2"});
    });

    // Healthy phase: the connections idle for --after.
    auto healthy_until = Clock::now() + config.after;
    while (Clock::now() < healthy_until && !cli::stop_requested()) std::this_thread::sleep_for(10ms);

    // The peer vanishes on every lane; each victim starts waiting at once.
    std::vector<std::jthread> victims;  // joined on every way out
    Clock::time_point deadline;
    for (auto& lane : lanes) {
        int retries = std::stoi(
            in_client(*lane, [] { return kernel::read_sysctl("net.ipv4.tcp_retries2").value_or("15"); }));
        lane->info_at_vanish = net::tcp_info(lane->victim.get());
        auto info_taken = Clock::now();
        vanish(*lane, config.vanish);
        lane->vanished_at = Clock::now();
        if (victims.empty()) deadline = lane->vanished_at + config.max_wait;
        // The peer last spoke before the info was taken, and vanish() took a moment.
        auto since_last_ack = milliseconds(lane->info_at_vanish.last_ack_recv_ms) +
                              duration_cast<milliseconds>(lane->vanished_at - info_taken);
        uint32_t mss = std::max<uint32_t>(lane->info_at_vanish.snd_mss, 536);
        int segments = int((config.pending_size + mss - 1) / mss);
        lane->theory = predict(lane->detector, config.vanish, lane->pending,
                               std::chrono::microseconds(lane->info_at_vanish.rto_us), since_last_ack, retries,
                               segments);
        lane->waiting = true;
        victims.emplace_back([&, l = lane.get()] { run_victim(*l, config, deadline); });
    }

    // Watchdog: --max-wait (or SIGINT) ends every wait still going;
    // shutdown(SHUT_RD) wakes a blocked read() and sends nothing.
    auto all_done = [&] {
        for (auto& lane : lanes)
            if (lane->waiting) return false;
        return true;
    };
    bool interrupted = false;
    while (!all_done() && Clock::now() < deadline) {
        if (cli::stop_requested()) {
            interrupted = true;
            break;
        }
        output.status(fmt::format("{} of {} methods still waiting, {:.1f} s since the vanish",
                                  std::count_if(lanes.begin(), lanes.end(), [](auto& l) { return l->waiting.load(); }),
                                  lanes.size(), ms_between(lanes.front()->vanished_at, Clock::now()) / 1000));
        std::this_thread::sleep_for(20ms);
    }
    for (auto& lane : lanes)
        if (lane->waiting) {
            lane->watchdog_fired = true;
            ::shutdown(lane->victim.get(), SHUT_RD);
        }
    victims.clear();  // joins
    output.clear_status();

    // Collect: the wire, the counters, the verdicts.
    std::this_thread::sleep_for(30ms);  // let the tap see the last segment (an RST, say)
    std::map<std::string, int64_t> counters;
    report::Table table{fmt::format("halfopen: the peer vanished ({}) after {}", sandbox::vanish_name(config.vanish),
                                    cli::format_duration(config.after)),
                        {"method", "setting", "theory", "measured", "saw", "connection", "tcp_info", "on the wire",
                         "verdict"},
                        {}};
    bool all_as_predicted = true;
    for (auto& lane_ptr : lanes) {
        Lane& lane = *lane_ptr;
        if (lane.tap) lane.tap->stop();
        auto deltas = kernel::counter_deltas(lane.counters_before,
                                             in_client(lane, [] { return kernel::read_counters(); }));
        for (const auto& [name, value] : deltas) counters[name] += value;

        const Outcome& o = lane.outcome;
        Theory& t = lane.theory;
        if (t.from_window_shut && t.detect_after) {
            auto shut = window_shut_at(lane);
            *t.detect_after += shut.value_or(cli::Duration{0});
            t.formula += shut ? fmt::format(" (the tap saw it shut {} after the vanish)",
                                            format_ms(cli::to_ms(*shut)))
                              : " (no tap: assumed to shut at once)";
        }
        std::optional<double> theory_ms;
        if (t.detect_after) theory_ms = std::chrono::duration<double, std::milli>(*t.detect_after).count();
        bool as_predicted = verdict(theory_ms, t.saw, o, cli::to_ms(config.max_wait));
        if (interrupted) as_predicted = false;
        all_as_predicted = all_as_predicted && as_predicted;
        bool gone = o.info.state_number == 7;  // TCP_CLOSE: the kernel let go of it

        report::json row;
        row["method"] = std::string(method_label(lane.detector.method));
        row["setting"] = lane.detector.spec();
        row["pending_data"] = lane.pending;
        row["pending_bytes"] = o.pending_written;
        row["theory_ms"] = theory_ms ? report::json(*theory_ms) : report::json(nullptr);
        row["formula"] = t.formula;
        row["expected_saw"] = t.saw;
        row["detected"] = o.detected;
        row["detected_ms"] = o.detected ? report::json(o.detected_ms) : report::json(nullptr);
        row["waited_ms"] = o.detected_ms;
        row["saw"] = o.saw;
        row["as_predicted"] = as_predicted;
        row["connection_gone"] = gone;
        row["state_after"] = kernel::state_json_name(o.info.state_number);
        row["tcp_info"] = {{"retransmits", o.info.retransmits},
                           {"probes", o.info.probes},
                           {"backoff", o.info.backoff},
                           {"total_retrans", o.info.total_retrans},
                           {"rto_at_vanish_ms", lane.info_at_vanish.rto_us / 1000.0},
                           {"since_last_ack_at_vanish_ms", lane.info_at_vanish.last_ack_recv_ms}};
        sandbox::FlowSummary wire;
        if (lane.tap) {
            // The wire of this method's wait: from the vanish to its detection.
            auto until = lane.vanished_at + std::chrono::duration_cast<Clock::duration>(
                                                std::chrono::duration<double, std::milli>(o.detected_ms)) + 2ms;
            std::vector<sandbox::Segment> seen;
            for (auto& seg : lane.tap->segments())
                if (seg.at <= until) seen.push_back(seg);
            wire = sandbox::summarize(seen, lane.local, lane.peer_address, lane.vanished_at);
            report::json w;
            to_json(w, wire);
            w["timeline"] = timeline(seen, lane.local, lane.peer_address, lane.vanished_at);
            row["wire"] = w;
        } else {
            row["wire"] = nullptr;
            row["wire_unavailable"] = lane.tap_error;
        }
        if (!lane.failure.empty()) {
            row["error"] = lane.failure;
            r.notes.push_back(fmt::format("{}: {}", method_label(lane.detector.method), lane.failure));
        }
        r.results[lane.detector.key()] = row;

        std::string measured = o.detected ? format_ms(o.detected_ms) : fmt::format("> {}", format_ms(o.detected_ms));
        std::string connection = gone ? "gone" : fmt::format("still {}", o.info.state);
        table.rows.push_back({std::string(method_label(lane.detector.method)),
                              lane.detector.spec().substr(std::min(lane.detector.spec().size(),
                                                                   method_label(lane.detector.method).size() + 1)),
                              format_ms(theory_ms), measured, o.saw, connection,
                              fmt::format("{} probes, {} retrans", o.info.probes,
                                          std::max(o.info.retransmits, o.info.total_retrans)),
                              wire_text(lane, wire),
                              as_predicted ? "as predicted" : "DIFFERS"});
        if (!o.detected && !interrupted)
            r.notes.push_back(fmt::format("{}: still blocked after {}: would block {}", method_label(lane.detector.method),
                                          format_ms(o.detected_ms),
                                          theory_ms ? fmt::format("until {}", format_ms(theory_ms)) : "forever"));
        if (o.detected && !gone)
            r.notes.push_back(fmt::format("{}: the application stopped waiting, but the connection is still {}: "
                                          "nothing was closed",
                                          method_label(lane.detector.method), o.info.state));
    }
    if (config.vanish == Vanish::cut)
        r.notes.push_back("cut: the client's end lost carrier with the server's, so its probes and retransmissions "
                          "never reached the wire; tcp_info counts them");
    r.results["vanish"] = std::string(sandbox::vanish_name(config.vanish));
    r.results["side"] = "client";
    r.results["all_as_predicted"] = all_as_predicted;
    r.results["interrupted"] = interrupted;
    r.tables.push_back(std::move(table));
    for (const auto& info : kernel::curated_counters())
        if (auto it = counters.find(std::string(info.name)); it != counters.end() && it->second)
            r.counters[std::string(info.name)] = it->second;
    for (const char* name : {"TCPKeepAlive", "TCPWinProbe", "TCPAbortOnTimeout", "TCPTimeouts"})
        if (auto it = counters.find(name); it != counters.end() && it->second) r.counters[name] = it->second;
    if (interrupted) r.notes.push_back("interrupted: partial result");

    // Tear down: the network back, victims, peers, then the namespaces.
    for (auto& lane : lanes) {
        if (lane->box) lane->box->restore();
        lane->victim.reset();
        lane->peer.reset();
        lane->tap.reset();
        lane->box.reset();
    }
    return r;  // run_main prints it and exits 130 after SIGINT
}

}  // namespace sockdrill::scenario
