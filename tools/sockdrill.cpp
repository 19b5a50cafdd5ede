// sockdrill: the git-style dispatcher. `sockdrill CMD ARGS...` runs
// sockdrill-CMD (beside this binary first, then on PATH); `list`, `help` and
// `suite` are built in.
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "cli/run_main.hpp"
#include "net/error.hpp"
#include "sandbox/sandbox.hpp"
#include "scenario/suite.hpp"

using namespace sockdrill;
namespace fs = std::filesystem;

namespace {

fs::path self_dir() {
    char buf[PATH_MAX];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return {};
    return fs::path(std::string(buf, static_cast<size_t>(n))).parent_path();
}

void print_usage(std::FILE* to) {
    fmt::print(to, "usage: sockdrill [--version] [--help] COMMAND [ARGS...]\n\ncommands:\n");
    for (const auto& c : cli::commands()) fmt::print(to, "  {:<10} {}\n", c.name, c.summary);
    fmt::print(to, "\n'sockdrill help COMMAND' opens its man page.\n");
}

int list() {
    for (const auto& c : cli::commands()) fmt::print("{:<10} {}\n", c.name, c.summary);
    return 0;
}

// In the build tree the pages are in the source tree's man/; installed,
// man(1) finds them by name.
int help(const std::vector<std::string>& args) {
    std::string page = args.empty() ? "sockdrill" : args[0];
    if (page != "sockdrill" && page.rfind("sockdrill-", 0) != 0) page = "sockdrill-" + page;
    std::string section = page == "sockdrill" && args.size() > 1 && args[1] == "7" ? "7" : "1";
    if (!args.empty() && page != "sockdrill" && cli::command_summary(page.substr(10)).empty()) {
        fmt::print(stderr, "sockdrill: help: no command '{}'; see 'sockdrill list'\n", args[0]);
        return static_cast<int>(Exit::usage);
    }
    fs::path in_tree = fs::path(SOCKDRILL_SOURCE_DIR) / "man" / (page + "." + section);
    bool build_tree = fs::exists(self_dir() / "CMakeCache.txt");
    std::fflush(stdout);
    if (build_tree && fs::exists(in_tree))
        ::execlp("man", "man", "-l", in_tree.c_str(), nullptr);
    else
        ::execlp("man", "man", section.c_str(), page.c_str(), nullptr);
    fmt::print(stderr, "sockdrill: help: cannot run man: {}; the page is {}\n", errno_name(errno),
               in_tree.string());
    return static_cast<int>(Exit::environment);
}

cli::Command suite_command() {
    cli::Command command;
    command.name = "suite";
    command.program = "sockdrill suite";
    command.summary = std::string(cli::command_summary("suite"));
    command.common = cli::kJson | cli::kExpect | cli::kNoSandbox;
    command.run = [](const cli::CommonOptions& common, cli::Output&) {
        scenario::SuiteContext context;
        // The sandbox when this process may build one, unless --no-sandbox.
        context.sandbox = !common.no_sandbox && sandbox::unavailable_reason().empty();
        context.why_no_sandbox = common.no_sandbox ? "--no-sandbox" : sandbox::unavailable_reason();
        return scenario::run_suite(context);
    };
    return command;
}

int suite(int argc, char** argv) {
    cli::Command command = suite_command();
    // A failed check fails the run, as a failed --expect does.
    std::vector<char*> args(argv, argv + argc);
    std::string implicit = "--expect=all_passed == true";
    args.push_back(implicit.data());
    return cli::run_main(static_cast<int>(args.size()), args.data(), command);
}

// Prints the dispatcher's own options and its subcommands for the completion generator.
int dump_cli_spec() {
    nlohmann::json spec{{"name", "sockdrill"},
                        {"description", "socket diagnostics toolkit"},
                        {"options", nlohmann::json::array({
                                        {{"long", {"version"}}, {"short", nlohmann::json::array()},
                                         {"takes_value", false}, {"type", ""},
                                         {"help", "Print the version"}, {"choices", nlohmann::json::array()}},
                                        {{"long", {"help"}}, {"short", {"h"}}, {"takes_value", false},
                                         {"type", ""}, {"help", "Print this help"},
                                         {"choices", nlohmann::json::array()}}})}};
    nlohmann::json subcommands = nlohmann::json::array();
    for (const auto& c : cli::commands()) {
        nlohmann::json sub{{"name", c.name}, {"summary", c.summary}, {"external", c.external}};
        if (c.name == "suite") sub["options"] = cli::describe_command(suite_command())["options"];
        subcommands.push_back(sub);
    }
    spec["subcommands"] = subcommands;
    fmt::print("{}\n", spec.dump(2));
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        print_usage(stderr);
        return static_cast<int>(Exit::usage);
    }
    std::string cmd = argv[1];
    if (cmd == "--version") {
        fmt::print("sockdrill {}\n", SOCKDRILL_VERSION);
        return 0;
    }
    if (cmd == "--help" || cmd == "-h") {
        print_usage(stdout);
        return 0;
    }
    if (cmd == "--dump-cli-spec") return dump_cli_spec();
    if (cmd == "list") return list();
    if (cmd == "help") return help(std::vector<std::string>(argv + 2, argv + argc));
    if (cmd == "suite") return suite(argc - 1, argv + 1);
    if (cmd.empty() || cmd[0] == '-' || cmd.find('/') != std::string::npos) {
        fmt::print(stderr, "sockdrill: unknown option '{}'\n", cmd);
        print_usage(stderr);
        return static_cast<int>(Exit::usage);
    }

    // git style: beside this binary first, then on PATH.
    std::string program = "sockdrill-" + cmd;
    fs::path beside = self_dir() / program;
    std::vector<char*> args(argv + 1, argv + argc);
    args[0] = program.data();
    args.push_back(nullptr);
    if (fs::exists(beside)) ::execv(beside.c_str(), args.data());
    ::execvp(program.c_str(), args.data());
    if (errno == ENOENT) {
        fmt::print(stderr, "sockdrill: '{}' is not a sockdrill command; see 'sockdrill list'\n", cmd);
        return static_cast<int>(Exit::usage);
    }
    fmt::print(stderr, "sockdrill: cannot run {}: {}\n", program, errno_name(errno));
    return static_cast<int>(Exit::environment);
}
