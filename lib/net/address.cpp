#include "net/address.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>
#include <fmt/format.h>

#include "net/error.hpp"

namespace sockdrill::net {

namespace {

Error bad_address(std::string_view text, std::string_view why) {
    return Error::usage(fmt::format("bad address \"{}\": {}; expected HOST:PORT, [IPV6]:PORT or :PORT",
                                    text, why));
}

}  // namespace

Address::Address(const sockaddr* sa, socklen_t len) {
    len_ = std::min<socklen_t>(len, sizeof(storage_));
    std::memcpy(&storage_, sa, len_);
}

Address Address::parse_host(std::string_view host, uint16_t port) {
    Address a;
    std::string h(host);
    if (h.empty() || h == "*" || h == "0.0.0.0") h = "0.0.0.0";
    if (h == "localhost") h = "127.0.0.1";
    auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage_);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage_);
    if (inet_pton(AF_INET, h.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        a.len_ = sizeof(sockaddr_in);
    } else if (inet_pton(AF_INET6, h.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        a.len_ = sizeof(sockaddr_in6);
    } else {
        throw bad_address(host, "not a numeric IPv4 or IPv6 address");
    }
    return a;
}

Address Address::parse(std::string_view text) {
    std::string_view host, port;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos) throw bad_address(text, "missing ']'");
        host = text.substr(1, close - 1);
        if (close + 1 >= text.size() || text[close + 1] != ':')
            throw bad_address(text, "missing :PORT after ]");
        port = text.substr(close + 2);
        if (host.find(':') == std::string_view::npos) throw bad_address(text, "[...] is for IPv6");
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos) throw bad_address(text, "missing :PORT");
        host = text.substr(0, colon);
        if (host.find(':') != std::string_view::npos)
            throw bad_address(text, "IPv6 addresses go in brackets");
        port = text.substr(colon + 1);
    }
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || value > 65535)
        throw bad_address(text, "port must be a number from 0 to 65535");
    return parse_host(host, static_cast<uint16_t>(value));
}

uint16_t Address::port() const {
    if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
    if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
    return 0;
}

void Address::set_port(uint16_t port) {
    if (family() == AF_INET) reinterpret_cast<sockaddr_in*>(&storage_)->sin_port = htons(port);
    if (family() == AF_INET6) reinterpret_cast<sockaddr_in6*>(&storage_)->sin6_port = htons(port);
}

std::string Address::host() const {
    char buf[INET6_ADDRSTRLEN] = "?";
    if (family() == AF_INET)
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, buf, sizeof buf);
    else if (family() == AF_INET6)
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, buf, sizeof buf);
    return buf;
}

std::string Address::to_string() const {
    if (family() == AF_INET6) return fmt::format("[{}]:{}", host(), port());
    return fmt::format("{}:{}", host(), port());
}

bool Address::is_loopback() const {
    if (family() == AF_INET)
        return (ntohl(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr.s_addr) >> 24) == 127;
    if (family() == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr);
    return false;
}

Address parse_local_target(std::string_view text, std::string_view flag) {
    Address target;
    try {
        target = Address::parse(text);
    } catch (const Error& e) {
        throw Error::usage(fmt::format("{} {}: {}", flag, text, e.what()));
    }
    if (!target.is_loopback())
        throw Error::usage(fmt::format(
            "{} {}: expected a loopback address (127.0.0.0/8 or ::1); traffic never leaves this machine", flag, text));
    if (target.port() == 0) throw Error::usage(fmt::format("{} {}: expected a port other than 0", flag, text));
    return target;
}

Address local_address(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    check(::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len), "getsockname");
    return Address(reinterpret_cast<sockaddr*>(&ss), len);
}

Address peer_address(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    check(::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len), "getpeername");
    return Address(reinterpret_cast<sockaddr*>(&ss), len);
}

}  // namespace sockdrill::net
