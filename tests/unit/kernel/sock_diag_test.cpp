#include "kernel/sock_diag.hpp"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "kernel/census.hpp"
#include "net/error.hpp"

namespace kernel = sockdrill::kernel;
namespace net = sockdrill::net;
using sockdrill::Error;
using sockdrill::Exit;

namespace {

constexpr uint32_t bit(int state) { return 1u << state; }

std::string fixture_path(const std::string& name) {
    return std::string(SOCKDRILL_SOURCE_DIR) + "/tests/unit/kernel/fixtures/" + name;
}

Exit usage_exit_of(auto&& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.exit();
    }
    return Exit::ok;
}

kernel::SocketRecord record(const char* local, const char* peer, uint8_t state = TCP_ESTABLISHED) {
    kernel::SocketRecord r;
    r.local = net::Address::parse(local);
    r.peer = net::Address::parse(peer);
    r.family = static_cast<uint8_t>(r.local.family());
    r.state = state;
    return r;
}

// --- the kernel's side of inet_diag bytecode, as net/ipv4/inet_diag.c has it --

// inet_diag_bc_audit(): walk along `yes`; every op's `no` must land on that
// walk (valid_cc), at the end, or at end + 4 (reject); ops are whole.
bool valid_cc(const std::vector<uint8_t>& bc, int cc) {
    int len = static_cast<int>(bc.size());
    size_t at = 0;
    while (len >= 0) {
        if (cc > len) return false;
        if (cc == len) return true;
        inet_diag_bc_op op;
        std::memcpy(&op, bc.data() + at, sizeof op);
        if (op.yes < 4 || (op.yes & 3)) return false;
        len -= op.yes;
        at += op.yes;
    }
    return false;
}

std::string audit(const std::vector<uint8_t>& bc) {
    int len = static_cast<int>(bc.size());
    size_t at = 0;
    while (len > 0) {
        if (len < static_cast<int>(sizeof(inet_diag_bc_op))) return "op cut short";
        inet_diag_bc_op op;
        std::memcpy(&op, bc.data() + at, sizeof op);
        int min_len = sizeof op;
        switch (op.code) {
            case INET_DIAG_BC_S_COND:
            case INET_DIAG_BC_D_COND: {
                min_len += sizeof(inet_diag_hostcond);
                if (len < min_len) return "hostcond cut short";
                inet_diag_hostcond cond;
                std::memcpy(&cond, bc.data() + at + sizeof op, sizeof cond);
                int addr_len = cond.family == AF_INET ? 4 : cond.family == AF_INET6 ? 16 : cond.family == AF_UNSPEC ? 0 : -1;
                if (addr_len < 0) return "hostcond family";
                min_len += addr_len;
                if (len < min_len) return "hostcond address cut short";
                if (cond.prefix_len > 8 * addr_len) return "prefix_len too long";
                break;
            }
            case INET_DIAG_BC_S_GE:
            case INET_DIAG_BC_S_LE:
            case INET_DIAG_BC_D_GE:
            case INET_DIAG_BC_D_LE:
            case INET_DIAG_BC_S_EQ:
            case INET_DIAG_BC_D_EQ:
                min_len += sizeof op;
                if (len < min_len) return "port comparison cut short";
                break;
            case INET_DIAG_BC_JMP:
            case INET_DIAG_BC_NOP:
            case INET_DIAG_BC_AUTO:
                break;
            default:
                return "unknown op " + std::to_string(op.code);
        }
        if (op.code != INET_DIAG_BC_NOP) {
            if (op.no < min_len || op.no > len + 4 || (op.no & 3)) return "bad no at " + std::to_string(at);
            if (op.no < len && !valid_cc(bc, len - op.no)) return "no off the yes-chain at " + std::to_string(at);
        }
        if (op.yes < min_len || op.yes > len + 4 || (op.yes & 3)) return "bad yes at " + std::to_string(at);
        at += op.yes;
        len -= op.yes;
    }
    return len == 0 ? "" : "program does not end on the end";
}

bool bitstring_match(const uint32_t* a1, const uint32_t* a2, int bits) {
    int words = bits >> 5;
    bits &= 0x1f;
    if (words && std::memcmp(a1, a2, static_cast<size_t>(words) << 2)) return false;
    if (bits) {
        uint32_t mask = htonl(0xffffffffu << (32 - bits));
        if ((a1[words] ^ a2[words]) & mask) return false;
    }
    return true;
}

// inet_diag_bc_run() over one socket.
bool kernel_accepts(const std::vector<uint8_t>& bc, const kernel::SocketRecord& s) {
    uint32_t saddr[4]{}, daddr[4]{};
    auto copy_addr = [](const net::Address& a, uint32_t* out) {
        if (a.family() == AF_INET)
            std::memcpy(out, &reinterpret_cast<const sockaddr_in*>(a.sa())->sin_addr, 4);
        else
            std::memcpy(out, &reinterpret_cast<const sockaddr_in6*>(a.sa())->sin6_addr, 16);
    };
    copy_addr(s.local, saddr);
    copy_addr(s.peer, daddr);
    int len = static_cast<int>(bc.size());
    size_t at = 0;
    while (len > 0) {
        inet_diag_bc_op op, arg;
        std::memcpy(&op, bc.data() + at, sizeof op);
        bool yes = true;
        switch (op.code) {
            case INET_DIAG_BC_JMP: yes = false; break;
            case INET_DIAG_BC_S_GE: std::memcpy(&arg, bc.data() + at + 4, 4); yes = s.local.port() >= arg.no; break;
            case INET_DIAG_BC_S_LE: std::memcpy(&arg, bc.data() + at + 4, 4); yes = s.local.port() <= arg.no; break;
            case INET_DIAG_BC_D_GE: std::memcpy(&arg, bc.data() + at + 4, 4); yes = s.peer.port() >= arg.no; break;
            case INET_DIAG_BC_D_LE: std::memcpy(&arg, bc.data() + at + 4, 4); yes = s.peer.port() <= arg.no; break;
            case INET_DIAG_BC_S_COND:
            case INET_DIAG_BC_D_COND: {
                inet_diag_hostcond cond;
                std::memcpy(&cond, bc.data() + at + 4, sizeof cond);
                uint32_t caddr[4]{};
                std::memcpy(caddr, bc.data() + at + 4 + sizeof cond, cond.family == AF_INET ? 4 : 16);
                const uint32_t* addr = op.code == INET_DIAG_BC_S_COND ? saddr : daddr;
                int port = op.code == INET_DIAG_BC_S_COND ? s.local.port() : s.peer.port();
                if (cond.port != -1 && cond.port != port) {
                    yes = false;
                    break;
                }
                if (cond.family != AF_UNSPEC && cond.family != s.family) {
                    if (s.family == AF_INET6 && cond.family == AF_INET && addr[0] == 0 && addr[1] == 0 &&
                        addr[2] == htonl(0xffff) && bitstring_match(addr + 3, caddr, cond.prefix_len))
                        break;
                    yes = false;
                    break;
                }
                if (cond.prefix_len == 0) break;
                yes = bitstring_match(addr, caddr, cond.prefix_len);
                break;
            }
            default: FAIL("unexpected op " << int(op.code)); return false;
        }
        if (yes) {
            len -= op.yes;
            at += op.yes;
        } else {
            len -= op.no;
            at += op.no;
        }
    }
    return len == 0;
}

std::vector<kernel::SocketRecord> sample_sockets() {
    std::vector<kernel::SocketRecord> all;
    for (const char* local : {"127.0.0.1:80", "127.0.0.1:5000", "10.1.2.3:80", "198.19.0.1:443", "0.0.0.0:80"})
        for (const char* peer : {"127.0.0.1:80", "127.0.0.1:5000", "10.1.2.3:9", "198.18.7.7:80", "0.0.0.0:0"})
            all.push_back(record(local, peer));
    for (const char* local : {"[::1]:80", "[::1]:5000", "[2001:db8::1]:443"})
        for (const char* peer : {"[::1]:80", "[2001:db8::2]:5000", "[::]:0"}) all.push_back(record(local, peer));
    return all;
}

}  // namespace

// --- state names and ss's groups ---------------------------------------------

TEST_CASE("every state name ss takes parses to its kernel state") {
    CHECK(kernel::parse_state_mask("established") == bit(TCP_ESTABLISHED));
    CHECK(kernel::parse_state_mask("estab") == bit(TCP_ESTABLISHED));
    CHECK(kernel::parse_state_mask("syn-sent") == bit(TCP_SYN_SENT));
    CHECK(kernel::parse_state_mask("syn-recv") == bit(TCP_SYN_RECV));
    CHECK(kernel::parse_state_mask("fin-wait-1") == bit(TCP_FIN_WAIT1));
    CHECK(kernel::parse_state_mask("fin-wait-2") == bit(TCP_FIN_WAIT2));
    CHECK(kernel::parse_state_mask("time-wait") == bit(TCP_TIME_WAIT));
    CHECK(kernel::parse_state_mask("closed") == bit(TCP_CLOSE));
    CHECK(kernel::parse_state_mask("close") == bit(TCP_CLOSE));
    CHECK(kernel::parse_state_mask("unconn") == bit(TCP_CLOSE));
    CHECK(kernel::parse_state_mask("close-wait") == bit(TCP_CLOSE_WAIT));
    CHECK(kernel::parse_state_mask("last-ack") == bit(TCP_LAST_ACK));
    CHECK(kernel::parse_state_mask("listening") == bit(TCP_LISTEN));
    CHECK(kernel::parse_state_mask("listen") == bit(TCP_LISTEN));
    CHECK(kernel::parse_state_mask("closing") == bit(TCP_CLOSING));
}

TEST_CASE("state names are case-insensitive and a list ORs them") {
    CHECK(kernel::parse_state_mask("TIME-WAIT") == bit(TCP_TIME_WAIT));
    CHECK(kernel::parse_state_mask("Established,close-wait") == (bit(TCP_ESTABLISHED) | bit(TCP_CLOSE_WAIT)));
    CHECK(kernel::parse_state_mask("listen,listening") == bit(TCP_LISTEN));
}

TEST_CASE("ss's groups: all, connected (SS_CONN), synchronized, bucket, big") {
    const uint32_t all = kernel::kAllStates;
    CHECK(all == 0xffeu);  // TCP_ESTABLISHED (1) .. TCP_CLOSING (11)
    CHECK(kernel::parse_state_mask("all") == all);
    // misc/ss.c: SS_CONN = SS_ALL & ~(LISTEN | CLOSE | TIME_WAIT | SYN_RECV)
    const uint32_t conn = all & ~(bit(TCP_LISTEN) | bit(TCP_CLOSE) | bit(TCP_TIME_WAIT) | bit(TCP_SYN_RECV));
    CHECK(kernel::parse_state_mask("connected") == conn);
    CHECK(kernel::parse_state_mask("connected") ==
          (bit(TCP_ESTABLISHED) | bit(TCP_SYN_SENT) | bit(TCP_FIN_WAIT1) | bit(TCP_FIN_WAIT2) | bit(TCP_CLOSE_WAIT) |
           bit(TCP_LAST_ACK) | bit(TCP_CLOSING)));
    CHECK(kernel::parse_state_mask("synchronized") == (conn & ~bit(TCP_SYN_SENT)));
    CHECK(kernel::parse_state_mask("bucket") == (bit(TCP_SYN_RECV) | bit(TCP_TIME_WAIT)));
    CHECK(kernel::parse_state_mask("big") == (all & ~(bit(TCP_SYN_RECV) | bit(TCP_TIME_WAIT))));
    CHECK(kernel::parse_state_mask("bucket,big") == all);
    CHECK(kernel::parse_state_mask("connected,listening") == (conn | bit(TCP_LISTEN)));
}

TEST_CASE("an unknown state name is a usage error naming it and the accepted names") {
    try {
        kernel::parse_state_mask("established,bogus");
        FAIL("no error");
    } catch (const Error& e) {
        CHECK(e.exit() == Exit::usage);
        std::string what = e.what();
        CHECK(what.find("--state") != std::string::npos);
        CHECK(what.find("\"bogus\"") != std::string::npos);
        CHECK(what.find("time-wait") != std::string::npos);
        CHECK(what.find("connected") != std::string::npos);
    }
    CHECK(usage_exit_of([] { kernel::parse_state_mask(""); }) == Exit::usage);
    CHECK(usage_exit_of([] { kernel::parse_state_mask("established,"); }) == Exit::usage);
    CHECK(usage_exit_of([] { kernel::parse_state_mask("time_wait"); }) == Exit::usage);
}

TEST_CASE("state names in tables (ss's) and in JSON (DESIGN.md's)") {
    CHECK(std::string(kernel::state_name(TCP_ESTABLISHED)) == "ESTAB");
    CHECK(std::string(kernel::state_json_name(TCP_ESTABLISHED)) == "ESTABLISHED");
    CHECK(std::string(kernel::state_json_name(TCP_TIME_WAIT)) == "TIME-WAIT");
    CHECK(std::string(kernel::state_json_name(TCP_CLOSE)) == "CLOSE");
    CHECK(std::string(kernel::state_json_name(TCP_LISTEN)) == "LISTEN");
    CHECK(std::string(kernel::state_json_name(12)) == "SYN-RECV");  // TCP_NEW_SYN_RECV
    CHECK(std::string(kernel::state_json_name(99)) == "UNKNOWN");
}

// --- prefixes -------------------------------------------------------------------

TEST_CASE("Prefix parses ADDR and ADDR/BITS, IPv4 and IPv6") {
    auto p = kernel::Prefix::parse("198.18.0.0/15");
    CHECK(p.address.family() == AF_INET);
    CHECK(p.bits == 15);
    CHECK(p.address.host() == "198.18.0.0");
    CHECK(kernel::Prefix::parse("127.0.0.1").bits == 32);
    auto v6 = kernel::Prefix::parse("::1");
    CHECK(v6.address.family() == AF_INET6);
    CHECK(v6.bits == 128);
    CHECK(kernel::Prefix::parse("2001:db8::/32").bits == 32);
    CHECK(kernel::Prefix::parse("[::1]/128").bits == 128);
    CHECK(kernel::Prefix::parse("0.0.0.0/0").bits == 0);
}

TEST_CASE("a bad prefix is a usage error") {
    for (const char* bad : {"bogus", "300.1.1.1", "10.0.0.0/33", "::1/129", "10.0.0.0/", "10.0.0.0/x", "10.0.0.0/-1",
                            "10.0.0.0/8/8"})
        CHECK_MESSAGE(usage_exit_of([&] { kernel::Prefix::parse(bad); }) == Exit::usage, std::string(bad));
}

TEST_CASE("a prefix without an address is a usage error, not 0.0.0.0") {
    // Address::parse_host reads an empty host as the any-address, so "/8"
    // would silently filter on 0.0.0.0/8 and "" on 0.0.0.0/32.
    for (const char* bad : {"", "/8"})
        CHECK_MESSAGE(usage_exit_of([&] { kernel::Prefix::parse(bad); }) == Exit::usage, std::string(bad));
}

TEST_CASE("Prefix::contains compares the leading bits, within one family") {
    auto p = kernel::Prefix::parse("198.18.0.0/15");
    CHECK(p.contains(net::Address::parse("198.18.0.1:80")));
    CHECK(p.contains(net::Address::parse("198.19.255.255:1")));
    CHECK_FALSE(p.contains(net::Address::parse("198.20.0.0:1")));
    CHECK_FALSE(p.contains(net::Address::parse("198.17.255.255:1")));
    auto odd = kernel::Prefix::parse("10.0.0.0/9");
    CHECK(odd.contains(net::Address::parse("10.127.1.1:1")));
    CHECK_FALSE(odd.contains(net::Address::parse("10.128.0.0:1")));
    auto host = kernel::Prefix::parse("127.0.0.1");
    CHECK(host.contains(net::Address::parse("127.0.0.1:5")));
    CHECK_FALSE(host.contains(net::Address::parse("127.0.0.2:5")));
    auto any = kernel::Prefix::parse("0.0.0.0/0");
    CHECK(any.contains(net::Address::parse("8.8.8.8:53")));
    CHECK_FALSE(any.contains(net::Address::parse("[::1]:53")));  // another family
    auto v6 = kernel::Prefix::parse("2001:db8::/32");
    CHECK(v6.contains(net::Address::parse("[2001:db8:ffff::1]:1")));
    CHECK_FALSE(v6.contains(net::Address::parse("[2001:db9::1]:1")));
    CHECK_FALSE(v6.contains(net::Address::parse("127.0.0.1:1")));
    CHECK(kernel::Prefix::parse("::1").contains(net::Address::parse("[::1]:80")));
}

// --- matches() ------------------------------------------------------------------

TEST_CASE("matches applies family, port and prefix filters with AND") {
    auto s = record("127.0.0.1:5000", "10.1.2.3:80");
    kernel::DiagRequest r;
    CHECK(kernel::matches(r, s));
    r.ipv4 = false;
    CHECK_FALSE(kernel::matches(r, s));
    r = {};
    r.ipv6 = false;
    CHECK(kernel::matches(r, s));

    r = {};
    r.sport = 5000;
    CHECK(kernel::matches(r, s));
    r.sport = 80;
    CHECK_FALSE(kernel::matches(r, s));
    r = {};
    r.dport = 80;
    CHECK(kernel::matches(r, s));
    r.dport = 5000;
    CHECK_FALSE(kernel::matches(r, s));
    r = {};
    r.port = 80;
    CHECK(kernel::matches(r, s));
    r.port = 5000;
    CHECK(kernel::matches(r, s));
    r.port = 443;
    CHECK_FALSE(kernel::matches(r, s));

    r = {};
    r.src = kernel::Prefix::parse("127.0.0.0/8");
    CHECK(kernel::matches(r, s));
    r.dst = kernel::Prefix::parse("10.0.0.0/8");
    CHECK(kernel::matches(r, s));
    r.dst = kernel::Prefix::parse("10.1.2.4");
    CHECK_FALSE(kernel::matches(r, s));
    r = {};
    r.src = kernel::Prefix::parse("::1");
    CHECK_FALSE(kernel::matches(r, s));

    r = {};
    r.sport = 5000;
    r.dport = 80;
    r.src = kernel::Prefix::parse("127.0.0.1");
    CHECK(kernel::matches(r, s));
    r.dport = 81;
    CHECK_FALSE(kernel::matches(r, s));

    auto v6 = record("[::1]:80", "[::1]:5000");
    r = {};
    r.ipv6 = false;
    CHECK_FALSE(kernel::matches(r, v6));
    r = {};
    r.ipv4 = false;
    r.src = kernel::Prefix::parse("::1");
    CHECK(kernel::matches(r, v6));
}

// --- bytecode ---------------------------------------------------------------------

TEST_CASE("no port or prefix filter, no bytecode, states and families are not bytecode") {
    kernel::DiagRequest r;
    CHECK(kernel::build_bytecode(r).empty());
    r.states = bit(TCP_TIME_WAIT);
    r.ipv6 = false;
    r.tcp_info = true;
    CHECK(kernel::build_bytecode(r).empty());
}

TEST_CASE("a port filter is a GE/LE pair whose no jumps to reject") {
    kernel::DiagRequest r;
    r.sport = 8080;
    auto bc = kernel::build_bytecode(r);
    REQUIRE(bc.size() == 16);
    inet_diag_bc_op ops[4];
    std::memcpy(ops, bc.data(), 16);
    CHECK(ops[0].code == INET_DIAG_BC_S_GE);
    CHECK(ops[1].no == 8080);
    CHECK(ops[2].code == INET_DIAG_BC_S_LE);
    CHECK(ops[3].no == 8080);
    CHECK(ops[0].yes == 8);
    CHECK(ops[2].yes == 8);
    CHECK(ops[0].no == 16 + 4);  // past the end: reject
    CHECK(ops[2].no == 8 + 4);
    CHECK(audit(bc).empty());

    r = {};
    r.dport = 443;
    bc = kernel::build_bytecode(r);
    REQUIRE(bc.size() == 16);
    std::memcpy(ops, bc.data(), 16);
    CHECK(ops[0].code == INET_DIAG_BC_D_GE);
    CHECK(ops[2].code == INET_DIAG_BC_D_LE);
    CHECK(ops[1].no == 443);
}

TEST_CASE("--port is sport OR dport: the first alternative's no lands on the second, a JMP skips it") {
    kernel::DiagRequest r;
    r.port = 80;
    auto bc = kernel::build_bytecode(r);
    REQUIRE(bc.size() == 16 + 4 + 16);
    inet_diag_bc_op ops[9];
    std::memcpy(ops, bc.data(), bc.size());
    CHECK(ops[0].code == INET_DIAG_BC_S_GE);
    CHECK(ops[0].no == 20);  // to D_GE at byte 20
    CHECK(ops[2].code == INET_DIAG_BC_S_LE);
    CHECK(ops[2].no == 12);
    CHECK(ops[4].code == INET_DIAG_BC_JMP);
    CHECK(ops[4].yes == 4);
    CHECK(ops[4].no == 36 - 16);  // to the end: accept
    CHECK(ops[5].code == INET_DIAG_BC_D_GE);
    CHECK(ops[5].no == 36 - 20 + 4);  // reject
    CHECK(ops[7].code == INET_DIAG_BC_D_LE);
    CHECK(audit(bc).empty());
}

TEST_CASE("a prefix filter is one hostcond with the family, bits and address, port -1") {
    kernel::DiagRequest r;
    r.src = kernel::Prefix::parse("198.18.0.0/15");
    auto bc = kernel::build_bytecode(r);
    REQUIRE(bc.size() == sizeof(inet_diag_bc_op) + sizeof(inet_diag_hostcond) + 4);
    inet_diag_bc_op op;
    inet_diag_hostcond cond;
    std::memcpy(&op, bc.data(), sizeof op);
    std::memcpy(&cond, bc.data() + sizeof op, sizeof cond);
    CHECK(op.code == INET_DIAG_BC_S_COND);
    CHECK(op.yes == bc.size());
    CHECK(op.no == bc.size() + 4);
    CHECK(cond.family == AF_INET);
    CHECK(cond.prefix_len == 15);
    CHECK(cond.port == -1);
    uint8_t addr[4];
    std::memcpy(addr, bc.data() + sizeof op + sizeof cond, 4);
    CHECK(addr[0] == 198);
    CHECK(addr[1] == 18);
    CHECK(audit(bc).empty());

    r = {};
    r.dst = kernel::Prefix::parse("::1");
    bc = kernel::build_bytecode(r);
    REQUIRE(bc.size() == sizeof(inet_diag_bc_op) + sizeof(inet_diag_hostcond) + 16);
    std::memcpy(&op, bc.data(), sizeof op);
    std::memcpy(&cond, bc.data() + sizeof op, sizeof cond);
    CHECK(op.code == INET_DIAG_BC_D_COND);
    CHECK(cond.family == AF_INET6);
    CHECK(cond.prefix_len == 128);
    CHECK(audit(bc).empty());
}

TEST_CASE("every combination of filters passes the kernel's audit and selects what matches() selects") {
    std::vector<kernel::DiagRequest> requests;
    for (int mask = 1; mask < 32; ++mask) {
        for (bool v6 : {false, true}) {
            kernel::DiagRequest r;
            if (mask & 1) r.sport = 80;
            if (mask & 2) r.dport = v6 ? 5000 : 80;
            if (mask & 4) r.port = 5000;
            if (mask & 8) r.src = kernel::Prefix::parse(v6 ? "::1" : "127.0.0.0/8");
            if (mask & 16) r.dst = kernel::Prefix::parse(v6 ? "2001:db8::/32" : "198.18.0.0/15");
            requests.push_back(r);
        }
    }
    kernel::DiagRequest wide;
    wide.src = kernel::Prefix::parse("0.0.0.0/0");
    requests.push_back(wide);
    auto sockets = sample_sockets();
    for (size_t i = 0; i < requests.size(); ++i) {
        auto bc = kernel::build_bytecode(requests[i]);
        REQUIRE(!bc.empty());
        CHECK_MESSAGE(audit(bc) == "", "request " << i);
        for (const auto& s : sockets) {
            bool kernel_says = kernel_accepts(bc, s);
            bool we_say = kernel::matches(requests[i], s);
            CHECK_MESSAGE(kernel_says == we_say,
                          "request " << i << " socket " << s.local.to_string() << " -> " << s.peer.to_string());
        }
    }
}

TEST_CASE("an IPv4 prefix selects IPv4-mapped IPv6 sockets in matches() as in the kernel's bytecode") {
    // A dual-stack listener on [::] accepting from 127.0.0.1 holds an AF_INET6
    // socket [::ffff:127.0.0.1]:P. The kernel's hostcond matches it against an
    // IPv4 prefix (inet_diag_bc_run), and ss -t src 127.0.0.1 lists it;
    // the live path then drops it again in matches().
    auto mapped = record("[::ffff:127.0.0.1]:8080", "[::ffff:127.0.0.1]:40000");
    for (const char* prefix : {"127.0.0.0/8", "127.0.0.1"}) {
        kernel::DiagRequest r;
        r.src = kernel::Prefix::parse(prefix);
        auto bc = kernel::build_bytecode(r);
        CHECK(kernel_accepts(bc, mapped));
        CHECK_MESSAGE(kernel::matches(r, mapped), "src " << std::string(prefix));
        kernel::DiagRequest d;
        d.dst = kernel::Prefix::parse(prefix);
        CHECK(kernel_accepts(kernel::build_bytecode(d), mapped));
        CHECK_MESSAGE(kernel::matches(d, mapped), "dst " << std::string(prefix));
    }
    kernel::DiagRequest other;
    other.src = kernel::Prefix::parse("10.0.0.0/8");
    CHECK_FALSE(kernel_accepts(kernel::build_bytecode(other), mapped));
    CHECK_FALSE(kernel::matches(other, mapped));
}

TEST_CASE("the kernel's audit rejects what it should (the checker itself works)") {
    kernel::DiagRequest r;
    r.port = 80;
    auto bc = kernel::build_bytecode(r);
    auto broken = bc;
    broken[2] = 12;  // S_GE's no into the middle of an op pair
    broken[3] = 0;
    CHECK_FALSE(audit(broken).empty());
    broken = bc;
    broken.resize(bc.size() - 4);
    CHECK_FALSE(audit(broken).empty());
}

// --- replay of a recorded dump ---------------------------------------------------
//
// fixtures/small.diag was recorded with the built binary against known
// loopback sockets around port 42424:
//   sockdrill-census --record small.diag --sockets --tcp --udp --port 42424
// holding: a TCP listener 127.0.0.1:42424 (backlog 8), two accepted pairs
// (clients 127.0.0.1:42425 and :42426, one with SO_KEEPALIVE), one client that
// closed first (TIME-WAIT, 127.0.0.1:42427), one pair whose client shut down
// (server CLOSE-WAIT, client 127.0.0.1:42428 FIN-WAIT-2), a listener
// [::1]:42424 and an unconnected UDP socket 127.0.0.1:42424.
// See fixtures/README for how to record it again.

TEST_CASE("replaying a recorded dump gives the counts of the sockets it was recorded from") {
    auto source = kernel::replay_source(fixture_path("small.diag"));
    kernel::DiagRequest all;
    all.udp = true;
    auto counts = kernel::count_states(*source, all);
    CHECK(counts.tcp(TCP_LISTEN) == 2);
    CHECK(counts.counts[0][0][TCP_LISTEN] == 1);
    CHECK(counts.counts[0][1][TCP_LISTEN] == 1);
    CHECK(counts.tcp(TCP_ESTABLISHED) == 4);
    CHECK(counts.tcp(TCP_TIME_WAIT) == 1);
    CHECK(counts.tcp(TCP_CLOSE_WAIT) == 1);
    CHECK(counts.tcp(TCP_FIN_WAIT2) == 1);
    CHECK(counts.total(kernel::Proto::tcp) == 9);
    CHECK(counts.total(kernel::Proto::tcp, AF_INET6) == 1);
    CHECK(counts.total(kernel::Proto::udp) == 1);
    CHECK(counts.counts[1][0][TCP_CLOSE] == 1);
}

TEST_CASE("replay filters in user space: state, family, protocol, ports, prefixes") {
    auto source = kernel::replay_source(fixture_path("small.diag"));
    kernel::DiagRequest r;
    r.states = bit(TCP_TIME_WAIT);
    CHECK(kernel::count_states(*source, r).total(kernel::Proto::tcp) == 1);
    r = {};
    r.ipv4 = false;
    CHECK(kernel::count_states(*source, r).total(kernel::Proto::tcp) == 1);
    r = {};
    r.tcp = false;
    r.udp = true;
    auto c = kernel::count_states(*source, r);
    CHECK(c.total(kernel::Proto::tcp) == 0);
    CHECK(c.total(kernel::Proto::udp) == 1);
    r = {};
    r.sport = 42424;
    CHECK(kernel::count_states(*source, r).total(kernel::Proto::tcp) == 2 + 2 + 1);  // listeners, servers
    r = {};
    r.dport = 42424;
    CHECK(kernel::count_states(*source, r).total(kernel::Proto::tcp) == 4);  // clients
    r = {};
    r.dst = kernel::Prefix::parse("127.0.0.1");
    CHECK(kernel::count_states(*source, r).total(kernel::Proto::tcp) == 7);
}

TEST_CASE("replayed records carry addresses, queues, timers, inodes and tcp_info") {
    auto source = kernel::replay_source(fixture_path("small.diag"));
    kernel::DiagRequest all;
    all.udp = true;
    auto rows = kernel::sockets(*source, all);
    REQUIRE(rows.size() == 10);
    int keepalive = 0, time_wait = 0, listeners = 0;
    for (const auto& s : rows) {
        if (s.proto == kernel::Proto::udp) {
            CHECK(s.local.to_string() == "127.0.0.1:42424");
            CHECK(s.state == TCP_CLOSE);
            CHECK_FALSE(s.info);
            continue;
        }
        if (s.state == TCP_LISTEN) {
            ++listeners;
            CHECK(s.local.port() == 42424);
            CHECK(s.send_q == 8);  // a listener's send_q is its backlog
            CHECK(s.recv_q == 0);
            CHECK(s.inode != 0);
        }
        if (s.state == TCP_TIME_WAIT) {
            ++time_wait;
            CHECK(s.local.to_string() == "127.0.0.1:42427");
            CHECK(s.peer.to_string() == "127.0.0.1:42424");
            CHECK(s.timer == 3);
            CHECK(s.inode == 0);
            CHECK_FALSE(s.info);
        }
        if (s.state == TCP_ESTABLISHED) {
            REQUIRE(s.info);
            CHECK(s.info->rto_us > 0);
            CHECK(s.info->snd_cwnd > 0);
            CHECK(s.inode != 0);
            CHECK(s.family == AF_INET);
            CHECK(s.local.host() == "127.0.0.1");
            if (s.timer == 2) {
                ++keepalive;
                CHECK(s.local.port() == 42426);
            }
        }
        if (s.state == TCP_CLOSE_WAIT) CHECK(s.local.port() == 42424);
        if (s.state == TCP_FIN_WAIT2) CHECK(s.local.port() == 42428);
    }
    CHECK(listeners == 2);
    CHECK(time_wait == 1);
    CHECK(keepalive == 1);
}

TEST_CASE("census views work on a replayed dump: listeners and groups") {
    auto source = kernel::replay_source(fixture_path("small.diag"));
    auto ls = kernel::listeners(*source, {});
    REQUIRE(ls.size() == 2);
    for (const auto& l : ls) {
        CHECK(l.backlog == 8);
        CHECK_FALSE(l.full());
    }
    kernel::DiagRequest r;
    r.dport = 42424;
    auto groups = kernel::group_sockets(*source, r, kernel::GroupBy::peer, 10);
    REQUIRE(groups.size() == 1);
    CHECK(groups[0].key == "127.0.0.1:42424");
    CHECK(groups[0].sockets == 4);
    CHECK(groups[0].by_state.at("ESTABLISHED") == 2);
    CHECK(groups[0].by_state.at("TIME-WAIT") == 1);
    CHECK(groups[0].by_state.at("FIN-WAIT-2") == 1);
    groups = kernel::group_sockets(*source, {}, kernel::GroupBy::state, 2);
    REQUIRE(groups.size() == 2);
    CHECK(groups[0].key == "ESTAB");
    CHECK(groups[0].sockets == 4);
    CHECK(groups[1].key == "LISTEN");
}

TEST_CASE("Listener::full follows the kernel: more waiting than the backlog") {
    CHECK_FALSE(kernel::Listener{{}, 1, 1}.full());
    CHECK(kernel::Listener{{}, 2, 1}.full());
    CHECK_FALSE(kernel::Listener{{}, 0, 0}.full());
    CHECK(kernel::Listener{{}, 1, 0}.full());
    CHECK_FALSE(kernel::Listener{{}, 128, 4096}.full());
}

TEST_CASE("a truncated dump is a usage error naming the file and where it ends") {
    std::ifstream in(fixture_path("small.diag"), std::ios::binary);
    std::ostringstream all;
    all << in.rdbuf();
    std::string data = all.str();
    REQUIRE(data.size() > 100);
    char path[] = "/tmp/sockdrill-unit-XXXXXX";
    int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, data.data(), data.size() - 7) == static_cast<ssize_t>(data.size() - 7));
    ::close(fd);
    try {
        // Found when the file is opened, before anything is shown.
        auto source = kernel::replay_source(path);
        kernel::count_states(*source, {});
        FAIL("a truncated dump replayed without error");
    } catch (const Error& e) {
        CHECK(e.exit() == Exit::usage);
        std::string what = e.what();
        CHECK(what.find("truncated") != std::string::npos);
        CHECK(what.find(path) != std::string::npos);
    }
    ::unlink(path);
}

TEST_CASE("a dump cut inside a record's header is truncated too, not a shorter dump") {
    std::ifstream in(fixture_path("small.diag"), std::ios::binary);
    std::ostringstream all;
    all << in.rdbuf();
    std::string data = all.str();
    // The first record: a protocol byte, then an nlmsghdr whose nlmsg_len
    // says how long the message is. Keep it whole and 10 bytes of the next.
    constexpr size_t kMagic = sizeof("sockdrill-diag/1\n") - 1;
    uint32_t first_len = 0;
    REQUIRE(data.size() > kMagic + 1 + 4);
    std::memcpy(&first_len, data.data() + kMagic + 1, 4);
    size_t cut = kMagic + 1 + first_len + 10;
    REQUIRE(cut < data.size());
    char path[] = "/tmp/sockdrill-unit-XXXXXX";
    int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, data.data(), cut) == static_cast<ssize_t>(cut));
    ::close(fd);
    Exit exit = Exit::ok;
    try {
        auto source = kernel::replay_source(path);
        kernel::count_states(*source, {});
    } catch (const Error& e) {
        exit = e.exit();
    }
    ::unlink(path);
    CHECK_MESSAGE(exit == Exit::usage, "10 stray bytes after the last whole record replay silently");
}

TEST_CASE("a per-family dump (SOCK_DIAG_BY_FAMILY answers) replays the same sockets") {
    // small4.diag: the same sockets as small.diag, recorded with -4.
    auto source = kernel::replay_source(fixture_path("small4.diag"));
    kernel::DiagRequest all;
    all.udp = true;
    auto counts = kernel::count_states(*source, all);
    CHECK(counts.tcp(TCP_LISTEN) == 1);
    CHECK(counts.tcp(TCP_ESTABLISHED) == 4);
    CHECK(counts.tcp(TCP_TIME_WAIT) == 1);
    CHECK(counts.tcp(TCP_CLOSE_WAIT) == 1);
    CHECK(counts.tcp(TCP_FIN_WAIT2) == 1);
    CHECK(counts.total(kernel::Proto::tcp) == 8);
    CHECK(counts.total(kernel::Proto::tcp, AF_INET6) == 0);
    CHECK(counts.total(kernel::Proto::udp) == 1);
}

TEST_CASE("a file that is not a dump, or no file, is a usage error naming it") {
    char path[] = "/tmp/sockdrill-unit-XXXXXX";
    int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, "hello\n", 6) == 6);
    ::close(fd);
    try {
        kernel::replay_source(path);
        FAIL("not a dump, no error");
    } catch (const Error& e) {
        CHECK(e.exit() == Exit::usage);
        CHECK(std::string(e.what()).find(path) != std::string::npos);
    }
    ::unlink(path);
    CHECK(usage_exit_of([] { kernel::replay_source("/nonexistent/sockdrill.diag"); }) == Exit::usage);
}

TEST_CASE("an empty dump (only the header) replays as no sockets") {
    char path[] = "/tmp/sockdrill-unit-XXXXXX";
    int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    const char magic[] = "sockdrill-diag/1\n";
    REQUIRE(::write(fd, magic, sizeof magic - 1) == static_cast<ssize_t>(sizeof magic - 1));
    ::close(fd);
    auto source = kernel::replay_source(path);
    CHECK(kernel::count_states(*source, {}).total(kernel::Proto::tcp) == 0);
    ::unlink(path);
}
