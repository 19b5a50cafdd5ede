#include "http/response.hpp"

#include <doctest/doctest.h>

#include <string>

using sockdrill::http::append_response_head;
using sockdrill::http::reason_phrase;

TEST_CASE("reason phrases come from RFC 9110 and unknown codes say Unknown") {
    CHECK(reason_phrase(200) == "OK");
    CHECK(reason_phrase(404) == "Not Found");
    CHECK(reason_phrase(431) == "Request Header Fields Too Large");
    CHECK(reason_phrase(505) == "HTTP Version Not Supported");
    CHECK(reason_phrase(299) == "Unknown");
    CHECK(reason_phrase(-1) == "Unknown");
}

TEST_CASE("keep-alive 1.1 response has content type and length and no connection header") {
    std::string out;
    append_response_head(out, 1, 200, 10, false, false);
    CHECK(out == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\n");
}

TEST_CASE("close adds connection close") {
    std::string out;
    append_response_head(out, 1, 400, 0, true, false);
    CHECK(out ==
          "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n"
          "Connection: close\r\n\r\n");
}

TEST_CASE("http 1.0 keep-alive response says keep-alive and close wins over it") {
    std::string out;
    append_response_head(out, 0, 200, 3, false, true, "application/json");
    CHECK(out ==
          "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: 3\r\n"
          "Connection: keep-alive\r\n\r\n");
    out.clear();
    append_response_head(out, 0, 200, 3, true, true);
    CHECK(out.find("Connection: close\r\n") != std::string::npos);
    CHECK(out.find("keep-alive") == std::string::npos);
}

TEST_CASE("appends after what is already in the buffer, for pipelined responses") {
    std::string out = "previous body";
    append_response_head(out, 1, 404, 18446744073709551615ull, false, false, "");
    CHECK(out ==
          "previous bodyHTTP/1.1 404 Not Found\r\nContent-Length: 18446744073709551615\r\n\r\n");
}

TEST_CASE("100 continue is a bare interim status line") {
    std::string out;
    append_response_head(out, 1, 100, 0, false, false);
    CHECK(out == "HTTP/1.1 100 Continue\r\n\r\n");
}

TEST_CASE("204 carries no content-length") {
    std::string out;
    append_response_head(out, 1, 204, 0, false, false);
    CHECK(out == "HTTP/1.1 204 No Content\r\n\r\n");
}

TEST_CASE("a long content type is written whole") {
    std::string out;
    const std::string type = "text/plain; charset=" + std::string(500, 'x');
    append_response_head(out, 1, 200, 1, false, false, type);
    CHECK(out.find("Content-Type: " + type + "\r\n") != std::string::npos);
    CHECK(out.ends_with("Content-Length: 1\r\n\r\n"));
}
