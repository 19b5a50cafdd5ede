// A picohttpparser-style request-head parser: one forward pass over the bytes,
// no copies, no header list. Only Connection, Content-Length,
// Transfer-Encoding and Expect are interpreted; every other header is checked
// for syntax and skipped. Errors follow RFC 9112 where it says MUST, and nginx
// where it leaves a choice (bare LF line endings are tolerated).
#include "http/request.hpp"

#include <array>
#include <cstring>
#include <limits>

namespace sockdrill::http {
namespace {

// One table lookup per byte in the hot loops.
enum CharClass : uint8_t {
    tchar = 1,         // token characters: method and header names (RFC 9110 5.6.2)
    target_char = 2,   // request-target: any visible byte, obs-text included, as nginx
    value_char = 4,    // field-value: VCHAR, obs-text, SP, HTAB
};

constexpr std::array<uint8_t, 256> make_char_classes() {
    std::array<uint8_t, 256> classes{};
    for (int c = 0; c < 256; ++c) {
        const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        bool token = alnum;
        for (const char* extra = "!#$%&'*+-.^_`|~"; *extra != '\0'; ++extra)
            if (c == *extra) token = true;
        uint8_t cls = token ? tchar : 0;
        if (c > 0x20 && c != 0x7f) cls |= target_char;
        if ((c >= 0x20 && c != 0x7f) || c == '\t') cls |= value_char;
        classes[c] = cls;
    }
    return classes;
}
constexpr std::array<uint8_t, 256> char_classes = make_char_classes();

inline bool is(unsigned char c, CharClass cls) { return (char_classes[c] & cls) != 0; }

inline uint64_t load64(const char* p) {
    uint64_t word;
    std::memcpy(&word, p, sizeof word);
    return word;
}

constexpr uint64_t ones = 0x0101010101010101ull;
constexpr uint64_t highs = 0x8080808080808080ull;

// True when some byte of word is < 0x20 or == 0x7f: a byte that ends (or
// breaks) a field value or request-target. Exact about existence, which is all
// the SWAR loops need: they fall back to the byte loop to find which one.
inline bool has_control_byte(uint64_t word) {
    const uint64_t below_space = (word - ones * 0x20) & ~word & highs;
    const uint64_t del = word ^ (ones * 0x7f);
    const uint64_t is_del = (del - ones) & ~del & highs;
    return (below_space | is_del) != 0;
}

// Advances p over field-value bytes, 8 at a time while none is a control
// byte; HTAB, rare in values, drops to the byte loop.
inline const char* skip_value(const char* p, const char* end) {
    while (end - p >= 8 && !has_control_byte(load64(p))) p += 8;
    while (p < end && is(static_cast<unsigned char>(*p), value_char)) ++p;
    return p;
}

inline const char* skip_target(const char* p, const char* end) {
    // A target rarely holds a space before its end, so test the word for
    // control bytes and spaces at once: a space is 0x20, found as a zero after xor.
    while (end - p >= 8) {
        const uint64_t word = load64(p);
        const uint64_t space = word ^ (ones * 0x20);
        const uint64_t has_space = (space - ones) & ~space & highs;
        if (has_space != 0 || has_control_byte(word)) break;
        p += 8;
    }
    while (p < end && is(static_cast<unsigned char>(*p), target_char)) ++p;
    return p;
}

inline bool is_ows(char c) { return c == ' ' || c == '\t'; }

inline char to_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

// lower must be lowercase already; only header names and tokens go through here.
bool equals_lower(std::string_view text, std::string_view lower) {
    if (text.size() != lower.size()) return false;
    for (size_t i = 0; i < text.size(); ++i)
        if (to_lower(text[i]) != lower[i]) return false;
    return true;
}

std::string_view trim_ows(std::string_view text) {
    while (!text.empty() && is_ows(text.front())) text.remove_prefix(1);
    while (!text.empty() && is_ows(text.back())) text.remove_suffix(1);
    return text;
}

// Calls visit(element) for each non-empty element of a #list (RFC 9110 5.6.1),
// which allows empty elements and OWS around commas. Stops when visit returns false.
template <typename Visit>
bool for_each_list_element(std::string_view list, Visit visit) {
    while (true) {
        const size_t comma = list.find(',');
        const std::string_view element = trim_ows(list.substr(0, comma));
        if (!element.empty() && !visit(element)) return false;
        if (comma == std::string_view::npos) return true;
        list.remove_prefix(comma + 1);
    }
}

Method method_from_name(std::string_view name) {
    // Methods are case-sensitive (RFC 9110 9.1); dispatch on length first.
    switch (name.size()) {
        case 3:
            if (name == "GET") return Method::get;
            if (name == "PUT") return Method::put;
            break;
        case 4:
            if (name == "HEAD") return Method::head;
            if (name == "POST") return Method::post;
            break;
        case 6:
            if (name == "DELETE") return Method::del;
            break;
        case 7:
            if (name == "OPTIONS") return Method::options;
            break;
    }
    return Method::other;
}

// The framing facts gathered from the header lines, resolved after the blank line.
struct FramingHeaders {
    bool connection_close = false;
    bool connection_keep_alive = false;
    bool transfer_encoding = false;
    bool content_length_seen = false;
};

enum class Progress { ok, incomplete, error };

class HeadParser {
public:
    HeadParser(const char* begin, const char* end, ParseResult& result)
        : begin_(begin), p_(begin), end_(end), result_(result) {}

    Progress parse() {
        if (Progress step = skip_leading_empty_lines(); step != Progress::ok) return step;
        if (Progress step = parse_request_line(); step != Progress::ok) return step;
        FramingHeaders framing;
        if (Progress step = parse_header_lines(framing); step != Progress::ok) return step;
        result_.head_bytes = static_cast<size_t>(p_ - begin_);
        return resolve_framing(framing);
    }

private:
    Progress fail(int status, std::string_view reason) {
        result_.error_status = status;
        result_.error_reason = reason;
        return Progress::error;
    }

    // Consumes CRLF or a bare LF at p_; anything else is reported with reason.
    Progress line_end(std::string_view reason) {
        if (p_ == end_) return Progress::incomplete;
        if (*p_ == '\n') {
            ++p_;
            return Progress::ok;
        }
        if (*p_ != '\r') return fail(400, reason);
        if (p_ + 1 == end_) return Progress::incomplete;
        // A bare CR could make us and a proxy disagree on where a line ends
        // (RFC 9112 2.2: reject it or replace it with SP).
        if (p_[1] != '\n') return fail(400, "bare CR");
        p_ += 2;
        return Progress::ok;
    }

    Progress skip_leading_empty_lines() {
        // RFC 9112 2.2: a server SHOULD ignore empty lines before the request
        // line; some clients send an extra CRLF after a POST body.
        while (p_ != end_ && (*p_ == '\r' || *p_ == '\n'))
            if (Progress step = line_end("bad request line"); step != Progress::ok) return step;
        return p_ == end_ ? Progress::incomplete : Progress::ok;
    }

    Progress parse_request_line() {
        RequestHead& head = result_.head;

        const char* method_start = p_;
        while (p_ != end_ && is(static_cast<unsigned char>(*p_), tchar)) ++p_;
        if (p_ == end_) return Progress::incomplete;
        if (p_ == method_start) return fail(400, "bad method");
        // Exactly one SP between the parts (RFC 9112 3): lenient whitespace
        // parsing is where request-line smuggling starts.
        if (*p_ != ' ') return fail(400, "bad request line");
        head.method_name = std::string_view(method_start, static_cast<size_t>(p_ - method_start));
        head.method = method_from_name(head.method_name);
        ++p_;

        const char* target_start = p_;
        p_ = skip_target(p_, end_);
        if (p_ == end_) return Progress::incomplete;
        if (p_ == target_start) return fail(400, "bad request-target");
        // A CR or LF here is an HTTP/0.9 request line, which we do not speak.
        if (*p_ != ' ') return fail(400, "bad request-target");
        head.target = std::string_view(target_start, static_cast<size_t>(p_ - target_start));
        ++p_;

        return parse_version();
    }

    Progress parse_version() {
        // Fast path for the version almost every client sends.
        if (end_ - p_ >= 10 && std::memcmp(p_, "HTTP/1.1\r\n", 10) == 0) {
            result_.head.version_minor = 1;
            p_ += 10;
            return Progress::ok;
        }
        // "HTTP/" DIGIT "." DIGIT, checked byte by byte so a prefix of a valid
        // version is incomplete, never an error.
        static constexpr std::string_view pattern = "HTTP/#.#";
        for (size_t i = 0; i < pattern.size(); ++i) {
            if (p_ + i == end_) return Progress::incomplete;
            const char c = p_[i];
            const bool match = pattern[i] == '#' ? (c >= '0' && c <= '9') : c == pattern[i];
            if (!match) return fail(400, "bad HTTP version");
        }
        const int major = p_[5] - '0';
        const int minor = p_[7] - '0';
        p_ += pattern.size();
        if (Progress step = line_end("bad HTTP version"); step != Progress::ok) return step;
        if (major != 1 || minor > 1) return fail(505, "HTTP version not supported");
        result_.head.version_minor = minor;
        return Progress::ok;
    }

    Progress parse_header_lines(FramingHeaders& framing) {
        while (true) {
            if (p_ == end_) return Progress::incomplete;
            const char first = *p_;
            if (first == '\r' || first == '\n') return line_end("bad header line");
            // obs-fold (RFC 9112 5.2), and whitespace between the request line
            // and the first header (RFC 9112 2.2), are rejected rather than
            // unfolded: a proxy that unfolds differently sees other headers.
            if (is_ows(first)) return fail(400, "obsolete line folding");

            const char* name_start = p_;
            while (p_ != end_ && is(static_cast<unsigned char>(*p_), tchar)) ++p_;
            if (p_ == end_) return Progress::incomplete;
            if (*p_ != ':') {
                // RFC 9112 5.1: whitespace before the colon MUST be rejected with 400.
                if (is_ows(*p_)) return fail(400, "whitespace before colon");
                return fail(400, "bad header name");
            }
            if (p_ == name_start) return fail(400, "bad header name");
            const std::string_view name(name_start, static_cast<size_t>(p_ - name_start));
            ++p_;

            while (p_ != end_ && is_ows(*p_)) ++p_;
            const char* value_start = p_;
            p_ = skip_value(p_, end_);
            if (p_ == end_) return Progress::incomplete;
            const char* value_end = p_;
            while (value_end != value_start && is_ows(value_end[-1])) --value_end;
            if (Progress step = line_end("bad header value"); step != Progress::ok) return step;

            const std::string_view value(value_start, static_cast<size_t>(value_end - value_start));
            if (Progress step = interpret_header(name, value, framing); step != Progress::ok)
                return step;
        }
    }

    // A Host header is not required even in HTTP/1.1 (RFC 9112 3.2 says 400):
    // this is a test server, and load generators that omit Host should still
    // get answers. So Host is never looked at.
    Progress interpret_header(std::string_view name, std::string_view value,
                              FramingHeaders& framing) {
        switch (name.size()) {
            case 6:
                // RFC 9110 10.1.1: 100-continue in an HTTP/1.0 request is ignored.
                if (equals_lower(name, "expect") && equals_lower(value, "100-continue"))
                    result_.head.expect_continue = result_.head.version_minor == 1;
                return Progress::ok;
            case 10:
                if (equals_lower(name, "connection")) parse_connection(value, framing);
                return Progress::ok;
            case 14:
                if (equals_lower(name, "content-length")) return parse_content_length(value, framing);
                return Progress::ok;
            case 17:
                if (equals_lower(name, "transfer-encoding"))
                    return parse_transfer_encoding(value, framing);
                return Progress::ok;
        }
        return Progress::ok;
    }

    static void parse_connection(std::string_view value, FramingHeaders& framing) {
        for_each_list_element(value, [&](std::string_view option) {
            if (equals_lower(option, "close")) framing.connection_close = true;
            if (equals_lower(option, "keep-alive")) framing.connection_keep_alive = true;
            return true;
        });
    }

    Progress parse_content_length(std::string_view value, FramingHeaders& framing) {
        // RFC 9112 6.3: a list of identical values ("42, 42", or the same
        // header twice) may be taken as one; different values are a 400,
        // since two parsers picking different ones is request smuggling.
        int64_t& length = result_.head.content_length;
        bool well_formed = true;
        bool conflicting = false;
        bool any_value = false;
        for_each_list_element(value, [&](std::string_view element) {
            int64_t parsed = 0;
            for (char c : element) {
                const int digit = c - '0';
                // Signs, spaces and values over 2^63-1 are all malformed.
                if (digit < 0 || digit > 9 ||
                    parsed > (std::numeric_limits<int64_t>::max() - digit) / 10) {
                    well_formed = false;
                    return false;
                }
                parsed = parsed * 10 + digit;
            }
            any_value = true;
            if (framing.content_length_seen && parsed != length) {
                conflicting = true;
                return false;
            }
            framing.content_length_seen = true;
            length = parsed;
            return true;
        });
        if (!well_formed || !any_value) return fail(400, "bad Content-Length");
        if (conflicting) return fail(400, "conflicting Content-Length");
        return Progress::ok;
    }

    Progress parse_transfer_encoding(std::string_view value, FramingHeaders& framing) {
        // The server decodes chunked and nothing else (it discards bodies, but
        // would have to undo e.g. gzip to find chunked framing beneath), so any
        // other coding is "not implemented" (RFC 9112 6.1), wherever it sits.
        framing.transfer_encoding = true;
        bool unsupported = false;
        bool chunked_twice = false;
        bool any_coding = false;
        for_each_list_element(value, [&](std::string_view coding) {
            any_coding = true;
            if (!equals_lower(coding, "chunked")) {
                unsupported = true;
                return false;
            }
            // RFC 9112 6.1: chunked MUST NOT be applied more than once.
            if (result_.head.chunked) {
                chunked_twice = true;
                return false;
            }
            result_.head.chunked = true;
            return true;
        });
        if (unsupported) return fail(501, "unsupported transfer coding");
        if (chunked_twice || !any_coding) return fail(400, "bad Transfer-Encoding");
        return Progress::ok;
    }

    Progress resolve_framing(const FramingHeaders& framing) {
        RequestHead& head = result_.head;
        if (framing.transfer_encoding) {
            // RFC 9112 6.1: both headers is the classic request-smuggling
            // shape, and "ought to be handled as an error"; we refuse it.
            if (framing.content_length_seen)
                return fail(400, "Content-Length with Transfer-Encoding");
            // RFC 9112 6.1: HTTP/1.0 framing with Transfer-Encoding is faulty (nginx: 400).
            if (head.version_minor == 0) return fail(400, "Transfer-Encoding in HTTP/1.0");
        }
        head.keep_alive = head.version_minor == 1
                              ? !framing.connection_close
                              : framing.connection_keep_alive && !framing.connection_close;
        return Progress::ok;
    }

    const char* const begin_;
    const char* p_;
    const char* const end_;
    ParseResult& result_;
};

}  // namespace

ParseResult parse_request_head(std::string_view buf, size_t max_head_bytes) {
    ParseResult result;
    // Parse only the first max_head_bytes: a head that has not ended by then
    // is 431 whatever follows, and the work per call stays bounded.
    const bool over_limit = buf.size() > max_head_bytes;
    const size_t window = over_limit ? max_head_bytes : buf.size();
    HeadParser parser(buf.data(), buf.data() + window, result);
    switch (parser.parse()) {
        case Progress::ok:
            result.status = ParseStatus::complete;
            break;
        case Progress::incomplete:
            result.head_bytes = 0;
            if (over_limit) {
                result.status = ParseStatus::error;
                result.error_status = 431;
                result.error_reason = "request head too large";
            } else {
                result.status = ParseStatus::incomplete;
            }
            break;
        case Progress::error:
            result.status = ParseStatus::error;
            result.head_bytes = 0;
            break;
    }
    return result;
}

// ---------------------------------------------------------------------------
// Chunked bodies (RFC 9112 7.1):
//   chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF, ending with
//   last-chunk = 1*"0" [ chunk-ext ] CRLF, then trailer lines and CRLF.
// Bare LF is tolerated where a CRLF ends a line, as in the head.

enum class ChunkedDecoder::State : uint8_t {
    size_first,     // at the first hex digit of a chunk-size line
    size_digits,    // inside the hex digits
    size_space,     // BWS after the digits: only ';' or the line end may follow
    extension,      // skipping chunk extensions up to the line end
    size_lf,        // CR seen at the end of a chunk-size line
    data,           // chunk_remaining_ bytes of data to skip
    data_cr,        // the CRLF after chunk data
    data_lf,
    trailer_start,  // at the start of a trailer line, or of the final empty line
    trailer_line,
    trailer_lf,
    final_lf,       // CR of the final empty line seen
    done,
    error,
    too_large,
};

ChunkedDecoder::ChunkedDecoder(uint64_t max_body_bytes) : max_body_bytes_(max_body_bytes) {}

ChunkedDecoder::Step ChunkedDecoder::feed(std::string_view in) {
    const char* const begin = in.data();
    const char* const end = begin + in.size();
    const char* p = begin;
    auto consumed = [&] { return static_cast<size_t>(p - begin); };
    auto stop = [&](State state) {
        state_ = state;
        const Status status = state == State::done        ? Status::done
                              : state == State::too_large ? Status::too_large
                                                          : Status::error;
        return Step{status, consumed()};
    };
    // Called at the end of a chunk-size line: a zero size is the last chunk.
    auto finish_size_line = [&]() -> bool {
        if (chunk_remaining_ == 0) {
            state_ = State::trailer_start;
            line_bytes_ = 0;
            return true;
        }
        if (chunk_remaining_ > max_body_bytes_ - body_bytes_) return false;
        state_ = State::data;
        return true;
    };

    switch (state_) {
        case State::done:
            return {Status::done, 0};
        case State::error:
            return {Status::error, 0};
        case State::too_large:
            return {Status::too_large, 0};
        default:
            break;
    }

    while (p != end) {
        if (state_ == State::data) {
            // The one bulk step: skip as much chunk data as we have.
            const uint64_t available = static_cast<uint64_t>(end - p);
            const uint64_t take = available < chunk_remaining_ ? available : chunk_remaining_;
            p += take;
            body_bytes_ += take;
            chunk_remaining_ -= take;
            if (chunk_remaining_ == 0) state_ = State::data_cr;
            continue;
        }

        const char c = *p;
        // Lines that are skipped rather than parsed are still bounded, so a
        // peer cannot keep the decoder busy without sending body bytes.
        const bool in_size_line = state_ <= State::size_lf;
        const bool in_trailer = state_ >= State::trailer_start && state_ <= State::final_lf;
        if (in_size_line || in_trailer) {
            if (++line_bytes_ > max_line_bytes) return stop(State::error);
            if (in_trailer && ++trailer_bytes_ > max_trailer_bytes) return stop(State::error);
        }

        switch (state_) {
            case State::size_first:
            case State::size_digits: {
                int digit = -1;
                if (c >= '0' && c <= '9') digit = c - '0';
                else if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
                else if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
                if (digit >= 0) {
                    if (chunk_remaining_ >> 60 != 0) return stop(State::error);  // hex overflow
                    chunk_remaining_ = (chunk_remaining_ << 4) | static_cast<uint64_t>(digit);
                    state_ = State::size_digits;
                    break;
                }
                if (state_ == State::size_first) return stop(State::error);
                if (is_ows(c)) {
                    state_ = State::size_space;
                } else if (c == ';') {
                    state_ = State::extension;
                } else if (c == '\r') {
                    state_ = State::size_lf;
                } else if (c == '\n') {
                    if (!finish_size_line()) return stop(State::too_large);
                } else {
                    return stop(State::error);
                }
                break;
            }
            case State::size_space:
                if (c == ';') state_ = State::extension;
                else if (c == '\r') state_ = State::size_lf;
                else if (c == '\n') {
                    if (!finish_size_line()) return stop(State::too_large);
                } else if (!is_ows(c)) return stop(State::error);
                break;
            case State::extension:
                // Extensions are ignored (RFC 9112 7.1.1), but control bytes
                // in them are not: they would hide a line end from a proxy.
                if (c == '\r') state_ = State::size_lf;
                else if (c == '\n') {
                    if (!finish_size_line()) return stop(State::too_large);
                } else if (!is(static_cast<unsigned char>(c), value_char)) return stop(State::error);
                break;
            case State::size_lf:
                if (c != '\n') return stop(State::error);
                if (!finish_size_line()) return stop(State::too_large);
                break;
            case State::data_cr:
                if (c == '\r') state_ = State::data_lf;
                else if (c == '\n') state_ = State::size_first;
                else return stop(State::error);
                line_bytes_ = 0;
                break;
            case State::data_lf:
                if (c != '\n') return stop(State::error);
                state_ = State::size_first;
                line_bytes_ = 0;
                break;
            case State::trailer_start:
                if (c == '\r') state_ = State::final_lf;
                else if (c == '\n') {
                    ++p;
                    return stop(State::done);
                } else if (!is(static_cast<unsigned char>(c), value_char) || is_ows(c)) {
                    return stop(State::error);  // a control byte, or obs-fold in trailers
                } else {
                    state_ = State::trailer_line;
                }
                break;
            case State::trailer_line:
                if (c == '\r') state_ = State::trailer_lf;
                else if (c == '\n') {
                    state_ = State::trailer_start;
                    line_bytes_ = 0;
                } else if (!is(static_cast<unsigned char>(c), value_char)) return stop(State::error);
                break;
            case State::trailer_lf:
                if (c != '\n') return stop(State::error);
                state_ = State::trailer_start;
                line_bytes_ = 0;
                break;
            case State::final_lf:
                if (c != '\n') return stop(State::error);
                ++p;
                return stop(State::done);
            default:
                return stop(State::error);
        }
        ++p;
    }
    return {Status::more, consumed()};
}

}  // namespace sockdrill::http
