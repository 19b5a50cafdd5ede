#include "http/response.hpp"

#include <charconv>
#include <cstring>

namespace sockdrill::http {

std::string_view reason_phrase(int status) {
    // RFC 9110 section 15, plus the few extension codes a test server may send.
    switch (status) {
        case 100: return "Continue";
        case 101: return "Switching Protocols";
        case 200: return "OK";
        case 201: return "Created";
        case 202: return "Accepted";
        case 203: return "Non-Authoritative Information";
        case 204: return "No Content";
        case 205: return "Reset Content";
        case 206: return "Partial Content";
        case 300: return "Multiple Choices";
        case 301: return "Moved Permanently";
        case 302: return "Found";
        case 303: return "See Other";
        case 304: return "Not Modified";
        case 307: return "Temporary Redirect";
        case 308: return "Permanent Redirect";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 406: return "Not Acceptable";
        case 408: return "Request Timeout";
        case 409: return "Conflict";
        case 410: return "Gone";
        case 411: return "Length Required";
        case 412: return "Precondition Failed";
        case 413: return "Content Too Large";
        case 414: return "URI Too Long";
        case 415: return "Unsupported Media Type";
        case 416: return "Range Not Satisfiable";
        case 417: return "Expectation Failed";
        case 421: return "Misdirected Request";
        case 422: return "Unprocessable Content";
        case 426: return "Upgrade Required";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        case 505: return "HTTP Version Not Supported";
    }
    return "Unknown";
}

namespace {

// Copies text to p and returns the end; the caller sized the buffer.
inline char* put(char* p, std::string_view text) {
    std::memcpy(p, text.data(), text.size());
    return p + text.size();
}

}  // namespace

void append_response_head(std::string& out, int version_minor, int status, uint64_t content_length,
                          bool close, bool keep_alive_1_0, std::string_view content_type) {
    const std::string_view reason = reason_phrase(status);
    // RFC 9110 8.6: no Content-Length in 1xx or 204; 8.3: no body, so no Content-Type.
    const bool has_length = status >= 200 && status != 204;

    // Write in place over a generous upper bound, then trim: one resize pays
    // for the growth (amortised, as append would), the rest are memcpys.
    constexpr size_t fixed_upper_bound = 160;  // every fixed string below, plus two integers
    const size_t start = out.size();
    out.resize(start + fixed_upper_bound + reason.size() + content_type.size());
    char* p = out.data() + start;

    p = put(p, version_minor == 0 ? std::string_view("HTTP/1.0 ") : std::string_view("HTTP/1.1 "));
    p = std::to_chars(p, p + 16, status).ptr;
    *p++ = ' ';
    p = put(p, reason);
    p = put(p, "\r\n");
    if (has_length) {
        if (!content_type.empty()) {
            p = put(p, "Content-Type: ");
            p = put(p, content_type);
            p = put(p, "\r\n");
        }
        p = put(p, "Content-Length: ");
        p = std::to_chars(p, p + 24, content_length).ptr;
        p = put(p, "\r\n");
    }
    if (close) {
        p = put(p, "Connection: close\r\n");
    } else if (keep_alive_1_0) {
        p = put(p, "Connection: keep-alive\r\n");
    }
    p = put(p, "\r\n");
    out.resize(static_cast<size_t>(p - out.data()));
}

}  // namespace sockdrill::http
