#include "cli/commands.hpp"

namespace sockdrill::cli {

namespace {
constexpr CommandInfo kCommands[] = {
    {"serve", "the configurable echo/HTTP target server", true},
    {"census", "socket census by state, listeners, per-socket rows, kernel counters", true},
    {"halfopen", "a peer that vanished: how long each way of detecting it takes", true},
    {"linger", "graceful, abortive and lingering close: FIN or RST, data lost, who holds TIME-WAIT", true},
    {"timewait", "connection churn: TIME-WAIT piles, ephemeral-port exhaustion and their fixes", true},
    {"backlog", "a full listen backlog: the 1 s / 3 s SYN-retransmit spikes and their fixes", true},
    {"nagle", "small-write stalls: Nagle against delayed ACK, about 40 ms per request", true},
    {"storm", "keep-alive load and storms: reconnect bursts, the idle-timeout race, io models", true},
    {"herd", "accept thundering herds: wakeups per accept under each accept model", true},
    {"syscost", "syscalls per request, by name, counted with tracepoints on the server's pid", true},
    {"suite", "run every scenario quickly and print a verdict table", false},
    {"list", "name the commands", false},
    {"help", "open a command's man page", false},
};
}  // namespace

std::span<const CommandInfo> commands() { return kCommands; }

std::string_view command_summary(std::string_view name) {
    for (const auto& c : kCommands)
        if (c.name == name) return c.summary;
    return {};
}

}  // namespace sockdrill::cli
