#include "http/response_scanner.hpp"

#include <string_view>

namespace sockdrill::http {

enum class ResponseScanner::State : uint8_t {
    status_line,  // "HTTP/1.1 200 OK"
    line_start,   // first byte of a header line, or of the blank line ending the head
    name,         // a header name, up to ':'
    value,        // a header value, up to the end of the line
    body_length,  // Content-Length bytes to go
    body_chunked,
    body_eof,  // no length: the body ends when the server closes
    done,
};

namespace {

// The headers framing depends on, by bit.
constexpr std::string_view kHeaderNames[] = {"content-length", "transfer-encoding", "connection"};
enum : uint8_t { kContentLength = 1, kTransferEncoding = 2, kConnection = 3 };
constexpr uint8_t kAllCandidates = 0b111;
constexpr std::string_view kStatusPrefix = "HTTP/1.";

char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
bool digit(char c) {
    return c >= '0' && c <= '9';
}

// Advances a running match of `token` over a header value, case-insensitively;
// returns the new match length (token.size() once found, then it stays).
uint8_t match_token(uint8_t matched, char c, std::string_view token) {
    if (matched == token.size()) return matched;
    c = lower(c);
    if (c == token[matched]) return static_cast<uint8_t>(matched + 1);
    return c == token[0] ? 1 : 0;
}

}  // namespace

ResponseScanner::Step ResponseScanner::feed(std::string_view in) {
    if (status_ != Status::more) return {status_, 0};
    size_t used = 0;
    if (state_ < State::body_length) used = scan_head(in);
    if (status_ != Status::more || state_ < State::body_length) return {status_, used};
    Step body = scan_body(in.substr(used));
    return {body.status, used + body.consumed};
}

ResponseScanner::Status ResponseScanner::finish_at_eof() {
    if (status_ != Status::more) return status_;
    status_ = state_ == State::body_eof ? Status::complete : Status::error;
    if (status_ == Status::complete) state_ = State::done;
    return status_;
}

size_t ResponseScanner::scan_head(std::string_view in) {
    for (size_t i = 0; i < in.size(); ++i) {
        if (++head_bytes_ > kMaxHeadBytes) {
            status_ = Status::error;
            return i + 1;
        }
        head_byte(in[i]);
        if (status_ != Status::more || state_ >= State::body_length) return i + 1;
    }
    return in.size();
}

void ResponseScanner::head_byte(char c) {
    switch (state_) {
        case State::status_line:
            if (c == '\n') return end_of_line();
            if (line_bytes_ < kStatusPrefix.size()) {
                if (c != kStatusPrefix[line_bytes_]) status_ = Status::error;
            } else if (line_bytes_ == 7) {
                if (!digit(c)) status_ = Status::error;
                version_minor_ = c - '0';
            } else if (line_bytes_ >= 9 && line_bytes_ <= 11) {
                if (!digit(c)) status_ = Status::error;
                status_code_ = status_code_ * 10 + (c - '0');
            }
            ++line_bytes_;
            return;
        case State::line_start:
            if (c == '\r') return;
            if (c == '\n') return end_of_head();
            state_ = State::name;
            candidates_ = kAllCandidates;
            line_bytes_ = 0;
            [[fallthrough]];
        case State::name:
            if (c == ':') {
                header_ = 0;
                for (uint8_t h = 0; h < 3; ++h)
                    if ((candidates_ >> h & 1) && kHeaderNames[h].size() == line_bytes_)
                        header_ = h + 1;
                state_ = State::value;
                match_ = 0;
                value_digits_ = value_done_ = false;
                if (header_ == kContentLength) {
                    if (content_length_ >= 0) bad_ = true;  // a second one: ambiguous framing
                    content_length_ = 0;
                }
                return;
            }
            if (c == '\n') return end_of_line();  // no colon: not a header we read
            for (uint8_t h = 0; h < 3; ++h)
                if (line_bytes_ >= kHeaderNames[h].size() ||
                    kHeaderNames[h][line_bytes_] != lower(c))
                    candidates_ &= static_cast<uint8_t>(~(1u << h));
            ++line_bytes_;
            return;
        case State::value:
            if (c == '\n') return end_of_line();
            if (c == '\r') return;
            if (header_ == kContentLength) {
                if (digit(c) && !value_done_) {
                    if (content_length_ > (INT64_MAX - 9) / 10)
                        bad_ = true;
                    else
                        content_length_ = content_length_ * 10 + (c - '0');
                    value_digits_ = true;
                } else if (c == ' ' || c == '\t') {
                    value_done_ = value_digits_;
                } else {
                    bad_ = true;
                }
            } else if (header_ == kTransferEncoding) {
                match_ = match_token(match_, c, "chunked");
                if (match_ == 7) chunked_ = true;
            } else if (header_ == kConnection) {
                // match_ holds two running matches: "close" in the low four
                // bits, "keep-alive" in the high four.
                uint8_t close = match_token(match_ & 0x0F, c, "close");
                uint8_t keep = match_token(match_ >> 4, c, "keep-alive");
                match_ = static_cast<uint8_t>(close | keep << 4);
                if (close == 5) connection_close_ = true;
                if (keep == 10) keep_alive_ = true;
            }
            return;
        default:
            return;
    }
}

void ResponseScanner::end_of_line() {
    if (state_ == State::status_line) {
        if (line_bytes_ < 12 || status_code_ < 100) status_ = Status::error;
    } else if (state_ == State::value && header_ == kContentLength && !value_digits_) {
        bad_ = true;
    }
    state_ = State::line_start;
    line_bytes_ = 0;
}

void ResponseScanner::end_of_head() {
    if (bad_) {
        status_ = Status::error;
        return;
    }
    if (status_code_ >= 100 && status_code_ < 200 && status_code_ != 101) {
        // An interim response (100 Continue): the real one follows.
        status_code_ = 0;
        content_length_ = -1;
        chunked_ = connection_close_ = keep_alive_ = false;
        state_ = State::status_line;
        return;
    }
    if (version_minor_ == 0 && !keep_alive_) connection_close_ = true;
    if (status_code_ < 200 || status_code_ == 204 || status_code_ == 304) {
        state_ = State::done;
        status_ = Status::complete;
    } else if (chunked_) {
        state_ = State::body_chunked;
    } else if (content_length_ >= 0) {
        body_remaining_ = static_cast<uint64_t>(content_length_);
        state_ = State::body_length;
        if (body_remaining_ == 0) {
            state_ = State::done;
            status_ = Status::complete;
        }
    } else {
        state_ = State::body_eof;
        connection_close_ = true;
    }
}

ResponseScanner::Step ResponseScanner::scan_body(std::string_view in) {
    switch (state_) {
        case State::body_length: {
            size_t take =
                body_remaining_ < in.size() ? static_cast<size_t>(body_remaining_) : in.size();
            body_remaining_ -= take;
            if (body_remaining_ == 0) {
                state_ = State::done;
                status_ = Status::complete;
            }
            return {status_, take};
        }
        case State::body_chunked: {
            auto step = chunked_body_.feed(in);
            if (step.status == ChunkedDecoder::Status::done) {
                state_ = State::done;
                status_ = Status::complete;
            } else if (step.status != ChunkedDecoder::Status::more) {
                status_ = Status::error;
            }
            return {status_, step.consumed};
        }
        case State::body_eof:
            return {Status::more, in.size()};
        default:
            return {status_, 0};
    }
}

}  // namespace sockdrill::http
