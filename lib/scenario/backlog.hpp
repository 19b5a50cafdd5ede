#pragma once
// sockdrill-backlog as a function: a listener with a small backlog and a
// server that accepts slowly, clients that churn or burst against it, and
// what they saw: connect time and time to first byte, clustered around the
// SYN-retransmit times the kernel's backoff predicts (1 s, 3 s, 7 s, ...),
// the accept queue over time from the census, and the listen counters.
#include <optional>
#include <string>
#include <vector>

#include "cli/run_main.hpp"
#include "load/histogram.hpp"

namespace sockdrill::scenario {

/// How the embedded server accepts (--accept).
struct AcceptMode {
    enum Kind { normal, serial, slow, paused } kind = serial;
    cli::Duration delay{0};  ///< slow: one accept() per delay
    /// "normal", "serial", "slow=200ms", "paused".
    std::string name() const;
};
/// Parses --accept: normal, serial, slow=DURATION (1ms-10s), paused. Throws Error(usage) naming --accept.
AcceptMode parse_accept_mode(std::string_view text);

/// Parses --rate: "50/s", "3000/min", "10k/s" (a bare number has no unit
/// and is refused). Connections per second; throws Error(usage) naming --rate.
double parse_rate(std::string_view text);

/// One --compare entry: the base run with one thing changed.
struct BacklogVariant {
    std::string name;                      ///< as written: "backlog=128", "seed", ...
    std::optional<int> backlog;            ///< listen()'s argument
    std::optional<int> syncookies;         ///< server net.ipv4.tcp_syncookies
    bool abort_on_overflow = false;        ///< server net.ipv4.tcp_abort_on_overflow=1
    std::optional<int> somaxconn;          ///< server net.core.somaxconn
    bool seed = false;                     ///< listen(1), serial accept, 4 exchanges, linger0 close
    /// The JSON key: "backlog_128", "abort_on_overflow".
    std::string key() const;
};
/// Parses --compare: all, backlog=N, syncookies=0|1|2, abort-on-overflow,
/// somaxconn-clamp, somaxconn=N, seed. Throws Error(usage) naming --compare.
std::vector<BacklogVariant> parse_compare(const std::vector<std::string>& values);

/// Everything one run can be told; a --compare variant changes a copy.
struct BacklogConfig {
    int backlog = 1;                          ///< listen()'s argument, as in the seed
    AcceptMode accept;                        ///< how the server accepts
    cli::Duration response_delay{10000};      ///< the server's work per request (10 ms)
    uint64_t burst = 0;                       ///< N connections at once; 0 = churn
    unsigned concurrency = 8;                 ///< churn, closed loop: connections in flight
    double rate = 0;                          ///< churn, open loop: new connections per second
    uint64_t count = 0;                       ///< churn: connections in all; 0 = until --duration
    cli::Duration duration{5000000};          ///< churn: no new connection after this (run_backlog takes --duration)
    bool count_ends_run = false;              ///< --count without --duration: the count ends the churn (at most 1 h)
    unsigned exchanges = 4;                   ///< request/response pairs per connection
    std::string close = "linger0";            ///< client, server or linger0
    std::optional<int> syn_retries;           ///< client net.ipv4.tcp_syn_retries
    std::optional<int> syn_linear_timeouts;   ///< client net.ipv4.tcp_syn_linear_timeouts (6.5+)
    cli::Duration connect_timeout{8000000};   ///< from socket() to established (8 s)
    cli::Duration io_timeout{8000000};        ///< the longest wait for one response
    std::optional<int> syncookies;            ///< server net.ipv4.tcp_syncookies
    bool abort_on_overflow = false;           ///< server net.ipv4.tcp_abort_on_overflow=1
    std::optional<int> somaxconn;             ///< server net.core.somaxconn
    std::optional<int> max_syn_backlog;       ///< server net.ipv4.tcp_max_syn_backlog
    std::vector<BacklogVariant> compare;      ///< empty: one run
    std::string path = "/";                   ///< --target: the request path
};

void validate(const BacklogConfig& config, const cli::CommonOptions& common);

/// When the client sends its SYN retransmissions, seconds after the first
/// SYN (tcp_retransmit_timer, tcp_write_timeout). The initial RTO
/// (TCP_TIMEOUT_INIT, 1 s) doubles after each timeout, except that since
/// Linux 6.5 the first `linear_timeouts` (net.ipv4.tcp_syn_linear_timeouts,
/// default 4) keep it, and they add to the retries: syn_retries +
/// linear_timeouts retransmissions in all. Linear 0: 1, 3, 7, 15, 31, 63 s;
/// linear 4: 1, 2, 3, 4, 5, 7, 11, 19, 35, 67 s.
std::vector<double> predicted_syn_retransmits_s(int syn_retries, int linear_timeouts = 0, double rto_s = 1.0);
/// When connect() gives up: one more timeout after the last retransmission
/// (127 s for 6 retries, linear 0; 131 s with linear 4).
double syn_giveup_s(int syn_retries, int linear_timeouts = 0, double rto_s = 1.0);

/// The values of a histogram near one predicted time.
struct Mode {
    double predicted_s = 0;  ///< 0: the first SYN got in
    uint64_t count = 0;
    double median_ms = 0;    ///< 0 when the cluster is empty
};
/// Splits a histogram into clusters around 0 and each predicted time: a
/// value belongs to the nearest prediction on a log scale (boundaries at the
/// geometric middle of two predictions; half the first one for 0).
std::vector<Mode> cluster_modes(const load::Histogram& histogram, const std::vector<double>& predicted_s);

/// One census sample of the listener: queue length now and its limit.
struct QueueSample {
    double at_s = 0;
    uint32_t accept_queue = 0;
    uint32_t backlog = 0;
};
/// A compact timeline, one character per sample: '_' empty, '.' under half,
/// 'o' half or more, '#' full (backlog + 1 waiting: the kernel drops now).
std::string queue_timeline(const std::vector<QueueSample>& samples);

/// Runs the scenario (sockdrill.backlog/1).
report::Report run_backlog(const BacklogConfig& config, const cli::CommonOptions& common, cli::Output& output);

}  // namespace sockdrill::scenario
