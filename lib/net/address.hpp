#pragma once
// IPv4/IPv6 socket addresses written the way ss and curl write them:
// "127.0.0.1:8080", "[::1]:8080". Numeric hosts only (and "localhost"):
// sockdrill never resolves names, so a typo cannot send traffic elsewhere.
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace sockdrill::net {

/// A resolved IPv4 or IPv6 endpoint.
class Address {
public:
    Address() = default;
    Address(const sockaddr* sa, socklen_t len);

    /// Parses "HOST:PORT", "[V6]:PORT", ":PORT" or "*:PORT" (any address) and
    /// port 0. Throws Error(Exit::usage) naming the accepted forms.
    static Address parse(std::string_view text);
    /// The address only, no port: "198.18.0.1", "::1".
    static Address parse_host(std::string_view host, uint16_t port = 0);

    int family() const { return storage_.ss_family; }
    uint16_t port() const;
    void set_port(uint16_t port);
    const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&storage_); }
    sockaddr* sa() { return reinterpret_cast<sockaddr*>(&storage_); }
    socklen_t len() const { return len_; }
    /// "127.0.0.1:8080" or "[::1]:8080".
    std::string to_string() const;
    /// The host part alone: "127.0.0.1" or "::1".
    std::string host() const;
    bool is_loopback() const;

    bool operator==(const Address& other) const { return to_string() == other.to_string(); }

private:
    sockaddr_storage storage_{};
    socklen_t len_ = 0;
};

/// Parses a --target given on the command line, which the command reaches
/// from the host's own namespace: only loopback stays on this machine there
/// (a 198.18.0.0/15 address would follow the host's default route, since the
/// sandbox's namespaces are private to the command that made them). Port 0
/// is refused too. Throws Error(usage) naming `flag`.
Address parse_local_target(std::string_view text, std::string_view flag = "--target");

/// getsockname(); throws on failure.
Address local_address(int fd);
/// getpeername(); throws on failure (ENOTCONN when not connected).
Address peer_address(int fd);

}  // namespace sockdrill::net
