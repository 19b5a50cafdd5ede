#include "cli/options.hpp"

#include <unistd.h>

#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

#include "net/error.hpp"

using namespace std::chrono_literals;
using sockdrill::Error;
using sockdrill::Exit;
namespace cli = sockdrill::cli;
namespace net = sockdrill::net;

namespace {

// Parses args as a command line after the program name.
void parse(CLI::App& app, std::initializer_list<const char*> args) {
    std::vector<const char*> argv{"sockdrill-test"};
    argv.insert(argv.end(), args.begin(), args.end());
    app.parse(static_cast<int>(argv.size()), argv.data());
}

// A TOML file in the temp directory, removed when the test ends.
class TempToml {
public:
    explicit TempToml(const std::string& text) {
        char name[] = "/tmp/sockdrill-options-test-XXXXXX.toml";
        int fd = ::mkstemps(name, 5);
        REQUIRE(fd >= 0);
        ::close(fd);
        path_ = name;
        std::ofstream(path_) << text;
    }
    ~TempToml() { std::remove(path_.c_str()); }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

// The options of a small server-like command, bound the way tools/ bind them.
struct Options {
    cli::Duration header_timeout = 10s;
    std::optional<cli::Duration> user_timeout;
    uint64_t response_size = 12;
    std::optional<uint64_t> rcvbuf;
    uint64_t max_requests = 0;
    std::string mode = "http";
    std::optional<int> linger;
    std::optional<net::Keepalive> tcp_keepalive;
    bool nodelay = false;
    unsigned workers = 1;
    std::vector<std::string> listen = {"127.0.0.1:8080"};
    std::string config_file;
};

void bind(CLI::App& app, Options& o) {
    cli::add_duration(app, "-t,--header-timeout", o.header_timeout, "head timeout");
    cli::add_duration(app, "--user-timeout", o.user_timeout, "TCP_USER_TIMEOUT");
    cli::add_size(app, "--response-size", o.response_size, "body bytes");
    cli::add_size(app, "--rcvbuf", o.rcvbuf, "SO_RCVBUF");
    cli::add_count(app, "--max-requests", o.max_requests, "per connection");
    cli::add_choice(app, "--mode", o.mode, {"http", "echo", "discard"}, "protocol");
    cli::add_linger(app, "--linger", o.linger, "SO_LINGER");
    cli::add_keepalive(app, "--tcp-keepalive", o.tcp_keepalive, "keepalive triple");
    app.add_flag("--nodelay", o.nodelay, "TCP_NODELAY");
    app.add_option("--workers", o.workers, "workers")->check(CLI::Range(1u, 256u));
    app.add_option("--listen", o.listen, "listen addresses");
    app.add_option("--config", o.config_file, "TOML file");
}

// The usage error apply_config_file throws for text, or "" when it applied it.
std::string config_refusal(const std::string& text, Options& o) {
    TempToml file(text);
    CLI::App app("test");
    bind(app, o);
    parse(app, {});
    try {
        cli::apply_config_file(app, file.path());
    } catch (const Error& e) {
        CHECK(e.exit() == Exit::usage);
        return std::string(e.what()) + "\n" + file.path();
    }
    return "";
}

}  // namespace

TEST_CASE("typed options parse their units at parse time") {
    Options o;
    CLI::App app("test");
    bind(app, o);
    parse(app, {"--header-timeout", "250ms", "--user-timeout", "30s", "--response-size", "4KiB",
                "--rcvbuf", "1MiB", "--max-requests", "10k", "--mode", "echo"});
    CHECK(o.header_timeout == 250ms);
    REQUIRE(o.user_timeout.has_value());
    CHECK(*o.user_timeout == 30s);
    CHECK(o.response_size == 4096);
    CHECK(o.rcvbuf == std::optional<uint64_t>(1048576));
    CHECK(o.max_requests == 10000);
    CHECK(o.mode == "echo");
}

TEST_CASE("optional typed options stay empty when not given") {
    Options o;
    CLI::App app("test");
    bind(app, o);
    parse(app, {});
    CHECK_FALSE(o.user_timeout.has_value());
    CHECK_FALSE(o.rcvbuf.has_value());
    CHECK_FALSE(o.linger.has_value());
    CHECK_FALSE(o.tcp_keepalive.has_value());
}

TEST_CASE("a bad duration is a validation error that starts with the long flag name") {
    Options o;
    CLI::App app("test");
    bind(app, o);
    CHECK_THROWS_WITH_AS(parse(app, {"--header-timeout", "soon"}),
                         "--header-timeout: expected a duration like 250us, 500ms, 2s or 1m, got \"soon\"",
                         CLI::ValidationError);
}

TEST_CASE("a bad duration given by its short flag still names the long flag") {
    Options o;
    CLI::App app("test");
    bind(app, o);
    CHECK_THROWS_WITH_AS(parse(app, {"-t", "soon"}), doctest::Contains("--header-timeout: expected"),
                         CLI::ValidationError);
}

TEST_CASE("a bad optional duration names its flag") {
    Options o;
    CLI::App app("test");
    bind(app, o);
    CHECK_THROWS_WITH_AS(parse(app, {"--user-timeout", "-5s"}), doctest::Contains("--user-timeout: expected a duration"),
                         CLI::ValidationError);
}

TEST_CASE("a bad size names its flag") {
    Options o;
    CLI::App app("test");
    bind(app, o);
    CHECK_THROWS_WITH_AS(parse(app, {"--response-size", "huge"}),
                         "--response-size: expected a size like 512, 4KiB or 1MiB, got \"huge\"",
                         CLI::ValidationError);
    CLI::App app2("test");
    bind(app2, o);
    CHECK_THROWS_WITH_AS(parse(app2, {"--rcvbuf", "1.5"}), doctest::Contains("--rcvbuf: expected a size"),
                         CLI::ValidationError);
}

TEST_CASE("a bad count names its flag") {
    Options o;
    CLI::App app("test");
    bind(app, o);
    CHECK_THROWS_WITH_AS(parse(app, {"--max-requests", "lots"}),
                         "--max-requests: expected a count like 100, 10k or 1M, got \"lots\"",
                         CLI::ValidationError);
}

TEST_CASE("a word outside the choices names the flag and lists the choices") {
    Options o;
    CLI::App app("test");
    bind(app, o);
    CHECK_THROWS_WITH_AS(parse(app, {"--mode", "ftp"}),
                         "--mode: expected one of http|echo|discard, got \"ftp\"", CLI::ValidationError);
    CHECK(o.mode == "http");
}

TEST_CASE("linger takes off or whole seconds from 0 to 3600") {
    Options o;
    o.linger = 5;
    {
        CLI::App app("test");
        bind(app, o);
        parse(app, {"--linger", "off"});
        CHECK_FALSE(o.linger.has_value());
    }
    {
        CLI::App app("test");
        bind(app, o);
        parse(app, {"--linger", "0"});
        CHECK(o.linger == std::optional<int>(0));
    }
    {
        CLI::App app("test");
        bind(app, o);
        parse(app, {"--linger", "3600"});
        CHECK(o.linger == std::optional<int>(3600));
    }
}

TEST_CASE("a linger out of range or not a number names the flag") {
    for (auto value : {"3601", "forever", "-1", "on"}) {
        CAPTURE(value);
        Options o;
        CLI::App app("test");
        bind(app, o);
        CHECK_THROWS_WITH_AS(parse(app, {"--linger", value}),
                             doctest::Contains("--linger: expected off or SECS from 0 to 3600"),
                             CLI::ValidationError);
    }
}

TEST_CASE("the keepalive triple takes durations or bare seconds and a count") {
    Options o;
    CLI::App app("test");
    bind(app, o);
    parse(app, {"--tcp-keepalive", "30s,5s,3"});
    REQUIRE(o.tcp_keepalive.has_value());
    CHECK(o.tcp_keepalive->idle == 30s);
    CHECK(o.tcp_keepalive->interval == 5s);
    CHECK(o.tcp_keepalive->count == 3);
    auto bare = cli::parse_keepalive("60,1m,127");
    CHECK(bare.idle == 60s);
    CHECK(bare.interval == 60s);
    CHECK(bare.count == 127);
}

TEST_CASE("a bad keepalive triple names the flag and the expected form") {
    for (auto value : {"30s,5s", "30s,5s,3,1", "500ms,5s,3", "0,5,3", "30,0,3", "30,5,0", "30,5,128",
                       "32768,5,3", "30,5,2000", "x,y,z"}) {
        CAPTURE(value);
        Options o;
        CLI::App app("test");
        bind(app, o);
        CHECK_THROWS_WITH_AS(parse(app, {"--tcp-keepalive", value}),
                             doctest::Contains("--tcp-keepalive: expected IDLE,INTVL,CNT like 30s,5s,3"),
                             CLI::ValidationError);
    }
}

TEST_CASE("typed options show their current value as the default in help") {
    Options o;
    o.header_timeout = 1500ms;
    o.response_size = 4096;
    CLI::App app("test");
    bind(app, o);
    CHECK(app.get_option("--header-timeout")->get_default_str() == "1500ms");
    CHECK(app.get_option("--response-size")->get_default_str() == "4KiB");
    CHECK(app.get_option("--max-requests")->get_default_str() == "0");
    CHECK(app.get_option("--mode")->get_default_str() == "http");
    CHECK(app.get_option("--linger")->get_default_str() == "off");
    CHECK(app.get_option("--mode")->get_type_name() == "{http,echo,discard}");
}

TEST_CASE("common options parse --json, --interval, --duration, --target and --expect") {
    cli::CommonOptions common;
    CLI::App app("test");
    cli::add_common_options(app, common, cli::kJson | cli::kInterval | cli::kExpect | cli::kDuration |
                                             cli::kTarget | cli::kNoSandbox);
    parse(app, {"--json", "--interval", "500ms", "--duration", "2s", "--target", "127.0.0.1:8080",
                "--expect", "p99_ms < 5", "--expect", "ok == true", "--no-sandbox"});
    CHECK(common.json);
    CHECK(common.interval == 500ms);
    CHECK(common.duration == 2s);
    CHECK(common.target == "127.0.0.1:8080");
    CHECK(common.no_sandbox);
    REQUIRE(common.expectations.size() == 2);
    CHECK(common.expectations[0].path == "p99_ms");
    CHECK(common.expectations[1].path == "ok");
    for (const CLI::Option* option : app.get_options())
        if (option->get_name() != "--help") CHECK(option->get_group() == "Common");
}

TEST_CASE("only the chosen common options are added") {
    cli::CommonOptions common;
    CLI::App app("test");
    cli::add_common_options(app, common, cli::kJson);
    CHECK(app.get_option_no_throw("--json") != nullptr);
    CHECK(app.get_option_no_throw("--expect") == nullptr);
    CHECK(app.get_option_no_throw("--interval") == nullptr);
}

TEST_CASE("a malformed --expect is a validation error naming --expect") {
    cli::CommonOptions common;
    CLI::App app("test");
    cli::add_common_options(app, common, cli::kExpect);
    CHECK_THROWS_WITH_AS(parse(app, {"--expect", "p99_ms about 5"}), doctest::Contains("--expect: expected 'FIELD OP VALUE'"),
                         CLI::ValidationError);
}

TEST_CASE("a config file applies durations, sizes, counts, choices, flags and lists") {
    TempToml file(R"(header-timeout = "2s"
response-size = "1MiB"
max-requests = 5
mode = "discard"
nodelay = true
linger = 0
tcp-keepalive = "30s,5s,3"
workers = 4
listen = ["127.0.0.1:1", "127.0.0.1:2"]
user-timeout = 1.5
)");
    Options o;
    CLI::App app("test");
    bind(app, o);
    parse(app, {});
    cli::apply_config_file(app, file.path());
    CHECK(o.header_timeout == 2s);
    CHECK(o.response_size == 1048576);
    CHECK(o.max_requests == 5);
    CHECK(o.mode == "discard");
    CHECK(o.nodelay);
    CHECK(o.linger == std::optional<int>(0));
    REQUIRE(o.tcp_keepalive.has_value());
    CHECK(o.tcp_keepalive->count == 3);
    CHECK(o.workers == 4);
    CHECK(o.listen == std::vector<std::string>{"127.0.0.1:1", "127.0.0.1:2"});
    REQUIRE(o.user_timeout.has_value());
    CHECK(*o.user_timeout == 1500ms);
}

TEST_CASE("a flag set to false in the config file stays off") {
    TempToml file("nodelay = false\n");
    Options o;
    CLI::App app("test");
    bind(app, o);
    parse(app, {});
    cli::apply_config_file(app, file.path());
    CHECK_FALSE(o.nodelay);
}

TEST_CASE("the command line wins over the config file") {
    TempToml file("header-timeout = \"2s\"\nmode = \"echo\"\nmax-requests = 9\nnodelay = true\n");
    Options o;
    CLI::App app("test");
    bind(app, o);
    parse(app, {"--header-timeout", "7s", "--mode", "discard"});
    cli::apply_config_file(app, file.path());
    CHECK(o.header_timeout == 7s);
    CHECK(o.mode == "discard");
    CHECK(o.max_requests == 9);  // not on the command line: the file applies
    CHECK(o.nodelay);
}

TEST_CASE("an unknown config key names FILE:LINE and the key") {
    Options o;
    auto message = config_refusal("mode = \"http\"\n\nmax-request = 3\n", o);
    auto path = message.substr(message.find('\n') + 1);
    message = message.substr(0, message.find('\n'));
    CHECK(message == "--config: " + path + ":3: max-request: unknown key");
}

TEST_CASE("the config key 'config' is refused as unknown, so files cannot include files") {
    Options o;
    auto message = config_refusal("config = \"/dev/null\"\n", o);
    CHECK(message.find(":1: config: unknown key") != std::string::npos);
}

TEST_CASE("a bad duration in the config file names FILE:LINE, the key and the expected form") {
    Options o;
    auto message = config_refusal("# comment\nmode = \"http\"\nheader-timeout = \"soon\"\n", o);
    auto path = message.substr(message.find('\n') + 1);
    CHECK(message.find("--config: " + path + ":3: header-timeout: ") == 0);
    CHECK(message.find("expected a duration like 250us, 500ms, 2s or 1m, got \"soon\"") != std::string::npos);
}

TEST_CASE("a bad choice, keepalive or range in the config file names the line and key") {
    Options o;
    CHECK(config_refusal("\nmode = \"ftp\"\n", o).find(":2: mode: ") != std::string::npos);
    CHECK(config_refusal("tcp-keepalive = \"1,2\"\n", o).find(":1: tcp-keepalive: ") != std::string::npos);
    auto range = config_refusal("workers = 0\n", o);
    CHECK(range.find(":1: workers: ") != std::string::npos);
}

TEST_CASE("a flag given a non-boolean in the config file expects true or false") {
    Options o;
    auto message = config_refusal("nodelay = 1\n", o);
    CHECK(message.find(":1: nodelay: expected true or false") != std::string::npos);
}

TEST_CASE("a table value in the config file expects a string, number or boolean") {
    Options o;
    auto message = config_refusal("mode = { a = 1 }\n", o);
    CHECK(message.find(":1: mode: expected a string, number or boolean") != std::string::npos);
}

TEST_CASE("a TOML syntax error names FILE:LINE") {
    Options o;
    auto message = config_refusal("mode = \"http\"\nmode = = 3\n", o);
    auto path = message.substr(message.find('\n') + 1);
    CHECK(message.find("--config: " + path + ":2: ") == 0);
}

TEST_CASE("a missing config file is a usage error naming the path") {
    Options o;
    CLI::App app("test");
    bind(app, o);
    parse(app, {});
    try {
        cli::apply_config_file(app, "/nonexistent/sockdrill.toml");
        FAIL("missing file accepted");
    } catch (const Error& e) {
        CHECK(e.exit() == Exit::usage);
        CHECK(std::string(e.what()).find("--config: /nonexistent/sockdrill.toml") == 0);
    }
}

TEST_CASE("describe_options lists every flag with its names, type, help and choices") {
    Options o;
    CLI::App app("serve things", "sockdrill-test");
    bind(app, o);
    auto spec = cli::describe_options(app);
    CHECK(spec["name"] == "sockdrill-test");
    CHECK(spec["description"] == "serve things");
    const nlohmann::json* mode = nullptr;
    const nlohmann::json* nodelay = nullptr;
    const nlohmann::json* timeout = nullptr;
    for (const auto& option : spec["options"]) {
        if (option["long"] == nlohmann::json{"mode"}) mode = &option;
        if (option["long"] == nlohmann::json{"nodelay"}) nodelay = &option;
        if (option["long"] == nlohmann::json{"header-timeout"}) timeout = &option;
    }
    REQUIRE(mode);
    CHECK((*mode)["choices"] == nlohmann::json{"http", "echo", "discard"});
    CHECK((*mode)["takes_value"] == true);
    CHECK((*mode)["help"] == "protocol");
    REQUIRE(nodelay);
    CHECK((*nodelay)["takes_value"] == false);
    CHECK((*nodelay)["choices"] == nlohmann::json::array());
    REQUIRE(timeout);
    CHECK((*timeout)["short"] == nlohmann::json{"t"});
    CHECK((*timeout)["type"] == "DURATION");
    CHECK((*timeout)["choices"] == nlohmann::json::array());
}
