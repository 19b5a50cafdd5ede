// sockdrill-nagle: small-write stalls, Nagle's algorithm against the
// client's delayed ACK. This file binds flags to scenario::NagleConfig; the
// scenario lives in lib/scenario/nagle.cpp.
#include "cli/commands.hpp"
#include "cli/run_main.hpp"
#include "scenario/nagle.hpp"

using namespace sockdrill;

namespace {

struct Options {
    scenario::NagleConfig nagle;
    std::vector<std::string> variants = {"all"};
    cli::Duration stall_threshold = std::chrono::milliseconds(20);
};

void bind(CLI::App& app, Options& o) {
    auto& n = o.nagle;
    app.add_option("--variant", o.variants,
                   "Variants, one connection each: all, default, nodelay, cork, one-write, quickack")
        ->type_name("VARIANT")
        ->delimiter(',')
        ->capture_default_str();
    cli::add_count(app, "--requests", n.requests, "Measured requests per variant, one after another");
    cli::add_count(app, "--warmup", n.warmup, "Unmeasured requests first on each connection");
    cli::add_size(app, "--response-size", n.response_size, "Body bytes of each response (embedded server)");
    app.add_option("--split-writes", n.split_writes,
                   "write() calls per response in default, nodelay, cork and quickack")
        ->type_name("N")
        ->capture_default_str();
    cli::add_duration(app, "--stall-threshold", o.stall_threshold, "A request slower than this counts as stalled");
    app.add_option("--path", n.path, "The request path (default /)")->type_name("PATH");
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    cli::Command command;
    command.name = "nagle";
    command.summary = std::string(cli::command_summary("nagle"));
    command.common = cli::kJson | cli::kExpect | cli::kDuration | cli::kTarget | cli::kNoSandbox;
    command.default_duration = std::chrono::seconds(10);
    command.bind = [&](CLI::App& app) { bind(app, options); };
    command.after_parse = [&](CLI::App&) {
        options.nagle.variants = scenario::parse_nagle_variants(options.variants);
        options.nagle.all_variants = options.variants == std::vector<std::string>{"all"};
        options.nagle.stall_threshold = options.stall_threshold;
    };
    command.run = [&](const cli::CommonOptions& common, cli::Output& output) {
        return scenario::run_nagle(options.nagle, common, output);
    };
    return cli::run_main(argc, argv, command);
}
