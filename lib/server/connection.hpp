#pragma once
// One client connection's protocol state, and the request/response logic
// shared by every I/O model. Protocol does no waiting: the event loop and the
// blocking thread-per-connection model each decide how to wait for input,
// output space and delays, and call back in.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "http/request.hpp"
#include "server/config.hpp"
#include "server/stats.hpp"

namespace sockdrill::server {

/// What a request asked for, decided from its path and the server's config.
struct ResponsePlan {
    int status = 200;
    uint64_t body_bytes = 0;
    int64_t delay_us = 0;
    bool head_only = false;    ///< HEAD: Content-Length but no body
    bool close = false;        ///< close after this response
    bool abort = false;        ///< RST after this response (/abort)
    bool keep_alive_1_0 = false;
    int version_minor = 1;
    CloseReason reason = CloseReason::server_close;
};

/// Decides the response: /bytes/N, /delay/DURATION, /status/CODE, /close and
/// /abort may be combined ("/delay/10ms/bytes/4096"); any other path gets the
/// configured response. A bad control value is a 400.
ResponsePlan plan_response(const http::RequestHead& head, const Config& config,
                           uint64_t requests_on_connection, bool stopping);

enum class ConnState : uint8_t {
    reading,    ///< waiting for or parsing requests
    delaying,   ///< a response waits for its /delay or --response-delay
    lingering,  ///< SHUT_WR sent, draining input before close
    stalled,    ///< --stall-after reached: no longer read
    closed,
};

/// A connection. Kept small: an idle keep-alive connection holds no buffer
/// (input and output go through the worker's scratch buffers and are copied
/// here only when a request or a write is left half-done).
struct Connection {
    int fd = -1;
    ConnState state = ConnState::reading;
    uint8_t interest = 0;            ///< what the poller watches now (io::Interest)
    bool plan_pending = false;       ///< a request is parsed, its response not yet written
    bool close_after_write = false;
    bool corked = false;
    CloseReason close_reason = CloseReason::server_close;
    bool abort_after_write = false;
    uint32_t requests = 0;
    uint32_t split_chunk = 0;        ///< --split-writes: bytes per write() for this response
    uint64_t bytes_read = 0;
    uint64_t body_to_skip = 0;       ///< request body bytes (Content-Length) still to discard
    uint64_t body_to_send = 0;       ///< generated response body bytes still to write
    uint64_t body_sent = 0;          ///< generated body bytes written so far (offset into the pattern)
    int64_t deadline_us = 0;         ///< header/idle/linger deadline; 0 = none
    int64_t last_progress_us = 0;
    ResponsePlan plan;
    std::unique_ptr<http::ChunkedDecoder> chunked;
    std::string in;                  ///< unparsed input left from earlier reads
    std::string out;                 ///< unsent response bytes
    size_t out_offset = 0;

    bool output_pending() const { return out_offset < out.size() || body_to_send > 0; }
    /// Nothing in progress: a keep-alive connection between requests.
    bool idle() const {
        return state == ConnState::reading && in.empty() && !plan_pending && !output_pending() &&
               body_to_skip == 0 && !chunked;
    }
};

enum class Flush { done, would_block, failed };

/// The request/response engine for one worker; counts into that worker's Stats.
class Protocol {
public:
    Protocol(const Config& config, Stats& stats);

    /// Parses and answers as many requests of `data` as fit; returns bytes consumed.
    /// Stops early when output backs up, a response is delayed, or the
    /// connection is to close. `now_us` is the loop's clock (steady, microseconds).
    size_t process(Connection& c, std::string_view data, int64_t now_us, bool stopping);
    /// Writes the delayed response once its delay has passed.
    void resume_after_delay(Connection& c, bool stopping);
    /// Queues an error response (400, 408, 413, 431, 501, 505) and marks the connection to close.
    void respond_error(Connection& c, int status);
    /// Writes out and the generated body; on failure `error` holds errno.
    Flush flush(Connection& c, int& error);
    /// Echo mode: queue bytes to send back.
    void echo(Connection& c, std::string_view data);

    /// Counted wrappers for the syscalls the server makes on a connection.
    long read(int fd, char* buf, size_t len);
    void close_fd(int fd);
    void shutdown_write(int fd);
    void set_abortive(int fd);
    /// Applies the per-connection socket options of the config (nodelay, linger, ...).
    void configure_accepted(int fd);

    const Config& config() const { return config_; }
    Stats& stats() { return stats_; }

private:
    void start_response(Connection& c, bool stopping);
    bool backed_up(const Connection& c) const;

    const Config& config_;
    Stats& stats_;
};

/// A static block of body bytes ("Hello world\n" repeated) responses are cut from.
std::string_view body_pattern();

}  // namespace sockdrill::server
