#pragma once
// Response heads for the embedded server, written straight into the
// connection's output buffer: no iostreams, no temporary strings.
#include <cstdint>
#include <string>
#include <string_view>

namespace sockdrill::http {

/// Reason phrase for a status code ("Not Found"); "Unknown" otherwise.
std::string_view reason_phrase(int status);

/// Appends a status line and headers (Content-Length always; "Connection: close" when close is
/// true; "Connection: keep-alive" when keep_alive_1_0 is true) and the blank line to out.
/// Exceptions RFC 9110 imposes: 1xx and 204 get neither Content-Length nor Content-Type
/// (so status 100 writes the bare interim "HTTP/1.1 100 Continue"), close wins over
/// keep_alive_1_0, and an empty content_type omits Content-Type.
void append_response_head(std::string& out, int version_minor, int status, uint64_t content_length,
                          bool close, bool keep_alive_1_0, std::string_view content_type = "text/plain");

}  // namespace sockdrill::http
