#include "cli/run_main.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fmt/format.h>

#include "cli/signals.hpp"
#include "net/error.hpp"
#include "report/expect.hpp"

namespace sockdrill::cli {

std::string program_name(const std::string& command) { return "sockdrill-" + command; }

Output::Output(std::string command, const CommonOptions& common)
    : command_(std::move(command)),
      json_(common.json),
      status_enabled_(!common.json && ::isatty(STDERR_FILENO)),
      stdout_tty_(::isatty(STDOUT_FILENO)) {}

void Output::sample(const report::Report& partial, const std::string& line) {
    if (json_) return interval(partial);
    streamed_ = true;
    if (stdout_tty_) {
        fmt::print("\033[H\033[2J{}", report::render_text(partial));  // home, clear, draw
    } else {
        fmt::print("{}\n", line);
    }
    std::fflush(stdout);
}

void Output::interval(const report::Report& partial) {
    clear_status();
    streamed_ = true;
    if (json_) {
        report::Frame frame;
        frame.started_at = report::rfc3339(std::chrono::system_clock::now());
        auto line = report::to_json(partial, frame);
        line["interval"] = true;
        fmt::print("{}\n", line.dump());
    } else {
        fmt::print("{}\n", report::render_text(partial));
    }
    std::fflush(stdout);
}

void Output::status(const std::string& line) {
    if (!status_enabled_) return;
    fmt::print(stderr, "\r\033[K{}", line);
    std::fflush(stderr);
    status_shown_ = true;
}

void Output::clear_status() {
    if (!status_shown_) return;
    fmt::print(stderr, "\r\033[K");
    std::fflush(stderr);
    status_shown_ = false;
}

namespace {

// Parses the command line; returns an exit status when the process should
// stop here (help, version, usage error), nullopt to go on.
std::optional<int> parse(CLI::App& app, int argc, char** argv, const std::string& program) {
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        // One line, naming the flag (CLI11 and our validators start with it).
        fmt::print(stderr, "{}: {}\n", program, e.what());
        return static_cast<int>(Exit::usage);
    }
    return std::nullopt;
}

}  // namespace

namespace {

// The same CLI::App for running and for describing: options bound in one place.
void build_app(CLI::App& app, const Command& command, CommonOptions& common, const std::string& program) {
    app.set_version_flag("--version", fmt::format("{} {}", program, SOCKDRILL_VERSION));
    app.get_formatter()->column_width(34);
    if (command.bind) command.bind(app);
    add_common_options(app, common, command.common);
}

}  // namespace

nlohmann::json describe_command(const Command& command) {
    const std::string program = command.program.empty() ? program_name(command.name) : command.program;
    CommonOptions common;
    CLI::App app(command.summary, program);
    build_app(app, command, common, program);
    auto spec = describe_options(app);
    spec["name"] = program_name(command.name);
    return spec;
}

int run_main(int argc, char** argv, const Command& command) {
    const std::string program = command.program.empty() ? program_name(command.name) : command.program;
    CommonOptions common;
    common.duration = command.default_duration;

    CLI::App app(command.summary, program);
    build_app(app, command, common, program);

    // The completion generator asks each command for its options.
    if (argc == 2 && std::string_view(argv[1]) == "--dump-cli-spec") {
        fmt::print("{}\n", describe_command(command).dump(2));
        return 0;
    }

    try {
        if (auto status = parse(app, argc, argv, program)) return *status;
        if (command.after_parse) command.after_parse(app);

        install_signal_handlers();
        auto started = std::chrono::system_clock::now();
        auto steady_start = std::chrono::steady_clock::now();
        Output output(command.name, common);

        report::Report result = command.run(common, output);
        output.clear_status();

        report::Frame frame;
        frame.started_at = report::rfc3339(started);
        frame.elapsed_s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - steady_start).count();
        // Expectations see the same object --json prints.
        auto whole = report::to_json(result, frame);
        frame.verdicts = report::evaluate(common.expectations, whole);
        whole = report::to_json(result, frame);

        if (common.json)
            fmt::print("{}\n", output.streamed() ? whole.dump() : whole.dump(2));
        else
            fmt::print("{}", report::render_text(result));
        std::fflush(stdout);

        bool expectations_held = true;
        for (const auto& v : frame.verdicts) {
            if (v.ok) continue;
            expectations_held = false;
            fmt::print(stderr, "{}: expectation failed: {}: {}\n", program, v.expr, v.message);
        }
        if (stop_requested() && !command.stop_signal_is_success)
            return static_cast<int>(Exit::interrupted);
        return static_cast<int>(expectations_held ? Exit::ok : Exit::expectation_failed);
    } catch (const Error& e) {
        fmt::print(stderr, "{}: {}{}\n", program, e.exit() == Exit::usage ? "" : "error: ", e.what());
        return static_cast<int>(e.exit());
    } catch (const std::exception& e) {
        fmt::print(stderr, "{}: error: {}\n", program, e.what());
        return static_cast<int>(Exit::environment);
    }
}

}  // namespace sockdrill::cli
