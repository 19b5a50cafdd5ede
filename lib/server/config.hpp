#pragma once
// Everything sockdrill-serve can be told. Each knob is a server-side cause
// of one of the failure stories in DESIGN.md; defaults make a lean server.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "cli/units.hpp"
#include "net/address.hpp"
#include "net/sockopt.hpp"

namespace sockdrill::server {

using cli::Duration;
using namespace std::chrono_literals;

struct Config {
    std::string mode = "http";                 ///< http, echo or discard
    std::vector<std::string> listen = {"127.0.0.1:8080"};
    std::string io = "epoll";                  ///< epoll, poll, select or threads
    unsigned workers = 1;
    bool reuseport = false;                    ///< one listener per worker (SO_REUSEPORT)
    int backlog = 511;

    bool nodelay = false;
    bool cork = false;                         ///< TCP_CORK on/off around each response
    unsigned split_writes = 1;                 ///< write each response in N write() calls
    std::optional<int> linger;                 ///< SO_LINGER seconds; nullopt = off
    std::string close = "normal";              ///< normal, abortive or lingering
    Duration lingering_timeout = 2s;           ///< how long a lingering close drains input
    Duration keepalive_timeout = 60s;
    uint64_t max_requests = 0;                 ///< per connection; 0 = unlimited
    Duration header_timeout = 10s;
    uint64_t response_size = 12;               ///< body bytes of a plain GET
    Duration response_delay = 0s;
    Duration accept_delay = 0s;
    bool pause_accept = false;
    std::optional<uint64_t> stall_after;       ///< stop reading after this many bytes
    bool check_closed = false;                 ///< getsockopt(SO_ERROR) per request (Puma)
    bool peername = false;                     ///< getpeername() per request
    std::optional<net::Keepalive> tcp_keepalive;
    std::optional<Duration> user_timeout;
    std::optional<uint64_t> rcvbuf;
    std::optional<uint64_t> sndbuf;
    uint64_t max_conns = 0;                    ///< 0 = unlimited
    uint64_t max_header_size = 8 * 1024;
    uint64_t max_body_size = 1024 * 1024;
    Duration drain_timeout = 5s;
};

/// Checks combinations the option parser cannot (throws Error(Exit::usage)).
void validate(const Config& config);

/// The effective options as JSON, long names in snake_case.
void to_json(nlohmann::json& j, const Config& config);

}  // namespace sockdrill::server
