#include "kernel/census.hpp"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>

#include "kernel/procfs.hpp"
#include "net/error.hpp"

namespace sockdrill::kernel {

namespace {

size_t family_index(int family) { return family == AF_INET6 ? 1 : 0; }

// States in the order ss -s and our tables show them.
constexpr int kStateOrder[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};

}  // namespace

void StateCounts::add(const SocketRecord& r) {
    int state = r.state == 12 ? 3 : r.state;  // NEW_SYN_RECV reads as SYN-RECV
    if (state < 0 || state > kMaxTcpState) return;
    counts[static_cast<size_t>(r.proto)][family_index(r.family)][static_cast<size_t>(state)]++;
}

uint64_t StateCounts::tcp(int state) const { return counts[0][0][state] + counts[0][1][state]; }

uint64_t StateCounts::total(Proto proto, int family) const {
    uint64_t n = 0;
    for (auto c : counts[static_cast<size_t>(proto)][family_index(family)]) n += c;
    return n;
}

uint64_t StateCounts::total(Proto proto) const { return total(proto, AF_INET) + total(proto, AF_INET6); }

StateCounts count_states(DiagSource& source, const DiagRequest& request) {
    StateCounts counts;
    source.dump(request, [&](const SocketRecord& r) { counts.add(r); });
    return counts;
}

nlohmann::json to_json(const StateCounts& c) {
    auto by_state = [&](Proto proto, int family) {
        nlohmann::json j = nlohmann::json::object();
        for (int s : kStateOrder) {
            uint64_t n = family == AF_UNSPEC ? c.counts[static_cast<size_t>(proto)][0][s] +
                                                   c.counts[static_cast<size_t>(proto)][1][s]
                                             : c.counts[static_cast<size_t>(proto)][family_index(family)][s];
            j[state_json_name(s)] = n;
        }
        return j;
    };
    return nlohmann::json{
        {"tcp",
         {{"total", c.total(Proto::tcp)},
          {"by_state", by_state(Proto::tcp, AF_UNSPEC)},
          {"ipv4", by_state(Proto::tcp, AF_INET)},
          {"ipv6", by_state(Proto::tcp, AF_INET6)}}},
        {"udp",
         {{"total", c.total(Proto::udp)},
          {"ipv4", c.total(Proto::udp, AF_INET)},
          {"ipv6", c.total(Proto::udp, AF_INET6)}}}};
}

std::vector<Listener> listeners(DiagSource& source, const DiagRequest& request) {
    DiagRequest only_listen = request;
    only_listen.states = request.states & (1u << 10);
    only_listen.tcp = true;
    only_listen.udp = false;
    std::vector<Listener> out;
    source.dump(only_listen, [&](const SocketRecord& r) {
        if (r.state == 10) out.push_back({r.local, r.recv_q, r.send_q});
    });
    return out;
}

std::vector<SocketRecord> sockets(DiagSource& source, const DiagRequest& request) {
    std::vector<SocketRecord> out;
    source.dump(request, [&](const SocketRecord& r) { out.push_back(r); });
    return out;
}

GroupBy parse_group_by(std::string_view text) {
    if (text == "peer") return GroupBy::peer;
    if (text == "peer-addr") return GroupBy::peer_addr;
    if (text == "local-port") return GroupBy::local_port;
    if (text == "state") return GroupBy::state;
    if (text == "process") return GroupBy::process;
    throw Error::usage(fmt::format(
        "--group-by: expected peer, peer-addr, local-port, state or process, got \"{}\"", text));
}

std::vector<Group> group_sockets(DiagSource& source, const DiagRequest& request, GroupBy by, size_t top) {
    std::map<uint32_t, std::string> owners;
    if (by == GroupBy::process) owners = socket_owners();
    std::map<std::string, Group> groups;
    source.dump(request, [&](const SocketRecord& r) {
        std::string key;
        switch (by) {
            case GroupBy::peer: key = r.peer.to_string(); break;
            case GroupBy::peer_addr: key = r.peer.host(); break;
            case GroupBy::local_port: key = std::to_string(r.local.port()); break;
            case GroupBy::state: key = state_name(r.state == 12 ? 3 : r.state); break;
            case GroupBy::process: {
                // TIME-WAIT and SYN-RECV sockets belong to no process (inode 0).
                auto it = owners.find(r.inode);
                key = r.inode == 0 ? "(no process: kernel-held)" : it == owners.end() ? "(unknown)" : it->second;
                break;
            }
        }
        auto& g = groups[key];
        g.key = key;
        g.sockets++;
        g.by_state[state_json_name(r.state == 12 ? 3 : r.state)]++;
    });
    std::vector<Group> sorted;
    for (auto& [key, g] : groups) sorted.push_back(std::move(g));
    std::sort(sorted.begin(), sorted.end(), [](const Group& a, const Group& b) {
        return a.sockets != b.sockets ? a.sockets > b.sockets : a.key < b.key;
    });
    if (sorted.size() > top) sorted.resize(top);
    return sorted;
}

std::map<uint32_t, std::string> socket_owners() {
    std::map<uint32_t, std::string> owners;
    DIR* proc = ::opendir("/proc");
    if (!proc) return owners;
    while (dirent* entry = ::readdir(proc)) {
        std::string_view pid = entry->d_name;
        if (pid.empty() || !std::isdigit(static_cast<unsigned char>(pid.front()))) continue;
        std::string comm = read_proc_file(fmt::format("/proc/{}/comm", pid)).value_or("?");
        if (!comm.empty() && comm.back() == '\n') comm.pop_back();
        std::string fd_dir = fmt::format("/proc/{}/fd", pid);
        DIR* fds = ::opendir(fd_dir.c_str());
        if (!fds) continue;
        while (dirent* fd = ::readdir(fds)) {
            char target[64];
            std::string link = fd_dir + "/" + fd->d_name;
            ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
            if (n <= 9) continue;
            std::string_view t(target, static_cast<size_t>(n));
            if (t.rfind("socket:[", 0) != 0) continue;
            uint32_t inode = 0;
            std::from_chars(t.data() + 8, t.data() + t.size() - 1, inode);
            owners.emplace(inode, fmt::format("{}/{}", pid, comm));
        }
        ::closedir(fds);
    }
    ::closedir(proc);
    return owners;
}

}  // namespace sockdrill::kernel
