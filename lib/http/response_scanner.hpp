#pragma once
// Where one HTTP/1.x response ends, for the load generators. Bytes arrive in
// pieces of any size; the scanner keeps a few integers of state and never
// buffers, so a connection waiting for its response costs no memory beyond
// this object. It reads only what framing needs: the status code, and the
// Content-Length, Transfer-Encoding and Connection headers.
#include <cstdint>
#include <string_view>

#include "http/request.hpp"

namespace sockdrill::http {

/// Finds the end of one response in a byte stream.
class ResponseScanner {
public:
    /// A head longer than this is an error rather than a wait.
    static constexpr uint32_t kMaxHeadBytes = 64 * 1024;

    enum class Status : uint8_t { more, complete, error };
    /// The outcome of one feed(): `consumed` bytes of the input belong to this response.
    struct Step {
        Status status;
        size_t consumed;
    };

    /// Feeds bytes. On `complete`, bytes after `consumed` belong to whatever
    /// follows (a pipelined response, or garbage). 1xx interim responses
    /// (100 Continue) are skipped: the scanner completes on the final one.
    Step feed(std::string_view in);
    /// The peer closed the connection: completes a body delimited by the
    /// close (no Content-Length, not chunked); anything else still
    /// incomplete becomes an error.
    Status finish_at_eof();
    /// Starts over for the next response on the same connection.
    void reset() { *this = ResponseScanner{}; }

    Status status() const { return status_; }
    /// The final response's status code (0 until its status line is read).
    int status_code() const { return status_code_; }
    /// The server said "Connection: close" (or answered as HTTP/1.0 without keep-alive).
    bool connection_close() const { return connection_close_; }
    /// Head bytes seen so far.
    uint32_t head_bytes() const { return head_bytes_; }

private:
    enum class State : uint8_t;  // defined in response_scanner.cpp; State{} is "status line"

    size_t scan_head(std::string_view in);
    void head_byte(char c);
    void end_of_line();
    void end_of_head();
    Step scan_body(std::string_view in);

    State state_{};
    Status status_ = Status::more;
    int status_code_ = 0;
    int version_minor_ = 1;
    bool connection_close_ = false;
    bool keep_alive_ = false;  ///< "Connection: keep-alive" (HTTP/1.0)
    bool chunked_ = false;
    bool bad_ = false;  ///< a header the framing depends on was malformed
    int64_t content_length_ = -1;
    uint64_t body_remaining_ = 0;
    uint32_t head_bytes_ = 0;
    uint16_t line_bytes_ = 0;    ///< bytes of the current line so far
    uint8_t header_ = 0;         ///< which framing header the line holds, once its name ended
    uint8_t candidates_ = 0;     ///< framing header names the line's name still matches
    uint8_t match_ = 0;          ///< bytes of a value token ("chunked", "close") matched so far
    bool value_digits_ = false;  ///< Content-Length: digits seen (and none after a space)
    bool value_done_ = false;    ///< Content-Length: whitespace after the digits
    ChunkedDecoder chunked_body_{UINT64_MAX};
};

}  // namespace sockdrill::http
