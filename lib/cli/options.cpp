#include "cli/options.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include "net/error.hpp"

namespace sockdrill::cli {

namespace {

// Runs a unit parser and turns its std::invalid_argument into CLI11's
// ValidationError, whose message starts with the flag: "--rate: expected ...".
template <typename Parse>
auto parse_for(const std::string& name, const std::string& text, Parse parse) {
    try {
        return parse(text);
    } catch (const std::invalid_argument& e) {
        throw CLI::ValidationError(name, e.what());
    }
}

std::string long_name(const std::string& name) {
    auto comma = name.find(',');
    std::string first = comma == std::string::npos ? name : name.substr(comma + 1);
    return first;
}

// An option whose text goes through a unit parser into target (a value or
// an optional), with the flag named in any error.
template <typename Target, typename Parse>
CLI::Option* add_parsed(CLI::App& app, const std::string& name, Target& target,
                        const std::string& help, Parse parse, const char* type) {
    auto flag = long_name(name);
    return app
        .add_option_function<std::string>(
            name, [&target, flag, parse](const std::string& v) { target = parse_for(flag, v, parse); },
            help)
        ->type_name(type);
}

}  // namespace

CLI::Option* add_duration(CLI::App& app, const std::string& name, Duration& target,
                          const std::string& help) {
    return add_parsed(app, name, target, help, parse_duration, "DURATION")
        ->default_str(format_duration(target));
}

CLI::Option* add_duration(CLI::App& app, const std::string& name,
                          std::optional<Duration>& target, const std::string& help) {
    return add_parsed(app, name, target, help, parse_duration, "DURATION");
}

CLI::Option* add_size(CLI::App& app, const std::string& name, uint64_t& target,
                      const std::string& help) {
    return add_parsed(app, name, target, help, parse_size, "SIZE")->default_str(format_size(target));
}

CLI::Option* add_size(CLI::App& app, const std::string& name, std::optional<uint64_t>& target,
                      const std::string& help) {
    return add_parsed(app, name, target, help, parse_size, "SIZE");
}

CLI::Option* add_count(CLI::App& app, const std::string& name, uint64_t& target,
                       const std::string& help) {
    return add_parsed(app, name, target, help, parse_count, "COUNT")
        ->default_str(std::to_string(target));
}

CLI::Option* add_choice(CLI::App& app, const std::string& name, std::string& target,
                        const std::vector<std::string>& choices, const std::string& help) {
    auto flag = long_name(name);
    return app
        .add_option_function<std::string>(
            name,
            [&target, flag, choices](const std::string& v) {
                if (std::find(choices.begin(), choices.end(), v) == choices.end())
                    throw CLI::ValidationError(
                        flag, fmt::format("expected one of {}, got \"{}\"", fmt::join(choices, "|"), v));
                target = v;
            },
            help)
        ->type_name(fmt::format("{{{}}}", fmt::join(choices, ",")))
        ->default_str(target);
}

CLI::Option* add_linger(CLI::App& app, const std::string& name, std::optional<int>& target,
                        const std::string& help) {
    auto flag = long_name(name);
    return app
        .add_option_function<std::string>(
            name,
            [&target, flag](const std::string& v) {
                if (v == "off") return target.reset();
                uint64_t secs = 0;
                try {
                    secs = parse_count(v);
                } catch (const std::invalid_argument&) {
                    secs = 1u << 31;
                }
                if (secs > 3600)
                    throw CLI::ValidationError(
                        flag, fmt::format("expected off or SECS from 0 to 3600, got \"{}\"", v));
                target = static_cast<int>(secs);
            },
            help)
        ->type_name("off|SECS")
        ->default_str(target ? std::to_string(*target) : "off");
}

net::Keepalive parse_keepalive(std::string_view text) {
    auto fail = [&] {
        return std::invalid_argument(fmt::format(
            "expected IDLE,INTVL,CNT like 30s,5s,3 (whole seconds >= 1, CNT 1-127), got \"{}\"",
            text));
    };
    auto parts = CLI::detail::split(std::string(text), ',');
    if (parts.size() != 3) throw fail();
    using std::chrono::duration_cast;
    using std::chrono::seconds;
    net::Keepalive k;
    try {
        auto idle = parse_duration(parts[0]), interval = parse_duration(parts[1]);
        if (idle.count() % 1000000 || interval.count() % 1000000) throw fail();
        k.idle = duration_cast<seconds>(idle);
        k.interval = duration_cast<seconds>(interval);
        k.count = static_cast<int>(std::min<uint64_t>(parse_count(parts[2]), 1000));
    } catch (const std::invalid_argument&) {
        throw fail();
    }
    if (k.idle.count() < 1 || k.interval.count() < 1 || k.count < 1 || k.count > 127 ||
        k.idle.count() > 32767 || k.interval.count() > 32767)
        throw fail();
    return k;
}

CLI::Option* add_keepalive(CLI::App& app, const std::string& name,
                           std::optional<net::Keepalive>& target, const std::string& help) {
    auto flag = long_name(name);
    return app
        .add_option_function<std::string>(
            name,
            [&target, flag](const std::string& v) {
                target = parse_for(flag, v, parse_keepalive);
            },
            help)
        ->type_name("IDLE,INTVL,CNT");
}

void add_common_options(CLI::App& app, CommonOptions& o, unsigned which) {
    const std::string group = "Common";
    if (which & kJson)
        app.add_flag("--json", o.json, "Print one JSON object (JSON Lines with --interval)")
            ->group(group);
    if (which & kInterval)
        add_duration(app, "--interval", o.interval, "Print partial results every DURATION")
            ->group(group);
    if (which & kExpect)
        app.add_option_function<std::vector<std::string>>(
               "--expect",
               [&o](const std::vector<std::string>& all) {
                   for (const auto& text : all) {
                       try {
                           o.expectations.push_back(report::parse_expectation(text));
                       } catch (const Error& e) {
                           throw CLI::ValidationError(e.what());
                       }
                   }
               },
               "Assert 'FIELD OP VALUE' on the result (repeatable); exit 1 when one fails")
            ->type_name("EXPR")
            ->group(group);
    if (which & kDuration)
        add_duration(app, "--duration", o.duration, "Run for DURATION")->group(group);
    if (which & kTarget)
        app.add_option("--target", o.target, "Run against the real server at HOST:PORT")
            ->type_name("HOST:PORT")
            ->group(group);
    if (which & kNoSandbox)
        app.add_flag("--no-sandbox", o.no_sandbox, "Run on the host's loopback even when privileged")
            ->group(group);
}

void apply_config_file(CLI::App& app, const std::string& path) {
    toml::table table;
    try {
        table = toml::parse_file(path);
    } catch (const toml::parse_error& e) {
        throw Error::usage(fmt::format("--config: {}:{}: {}", path, e.source().begin.line,
                                       e.description()));
    } catch (const std::exception& e) {
        throw Error::usage(fmt::format("--config: {}: {}", path, e.what()));
    }
    for (auto&& [key, node] : table) {
        auto line = node.source().begin.line;
        auto where = fmt::format("--config: {}:{}: {}", path, line, key.str());
        CLI::Option* option = app.get_option_no_throw("--" + std::string(key.str()));
        if (!option || key.str() == "config")
            throw Error::usage(fmt::format("{}: unknown key", where));
        if (option->count() > 0) continue;  // the command line wins
        std::vector<std::string> values;
        auto to_text = [&](const toml::node& n) -> std::string {
            if (auto s = n.value<std::string>()) return *s;
            if (n.is_boolean()) return *n.value<bool>() ? "true" : "false";
            if (auto i = n.value<int64_t>()) return std::to_string(*i);
            if (auto d = n.value<double>()) return fmt::format("{}", *d);
            throw Error::usage(fmt::format("{}: expected a string, number or boolean", where));
        };
        if (auto* array = node.as_array())
            for (auto&& element : *array) values.push_back(to_text(element));
        else
            values.push_back(to_text(node));
        try {
            if (option->get_expected_min() == 0) {
                // A flag: true sets it, false leaves it off.
                if (values.size() != 1 || (values[0] != "true" && values[0] != "false"))
                    throw Error::usage(fmt::format("{}: expected true or false", where));
                if (values[0] == "false") continue;
                option->add_result("true");
            } else {
                for (const auto& v : values) option->add_result(v);
            }
            option->run_callback();
        } catch (const CLI::Error& e) {
            throw Error::usage(fmt::format("{}: {}", where, e.what()));
        }
    }
}

nlohmann::json describe_options(const CLI::App& app) {
    nlohmann::json options = nlohmann::json::array();
    for (const CLI::Option* opt : app.get_options()) {
        if (!opt->nonpositional()) continue;
        nlohmann::json o;
        o["long"] = opt->get_lnames();
        o["short"] = opt->get_snames();
        o["takes_value"] = opt->get_expected_min() > 0;
        o["repeatable"] = opt->get_expected_max() > 1 || opt->get_multi_option_policy() == CLI::MultiOptionPolicy::TakeAll;
        o["type"] = opt->get_type_name();
        o["help"] = opt->get_description();
        // add_choice() writes its words into the type name as "{a,b,c}".
        auto type = opt->get_type_name();
        auto open = type.find('{'), close = type.rfind('}');
        nlohmann::json choices = nlohmann::json::array();
        if (open != std::string::npos && close != std::string::npos && close > open) {
            std::string inner = type.substr(open + 1, close - open - 1);
            size_t start = 0;
            while (start <= inner.size()) {
                auto comma = inner.find(',', start);
                choices.push_back(inner.substr(start, comma - start));
                if (comma == std::string::npos) break;
                start = comma + 1;
            }
        }
        o["choices"] = choices;
        options.push_back(o);
    }
    return nlohmann::json{{"name", app.get_name()}, {"description", app.get_description()},
                          {"options", options}};
}

}  // namespace sockdrill::cli
