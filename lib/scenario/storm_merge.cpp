// sockdrill-storm merge: the --json results of steady runs on several hosts,
// run at the same time (pdsh, Ansible), read back and merged as wrk merges
// its threads: counts and histograms summed, rates added up. Each file is
// read back into a load::KeepaliveResult and the merged one is written by
// the same to_json as a single run, so the shape cannot drift.
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string_view>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "load/histogram.hpp"
#include "net/error.hpp"
#include "report/report.hpp"
#include "scenario/storm.hpp"

namespace sockdrill::scenario {

namespace {

using report::json;

constexpr std::string_view kStormSchema = "sockdrill.storm/1";

[[noreturn]] void fail(const std::string& file, std::string_view why) {
    throw Error::usage(fmt::format("{}: {}", file, why));
}

// A member of an object, or null: the frame's fields only label the rows.
const json& member(const json& j, const char* key) {
    static const json none;
    if (!j.is_object()) return none;
    auto it = j.find(key);
    return it == j.end() ? none : *it;
}

std::string text(const json& j) {
    return j.is_string() ? j.get<std::string>() : "";
}

// "key 'sent' not found" from "[json.exception.out_of_range.403] key 'sent' not found".
std::string_view json_detail(const std::exception& e) {
    std::string_view what = e.what();
    auto bracket = what.find("] ");
    return bracket == std::string_view::npos ? what : what.substr(bracket + 2);
}

std::string read_whole(const std::string& file) {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> in(std::fopen(file.c_str(), "rb"),
                                                       &std::fclose);
    if (!in) fail(file, std::strerror(errno));
    std::string all;
    char buf[64 * 1024];
    while (size_t n = std::fread(buf, 1, sizeof buf, in.get())) all.append(buf, n);
    if (std::ferror(in.get())) fail(file, std::strerror(errno));  // EISDIR for a directory
    return all;
}

// "not JSON (line 3: syntax error while parsing value - invalid literal; last
// read: 'x')", the line counted in the file, not in the text nlohmann parsed.
std::string not_json(const json::parse_error& e, std::string_view parsed, size_t first_line) {
    size_t upto = std::min<size_t>(e.byte > 0 ? e.byte - 1 : 0, parsed.size());
    size_t line =
        first_line + static_cast<size_t>(std::count(parsed.begin(), parsed.begin() + upto, '\n'));
    std::string_view what = e.what();
    auto colon = what.find(": ", what.find("column"));
    std::string_view why =
        colon == std::string_view::npos ? json_detail(e) : what.substr(colon + 2);
    return fmt::format("not JSON (line {}: {})", line, why);
}

// One JSON object (--json, pretty-printed), or JSON Lines (--json --interval)
// whose last line is the final result: a file whose first line parses on
// its own is JSON Lines, and a bad line is reported by its number.
json read_document(const std::string& file) {
    const std::string all = read_whole(file);
    std::vector<std::pair<size_t, std::string_view>> lines;  // (number, text), blank ones left out
    std::string_view rest = all;
    for (size_t number = 1; !rest.empty(); ++number) {
        size_t nl = std::min(rest.find('\n'), rest.size());
        std::string_view line = rest.substr(0, nl);
        if (line.find_first_not_of(" \t\r") != std::string_view::npos)
            lines.emplace_back(number, line);
        rest.remove_prefix(std::min(nl + 1, rest.size()));
    }
    if (lines.size() < 2 || !json::accept(lines.front().second)) {
        try {
            return json::parse(all);
        } catch (const json::parse_error& e) {
            fail(file, not_json(e, all, 1));
        }
    }
    json last;
    for (const auto& [number, line] : lines) {
        try {
            last = json::parse(line);
        } catch (const json::parse_error& e) {
            fail(file, not_json(e, line, number));
        }
    }
    return last;
}

uint64_t count_at(const json& j, const char* key) {
    return j.at(key).get<uint64_t>();
}

// The inverse of load::to_json(KeepaliveResult), but for the errors: an
// ErrorTable only counts one error at a time, so errors and first_error_s
// merge as JSON (merge_errors).
void from_json(const json& j, load::KeepaliveResult& r) {
    load::KeepaliveStats& s = r.stats;
    const json& requests = j.at("requests");
    s.sent = count_at(requests, "sent");
    s.completed = count_at(requests, "completed");
    s.lost = count_at(requests, "lost");
    s.abandoned = count_at(requests, "abandoned");
    s.late = count_at(requests, "late");
    s.non_2xx = count_at(requests, "non_2xx");
    s.bytes_sent = count_at(j, "sent_bytes");
    s.bytes_received = count_at(j, "received_bytes");
    const json& c = j.at("connections");
    s.connections = {.attempts = count_at(c, "attempts"),
                     .opened = count_at(c, "opened"),
                     .closed_by_client = count_at(c, "closed_by_client"),
                     .closed_by_server = count_at(c, "closed_by_server"),
                     .reset_by_server = count_at(c, "reset_by_server"),
                     .failed = count_at(c, "failed"),
                     .reconnects = count_at(c, "reconnects"),
                     .closed_idle = count_at(c, "closed_idle"),
                     .peak_open = count_at(c, "peak_open")};
    j.at("latency").get_to(s.latency);
    j.at("connect").get_to(s.connect);
    j.at("reconnect").get_to(s.reconnect);
    for (const auto& [name, n] : j.at("syscalls").items()) {
        size_t i = 0;
        while (i < load::kSyscalls && load::syscall_name(static_cast<load::Syscall>(i)) != name)
            ++i;
        if (i == load::kSyscalls) throw Error::usage(fmt::format("unknown syscall \"{}\"", name));
        s.syscalls[i] = n.get<uint64_t>();
    }
    r.elapsed_s = j.at("elapsed_s").get<double>();
    r.rate = j.at("target_rate_per_s").get<double>();
    r.stopped = j.at("stopped").get<bool>();
}

// Adds errors {phase: {name: count}} into `errors`, and keeps the earliest
// of first_error_s {phase: {name: seconds}} in `first_errors`.
void merge_errors(const json& from_errors, const json& from_first, json& errors,
                  json& first_errors) {
    for (const auto& [phase, names] : from_errors.items())
        for (const auto& [name, n] : names.items()) {
            json& sum = errors[phase][name];
            sum = (sum.is_null() ? 0 : sum.get<uint64_t>()) + n.get<uint64_t>();
        }
    for (const auto& [phase, names] : from_first.items())
        for (const auto& [name, at_s] : names.items()) {
            json& earliest = first_errors[phase][name];
            if (earliest.is_null() || at_s.get<double>() < earliest.get<double>()) earliest = at_s;
        }
}

uint64_t error_total(const json& errors) {
    uint64_t n = 0;
    for (const auto& [phase, names] : errors.items())
        for (const auto& [name, count] : names.items()) n += count.get<uint64_t>();
    return n;
}

// One file's steady run, as read back.
struct Run {
    std::string file;
    std::string started_at, mode;
    json target;                 // config.target of a --target run, else null
    double frame_elapsed_s = 0;  // the whole command's, setup included
    double requests_per_s = 0;   // as the host measured it
    load::KeepaliveResult result;
    json errors = json::object(), first_errors = json::object();
};

Run read_run(const std::string& file) {
    json doc = read_document(file);
    if (text(member(doc, "schema")) != kStormSchema)
        fail(file, fmt::format(
                       "schema {}, expected {}",
                       text(member(doc, "schema")).empty() ? "(none)" : text(member(doc, "schema")),
                       kStormSchema));
    if (member(doc, "interval") == true)
        fail(file, "ends with an --interval record, not the final result (was the run cut short?)");
    const json& results = member(doc, "results");
    std::string scenario = text(member(results, "scenario"));
    if (scenario != "steady")
        fail(file, fmt::format("scenario {}; only steady runs merge",
                               scenario.empty() ? "(none)" : scenario));

    Run run{file, text(member(doc, "started_at")), text(member(member(doc, "environment"), "mode")),
            member(member(doc, "config"), "target")};
    if (member(doc, "elapsed_s").is_number()) run.frame_elapsed_s = doc["elapsed_s"].get<double>();
    try {
        const json& load = results.at("load");
        from_json(load, run.result);
        run.requests_per_s = load.at("requests_per_s").get<double>();
        merge_errors(load.at("errors"), load.at("first_error_s"), run.errors, run.first_errors);
    } catch (const json::exception& e) {
        fail(file, fmt::format("results.load: {}", json_detail(e)));
    } catch (const Error& e) {  // a histogram that does not read back, an unknown syscall
        fail(file, fmt::format("results.load: {}", e.what()));
    }
    return run;
}


// Seconds since the epoch of "2026-11-26T23:39:29Z" (report::rfc3339).
std::optional<double> epoch_s(const std::string& rfc3339) {
    std::tm tm{};
    const char* end = ::strptime(rfc3339.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (!end || *end) return std::nullopt;
    return static_cast<double>(::timegm(&tm));
}

// Rates add up only over runs that ran at the same time: the latest start
// must come before the earliest end (started_at has whole seconds: 1 s of slack).
std::optional<std::string> overlap_note(const std::vector<Run>& runs) {
    double latest_start = 0, earliest_end = INFINITY;
    for (const auto& run : runs) {
        auto start = epoch_s(run.started_at);
        if (!start) return std::nullopt;
        latest_start = std::max(latest_start, *start);
        earliest_end = std::min(earliest_end, *start + run.frame_elapsed_s);
    }
    if (latest_start <= earliest_end + 1) return std::nullopt;
    return fmt::format(
        "the runs did not all overlap (the last started {:.0f} s after the first ended): "
        "requests/s add up only over runs at the same time",
        latest_start - earliest_end);
}

}  // namespace

report::Report merge_storm(const std::vector<std::string>& files) {
    if (files.empty()) throw Error::usage("expected at least one FILE");
    // The same file twice would count its requests twice, however it is spelled.
    std::set<std::filesystem::path> seen;
    for (const auto& file : files) {
        std::error_code ec;
        auto canonical = std::filesystem::weakly_canonical(file, ec);
        if (ec) canonical = std::filesystem::path(file).lexically_normal();
        if (!seen.insert(canonical).second)
            throw Error::usage(fmt::format("{} given twice", file));
    }

    // Read every file, then merge: counts and histograms summed (wrk's
    // per-thread merge), rates added up, the longest elapsed, stopped if any was.
    std::vector<Run> runs;
    for (const auto& file : files) runs.push_back(read_run(file));
    load::KeepaliveResult merged;
    double requests_per_s = 0;
    json errors = json::object(), first_errors = json::object();
    for (const auto& run : runs) {
        merged.stats.merge(run.result.stats);
        merged.elapsed_s = std::max(merged.elapsed_s, run.result.elapsed_s);
        merged.rate += run.result.rate;
        merged.stopped = merged.stopped || run.result.stopped;
        requests_per_s += run.requests_per_s;
        merge_errors(run.errors, run.first_errors, errors, first_errors);
    }
    json load;
    load::to_json(load, merged);
    load["requests_per_s"] =
        std::round(requests_per_s * 10) / 10;  // not completed / the longest elapsed
    load["errors"] = errors;
    load["first_error_s"] = first_errors;

    // The model: the merged load and one line per host.
    report::Report r;
    r.command = "storm";
    r.mode = "merged";
    r.config = {{"files", files}};
    r.errors = errors;
    json hosts = json::array();
    for (const auto& run : runs) {
        const auto& s = run.result.stats;
        hosts.push_back({{"file", run.file},
                         {"started_at", run.started_at},
                         {"mode", run.mode},
                         {"target", run.target},
                         {"requests_per_s", run.requests_per_s},
                         {"completed", s.completed},
                         {"p50_us", s.latency.percentile(50)},
                         {"p99_us", s.latency.percentile(99)},
                         {"errors", error_total(run.errors)}});
    }
    r.results = {{"scenario", "merged"}, {"files", runs.size()}, {"load", load}, {"hosts", hosts}};

    // The human view: a row per file and the total, the merged percentiles, the chart.
    report::Table table{
        fmt::format("storm merge: {} run{}", runs.size(), runs.size() == 1 ? "" : "s"),
        {"file", "mode", "requests", "req/s", "p50", "p99", "max", "errors"},
        {}};
    auto row = [&](const std::string& name, const std::string& mode, const load::Histogram& latency,
                   uint64_t completed, double rate, uint64_t error_count) {
        table.rows.push_back({name, mode, std::to_string(completed), fmt::format("{:.0f}", rate),
                              load::format_us(latency.percentile(50)), load::format_us(latency.percentile(99)),
                              load::format_us(latency.max()), std::to_string(error_count)});
    };
    for (const auto& run : runs)
        row(run.file, run.mode, run.result.stats.latency, run.result.stats.completed,
            run.requests_per_s, error_total(run.errors));
    const load::Histogram& latency = merged.stats.latency;
    row("total", "merged", latency, merged.stats.completed, requests_per_s, error_total(errors));
    r.tables.push_back(std::move(table));
    r.tables.push_back(
        {"merged request latency",
         {"requests", "min", "mean", "p50", "p90", "p99", "p99.9", "max"},
         {{std::to_string(latency.count()), load::format_us(latency.min()),
           load::format_us(std::round(latency.mean())), load::format_us(latency.percentile(50)),
           load::format_us(latency.percentile(90)), load::format_us(latency.percentile(99)),
           load::format_us(latency.percentile(99.9)), load::format_us(latency.max())}}});
    if (latency.count())
        r.tables.push_back(report::text_table("merged request latency histogram",
                                              fmt::format("{:>8} |", "time"),
                                              load::render_chart(latency)));
    if (auto note = overlap_note(runs)) r.notes.push_back(*note);
    std::vector<std::string> stopped;
    for (const auto& run : runs)
        if (run.result.stopped) stopped.push_back(run.file);
    if (!stopped.empty())
        r.notes.push_back(
            fmt::format("stopped early (SIGINT): {}; their figures cover the run until then",
                        fmt::join(stopped, ", ")));
    return r;
}

}  // namespace sockdrill::scenario
