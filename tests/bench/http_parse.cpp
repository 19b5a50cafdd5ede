// Microbenchmark: sockdrill::http::parse_request_head against libhttp-parser
// (nodejs/http-parser, the parser Debian ships) on the same request heads, and
// append_response_head against a plain fmt::format_to. Prints ns per request,
// the median of 5 runs. Built and run by tests/bench/http_parse.sh.
//
// The comparison is meant to be fair to http-parser: its "framing" variant
// registers only the callbacks needed to get what parse_request_head returns
// minus Expect (url, headers-complete, message-complete), and its "headers"
// variant adds the header callbacks a server needs to see Expect. Pipelined
// batches go through one http_parser_execute call, its best case.
#include "http/request.hpp"
#include "http/response.hpp"

#include <fmt/format.h>
#include <http_parser.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

constexpr int runs = 5;

// Keeps results observable so the compiler cannot drop the work.
volatile uint64_t sink;

// Times one contender: calls body (which handles requests_per_call
// requests) a fixed number of times, calibrated once to about 30 ms.
class Contender {
public:
    template <typename Body>
    Contender(size_t requests_per_call, Body body)
        : requests_per_call_(requests_per_call), body_(std::move(body)) {
        while (true) {
            const auto start = Clock::now();
            for (size_t i = 0; i < calls_; ++i) body_();
            if (Clock::now() - start > std::chrono::milliseconds(30)) break;
            calls_ *= 2;
        }
    }

    void run_once() {
        const auto start = Clock::now();
        for (size_t i = 0; i < calls_; ++i) body_();
        const std::chrono::duration<double, std::nano> elapsed = Clock::now() - start;
        ns_per_request_.push_back(elapsed.count() / static_cast<double>(calls_ * requests_per_call_));
    }

    double median_ns() {
        std::sort(ns_per_request_.begin(), ns_per_request_.end());
        return ns_per_request_[ns_per_request_.size() / 2];
    }

private:
    size_t requests_per_call_;
    std::function<void()> body_;
    size_t calls_ = 1000;
    std::vector<double> ns_per_request_;
};

// Runs the contenders in turn, runs times, so a burst of load on the host
// (other builds) hits them alike rather than whichever ran during it.
void run_interleaved(std::vector<Contender*> contenders) {
    for (int run = 0; run < runs; ++run)
        for (Contender* contender : contenders) contender->run_once();
}

// ---- our parser -------------------------------------------------------------

uint64_t fold(const sockdrill::http::ParseResult& result) {
    return result.head_bytes + static_cast<uint64_t>(result.head.content_length) +
           result.head.keep_alive + result.head.chunked + result.head.expect_continue +
           result.head.target.size();
}

// Parses every head in buffer one after the other, as the server does with a pipelined read.
size_t parse_all_sockdrill(std::string_view buffer) {
    size_t requests = 0;
    uint64_t checksum = 0;
    while (!buffer.empty()) {
        const sockdrill::http::ParseResult result = sockdrill::http::parse_request_head(buffer, 8192);
        if (result.status != sockdrill::http::ParseStatus::complete) std::abort();
        checksum += fold(result);
        buffer.remove_prefix(result.head_bytes);
        ++requests;
    }
    sink = sink + checksum;
    return requests;
}

// ---- http-parser ------------------------------------------------------------

// What a server would keep from http-parser's callbacks: the same facts as RequestHead.
struct HttpParserRequest {
    const char* target = nullptr;
    size_t target_size = 0;
    bool keep_alive = false;
    bool chunked = false;
    bool expect_continue = false;
    bool in_expect = false;
    int64_t content_length = -1;
    size_t messages = 0;
    uint64_t checksum = 0;
};

int on_url(http_parser* parser, const char* at, size_t length) {
    auto* request = static_cast<HttpParserRequest*>(parser->data);
    request->target = at;
    request->target_size = length;
    return 0;
}

int on_header_field(http_parser* parser, const char* at, size_t length) {
    auto* request = static_cast<HttpParserRequest*>(parser->data);
    request->in_expect = length == 6 && (at[0] | 0x20) == 'e' && (at[1] | 0x20) == 'x' &&
                         (at[2] | 0x20) == 'p' && (at[3] | 0x20) == 'e' &&
                         (at[4] | 0x20) == 'c' && (at[5] | 0x20) == 't';
    return 0;
}

int on_header_value(http_parser* parser, const char* at, size_t length) {
    auto* request = static_cast<HttpParserRequest*>(parser->data);
    if (request->in_expect && length == 12 && std::string_view(at, 4) == "100-")
        request->expect_continue = true;
    return 0;
}

int on_headers_complete(http_parser* parser) {
    auto* request = static_cast<HttpParserRequest*>(parser->data);
    request->keep_alive = http_should_keep_alive(parser) != 0;
    request->chunked = (parser->flags & F_CHUNKED) != 0;
    request->content_length = (parser->flags & F_CONTENTLENGTH) != 0
                                  ? static_cast<int64_t>(parser->content_length)
                                  : -1;
    return 0;
}

int on_message_complete(http_parser* parser) {
    auto* request = static_cast<HttpParserRequest*>(parser->data);
    ++request->messages;
    request->checksum += request->target_size + static_cast<uint64_t>(request->content_length) +
                         request->keep_alive + request->chunked + request->expect_continue;
    return 0;
}

http_parser_settings make_settings(bool header_callbacks) {
    http_parser_settings settings;
    http_parser_settings_init(&settings);
    settings.on_url = on_url;
    settings.on_headers_complete = on_headers_complete;
    settings.on_message_complete = on_message_complete;
    if (header_callbacks) {
        settings.on_header_field = on_header_field;
        settings.on_header_value = on_header_value;
    }
    return settings;
}

// One http_parser over the whole buffer: pipelined requests in a single execute.
size_t parse_all_http_parser(std::string_view buffer, const http_parser_settings& settings) {
    HttpParserRequest request;
    http_parser parser;
    http_parser_init(&parser, HTTP_REQUEST);
    parser.data = &request;
    const size_t parsed = http_parser_execute(&parser, &settings, buffer.data(), buffer.size());
    if (parsed != buffer.size() || HTTP_PARSER_ERRNO(&parser) != HPE_OK) std::abort();
    sink = sink + request.checksum;
    return request.messages;
}

// ---- inputs -----------------------------------------------------------------

struct Input {
    std::string_view name;
    std::string bytes;
};

std::vector<Input> make_inputs() {
    std::vector<Input> inputs;
    inputs.push_back({"wrk GET (40 B)", "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"});
    inputs.push_back(
        {"browser GET, 10 headers",
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
         "Cookie: session=0123456789abcdef0123456789abcdef; theme=dark\r\n"
         "\r\n"});
    std::string pipelined;
    for (int i = 0; i < 16; ++i)
        pipelined += fmt::format("GET /bytes/{} HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n", i * 64);
    inputs.push_back({"pipelined batch of 16 GETs", std::move(pipelined)});
    return inputs;
}

// ---- response heads -----------------------------------------------------------

void bench_response() {
    std::string out;
    out.reserve(4096);
    uint64_t length = 0;
    Contender ours(1, [&] {
        out.clear();
        sockdrill::http::append_response_head(out, 1, 200, ++length & 0xffff, false, false);
        sink = sink + out.size();
    });
    Contender with_fmt(1, [&] {
        out.clear();
        const int status = 200;
        fmt::format_to(std::back_inserter(out),
                       "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n", status,
                       sockdrill::http::reason_phrase(status), "text/plain", ++length & 0xffff);
        sink = sink + out.size();
    });
    run_interleaved({&ours, &with_fmt});
    std::printf("\nappend_response_head (200, keep-alive)\n");
    const double ours_ns = ours.median_ns();
    const double fmt_ns = with_fmt.median_ns();
    std::printf("  %-32s %8.1f ns\n", "sockdrill append_response_head", ours_ns);
    std::printf("  %-32s %8.1f ns  (%.2fx ours)\n", "fmt::format_to back_inserter", fmt_ns,
                fmt_ns / ours_ns);
}

}  // namespace

int main() {
    const http_parser_settings framing_settings = make_settings(false);
    const http_parser_settings header_settings = make_settings(true);

    std::printf("ns per request, median of %d runs (lower is better)\n", runs);
    std::printf("%-28s %10s %12s %12s %8s %8s\n", "input", "sockdrill", "hp-framing", "hp-headers",
                "ratio-f", "ratio-h");
    for (const Input& input : make_inputs()) {
        const std::string_view bytes = input.bytes;
        const size_t requests = parse_all_sockdrill(bytes);
        if (parse_all_http_parser(bytes, framing_settings) != requests ||
            parse_all_http_parser(bytes, header_settings) != requests) {
            std::fprintf(stderr, "parsers disagree on the request count of %s\n",
                         std::string(input.name).c_str());
            return 1;
        }
        Contender ours(requests, [bytes] { parse_all_sockdrill(bytes); });
        Contender framing(requests,
                          [bytes, &framing_settings] { parse_all_http_parser(bytes, framing_settings); });
        Contender headers(requests,
                          [bytes, &header_settings] { parse_all_http_parser(bytes, header_settings); });
        run_interleaved({&ours, &framing, &headers});
        const double ours_ns = ours.median_ns();
        const double framing_ns = framing.median_ns();
        const double headers_ns = headers.median_ns();
        std::printf("%-28s %10.1f %12.1f %12.1f %7.2fx %7.2fx\n", std::string(input.name).c_str(),
                    ours_ns, framing_ns, headers_ns, framing_ns / ours_ns, headers_ns / ours_ns);
    }
    std::printf("ratio = http-parser ns / sockdrill ns (above 1: sockdrill is faster)\n");

    bench_response();
    return 0;
}
