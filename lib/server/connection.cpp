#include "server/connection.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>

#include "cli/units.hpp"
#include "http/response.hpp"
#include "net/error.hpp"
#include "net/sockopt.hpp"

namespace sockdrill::server {

namespace {

// Responses up to this size are copied into `out`, so they leave in one write().
constexpr uint64_t kInlineBody = 16 * 1024;
// Stop parsing pipelined requests while this much output waits for the peer:
// a client that never reads cannot make the server buffer without bound.
constexpr size_t kMaxPendingOutput = 64 * 1024;

std::string make_pattern() {
    constexpr std::string_view line = "Hello world\n";
    std::string block;
    while (block.size() + line.size() <= 64 * 1024) block += line;
    return block;
}

bool parse_u64(std::string_view text, uint64_t& value) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    return ec == std::errc{} && end == text.data() + text.size() && !text.empty();
}

}  // namespace

std::string_view body_pattern() {
    static const std::string pattern = make_pattern();
    return pattern;
}

ResponsePlan plan_response(const http::RequestHead& head, const Config& config,
                           uint64_t requests_on_connection, bool stopping) {
    ResponsePlan plan;
    plan.version_minor = head.version_minor;
    plan.body_bytes = config.response_size;
    plan.delay_us = config.response_delay.count();
    plan.head_only = head.method == http::Method::head;

    // Walk the path as control segments: /bytes/N /delay/D /status/C /close /abort.
    std::string_view path = head.target.substr(0, head.target.find('?'));
    while (!path.empty()) {
        if (path.front() == '/') {
            path.remove_prefix(1);
            continue;
        }
        auto slash = path.find('/');
        std::string_view word = path.substr(0, slash);
        path = slash == std::string_view::npos ? std::string_view{} : path.substr(slash + 1);
        auto next_value = [&]() {
            auto s = path.find('/');
            std::string_view value = path.substr(0, s);
            path = s == std::string_view::npos ? std::string_view{} : path.substr(s + 1);
            return value;
        };
        try {
            if (word == "bytes") {
                plan.body_bytes = cli::parse_size(next_value());
            } else if (word == "delay") {
                plan.delay_us = std::min<int64_t>(cli::parse_duration(next_value()).count(), 600'000'000);
            } else if (word == "status") {
                uint64_t code = 0;
                if (!parse_u64(next_value(), code) || code < 200 || code > 599)
                    throw std::invalid_argument("status");
                plan.status = static_cast<int>(code);
            } else if (word == "close") {
                plan.close = true;
            } else if (word == "abort") {
                plan.abort = true;
                plan.close = true;
                plan.reason = CloseReason::abort;
            }
        } catch (const std::invalid_argument&) {
            plan = ResponsePlan{};
            plan.status = 400;
            plan.version_minor = head.version_minor;
            plan.body_bytes = 0;
            plan.close = true;
            plan.reason = CloseReason::bad_request;
            return plan;
        }
    }

    if (!plan.close) {
        if (!head.keep_alive) {
            plan.close = true;
        } else if (config.max_requests && requests_on_connection >= config.max_requests) {
            plan.close = true;
            plan.reason = CloseReason::max_requests;
        } else if (stopping) {
            plan.close = true;
            plan.reason = CloseReason::server_shutdown;
        }
    }
    plan.keep_alive_1_0 = head.version_minor == 0 && !plan.close;
    return plan;
}

Protocol::Protocol(const Config& config, Stats& stats) : config_(config), stats_(stats) {}

bool Protocol::backed_up(const Connection& c) const {
    // A generated body goes out after `out`, so nothing may follow it until it is sent.
    return c.body_to_send > 0 || (c.out.size() - c.out_offset) > kMaxPendingOutput;
}

size_t Protocol::process(Connection& c, std::string_view data, int64_t now_us, bool stopping) {
    size_t pos = 0;
    while (c.state == ConnState::reading && !c.close_after_write && !backed_up(c)) {
        if (c.body_to_skip > 0) {
            size_t take = static_cast<size_t>(std::min<uint64_t>(c.body_to_skip, data.size() - pos));
            pos += take;
            c.body_to_skip -= take;
            // --header-timeout bounds each gap in the body, not the whole upload.
            if (take > 0) c.deadline_us = now_us + config_.header_timeout.count();
            if (c.body_to_skip > 0) break;
            start_response(c, stopping);
            continue;
        }
        if (c.chunked) {
            auto step = c.chunked->feed(data.substr(pos));
            pos += step.consumed;
            if (step.consumed > 0) c.deadline_us = now_us + config_.header_timeout.count();
            if (step.status == http::ChunkedDecoder::Status::more) break;
            c.chunked.reset();
            if (step.status == http::ChunkedDecoder::Status::error) {
                respond_error(c, 400);
            } else if (step.status == http::ChunkedDecoder::Status::too_large) {
                respond_error(c, 413);
            } else {
                start_response(c, stopping);
                continue;
            }
            break;
        }
        if (pos == data.size()) break;

        auto parsed = http::parse_request_head(data.substr(pos), config_.max_header_size);
        if (parsed.status == http::ParseStatus::incomplete) {
            // The head timer starts at the first byte of a request (slowloris).
            bool continuing = pos == 0 && !c.in.empty();
            if (!continuing || c.deadline_us == 0) c.deadline_us = now_us + config_.header_timeout.count();
            break;
        }
        if (parsed.status == http::ParseStatus::error) {
            respond_error(c, parsed.error_status);
            pos = data.size();  // nothing after a malformed head can be framed
            break;
        }
        pos += parsed.head_bytes;
        const auto& head = parsed.head;
        ++c.requests;
        stats_.requests.add();
        if (config_.check_closed) {
            // Puma's "is the client still there?" check: one getsockopt per request.
            stats_.syscall(Syscall::getsockopt);
            int err = 0;
            socklen_t len = sizeof err;
            ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        }
        if (config_.peername) {
            stats_.syscall(Syscall::getpeername);
            sockaddr_storage ss;
            socklen_t len = sizeof ss;
            ::getpeername(c.fd, reinterpret_cast<sockaddr*>(&ss), &len);
        }
        if (head.content_length > 0 && static_cast<uint64_t>(head.content_length) > config_.max_body_size) {
            respond_error(c, 413);
            pos = data.size();
            break;
        }
        c.plan = plan_response(head, config_, c.requests, stopping);
        c.plan_pending = true;
        c.deadline_us = 0;
        bool has_body = head.content_length > 0 || head.chunked;
        if (head.expect_continue && has_body && head.version_minor == 1)
            c.out.append("HTTP/1.1 100 Continue\r\n\r\n");
        if (head.content_length > 0) {
            c.body_to_skip = static_cast<uint64_t>(head.content_length);
            c.deadline_us = now_us + config_.header_timeout.count();
        } else if (head.chunked) {
            c.chunked = std::make_unique<http::ChunkedDecoder>(config_.max_body_size);
            c.deadline_us = now_us + config_.header_timeout.count();
        } else {
            start_response(c, stopping);
        }
    }
    return pos;
}

void Protocol::start_response(Connection& c, bool stopping) {
    c.deadline_us = 0;
    if (c.plan.delay_us > 0) {
        c.state = ConnState::delaying;
        return;
    }
    resume_after_delay(c, stopping);
}

void Protocol::resume_after_delay(Connection& c, bool stopping) {
    auto& plan = c.plan;
    c.state = ConnState::reading;
    c.plan_pending = false;
    if (stopping && !plan.close) {
        plan.close = true;
        plan.reason = CloseReason::server_shutdown;
        plan.keep_alive_1_0 = false;
    }
    if (config_.cork && !c.corked) {
        stats_.syscall(Syscall::setsockopt);
        int on = 1;
        ::setsockopt(c.fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on);
        c.corked = true;
    }
    size_t before = c.out.size() - c.out_offset;
    http::append_response_head(c.out, plan.version_minor, plan.status, plan.body_bytes, plan.close,
                               plan.keep_alive_1_0);
    uint64_t body = plan.head_only ? 0 : plan.body_bytes;
    if (body <= kInlineBody) {
        auto pattern = body_pattern();
        while (body > 0) {
            size_t take = static_cast<size_t>(std::min<uint64_t>(body, pattern.size()));
            c.out.append(pattern.data(), take);
            body -= take;
        }
    } else {
        c.body_to_send += body;
    }
    uint64_t response_bytes = (c.out.size() - c.out_offset - before) + c.body_to_send;
    if (config_.split_writes > 1)
        c.split_chunk = static_cast<uint32_t>(std::max<uint64_t>(
            1, (response_bytes + config_.split_writes - 1) / config_.split_writes));
    if (plan.status < 300) stats_.responses_2xx.add();
    else if (plan.status < 500) stats_.responses_4xx.add();
    else stats_.responses_5xx.add();
    if (plan.close) {
        c.close_after_write = true;
        c.close_reason = plan.reason;
        c.abort_after_write = plan.abort;
    }
}

void Protocol::respond_error(Connection& c, int status) {
    c.plan = ResponsePlan{};
    c.plan.status = status;
    c.plan.body_bytes = 0;
    c.plan.close = true;
    c.plan.reason = status == 408 ? CloseReason::header_timeout : CloseReason::bad_request;
    c.body_to_skip = 0;
    c.chunked.reset();
    resume_after_delay(c, false);
}

void Protocol::echo(Connection& c, std::string_view data) { c.out.append(data); }

Flush Protocol::flush(Connection& c, int& error) {
    auto pattern = body_pattern();
    while (c.output_pending()) {
        size_t limit = c.split_chunk ? c.split_chunk : SIZE_MAX;
        iovec iov[2];
        int parts = 0;
        size_t head_left = c.out.size() - c.out_offset;
        if (head_left > 0) {
            iov[parts++] = {c.out.data() + c.out_offset, std::min(head_left, limit)};
            limit -= iov[0].iov_len;
        }
        if (c.body_to_send > 0 && limit > 0) {
            size_t offset = static_cast<size_t>(c.body_sent % pattern.size());
            size_t take = static_cast<size_t>(std::min<uint64_t>({c.body_to_send, uint64_t(pattern.size() - offset), uint64_t(limit)}));
            iov[parts++] = {const_cast<char*>(pattern.data() + offset), take};
        }
        ssize_t n;
        if (parts == 1) {
            stats_.syscall(Syscall::write);
            n = ::write(c.fd, iov[0].iov_base, iov[0].iov_len);
        } else {
            stats_.syscall(Syscall::writev);
            n = ::writev(c.fd, iov, parts);
        }
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return Flush::would_block;
            error = errno;
            stats_.error(Phase::write, errno);
            return Flush::failed;
        }
        stats_.bytes_out.add(static_cast<uint64_t>(n));
        size_t from_out = std::min(static_cast<size_t>(n), head_left);
        c.out_offset += from_out;
        c.body_to_send -= static_cast<uint64_t>(n) - from_out;
        c.body_sent = c.body_to_send ? c.body_sent + (static_cast<uint64_t>(n) - from_out) : 0;
    }
    // Everything is out: give the buffer back unless it is small.
    if (c.out.capacity() > 4096) std::string().swap(c.out);
    else c.out.clear();
    c.out_offset = 0;
    c.split_chunk = 0;
    if (c.corked) {
        stats_.syscall(Syscall::setsockopt);
        int off = 0;
        ::setsockopt(c.fd, IPPROTO_TCP, TCP_CORK, &off, sizeof off);
        c.corked = false;
    }
    return Flush::done;
}

long Protocol::read(int fd, char* buf, size_t len) {
    stats_.syscall(Syscall::read);
    ssize_t n = ::read(fd, buf, len);
    if (n > 0) stats_.bytes_in.add(static_cast<uint64_t>(n));
    return n;
}

void Protocol::close_fd(int fd) {
    stats_.syscall(Syscall::close);
    ::close(fd);
}

void Protocol::shutdown_write(int fd) {
    stats_.syscall(Syscall::shutdown);
    ::shutdown(fd, SHUT_WR);
}

void Protocol::set_abortive(int fd) {
    // SO_LINGER {1, 0}: close() sends RST and skips TIME_WAIT (tcp_close ->
    // tcp_disconnect), discarding anything still in the send queue.
    stats_.syscall(Syscall::setsockopt);
    linger l{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

void Protocol::configure_accepted(int fd) {
    auto count = [&] { stats_.syscall(Syscall::setsockopt); };
    try {
        if (config_.nodelay) count(), net::set_nodelay(fd, true);
        if (config_.linger) count(), net::set_linger(fd, config_.linger);
        if (config_.tcp_keepalive) stats_.syscall(Syscall::setsockopt, 4), net::set_keepalive(fd, *config_.tcp_keepalive);
        if (config_.user_timeout)
            count(), net::set_user_timeout(fd, std::chrono::duration_cast<std::chrono::milliseconds>(*config_.user_timeout));
        if (config_.rcvbuf) count(), net::set_rcvbuf(fd, static_cast<int>(*config_.rcvbuf));
        if (config_.sndbuf) count(), net::set_sndbuf(fd, static_cast<int>(*config_.sndbuf));
    } catch (const Error& e) {
        stats_.error(Phase::setsockopt, e.err());
    }
}

}  // namespace sockdrill::server
