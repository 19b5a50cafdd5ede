#pragma once
// HTTP/1.x request heads and chunked bodies, parsed for the embedded server.
// The parser keeps no state between calls and stores no header list: the
// server only needs the framing (length, chunked, keep-alive, 100-continue),
// so those four headers are the only ones it interprets.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sockdrill::http {

/// The request methods the server tells apart; everything else is `other`.
enum class Method { get, head, post, put, del, options, other };

/// A parsed request head; string_views point into the caller's buffer.
struct RequestHead {
    Method method = Method::other;
    std::string_view method_name;
    std::string_view target;      // request-target as sent ("/bytes/10?x=1")
    int version_minor = 1;        // HTTP/1.<minor>; only 0 and 1 are accepted
    bool keep_alive = true;       // effective: 1.1 default on unless "Connection: close";
                                  // 1.0 default off unless "Connection: keep-alive"
    bool chunked = false;         // Transfer-Encoding: chunked (last coding)
    int64_t content_length = -1;  // -1 when absent
    bool expect_continue = false;
};

/// Whether parse_request_head found a whole head, needs more bytes, or gave up.
enum class ParseStatus { complete, incomplete, error };

/// What parse_request_head found; `head` is meaningful only when complete.
struct ParseResult {
    ParseStatus status = ParseStatus::incomplete;
    size_t head_bytes = 0;          // bytes of the head including the final CRLFCRLF, when complete
    int error_status = 0;           // when error: 400, 431, 501 or 505 (see parse_request_head)
    std::string_view error_reason;  // short static text, e.g. "bad Content-Length"
    RequestHead head;
};

/// Parses one request head from the start of buf (complete or not). Stateless:
/// the server calls it again on a longer buffer when it returned incomplete.
/// Returns 431 as soon as buf holds more than max_head_bytes without a complete head.
/// Accepts leading empty lines (CRLF) before the request line as RFC 9112 allows
/// (they count in head_bytes). Error statuses: 400 malformed (bare CR, obs-fold,
/// whitespace before a colon, bad/negative/overflowing/conflicting Content-Length,
/// Content-Length with Transfer-Encoding, Transfer-Encoding in HTTP/1.0); 431 head
/// larger than max_head_bytes; 501 a transfer coding other than chunked; 505 a
/// version other than HTTP/1.0 and HTTP/1.1.
ParseResult parse_request_head(std::string_view buf, size_t max_head_bytes);

/// Incremental decoder of a chunked body; keeps only a few integers of state.
class ChunkedDecoder {
public:
    /// A chunk-size line (or trailer line) longer than this is an error, not a wait.
    static constexpr uint32_t max_line_bytes = 1024;
    /// The whole trailer section is bounded too, since trailers are skipped, not counted.
    static constexpr uint32_t max_trailer_bytes = 16 * 1024;

    explicit ChunkedDecoder(uint64_t max_body_bytes);

    /// Where feed() stopped: needs more input, body finished, malformed, over max_body_bytes.
    enum class Status { more, done, error, too_large };
    /// The outcome of one feed(): `consumed` bytes of `in` belong to this body.
    struct Step {
        Status status;
        size_t consumed;
    };

    /// Feed bytes; the body data itself is discarded (the server does not keep bodies) but counted.
    /// On `done`, bytes after `consumed` belong to the next request. Once done or failed,
    /// further calls return the same status and consume nothing.
    Step feed(std::string_view in);

    /// Chunk data bytes seen so far (sizes, extensions and trailers not included).
    uint64_t body_bytes() const { return body_bytes_; }

private:
    enum class State : uint8_t;  // defined in request.cpp; State{} is "at a chunk-size line"

    uint64_t max_body_bytes_;
    uint64_t body_bytes_ = 0;
    uint64_t chunk_remaining_ = 0;  // while reading a size line: the size parsed so far
    uint32_t line_bytes_ = 0;
    uint32_t trailer_bytes_ = 0;
    State state_{};
};

}  // namespace sockdrill::http
