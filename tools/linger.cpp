// sockdrill-linger: how a connection ends (FIN, RST, SO_LINGER, lingering
// close) and what each side saw. This file binds flags to
// scenario::LingerConfig; the scenario lives in lib/scenario/linger.cpp.
#include "cli/commands.hpp"
#include "cli/run_main.hpp"
#include "scenario/linger.hpp"

using namespace sockdrill;

namespace {

struct Options {
    scenario::LingerConfig linger;
    std::vector<std::string> cases = {"all"};
};

void bind(CLI::App& app, Options& o) {
    auto& l = o.linger;
    app.add_option("--case", o.cases,
                   "Cases, one connection each: all, normal, linger0, linger=SECONDS, unread, pipeline")
        ->type_name("CASE")
        ->capture_default_str();
    cli::add_choice(app, "--closer", l.closer, {"client", "server"},
                    "Who closes in normal, linger0, linger=T and unread");
    cli::add_choice(app, "--server-close", l.server_close, {"normal", "lingering", "both"},
                    "pipeline: the server's close: plain close(), shutdown+drain+close, or one run of each");
    cli::add_size(app, "--write-size", l.write_size, "What the closer writes before it closes");
    cli::add_size(app, "--unread-size", l.unread_size, "unread: bytes the closer leaves unread");
    cli::add_size(app, "--response-size", l.response_size, "pipeline: the first response's body size");
    app.add_option("--path", l.path, "pipeline and linger0 against --target: the request path")->type_name("PATH");
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    cli::Command command;
    command.name = "linger";
    command.summary = std::string(cli::command_summary("linger"));
    command.common = cli::kJson | cli::kExpect | cli::kTarget | cli::kNoSandbox;
    command.bind = [&](CLI::App& app) { bind(app, options); };
    command.after_parse = [&](CLI::App&) { options.linger.cases = scenario::parse_linger_cases(options.cases); };
    command.run = [&](const cli::CommonOptions& common, cli::Output& output) {
        return scenario::run_linger(options.linger, common, output);
    };
    return cli::run_main(argc, argv, command);
}
