#include "kernel/sock_diag.hpp"

#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <sstream>

#include "net/error.hpp"

namespace sockdrill::kernel {

namespace {

struct StateName {
    std::string_view name;
    int state;
};
constexpr StateName kStateNames[] = {
    {"established", 1}, {"estab", 1},       {"syn-sent", 2},   {"syn-recv", 3},  {"fin-wait-1", 4},
    {"fin-wait-2", 5},  {"time-wait", 6},   {"closed", 7},     {"close", 7},     {"unconn", 7},
    {"close-wait", 8},  {"last-ack", 9},    {"listening", 10}, {"listen", 10},   {"closing", 11},
};

// ss's groups (misc/ss.c): SS_CONN leaves out LISTEN, CLOSE, TIME-WAIT and SYN-RECV.
constexpr uint32_t bit(int state) { return 1u << state; }
constexpr uint32_t kConnected = kAllStates & ~(bit(10) | bit(7) | bit(6) | bit(3));
constexpr uint32_t kBucket = bit(3) | bit(6);

std::string lower(std::string_view text) {
    std::string out(text);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

int proto_number(Proto p) { return p == Proto::tcp ? IPPROTO_TCP : IPPROTO_UDP; }

net::Address address_of(uint8_t family, const __be32* addr, __be16 port) {
    if (family == AF_INET) {
        sockaddr_in sin{};
        sin.sin_family = AF_INET;
        sin.sin_port = port;
        std::memcpy(&sin.sin_addr, addr, 4);
        return net::Address(reinterpret_cast<sockaddr*>(&sin), sizeof sin);
    }
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = port;
    std::memcpy(&sin6.sin6_addr, addr, 16);
    return net::Address(reinterpret_cast<sockaddr*>(&sin6), sizeof sin6);
}

// --- inet_diag bytecode ------------------------------------------------
//
// The kernel runs the program over each socket: an op whose test holds
// moves `yes` bytes on, else `no` bytes; reaching the end exactly accepts,
// jumping past it (end + 4) rejects. Our filters are an AND of clauses,
// each clause an OR of alternatives, each alternative an AND of tests.

struct Test {
    std::vector<uint8_t> bytes;  // the op and its payload; yes/no filled in later
};

Test port_test(uint8_t code, uint16_t port) {
    Test t;
    inet_diag_bc_op ops[2] = {{code, 0, 0}, {0, 0, port}};
    t.bytes.resize(sizeof ops);
    std::memcpy(t.bytes.data(), ops, sizeof ops);
    return t;
}

Test host_test(uint8_t code, const Prefix& prefix) {
    Test t;
    inet_diag_bc_op op{code, 0, 0};
    inet_diag_hostcond cond{};
    cond.family = static_cast<uint8_t>(prefix.address.family());
    cond.prefix_len = static_cast<uint8_t>(prefix.bits);
    cond.port = -1;
    size_t addr_len = cond.family == AF_INET ? 4 : 16;
    t.bytes.resize(sizeof op + sizeof cond + addr_len);
    std::memcpy(t.bytes.data(), &op, sizeof op);
    std::memcpy(t.bytes.data() + sizeof op, &cond, sizeof cond);
    const auto* sa = prefix.address.sa();
    const void* addr = cond.family == AF_INET
                           ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(sa)->sin_addr)
                           : static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr);
    std::memcpy(t.bytes.data() + sizeof op + sizeof cond, addr, addr_len);
    return t;
}

using Alternative = std::vector<Test>;
using Clause = std::vector<Alternative>;

Alternative port_range(uint8_t ge, uint8_t le, uint16_t port) {
    return {port_test(ge, port), port_test(le, port)};
}

// The kernel's audit (inet_diag_bc_audit) walks the program along the
// `yes` jumps and wants every `no` target on that walk, so, as ss does, an
// OR is laid out as: alternative, JMP past the rest, next alternative...
// A failed alternative falls to the next one; the last one rejects.
std::vector<uint8_t> assemble(const std::vector<Clause>& clauses) {
    constexpr size_t kJmp = sizeof(inet_diag_bc_op);
    auto alternative_size = [](const Alternative& tests) {
        size_t n = 0;
        for (const auto& t : tests) n += t.bytes.size();
        return n;
    };
    size_t end = 0;
    for (const auto& clause : clauses)
        for (size_t a = 0; a < clause.size(); ++a) end += alternative_size(clause[a]) + (a + 1 < clause.size() ? kJmp : 0);
    const size_t reject = end + 4;

    std::vector<uint8_t> code;
    for (const auto& clause : clauses) {
        size_t clause_end = code.size();
        for (size_t a = 0; a < clause.size(); ++a)
            clause_end += alternative_size(clause[a]) + (a + 1 < clause.size() ? kJmp : 0);
        for (size_t a = 0; a < clause.size(); ++a) {
            size_t next_alternative = code.size() + alternative_size(clause[a]) + kJmp;
            for (const auto& test : clause[a]) {
                size_t at = code.size();
                size_t no = a + 1 < clause.size() ? next_alternative : reject;
                auto bytes = test.bytes;
                auto* op = reinterpret_cast<inet_diag_bc_op*>(bytes.data());
                op->yes = static_cast<uint8_t>(bytes.size());
                op->no = static_cast<uint16_t>(no - at);
                code.insert(code.end(), bytes.begin(), bytes.end());
            }
            if (a + 1 < clause.size()) {
                // Reached only when this alternative held: skip the others.
                inet_diag_bc_op jmp{INET_DIAG_BC_JMP, static_cast<uint8_t>(kJmp),
                                    static_cast<uint16_t>(clause_end - code.size())};
                auto* raw = reinterpret_cast<const uint8_t*>(&jmp);
                code.insert(code.end(), raw, raw + kJmp);
            }
        }
    }
    return code;
}

// --- recorded dumps ----------------------------------------------------

// A recorded file: the magic line, then for each dump() of the run a
// kDumpStart byte followed by its messages, each as [proto byte][nlmsghdr...].
// Replay hands the recorded dumps back in order, one per dump() call, so a
// run with the same flags sees what the recorded run saw.
constexpr std::string_view kRecordMagic = "sockdrill-diag/1\n";
constexpr uint8_t kDumpStart = 0xfe;

struct DumpContext {
    const DiagRequest* request;
    const RecordSink* sink;
    Proto proto;
    std::FILE* record;
    SocketRecord scratch;
    size_t messages = 0;
};

int on_message(nl_msg* msg, void* arg) {
    auto* ctx = static_cast<DumpContext*>(arg);
    nlmsghdr* header = nlmsg_hdr(msg);
    ctx->messages++;
    if (ctx->record) {
        uint8_t proto = static_cast<uint8_t>(ctx->proto);
        std::fwrite(&proto, 1, 1, ctx->record);
        std::fwrite(header, 1, header->nlmsg_len, ctx->record);
    }
    if (parse_diag_message(header, ctx->proto, ctx->scratch) && matches(*ctx->request, ctx->scratch))
        (*ctx->sink)(ctx->scratch);
    return NL_OK;
}

struct NlSocketFree {
    void operator()(nl_sock* sk) const { nl_socket_free(sk); }
};
using NlSocket = std::unique_ptr<nl_sock, NlSocketFree>;

NlSocket open_diag_socket() {
    NlSocket sk(nl_socket_alloc());
    if (!sk) throw Error(Exit::environment, "netlink: out of memory");
    if (int rc = nl_connect(sk.get(), NETLINK_SOCK_DIAG); rc < 0)
        throw Error(Exit::environment, fmt::format("netlink NETLINK_SOCK_DIAG: {}", nl_geterror(rc)));
    // A fixed 64 KiB receive buffer: no MSG_PEEK round trip per recvmsg, and
    // the kernel fills 32 KiB dump skbs.
    nl_socket_set_msg_buf_size(sk.get(), 64 * 1024);
    nl_socket_set_buffer_size(sk.get(), 1 << 20, 0);
    return sk;
}

nl_msg* diag_request(uint8_t family, Proto proto, uint32_t states, uint8_t ext,
                     const std::vector<uint8_t>& bytecode, int type, int flags,
                     const inet_diag_sockid* id = nullptr) {
    nl_msg* msg = nlmsg_alloc_simple(type, flags);
    if (!msg) throw Error(Exit::environment, "netlink: out of memory");
    inet_diag_req_v2 req{};
    req.sdiag_family = family;
    req.sdiag_protocol = static_cast<uint8_t>(proto_number(proto));
    req.idiag_ext = ext;
    req.idiag_states = states;
    if (id) req.id = *id;
    if (nlmsg_append(msg, &req, sizeof req, NLMSG_ALIGNTO) < 0 ||
        (!bytecode.empty() &&
         nla_put(msg, INET_DIAG_REQ_BYTECODE, static_cast<int>(bytecode.size()), bytecode.data()) < 0)) {
        nlmsg_free(msg);
        throw Error(Exit::environment, "netlink: request too large");
    }
    return msg;
}

// The compat dump request: struct inet_diag_req (v1) under TCPDIAG_GETSOCK.
// The kernel treats its family as AF_UNSPEC (both), and takes the same
// state mask, extensions and bytecode as the v2 request.
nl_msg* compat_request(uint32_t states, uint8_t ext, const std::vector<uint8_t>& bytecode) {
    nl_msg* msg = nlmsg_alloc_simple(TCPDIAG_GETSOCK, NLM_F_REQUEST | NLM_F_DUMP);
    if (!msg) throw Error(Exit::environment, "netlink: out of memory");
    inet_diag_req req{};
    req.idiag_family = AF_INET;  // ignored by the kernel's compat dump: both families come back
    req.idiag_ext = ext;
    req.idiag_states = states;
    if (nlmsg_append(msg, &req, sizeof req, NLMSG_ALIGNTO) < 0 ||
        (!bytecode.empty() &&
         nla_put(msg, INET_DIAG_REQ_BYTECODE, static_cast<int>(bytecode.size()), bytecode.data()) < 0)) {
        nlmsg_free(msg);
        throw Error(Exit::environment, "netlink: request too large");
    }
    return msg;
}

class NetlinkSource final : public DiagSource {
public:
    explicit NetlinkSource(const std::string& record_path) : sk_(open_diag_socket()) {
        if (!record_path.empty()) {
            record_ = std::fopen(record_path.c_str(), "wb");
            if (!record_) throw Error::system(fmt::format("--record {}", record_path), errno);
            std::fwrite(kRecordMagic.data(), 1, kRecordMagic.size(), record_);
        }
    }
    ~NetlinkSource() override {
        if (record_) std::fclose(record_);
    }

    void dump(const DiagRequest& request, const RecordSink& sink) override {
        auto bytecode = build_bytecode(request);
        if (record_) std::fputc(kDumpStart, record_);
        for (Proto proto : {Proto::tcp, Proto::udp}) {
            if ((proto == Proto::tcp && !request.tcp) || (proto == Proto::udp && !request.udp)) continue;
            // TCP of both families in one dump: the kernel walks its
            // established hash (every TIME-WAIT and connected socket) once,
            // not once per family.
            if (proto == Proto::tcp && request.ipv4 && request.ipv6 && !no_compat_) {
                if (dump_one(request, sink, proto, AF_UNSPEC, bytecode)) continue;
                no_compat_ = true;  // a kernel without the compat dump: one dump per family
            }
            for (uint8_t family : {uint8_t(AF_INET), uint8_t(AF_INET6)}) {
                if ((family == AF_INET && !request.ipv4) || (family == AF_INET6 && !request.ipv6)) continue;
                dump_one(request, sink, proto, family, bytecode);
            }
        }
        if (record_) std::fflush(record_);
    }

private:
    // family AF_UNSPEC (TCP only): the inet_diag compat request
    // (TCPDIAG_GETSOCK), which dumps IPv4 and IPv6 in one pass; answers come
    // back as TCPDIAG_GETSOCK messages with the same inet_diag_msg payload.
    // False when the kernel refuses that request before sending anything.
    bool dump_one(const DiagRequest& request, const RecordSink& sink, Proto proto, uint8_t family,
                  const std::vector<uint8_t>& bytecode) {
        uint32_t states = request.states;
        // Request sockets (SYN-RECV) live in their own table as NEW_SYN_RECV.
        if (states & bit(3)) states |= bit(12);
        uint8_t ext = request.tcp_info && proto == Proto::tcp ? (1 << (INET_DIAG_INFO - 1)) : 0;
        nl_msg* msg = family == AF_UNSPEC
                          ? compat_request(states, ext, bytecode)
                          : diag_request(family, proto, states, ext, bytecode, SOCK_DIAG_BY_FAMILY,
                                         NLM_F_REQUEST | NLM_F_DUMP);
        int rc = nl_send_auto(sk_.get(), msg);
        nlmsg_free(msg);
        if (rc < 0) throw Error(Exit::environment, fmt::format("netlink send: {}", nl_geterror(rc)));
        DumpContext ctx{&request, &sink, proto, record_, {}};
        nl_socket_modify_cb(sk_.get(), NL_CB_VALID, NL_CB_CUSTOM, on_message, &ctx);
        rc = nl_recvmsgs_default(sk_.get());
        if (rc < 0 && family == AF_UNSPEC && ctx.messages == 0) return false;
        if (rc < 0)
            throw Error(Exit::environment, fmt::format("netlink sock_diag dump: {}", nl_geterror(rc)));
        return true;
    }

    NlSocket sk_;
    std::FILE* record_ = nullptr;
    bool no_compat_ = false;
};

class ReplaySource final : public DiagSource {
public:
    explicit ReplaySource(const std::string& path) : path_(path) {
        std::ifstream in(path, std::ios::binary);
        if (!in) throw Error::usage(fmt::format("--replay: cannot open {}", path));
        std::ostringstream all;
        all << in.rdbuf();
        data_ = all.str();
        if (data_.compare(0, kRecordMagic.size(), kRecordMagic) != 0)
            throw Error::usage(fmt::format("--replay: {} is not a dump written by --record", path));
        // Where each recorded dump starts (a file without markers is one dump).
        for (size_t at = kRecordMagic.size(); at < data_.size();) {
            if (static_cast<uint8_t>(data_[at]) == kDumpStart) {
                starts_.push_back(++at);
                continue;
            }
            if (starts_.empty()) starts_.push_back(at);
            if (at + 1 + sizeof(nlmsghdr) > data_.size())
                throw Error::usage(fmt::format("--replay: {} is truncated at byte {}", path_, at));
            nlmsghdr header;
            std::memcpy(&header, data_.data() + at + 1, sizeof header);
            if (header.nlmsg_len < sizeof header || at + 1 + header.nlmsg_len > data_.size())
                throw Error::usage(fmt::format("--replay: {} is truncated at byte {}", path_, at));
            at += 1 + header.nlmsg_len;
        }
        if (starts_.empty()) starts_.push_back(data_.size());
    }

    void dump(const DiagRequest& request, const RecordSink& sink) override {
        // The next recorded dump; past the last, the last again.
        size_t index = std::min(next_++, starts_.size() - 1);
        size_t at = starts_[index];
        SocketRecord record;
        while (at < data_.size() && static_cast<uint8_t>(data_[at]) != kDumpStart) {
            auto proto = static_cast<Proto>(static_cast<uint8_t>(data_[at]));
            nlmsghdr header;
            std::memcpy(&header, data_.data() + at + 1, sizeof header);
            if (header.nlmsg_len < sizeof header || at + 1 + header.nlmsg_len > data_.size())
                throw Error::usage(fmt::format("--replay: {} is truncated at byte {}", path_, at));
            // Copy to an aligned buffer: the parser reads the structs in place.
            aligned_.assign((header.nlmsg_len + 7) / 8, 0);
            std::memcpy(aligned_.data(), data_.data() + at + 1, header.nlmsg_len);
            at += 1 + header.nlmsg_len;
            if ((proto == Proto::tcp && !request.tcp) || (proto == Proto::udp && !request.udp)) continue;
            if (parse_diag_message(reinterpret_cast<const nlmsghdr*>(aligned_.data()), proto, record) &&
                matches(request, record) && (request.states & bit(record.state)))
                sink(record);
        }
    }

private:
    std::string path_;
    std::string data_;
    std::vector<size_t> starts_;  ///< offset of each recorded dump's first message
    size_t next_ = 0;
    std::vector<uint64_t> aligned_;
};

}  // namespace

uint32_t parse_state_mask(std::string_view names) {
    uint32_t mask = 0;
    size_t start = 0;
    while (start <= names.size()) {
        auto comma = names.find(',', start);
        auto word = lower(names.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
        start = comma == std::string_view::npos ? names.size() + 1 : comma + 1;
        if (word == "all") mask |= kAllStates;
        else if (word == "connected") mask |= kConnected;
        else if (word == "synchronized") mask |= kConnected & ~bit(2);
        else if (word == "bucket") mask |= kBucket;
        else if (word == "big") mask |= kAllStates & ~kBucket;
        else {
            bool found = false;
            for (const auto& s : kStateNames)
                if (s.name == word) mask |= bit(s.state), found = true;
            if (!found)
                throw Error::usage(fmt::format(
                    "--state: unknown state \"{}\"; expected established, syn-sent, syn-recv, fin-wait-1, "
                    "fin-wait-2, time-wait, closed, close-wait, last-ack, listening, closing, or a group: "
                    "all, connected, synchronized, bucket, big",
                    word));
        }
    }
    return mask;
}

Prefix Prefix::parse(std::string_view text) {
    Prefix p;
    auto slash = text.find('/');
    auto host = text.substr(0, slash);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    // parse_host reads "" as "any address"; a filter must name one.
    if (host.empty() || host == "*")
        throw Error::usage(fmt::format("bad prefix \"{}\": expected ADDR or ADDR/BITS, e.g. 198.18.0.0/15 or ::1", text));
    try {
        p.address = net::Address::parse_host(host);
    } catch (const Error&) {
        throw Error::usage(fmt::format("bad prefix \"{}\": expected ADDR or ADDR/BITS, e.g. 198.18.0.0/15 or ::1", text));
    }
    int max_bits = p.address.family() == AF_INET ? 32 : 128;
    p.bits = max_bits;
    if (slash != std::string_view::npos) {
        auto bits = text.substr(slash + 1);
        int value = -1;
        auto [end, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), value);
        if (ec != std::errc{} || end != bits.data() + bits.size() || value < 0 || value > max_bits)
            throw Error::usage(fmt::format("bad prefix \"{}\": BITS must be 0 to {}", text, max_bits));
        p.bits = value;
    }
    return p;
}

bool Prefix::contains(const net::Address& a) const {
    const uint8_t *x, *y;
    if (a.family() == AF_INET6 && address.family() == AF_INET) {
        // An IPv4 prefix matches IPv4-mapped IPv6 sockets (::ffff:a.b.c.d), as
        // the kernel's bytecode and ss do.
        const auto* v6 = &reinterpret_cast<const sockaddr_in6*>(a.sa())->sin6_addr;
        if (!IN6_IS_ADDR_V4MAPPED(v6)) return false;
        x = reinterpret_cast<const uint8_t*>(v6) + 12;
        y = reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in*>(address.sa())->sin_addr);
    } else if (a.family() != address.family()) {
        return false;
    } else if (a.family() == AF_INET) {
        x = reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in*>(a.sa())->sin_addr);
        y = reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in*>(address.sa())->sin_addr);
    } else {
        x = reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in6*>(a.sa())->sin6_addr);
        y = reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in6*>(address.sa())->sin6_addr);
    }
    int bits = this->bits;
    for (int i = 0; bits > 0; ++i, bits -= 8) {
        uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
        if ((x[i] & mask) != (y[i] & mask)) return false;
    }
    return true;
}

bool matches(const DiagRequest& r, const SocketRecord& s) {
    if (s.family == AF_INET && !r.ipv4) return false;
    if (s.family == AF_INET6 && !r.ipv6) return false;
    if (r.sport && s.local.port() != *r.sport) return false;
    if (r.dport && s.peer.port() != *r.dport) return false;
    if (r.port && s.local.port() != *r.port && s.peer.port() != *r.port) return false;
    if (r.src && !r.src->contains(s.local)) return false;
    if (r.dst && !r.dst->contains(s.peer)) return false;
    return true;
}

std::vector<uint8_t> build_bytecode(const DiagRequest& r) {
    std::vector<Clause> clauses;
    if (r.sport) clauses.push_back({port_range(INET_DIAG_BC_S_GE, INET_DIAG_BC_S_LE, *r.sport)});
    if (r.dport) clauses.push_back({port_range(INET_DIAG_BC_D_GE, INET_DIAG_BC_D_LE, *r.dport)});
    if (r.port)
        clauses.push_back({port_range(INET_DIAG_BC_S_GE, INET_DIAG_BC_S_LE, *r.port),
                           port_range(INET_DIAG_BC_D_GE, INET_DIAG_BC_D_LE, *r.port)});
    if (r.src) clauses.push_back({{host_test(INET_DIAG_BC_S_COND, *r.src)}});
    if (r.dst) clauses.push_back({{host_test(INET_DIAG_BC_D_COND, *r.dst)}});
    if (clauses.empty()) return {};
    return assemble(clauses);
}

bool parse_diag_message(const nlmsghdr* header, Proto proto, SocketRecord& out) {
    // TCPDIAG_GETSOCK: the answer to the one-pass TCP dump of both families.
    if ((header->nlmsg_type != SOCK_DIAG_BY_FAMILY && header->nlmsg_type != TCPDIAG_GETSOCK) ||
        header->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg)))
        return false;
    const auto* msg = static_cast<const inet_diag_msg*>(NLMSG_DATA(header));
    out.proto = proto;
    out.family = msg->idiag_family;
    out.state = msg->idiag_state;
    out.local = address_of(msg->idiag_family, msg->id.idiag_src, msg->id.idiag_sport);
    out.peer = address_of(msg->idiag_family, msg->id.idiag_dst, msg->id.idiag_dport);
    out.recv_q = msg->idiag_rqueue;
    out.send_q = msg->idiag_wqueue;
    out.timer = msg->idiag_timer;
    out.retrans = msg->idiag_retrans;
    out.expires_ms = msg->idiag_expires;
    out.uid = msg->idiag_uid;
    out.inode = msg->idiag_inode;
    out.id = msg->id;
    out.info.reset();
    // Attributes follow the fixed part; only INET_DIAG_INFO is read.
    int attr_len = static_cast<int>(header->nlmsg_len - NLMSG_LENGTH(sizeof(inet_diag_msg)));
    const auto* attr = reinterpret_cast<const nlattr*>(
        reinterpret_cast<const char*>(msg) + NLMSG_ALIGN(sizeof(inet_diag_msg)));
    for (; nla_ok(attr, attr_len); attr = nla_next(attr, &attr_len))
        if (nla_type(attr) == INET_DIAG_INFO && proto == Proto::tcp)
            out.info = net::tcp_info_from_bytes(nla_data(attr), static_cast<size_t>(nla_len(attr)));
    return true;
}

std::unique_ptr<DiagSource> live_source(const std::string& record_path) {
    return std::make_unique<NetlinkSource>(record_path);
}

std::unique_ptr<DiagSource> replay_source(const std::string& path) {
    return std::make_unique<ReplaySource>(path);
}

void destroy_socket(const SocketRecord& record) {
    auto sk = open_diag_socket();
    nl_msg* msg = diag_request(record.family, record.proto, kAllStates | bit(12), 0, {}, SOCK_DESTROY,
                               NLM_F_REQUEST | NLM_F_ACK, &record.id);
    int rc = nl_send_auto(sk.get(), msg);
    nlmsg_free(msg);
    if (rc >= 0) rc = nl_wait_for_ack(sk.get());
    if (rc >= 0 || rc == -NLE_OBJ_NOTFOUND) return;  // gone already is fine
    if (rc == -NLE_PERM)
        throw Error(Exit::environment, "--kill: SOCK_DESTROY needs CAP_NET_ADMIN");
    if (rc == -NLE_OPNOTSUPP)
        throw Error(Exit::environment, "--kill: this kernel has no SOCK_DESTROY (CONFIG_INET_DIAG_DESTROY)");
    throw Error(Exit::environment, fmt::format("--kill: SOCK_DESTROY {} -> {}: {}", record.local.to_string(),
                                               record.peer.to_string(), nl_geterror(-rc)));
}

const char* state_name(int state) { return net::tcp_state_name(state); }

const char* state_json_name(int state) {
    static constexpr const char* names[] = {
        "UNKNOWN",   "ESTABLISHED", "SYN-SENT",   "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2",
        "TIME-WAIT", "CLOSE",       "CLOSE-WAIT", "LAST-ACK", "LISTEN",     "CLOSING", "SYN-RECV"};
    if (state < 0 || state >= static_cast<int>(std::size(names))) return "UNKNOWN";
    return names[state];
}

}  // namespace sockdrill::kernel
