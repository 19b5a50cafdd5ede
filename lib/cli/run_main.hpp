#pragma once
// The shared main() of every command: parse options, run, render, evaluate
// --expect, map errors to the exit statuses of DESIGN.md. Each tools/ file
// fills in a Command and calls run_main().
#include <CLI/CLI.hpp>

#include <functional>
#include <string>

#include "cli/options.hpp"
#include "report/report.hpp"

namespace sockdrill::cli {

/// Where a running command sends partial results and its status line.
class Output {
public:
    Output(std::string command, const CommonOptions& common);
    /// A partial result: one JSON line with --json, else the tables on stdout.
    void interval(const report::Report& partial);
    /// A periodic sample (--watch): on a terminal the screen is redrawn in
    /// place with the tables; otherwise one JSON object (--json) or the
    /// given one-line summary per sample.
    void sample(const report::Report& partial, const std::string& line);
    /// The live status line: stderr, only on a TTY, never with --json.
    void status(const std::string& line);
    void clear_status();
    bool json() const { return json_; }
    /// True once interval() printed: the final JSON is then one line too.
    bool streamed() const { return streamed_; }

private:
    std::string command_;
    bool json_ = false;
    bool status_enabled_ = false;
    bool status_shown_ = false;
    bool streamed_ = false;
    bool stdout_tty_ = false;
};

struct Command {
    std::string name;             ///< "serve": the binary is sockdrill-serve
    std::string summary;          ///< one line, for --help and `sockdrill list`
    std::string program;          ///< for messages; "sockdrill-<name>" when empty
    unsigned common = 0;          ///< which common options (cli::Common bits)
    Duration default_duration{0};
    /// serve stops on SIGINT/SIGTERM by design: exit 0 instead of 130.
    bool stop_signal_is_success = false;
    /// Declares the command's own options.
    std::function<void(CLI::App&)> bind;
    /// Called after parsing, before run (e.g. to apply --config).
    std::function<void(CLI::App&)> after_parse;
    /// Runs the command and returns its result.
    std::function<report::Report(const CommonOptions&, Output&)> run;
};

/// The command's options as --dump-cli-spec prints them (for completions).
nlohmann::json describe_command(const Command& command);

/// Runs a command as main() would and returns the process exit status.
int run_main(int argc, char** argv, const Command& command);

/// "sockdrill-<name>: " prefix for diagnostics.
std::string program_name(const std::string& command);

}  // namespace sockdrill::cli
