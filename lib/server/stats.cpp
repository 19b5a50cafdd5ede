#include "server/stats.hpp"

#include <cmath>
#include <nlohmann/json.hpp>

#include "net/error.hpp"

namespace sockdrill::server {

std::string_view close_reason_name(CloseReason reason) {
    static constexpr std::string_view names[] = {
        "peer_fin", "peer_rst",  "idle_timeout", "max_requests", "header_timeout",
        "bad_request", "server_close", "abort", "error", "server_shutdown"};
    return names[static_cast<size_t>(reason)];
}

std::string_view phase_name(Phase phase) {
    static constexpr std::string_view names[] = {"accept", "read", "write", "setsockopt"};
    return names[static_cast<size_t>(phase)];
}

uint64_t Snapshot::errors_total(int err) const {
    uint64_t total = 0;
    for (const auto& phase : errors) total += phase[err];
    return total;
}

std::string_view syscall_name(Syscall call) {
    static constexpr std::string_view names[] = {
        "accept4",     "read",       "write",     "writev", "close", "shutdown", "setsockopt",
        "getsockopt", "getpeername", "epoll_wait", "epoll_ctl", "poll", "select"};
    return names[static_cast<size_t>(call)];
}

void Snapshot::add(const Stats& s) {
    accepted += s.accepted.get();
    for (size_t i = 0; i < closed.size(); ++i) closed[i] += s.closed[i].get();
    requests += s.requests.get();
    responses_2xx += s.responses_2xx.get();
    responses_4xx += s.responses_4xx.get();
    responses_5xx += s.responses_5xx.get();
    bytes_in += s.bytes_in.get();
    bytes_out += s.bytes_out.get();
    for (size_t i = 0; i < syscalls.size(); ++i) syscalls[i] += s.syscalls[i].get();
    for (size_t p = 0; p < errors.size(); ++p)
        for (size_t i = 0; i < errors[p].size(); ++i) errors[p][i] += s.errors[p][i].get();
    accept_backoffs += s.accept_backoffs.get();
}

void Snapshot::add(const Snapshot& o) {
    accepted += o.accepted;
    for (size_t i = 0; i < closed.size(); ++i) closed[i] += o.closed[i];
    requests += o.requests;
    responses_2xx += o.responses_2xx;
    responses_4xx += o.responses_4xx;
    responses_5xx += o.responses_5xx;
    bytes_in += o.bytes_in;
    bytes_out += o.bytes_out;
    for (size_t i = 0; i < syscalls.size(); ++i) syscalls[i] += o.syscalls[i];
    for (size_t p = 0; p < errors.size(); ++p)
        for (size_t i = 0; i < errors[p].size(); ++i) errors[p][i] += o.errors[p][i];
    accept_backoffs += o.accept_backoffs;
}

uint64_t Snapshot::closed_total() const {
    uint64_t total = 0;
    for (auto c : closed) total += c;
    return total;
}

uint64_t Snapshot::syscalls_total() const {
    uint64_t total = 0;
    for (auto c : syscalls) total += c;
    return total;
}

nlohmann::json errors_json(const Snapshot& s) {
    nlohmann::json errors = nlohmann::json::object();
    for (size_t p = 0; p < s.errors.size(); ++p)
        for (size_t i = 0; i < s.errors[p].size(); ++i)
            if (s.errors[p][i])
                errors[std::string(phase_name(static_cast<Phase>(p)))][errno_name(static_cast<int>(i))] =
                    s.errors[p][i];
    return errors;
}

void to_json(nlohmann::json& j, const Snapshot& s) {
    nlohmann::json closed = nlohmann::json::object();
    for (size_t i = 0; i < s.closed.size(); ++i)
        closed[std::string(close_reason_name(static_cast<CloseReason>(i)))] = s.closed[i];
    nlohmann::json syscalls = nlohmann::json::object();
    nlohmann::json per_request = nlohmann::json::object();
    for (size_t i = 0; i < s.syscalls.size(); ++i) {
        if (!s.syscalls[i]) continue;
        auto name = std::string(syscall_name(static_cast<Syscall>(i)));
        syscalls[name] = s.syscalls[i];
        if (s.requests)
            per_request[name] = std::round(1000.0 * s.syscalls[i] / s.requests) / 1000;
    }
    j = nlohmann::json::object();
    nlohmann::json errors = errors_json(s);
    double total_per_request =
        s.requests ? std::round(1000.0 * s.syscalls_total() / s.requests) / 1000 : 0.0;
    j = nlohmann::json{{"connections_accepted", s.accepted},
                       {"connections_closed", closed},
                       {"connections_current", s.current_connections()},
                       {"requests", s.requests},
                       {"responses", {{"2xx", s.responses_2xx}, {"4xx", s.responses_4xx}, {"5xx", s.responses_5xx}}},
                       {"bytes_in", s.bytes_in},
                       {"bytes_out", s.bytes_out},
                       {"syscalls", syscalls},
                       {"syscalls_per_request", per_request},
                       {"syscalls_per_request_total", total_per_request},
                       {"errors", errors},
                       {"accept_backoffs", s.accept_backoffs}};
}

}  // namespace sockdrill::server
