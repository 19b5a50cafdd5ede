// http::ResponseScanner: where a response ends, whatever pieces it arrives in.
#include "http/response_scanner.hpp"

#include <doctest/doctest.h>

#include <string>
#include <string_view>

using sockdrill::http::ResponseScanner;
using Status = ResponseScanner::Status;

namespace {

// Feeds `text` in pieces of `piece` bytes; returns the scanner and the bytes
// it said belong to the response.
struct Scan {
    ResponseScanner scanner;
    size_t used = 0;
};

Scan scan(std::string_view text, size_t piece) {
    Scan s;
    for (size_t at = 0; at < text.size() && s.scanner.status() == Status::more; at += piece) {
        auto chunk = text.substr(at, piece);
        s.used += s.scanner.feed(chunk).consumed;
    }
    return s;
}

// Checks the same outcome for every way of splitting the text in pieces of equal size.
void check_every_split(std::string_view text, Status status, size_t used, int code = 200) {
    for (size_t piece = 1; piece <= text.size(); ++piece) {
        CAPTURE(piece);
        auto s = scan(text, piece);
        CHECK(s.scanner.status() == status);
        if (status == Status::complete) {
            CHECK(s.used == used);
            CHECK(s.scanner.status_code() == code);
        }
    }
}

}  // namespace

TEST_CASE("a Content-Length response ends after its body, in any split") {
    std::string response =
        "HTTP/1.1 200 OK\r\nServer: nginx\r\ncontent-LENGTH: 12\r\n\r\nHello world!";
    check_every_split(response + "HTTP/1.1 204", Status::complete, response.size());
}

TEST_CASE("a chunked response ends after its last chunk and trailers") {
    std::string response =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n5\r\nhello\r\n7;ext=1\r\n "
        "world!\r\n0\r\nX-T: 1\r\n\r\n";
    check_every_split(response + "junk", Status::complete, response.size());
}

TEST_CASE("204, 304 and HEAD-like bodiless statuses complete at the end of the head") {
    std::string no_content = "HTTP/1.1 204 No Content\r\nContent-Length: 99\r\n\r\n";
    check_every_split(no_content, Status::complete, no_content.size(), 204);
    std::string not_modified = "HTTP/1.1 304 Not Modified\r\n\r\n";
    check_every_split(not_modified, Status::complete, not_modified.size(), 304);
}

TEST_CASE("100 Continue is skipped, the final response is the one that completes") {
    std::string response =
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
    check_every_split(response, Status::complete, response.size(), 201);
}

TEST_CASE("without a length the body ends at the server's close") {
    auto s = scan("HTTP/1.0 200 OK\r\nServer: x\r\n\r\nsome body", 4);
    CHECK(s.scanner.status() == Status::more);
    CHECK(s.scanner.connection_close());
    CHECK(s.scanner.finish_at_eof() == Status::complete);

    auto cut = scan("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", 100);
    CHECK(cut.scanner.finish_at_eof() == Status::error);
}

TEST_CASE("Connection: close and HTTP/1.0 without keep-alive say the server will close") {
    CHECK(scan("HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n", 3)
              .scanner.connection_close());
    CHECK(!scan("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 3).scanner.connection_close());
    CHECK(scan("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 3).scanner.connection_close());
    CHECK(!scan("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", 3)
               .scanner.connection_close());
}

TEST_CASE("malformed framing is an error, not a wait") {
    CHECK(scan("SSH-2.0-OpenSSH\r\n", 1).scanner.status() == Status::error);
    CHECK(scan("HTTP/1.1 2x0 OK\r\n\r\n", 1).scanner.status() == Status::error);
    CHECK(scan("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", 1).scanner.status() ==
          Status::error);
    CHECK(scan("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 5)
              .scanner.status() == Status::error);
    CHECK(scan("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 5).scanner.status() ==
          Status::error);
    std::string huge = "HTTP/1.1 200 OK\r\nX: " + std::string(ResponseScanner::kMaxHeadBytes, 'a');
    CHECK(scan(huge, 4096).scanner.status() == Status::error);
}

TEST_CASE("reset() starts the next response on the same connection") {
    ResponseScanner scanner;
    std::string one = "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno!";
    CHECK(scanner.feed(one).status == Status::complete);
    CHECK(scanner.status_code() == 404);
    CHECK(scanner.feed("more").consumed == 0);  // complete: takes nothing else
    scanner.reset();
    CHECK(scanner.feed("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").status == Status::complete);
    CHECK(scanner.status_code() == 200);
}
