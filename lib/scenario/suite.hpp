#pragma once
// `sockdrill suite`: every registered scenario's quick checks, one verdict
// table. Each scenario contributes a function returning its checks; the
// suite runs them in order, in-process.
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "report/report.hpp"

namespace sockdrill::scenario {

/// One line of the verdict table.
struct Check {
    std::string scenario;   ///< "serve"
    std::string check;      ///< what it checked, in words
    std::string measured;   ///< what it saw ("ECONNRESET", "100/100 responses")
    std::string expected;   ///< what the runbook assumes
    bool pass = false;
};

/// Where the suite runs.
struct SuiteContext {
    bool sandbox = false;        ///< privileged: scenarios may build network namespaces
    std::string why_no_sandbox;  ///< the reason when not
};

struct SuiteEntry {
    std::string name;
    std::function<std::vector<Check>(const SuiteContext&)> run;
};

/// Every scenario's quick checks, in the order the suite runs them.
std::vector<SuiteEntry> suite_entries();

/// Runs the suite and returns its report (schema sockdrill.suite/1).
report::Report run_suite(const SuiteContext& context);

/// The server self-checks (lib/scenario/selfcheck.cpp).
std::vector<Check> server_selfchecks(const SuiteContext& context);
/// The census checks (lib/scenario/census_checks.cpp).
std::vector<Check> census_checks(const SuiteContext& context);
/// The half-open checks (lib/scenario/halfopen_checks.cpp).
std::vector<Check> halfopen_checks(const SuiteContext& context);
/// The close checks (lib/scenario/linger_checks.cpp).
std::vector<Check> linger_checks(const SuiteContext& context);
/// The churn checks (lib/scenario/timewait_checks.cpp).
std::vector<Check> timewait_checks(const SuiteContext& context);
/// The listen-backlog checks (lib/scenario/backlog_checks.cpp).
std::vector<Check> backlog_checks(const SuiteContext& context);
/// The small-write stall checks (lib/scenario/nagle_checks.cpp).
std::vector<Check> nagle_checks(const SuiteContext& context);
/// The keep-alive storm checks (lib/scenario/storm_checks.cpp).
std::vector<Check> storm_checks(const SuiteContext& context);
/// The accept-herd checks (lib/scenario/herd_checks.cpp).
std::vector<Check> herd_checks(const SuiteContext& context);
/// The syscalls-per-request checks (lib/scenario/syscost_checks.cpp).
std::vector<Check> syscost_checks(const SuiteContext& context);

}  // namespace sockdrill::scenario
