#pragma once
// --expect 'FIELD OP VALUE': assertions a runbook makes about a run.
// FIELD is a dotted path into "results", or into the whole JSON object when
// it starts with a top-level key ("counters.ListenOverflows", "ok").
#include <string>
#include <string_view>
#include <vector>

#include "report/report.hpp"

namespace sockdrill::report {

enum class Op { lt, le, gt, ge, eq, ne };

struct Expectation {
    std::string expr;   ///< as the user wrote it
    std::string path;   ///< dotted path
    Op op = Op::eq;
    json value;         ///< number, bool or string
};

/// Parses "p99_ms < 5"; throws Error(Exit::usage) naming --expect and the form.
Expectation parse_expectation(std::string_view text);

/// Looks up a dotted path ("results.errors.read.ECONNRESET", array index
/// "rows.0.x"); nullptr when absent.
const json* lookup(const json& whole, std::string_view path);

/// Evaluates each expectation against the JSON object of the run.
std::vector<Verdict> evaluate(const std::vector<Expectation>& expectations, const json& whole);

}  // namespace sockdrill::report
