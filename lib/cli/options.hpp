#pragma once
// Option helpers shared by every command: typed options that parse units at
// parse time (so a bad value is a usage error naming the flag), and the
// common option group (--json, --interval, --expect, --duration, --target,
// --no-sandbox) with one spelling, one help text and one completion.
#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <vector>

#include "cli/units.hpp"
#include "net/sockopt.hpp"
#include "report/expect.hpp"

namespace sockdrill::cli {

/// --name DURATION ("250us", "500ms", "2s", "1m").
CLI::Option* add_duration(CLI::App& app, const std::string& name, Duration& target,
                          const std::string& help);
CLI::Option* add_duration(CLI::App& app, const std::string& name,
                          std::optional<Duration>& target, const std::string& help);
/// --name SIZE ("512", "4KiB", "1MiB").
CLI::Option* add_size(CLI::App& app, const std::string& name, uint64_t& target,
                      const std::string& help);
CLI::Option* add_size(CLI::App& app, const std::string& name, std::optional<uint64_t>& target,
                      const std::string& help);
/// --name COUNT ("100", "10k", "1M").
CLI::Option* add_count(CLI::App& app, const std::string& name, uint64_t& target,
                       const std::string& help);
/// --name one of a fixed set of words; completions offer the words.
CLI::Option* add_choice(CLI::App& app, const std::string& name, std::string& target,
                        const std::vector<std::string>& choices, const std::string& help);

/// --name off|SECS: SO_LINGER off, or on with SECS (0 = abortive close).
CLI::Option* add_linger(CLI::App& app, const std::string& name, std::optional<int>& target,
                        const std::string& help);
/// --name IDLE,INTVL,CNT: the keepalive triple ("30s,5s,3"; bare numbers are seconds).
CLI::Option* add_keepalive(CLI::App& app, const std::string& name,
                           std::optional<net::Keepalive>& target, const std::string& help);
/// Parses "IDLE,INTVL,CNT"; throws std::invalid_argument("expected ...").
net::Keepalive parse_keepalive(std::string_view text);

/// Which common options a command takes.
enum Common : unsigned {
    kJson = 1u << 0,
    kInterval = 1u << 1,
    kExpect = 1u << 2,
    kDuration = 1u << 3,
    kTarget = 1u << 4,
    kNoSandbox = 1u << 5,
};

struct CommonOptions {
    bool json = false;
    Duration interval{0};                          ///< 0: no periodic output
    std::vector<report::Expectation> expectations;
    Duration duration{0};                          ///< the command's default unless given
    std::string target;                            ///< HOST:PORT of a real server, or empty
    bool no_sandbox = false;
};

/// Adds the chosen common options, all in the "Common" group.
void add_common_options(CLI::App& app, CommonOptions& options, unsigned which);

/// Applies a TOML file whose keys are long option names (without "--") to
/// the options not given on the command line. Throws Error(Exit::usage)
/// naming FILE:LINE and the key for an unknown key or a bad value.
void apply_config_file(CLI::App& app, const std::string& path);

/// The options of an app as JSON, for the completion generator.
nlohmann::json describe_options(const CLI::App& app);

}  // namespace sockdrill::cli
