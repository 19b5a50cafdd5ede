#pragma once
// The one result model every command produces. JSON, the tables on stdout
// and the live status line are all views of it (collect -> render, as ss).
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace sockdrill::report {

using nlohmann::json;

/// A titled table for the human view; cells are already formatted text.
struct Table {
    std::string title;
    std::vector<std::string> columns;
    std::vector<std::vector<std::string>> rows;
};

/// What a command measured, plus the context a runbook needs to trust it.
struct Report {
    std::string command;                      ///< "serve", "halfopen", ...
    std::string mode = "host";                ///< environment.mode: sandbox, host or target
    json sysctls = json::object();            ///< sysctls that shaped the run
    json config = json::object();             ///< effective options, snake_case long names
    json results = json::object();            ///< the command's own figures
    json counters = json::object();           ///< kernel counter deltas over the run
    json errors = json::object();             ///< phase -> errno name -> count
    std::vector<Table> tables;                ///< the human view of `results`
    std::vector<std::string> notes;           ///< one-line remarks under the tables
};

/// The outcome of one --expect after the run.
struct Verdict {
    std::string expr;
    json actual;
    bool ok = false;
    std::string message;  ///< why it failed ("p99_ms = 7.2, expected < 5")
};

/// Everything run_main adds around a Report to make the JSON frame.
struct Frame {
    std::string started_at;  ///< RFC 3339, UTC
    double elapsed_s = 0;
    std::vector<Verdict> verdicts;
};

/// The versioned JSON object of DESIGN.md's output contract.
json to_json(const Report& report, const Frame& frame);

/// Whether a cell reads as a number, optionally with a short unit ("12",
/// "4.5 ms", "3/128"): such cells align right in tables.
bool looks_numeric(std::string_view cell);

/// Tables and notes as aligned text, for stdout.
std::string render_text(const Report& report);
std::string render_table(const Table& table);
/// A block of text drawn elsewhere (a histogram chart) as a one-column
/// table: one row per line, under `header`.
Table text_table(std::string title, std::string header, std::string_view text);

/// "2026-11-26T23:39:29Z" for a system_clock time point.
std::string rfc3339(std::chrono::system_clock::time_point t);
/// The running kernel release ("6.1.0-18-amd64").
std::string kernel_release();

}  // namespace sockdrill::report
