// libFuzzer target for lib/http/request: parses a request head from the
// input, then decodes the rest as a chunked body when the head says so, and
// checks the invariants the server relies on (it slices its buffer with
// head_bytes and consumed, so those must never point past the input).
#include "http/request.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

using namespace sockdrill::http;

namespace {

// assert() vanishes under NDEBUG; a fuzz invariant must not.
#define FUZZ_CHECK(condition)                                                   \
    do {                                                                        \
        if (!(condition)) {                                                     \
            std::fprintf(stderr, "invariant failed: %s (%s:%d)\n", #condition, \
                         __FILE__, __LINE__);                                   \
            std::abort();                                                       \
        }                                                                       \
    } while (0)

bool same_head(const RequestHead& a, const RequestHead& b) {
    return a.method == b.method && a.method_name == b.method_name && a.target == b.target &&
           a.version_minor == b.version_minor && a.keep_alive == b.keep_alive &&
           a.chunked == b.chunked && a.content_length == b.content_length &&
           a.expect_continue == b.expect_continue;
}

void check_result(const ParseResult& result, std::string_view input, size_t max_head_bytes) {
    switch (result.status) {
        case ParseStatus::complete:
            FUZZ_CHECK(result.head_bytes > 0);
            FUZZ_CHECK(result.head_bytes <= input.size());
            FUZZ_CHECK(result.head_bytes <= max_head_bytes);
            FUZZ_CHECK(result.head.version_minor == 0 || result.head.version_minor == 1);
            FUZZ_CHECK(result.head.content_length >= -1);
            FUZZ_CHECK(!(result.head.chunked && result.head.content_length >= 0));
            FUZZ_CHECK(!result.head.method_name.empty() && !result.head.target.empty());
            FUZZ_CHECK(result.head.target.data() >= input.data() &&
                       result.head.target.data() + result.head.target.size() <=
                           input.data() + result.head_bytes);
            FUZZ_CHECK(!result.head.expect_continue || result.head.version_minor == 1);
            break;
        case ParseStatus::incomplete:
            // Over the limit without a complete head must have been a 431.
            FUZZ_CHECK(input.size() <= max_head_bytes);
            break;
        case ParseStatus::error:
            FUZZ_CHECK(result.error_status == 400 || result.error_status == 431 ||
                       result.error_status == 501 || result.error_status == 505);
            FUZZ_CHECK(!result.error_reason.empty());
            break;
    }
}

// Decodes body in pieces whose sizes come from the body itself, and checks
// the outcome matches decoding it in one feed.
void fuzz_chunked(std::string_view body, uint64_t max_body_bytes) {
    ChunkedDecoder whole(max_body_bytes);
    const ChunkedDecoder::Step at_once = whole.feed(body);
    FUZZ_CHECK(at_once.consumed <= body.size());
    FUZZ_CHECK(whole.body_bytes() <= max_body_bytes);
    if (at_once.status == ChunkedDecoder::Status::more) FUZZ_CHECK(at_once.consumed == body.size());

    ChunkedDecoder pieces(max_body_bytes);
    size_t offset = 0;
    ChunkedDecoder::Status status = ChunkedDecoder::Status::more;
    while (status == ChunkedDecoder::Status::more && offset < body.size()) {
        const size_t piece = 1 + static_cast<unsigned char>(body[offset]) % 13;
        const std::string_view in = body.substr(offset, piece);
        const ChunkedDecoder::Step step = pieces.feed(in);
        FUZZ_CHECK(step.consumed <= in.size());
        if (step.status == ChunkedDecoder::Status::more) FUZZ_CHECK(step.consumed == in.size());
        offset += step.consumed;
        status = step.status;
    }
    FUZZ_CHECK(status == at_once.status);
    FUZZ_CHECK(pieces.body_bytes() == whole.body_bytes());
    // Where the body ends is what the server slices on; it must not depend on the split.
    if (status == ChunkedDecoder::Status::done) FUZZ_CHECK(offset == at_once.consumed);

    // Finished (done or failed) decoders are sticky.
    if (status != ChunkedDecoder::Status::more) {
        const ChunkedDecoder::Step after = pieces.feed(body);
        FUZZ_CHECK(after.status == status && after.consumed == 0);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);

    // Parse with a roomy limit and with a tight one, so 431 paths are reached too.
    for (const size_t max_head_bytes : {size_t{8192}, size / 2 + 1}) {
        const ParseResult result = parse_request_head(input, max_head_bytes);
        check_result(result, input, max_head_bytes);
        if (result.status != ParseStatus::complete) continue;

        // Stateless: the head alone parses the same, and any shorter prefix
        // of it is incomplete (never an error, never complete).
        const std::string_view head = input.substr(0, result.head_bytes);
        const ParseResult again = parse_request_head(head, max_head_bytes);
        FUZZ_CHECK(again.status == ParseStatus::complete);
        FUZZ_CHECK(again.head_bytes == result.head_bytes);
        FUZZ_CHECK(same_head(again.head, result.head));
        for (size_t length : {result.head_bytes - 1, result.head_bytes / 2, size_t{1}}) {
            if (length >= result.head_bytes) continue;
            FUZZ_CHECK(parse_request_head(head.substr(0, length), max_head_bytes).status ==
                       ParseStatus::incomplete);
        }

        // A chunked body follows the head; so may a pipelined request.
        if (result.head.chunked) fuzz_chunked(input.substr(result.head_bytes), 1 << 16);
    }

    // The decoder also sees raw input, so its states are reached without a valid head first.
    fuzz_chunked(input, 64);
    return 0;
}
