#pragma once
// The command set, in one place: the dispatcher's `list`, its completions
// and each command's --help summary all read this table.
#include <span>
#include <string_view>

namespace sockdrill::cli {

struct CommandInfo {
    std::string_view name;     ///< "serve" -> sockdrill-serve
    std::string_view summary;  ///< one line
    bool external;             ///< a sockdrill-<name> binary (false: built into the dispatcher)
};

/// Every command, in the order `sockdrill list` prints them.
std::span<const CommandInfo> commands();
/// The summary of a command by name ("" when unknown).
std::string_view command_summary(std::string_view name);

}  // namespace sockdrill::cli
