#include "http/request.hpp"

#include <doctest/doctest.h>

#include <string>
#include <string_view>

using namespace std::string_view_literals;
using sockdrill::http::ChunkedDecoder;
using sockdrill::http::Method;
using sockdrill::http::parse_request_head;
using sockdrill::http::ParseResult;
using sockdrill::http::ParseStatus;

namespace {

constexpr size_t default_limit = 8192;

ParseResult parse(std::string_view request, size_t limit = default_limit) {
    return parse_request_head(request, limit);
}

// The error status of a request that must be refused, 0 if it was not refused.
int refusal(std::string_view request) {
    const ParseResult result = parse(request);
    return result.status == ParseStatus::error ? result.error_status : 0;
}

constexpr std::string_view wrk_get = "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";

constexpr std::string_view browser_get =
    "GET /bytes/10?x=1 HTTP/1.1\r\n"
    "Host: localhost:8080\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Connection: keep-alive\r\n"
    "Upgrade-Insecure-Requests: 1\r\n"
    "Sec-Fetch-Dest: document\r\n"
    "Sec-Fetch-Mode: navigate\r\n"
    "Cookie: session=0123456789abcdef; theme=dark\r\n"
    "\r\n";

}  // namespace

TEST_CASE("wrk get parses method target version and head length") {
    const ParseResult result = parse(wrk_get);
    REQUIRE(result.status == ParseStatus::complete);
    CHECK(result.head_bytes == wrk_get.size());
    CHECK(result.head.method == Method::get);
    CHECK(result.head.method_name == "GET");
    CHECK(result.head.target == "/");
    CHECK(result.head.version_minor == 1);
    CHECK(result.head.keep_alive);
    CHECK_FALSE(result.head.chunked);
    CHECK(result.head.content_length == -1);
    CHECK_FALSE(result.head.expect_continue);
}

TEST_CASE("target and method name point into the caller's buffer") {
    const std::string request = "DELETE /bytes/10?x=1 HTTP/1.1\r\n\r\n";
    const ParseResult result = parse(request);
    REQUIRE(result.status == ParseStatus::complete);
    CHECK(result.head.method == Method::del);
    CHECK(result.head.target == "/bytes/10?x=1");
    CHECK(result.head.target.data() == request.data() + 7);
    CHECK(result.head.method_name.data() == request.data());
}

TEST_CASE("methods are recognised case-sensitively and unknown ones are other") {
    CHECK(parse("HEAD / HTTP/1.1\r\n\r\n").head.method == Method::head);
    CHECK(parse("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").head.method == Method::post);
    CHECK(parse("PUT / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").head.method == Method::put);
    CHECK(parse("OPTIONS * HTTP/1.1\r\n\r\n").head.method == Method::options);
    const ParseResult patch = parse("PATCH / HTTP/1.1\r\n\r\n");
    CHECK(patch.status == ParseStatus::complete);
    CHECK(patch.head.method == Method::other);
    CHECK(patch.head.method_name == "PATCH");
    CHECK(parse("get / HTTP/1.1\r\n\r\n").head.method == Method::other);
}

TEST_CASE("browser get with many headers is complete and keeps alive") {
    const ParseResult result = parse(browser_get);
    REQUIRE(result.status == ParseStatus::complete);
    CHECK(result.head_bytes == browser_get.size());
    CHECK(result.head.target == "/bytes/10?x=1");
    CHECK(result.head.keep_alive);
}

TEST_CASE("every prefix of a valid request is incomplete and the whole is complete") {
    const std::string_view requests[] = {
        wrk_get,
        browser_get,
        "\r\n\r\nPOST /upload HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 12\r\n\r\n",
        "PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
        "GET /lf HTTP/1.1\nHost: a\n\n",
    };
    for (std::string_view request : requests) {
        CAPTURE(request);
        for (size_t length = 0; length < request.size(); ++length) {
            CAPTURE(length);
            CHECK(parse(request.substr(0, length)).status == ParseStatus::incomplete);
        }
        const ParseResult whole = parse(request);
        CHECK(whole.status == ParseStatus::complete);
        CHECK(whole.head_bytes == request.size());
    }
}

TEST_CASE("pipelined requests parse one after the other from head_bytes") {
    const std::string buffer = std::string(wrk_get) +
                               "POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello" +
                               std::string(wrk_get.substr(0, 10));
    const ParseResult first = parse(buffer);
    REQUIRE(first.status == ParseStatus::complete);
    CHECK(first.head_bytes == wrk_get.size());
    CHECK(first.head.method == Method::get);

    const std::string_view rest = std::string_view(buffer).substr(first.head_bytes);
    const ParseResult second = parse(rest);
    REQUIRE(second.status == ParseStatus::complete);
    CHECK(second.head.method == Method::post);
    CHECK(second.head.target == "/echo");
    CHECK(second.head.content_length == 5);
    CHECK(rest.substr(second.head_bytes, 5) == "hello");

    const ParseResult third = parse(rest.substr(second.head_bytes + 5));
    CHECK(third.status == ParseStatus::incomplete);
}

TEST_CASE("leading empty lines before the request line count in head_bytes") {
    const std::string_view request = "\r\n\r\n\nGET / HTTP/1.1\r\n\r\n";
    const ParseResult result = parse(request);
    REQUIRE(result.status == ParseStatus::complete);
    CHECK(result.head_bytes == request.size());
    CHECK(parse("\r\n\r\n").status == ParseStatus::incomplete);
}

TEST_CASE("bare LF line endings are tolerated like nginx") {
    const ParseResult result = parse("GET / HTTP/1.1\nConnection: close\n\n");
    REQUIRE(result.status == ParseStatus::complete);
    CHECK_FALSE(result.head.keep_alive);
}

TEST_CASE("http 1.1 keeps alive unless connection close") {
    CHECK(parse("GET / HTTP/1.1\r\n\r\n").head.keep_alive);
    CHECK_FALSE(parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").head.keep_alive);
    CHECK_FALSE(parse("GET / HTTP/1.1\r\nConnection: Upgrade, CLOSE\r\n\r\n").head.keep_alive);
    CHECK_FALSE(parse("GET / HTTP/1.1\r\nconnection: x\r\nConnection: close\r\n\r\n").head.keep_alive);
    CHECK(parse("GET / HTTP/1.1\r\nConnection: closed\r\n\r\n").head.keep_alive);
}

TEST_CASE("http 1.0 without keep-alive header closes") {
    const ParseResult result = parse("GET / HTTP/1.0\r\nHost: a\r\n\r\n");
    REQUIRE(result.status == ParseStatus::complete);
    CHECK(result.head.version_minor == 0);
    CHECK_FALSE(result.head.keep_alive);
}

TEST_CASE("http 1.0 with connection keep-alive keeps alive, case-insensitively") {
    CHECK(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").head.keep_alive);
    CHECK(parse("GET / HTTP/1.0\r\nCONNECTION:  Keep-Alive \r\n\r\n").head.keep_alive);
    CHECK(parse("GET / HTTP/1.0\r\nConnection: foo,\tkeep-alive\r\n\r\n").head.keep_alive);
    CHECK_FALSE(parse("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n").head.keep_alive);
}

TEST_CASE("missing host in http 1.1 is accepted by this test server") {
    CHECK(parse("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n").status == ParseStatus::complete);
}

TEST_CASE("content-length is parsed, and identical duplicates are one value") {
    CHECK(parse("POST / HTTP/1.1\r\nContent-Length: 42\r\n\r\n").head.content_length == 42);
    CHECK(parse("POST / HTTP/1.1\r\ncontent-length:007\r\n\r\n").head.content_length == 7);
    CHECK(parse("POST / HTTP/1.1\r\nContent-Length: 9223372036854775807\r\n\r\n")
              .head.content_length == INT64_MAX);
    const ParseResult duplicate =
        parse("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n");
    CHECK(duplicate.status == ParseStatus::complete);
    CHECK(duplicate.head.content_length == 5);
    CHECK(parse("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n").head.content_length == 5);
    // The #list rule allows empty elements.
    CHECK(parse("POST / HTTP/1.1\r\nContent-Length: 5,\r\n\r\n").head.content_length == 5);
}

TEST_CASE("bad content-length values are 400") {
    const std::string_view values[] = {
        "-1", "+1", "1 2", "0x10", "", "abc", "1.0", "9223372036854775808",
        "99999999999999999999999", ",", "5, x",
    };
    for (std::string_view value : values) {
        CAPTURE(value);
        const std::string request =
            "POST / HTTP/1.1\r\nContent-Length: " + std::string(value) + "\r\n\r\n";
        const ParseResult result = parse(request);
        CHECK(result.status == ParseStatus::error);
        CHECK(result.error_status == 400);
        CHECK(result.error_reason == "bad Content-Length");
    }
}

TEST_CASE("different duplicate content-length values are 400") {
    const ParseResult result =
        parse("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n");
    CHECK(result.error_status == 400);
    CHECK(result.error_reason == "conflicting Content-Length");
    CHECK(refusal("POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n") == 400);
}

TEST_CASE("chunked transfer-encoding sets chunked") {
    const ParseResult result = parse("POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n");
    REQUIRE(result.status == ParseStatus::complete);
    CHECK(result.head.chunked);
    CHECK(result.head.content_length == -1);
}

TEST_CASE("transfer-encoding other than chunked is 501") {
    CHECK(refusal("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n") == 501);
    CHECK(refusal("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n") == 501);
    CHECK(refusal("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n") == 501);
    CHECK(refusal("POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n") == 501);
    CHECK(parse("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n").error_reason ==
          "unsupported transfer coding");
}

TEST_CASE("chunked applied twice or an empty transfer-encoding is 400") {
    CHECK(refusal("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n") == 400);
    CHECK(refusal("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n") == 400);
    CHECK(refusal("POST / HTTP/1.1\r\nTransfer-Encoding: \r\n\r\n") == 400);
}

TEST_CASE("content-length with transfer-encoding is 400 whatever the order") {
    const ParseResult result = parse(
        "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n");
    CHECK(result.error_status == 400);
    CHECK(result.error_reason == "Content-Length with Transfer-Encoding");
    CHECK(refusal("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n") ==
          400);
}

TEST_CASE("transfer-encoding in http 1.0 is 400") {
    CHECK(refusal("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n") == 400);
}

TEST_CASE("expect 100-continue is seen in 1.1 and ignored in 1.0") {
    CHECK(parse("PUT / HTTP/1.1\r\nContent-Length: 1\r\nExpect: 100-Continue\r\n\r\n")
              .head.expect_continue);
    CHECK_FALSE(parse("PUT / HTTP/1.0\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\n")
                    .head.expect_continue);
    CHECK_FALSE(parse("PUT / HTTP/1.1\r\nExpect: nothing\r\n\r\n").head.expect_continue);
}

TEST_CASE("versions other than 1.0 and 1.1 are 505") {
    CHECK(refusal("GET / HTTP/2.0\r\n\r\n") == 505);
    CHECK(refusal("GET / HTTP/1.2\r\n\r\n") == 505);
    CHECK(refusal("GET / HTTP/0.9\r\n\r\n") == 505);
    CHECK(parse("GET / HTTP/3.0\r\n\r\n").error_reason == "HTTP version not supported");
}

TEST_CASE("malformed versions are 400") {
    CHECK(refusal("GET / HTTP/1.10\r\n\r\n") == 400);
    CHECK(refusal("GET / HTTP/1\r\n\r\n") == 400);
    CHECK(refusal("GET / http/1.1\r\n\r\n") == 400);
    CHECK(refusal("GET / HTTP/1.1 \r\n\r\n") == 400);
    CHECK(refusal("GET /\r\n\r\n") == 400);  // HTTP/0.9 request line
}

TEST_CASE("malformed request lines are 400") {
    CHECK(refusal(" GET / HTTP/1.1\r\n\r\n") == 400);
    CHECK(refusal("GET  / HTTP/1.1\r\n\r\n") == 400);
    CHECK(refusal("GET /  HTTP/1.1\r\n\r\n") == 400);
    CHECK(refusal("GET\t/ HTTP/1.1\r\n\r\n") == 400);
    CHECK(refusal("G(T / HTTP/1.1\r\n\r\n") == 400);
    CHECK(refusal("GET /a\x01 HTTP/1.1\r\n\r\n"sv) == 400);
    CHECK(refusal("GET /a\x7f HTTP/1.1\r\n\r\n"sv) == 400);
    CHECK(refusal("GET /a\0b HTTP/1.1\r\n\r\n"sv) == 400);
}

TEST_CASE("whitespace before the colon in a header name is 400") {
    const ParseResult result = parse("GET / HTTP/1.1\r\nHost : a\r\n\r\n");
    CHECK(result.error_status == 400);
    CHECK(result.error_reason == "whitespace before colon");
    CHECK(refusal("GET / HTTP/1.1\r\nContent-Length\t: 1\r\n\r\n") == 400);
}

TEST_CASE("obs-fold continuation lines are 400") {
    const ParseResult result = parse("GET / HTTP/1.1\r\nX-A: one\r\n two\r\n\r\n");
    CHECK(result.error_status == 400);
    CHECK(result.error_reason == "obsolete line folding");
    CHECK(refusal("GET / HTTP/1.1\r\n\tX-A: one\r\n\r\n") == 400);
}

TEST_CASE("control bytes and bare CR in headers are 400") {
    CHECK(refusal("GET / HTTP/1.1\r\nX-A: a\x01" "b\r\n\r\n"sv) == 400);
    CHECK(refusal("GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n"sv) == 400);
    CHECK(refusal("GET / HTTP/1.1\r\nX-A: a\x7f\r\n\r\n"sv) == 400);
    CHECK(parse("GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n").error_reason == "bare CR");
    CHECK(refusal("GET / HTTP/1.1\r\r\n\r\n") == 400);
    CHECK(refusal("GET / HTTP/1.1\r\nX-A: a\r\n\rX\r\n") == 400);
    CHECK(refusal("GET / HTTP/1.1\r\n: empty-name\r\n\r\n") == 400);
    CHECK(refusal("GET / HTTP/1.1\r\nNo-Colon\r\n\r\n") == 400);
    CHECK(refusal("GET / HTTP/1.1\r\nX(A): b\r\n\r\n") == 400);
}

TEST_CASE("header values may hold tabs and obs-text, trimmed of OWS") {
    const ParseResult result =
        parse("GET / HTTP/1.1\r\nX-A: \t caf\xc3\xa9\tau lait \t\r\nContent-Length:  3 \t\r\n\r\n");
    REQUIRE(result.status == ParseStatus::complete);
    CHECK(result.head.content_length == 3);
}

TEST_CASE("head larger than the limit is 431 even while incomplete") {
    const std::string huge = "GET / HTTP/1.1\r\nX-Big: " + std::string(10000, 'a');
    const ParseResult incomplete_huge = parse(huge, 8192);
    CHECK(incomplete_huge.status == ParseStatus::error);
    CHECK(incomplete_huge.error_status == 431);

    const std::string complete_huge = huge + "\r\n\r\n";
    CHECK(parse(complete_huge, 8192).error_status == 431);
    CHECK(parse(complete_huge, complete_huge.size()).status == ParseStatus::complete);
    CHECK(parse(complete_huge, complete_huge.size() - 1).error_status == 431);
    // Bytes after a head that fits are the next request's, not part of the head.
    CHECK(parse(std::string(wrk_get) + huge, wrk_get.size()).status == ParseStatus::complete);
    // Up to the limit, an unfinished head is only incomplete.
    CHECK(parse(huge.substr(0, 8192), 8192).status == ParseStatus::incomplete);
}

TEST_CASE("chunked decoder reads chunks, extensions and trailers and stops at the end") {
    const std::string_view body =
        "5\r\nhello\r\n"
        "1A;name=value;x=\"q\"\r\nabcdefghijklmnopqrstuvwxyz\r\n"
        "0\r\nTrailer-A: 1\r\nTrailer-B: 2\r\n\r\n"
        "GET / HTTP/1.1\r\n";
    ChunkedDecoder decoder(1024);
    const ChunkedDecoder::Step step = decoder.feed(body);
    CHECK(step.status == ChunkedDecoder::Status::done);
    CHECK(body.substr(step.consumed) == "GET / HTTP/1.1\r\n");
    CHECK(decoder.body_bytes() == 31);
    // Done is sticky and consumes nothing more.
    const ChunkedDecoder::Step again = decoder.feed("0\r\n\r\n");
    CHECK(again.status == ChunkedDecoder::Status::done);
    CHECK(again.consumed == 0);
}

TEST_CASE("chunked decoder gives the same answer when fed one byte at a time at every split") {
    const std::string_view body =
        "4\r\nwiki\r\n5 ;ext\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX: y\r\n\r\nNEXT";
    const size_t body_end = body.size() - 4;
    for (size_t split = 0; split <= body.size(); ++split) {
        CAPTURE(split);
        ChunkedDecoder decoder(1024);
        ChunkedDecoder::Step first = decoder.feed(body.substr(0, split));
        size_t consumed = first.consumed;
        ChunkedDecoder::Status status = first.status;
        if (status == ChunkedDecoder::Status::more) {
            CHECK(consumed == split);
            const ChunkedDecoder::Step second = decoder.feed(body.substr(split));
            consumed += second.consumed;
            status = second.status;
        }
        CHECK(status == ChunkedDecoder::Status::done);
        CHECK(consumed == body_end);
        CHECK(decoder.body_bytes() == 23);
    }

    ChunkedDecoder bytewise(1024);
    size_t consumed = 0;
    ChunkedDecoder::Status status = ChunkedDecoder::Status::more;
    for (size_t i = 0; i < body.size() && status == ChunkedDecoder::Status::more; ++i) {
        const ChunkedDecoder::Step step = bytewise.feed(body.substr(i, 1));
        consumed += step.consumed;
        status = step.status;
    }
    CHECK(status == ChunkedDecoder::Status::done);
    CHECK(consumed == body_end);
    CHECK(bytewise.body_bytes() == 23);
}

TEST_CASE("chunked decoder tolerates bare LF line ends") {
    ChunkedDecoder decoder(100);
    const std::string_view body = "3\nabc\n0\n\n";
    const ChunkedDecoder::Step step = decoder.feed(body);
    CHECK(step.status == ChunkedDecoder::Status::done);
    CHECK(step.consumed == body.size());
}

TEST_CASE("chunk size hex overflow is an error") {
    ChunkedDecoder decoder(UINT64_MAX);
    CHECK(decoder.feed("10000000000000000\r\n").status == ChunkedDecoder::Status::error);
    ChunkedDecoder leading_zeros(100);
    CHECK(leading_zeros.feed("00000000000000000003\r\nabc\r\n0\r\n\r\n").status ==
          ChunkedDecoder::Status::done);
}

TEST_CASE("chunk larger than max body is too_large before its data arrives") {
    ChunkedDecoder decoder(10);
    CHECK(decoder.feed("6\r\nabcdef\r\n").status == ChunkedDecoder::Status::more);
    const ChunkedDecoder::Step step = decoder.feed("5\r\n");
    CHECK(step.status == ChunkedDecoder::Status::too_large);
    CHECK(decoder.body_bytes() == 6);
    CHECK(decoder.feed("abcde").status == ChunkedDecoder::Status::too_large);

    ChunkedDecoder exact(10);
    CHECK(exact.feed("a\r\n0123456789\r\n0\r\n\r\n").status == ChunkedDecoder::Status::done);
}

TEST_CASE("malformed chunked bodies are errors") {
    const std::string_view bodies[] = {
        "\r\n",                 // no size
        "x\r\n",                // not hex
        "-1\r\n",               // sign
        "5\r\nhelloX",          // data not followed by CRLF
        "5\r\nhello\rX",        // CR not followed by LF
        "5 x\r\n",              // junk after BWS
        "5\rX",                 // bare CR in size line
        "5;a\x01\r\n",          // control byte in an extension
        "0\r\n folded\r\n\r\n", // obs-fold in trailers
        "0\r\nX: a\rb\r\n\r\n", // bare CR in a trailer
    };
    for (std::string_view body : bodies) {
        CAPTURE(body);
        ChunkedDecoder decoder(1024);
        CHECK(decoder.feed(body).status == ChunkedDecoder::Status::error);
    }
}

TEST_CASE("chunk size line longer than the bound is an error, not a wait") {
    ChunkedDecoder decoder(1024);
    const std::string long_extension = "1;" + std::string(ChunkedDecoder::max_line_bytes, 'e');
    CHECK(decoder.feed(long_extension).status == ChunkedDecoder::Status::error);
}

TEST_CASE("endless trailers are an error") {
    ChunkedDecoder decoder(1024);
    CHECK(decoder.feed("0\r\n").status == ChunkedDecoder::Status::more);
    ChunkedDecoder::Status status = ChunkedDecoder::Status::more;
    for (int i = 0; i < 10000 && status == ChunkedDecoder::Status::more; ++i)
        status = decoder.feed("X-Trailer: 0123456789\r\n").status;
    CHECK(status == ChunkedDecoder::Status::error);
}
