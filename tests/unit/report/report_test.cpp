#include "report/report.hpp"

#include <sys/utsname.h>

#include <doctest/doctest.h>

#include <string>

using sockdrill::report::Frame;
using sockdrill::report::json;
using sockdrill::report::render_table;
using sockdrill::report::render_text;
using sockdrill::report::Report;
using sockdrill::report::Table;
using sockdrill::report::Verdict;

namespace {

Report storm_report() {
    Report r;
    r.command = "storm";
    r.mode = "sandbox";
    r.sysctls = {{"net.core.somaxconn", 4096}};
    r.config = {{"rate", 1000}};
    r.results = {{"p99_ms", 3.5}};
    r.counters = {{"ListenOverflows", 0}};
    r.errors = {{"connect", {{"ECONNREFUSED", 2}}}};
    return r;
}

Verdict passed(std::string expr) { return Verdict{std::move(expr), 1, true, ""}; }
Verdict failed(std::string expr) { return Verdict{std::move(expr), 7.2, false, "p99_ms = 7.2, expected < 5"}; }

}  // namespace

TEST_CASE("the JSON frame has the keys of the output contract and a versioned schema") {
    Frame frame{"2026-11-26T23:39:29Z", 1.5, {}};
    json j = to_json(storm_report(), frame);
    for (auto key : {"schema", "command", "version", "started_at", "elapsed_s", "environment", "config",
                     "results", "counters", "errors", "expectations", "ok"}) {
        CAPTURE(key);
        CHECK(j.contains(key));
    }
    CHECK(j.size() == 12);
    CHECK(j["schema"] == "sockdrill.storm/1");
    CHECK(j["command"] == "storm");
    CHECK(j["version"] == SOCKDRILL_VERSION);
    CHECK(j["started_at"] == "2026-11-26T23:39:29Z");
    CHECK(j["elapsed_s"] == 1.5);
    CHECK(j["environment"]["mode"] == "sandbox");
    CHECK(j["environment"]["kernel"] == sockdrill::report::kernel_release());
    CHECK(j["environment"]["sysctls"]["net.core.somaxconn"] == 4096);
    CHECK(j["config"]["rate"] == 1000);
    CHECK(j["results"]["p99_ms"] == 3.5);
    CHECK(j["counters"]["ListenOverflows"] == 0);
    CHECK(j["errors"]["connect"]["ECONNREFUSED"] == 2);
}

TEST_CASE("the schema names the command") {
    Report r;
    r.command = "halfopen";
    CHECK(to_json(r, Frame{})["schema"] == "sockdrill.halfopen/1");
}

TEST_CASE("a report with no expectations is ok with an empty expectations array") {
    json j = to_json(storm_report(), Frame{});
    CHECK(j["ok"] == true);
    CHECK(j["expectations"] == json::array());
}

TEST_CASE("ok is true when every verdict passes") {
    Frame frame;
    frame.verdicts = {passed("a == 1"), passed("b == 1")};
    json j = to_json(storm_report(), frame);
    CHECK(j["ok"] == true);
    REQUIRE(j["expectations"].size() == 2);
    CHECK(j["expectations"][0] == json{{"expr", "a == 1"}, {"actual", 1}, {"ok", true}});
}

TEST_CASE("ok is false when one verdict fails, and each verdict is listed") {
    Frame frame;
    frame.verdicts = {passed("a == 1"), failed("p99_ms < 5"), passed("b == 1")};
    json j = to_json(storm_report(), frame);
    CHECK(j["ok"] == false);
    REQUIRE(j["expectations"].size() == 3);
    CHECK(j["expectations"][1]["expr"] == "p99_ms < 5");
    CHECK(j["expectations"][1]["actual"] == 7.2);
    CHECK(j["expectations"][1]["ok"] == false);
    CHECK(j["expectations"][2]["ok"] == true);
}

TEST_CASE("elapsed_s is rounded to milliseconds") {
    Frame frame;
    frame.elapsed_s = 1.23456;
    CHECK(to_json(storm_report(), frame)["elapsed_s"].get<double>() == doctest::Approx(1.235).epsilon(1e-12));
}

TEST_CASE("render_table aligns columns, right-aligns numbers and indents by two spaces") {
    Table t{"Latency", {"phase", "p50", "p99"}, {{"connect", "1.2 ms", "15 ms"}, {"read", "12 ms", "3 ms"}}};
    CHECK(render_table(t) ==
          "Latency\n"
          "  phase    p50     p99\n"
          "  connect  1.2 ms  15 ms\n"
          "  read      12 ms   3 ms\n");
}

TEST_CASE("render_table keeps words left-aligned and the first column left-aligned even when numeric") {
    Table t{"", {"port", "state", "count"}, {{"80", "ESTAB", "1"}, {"8080", "TIME-WAIT", "1234"}}};
    CHECK(render_table(t) ==
          "  port  state      count\n"
          "  80    ESTAB          1\n"
          "  8080  TIME-WAIT   1234\n");
}

TEST_CASE("render_table right-aligns negatives, percentages and thousands separators") {
    Table t{"", {"k", "value"}, {{"a", "-3"}, {"b", "97%"}, {"c", "1,234"}, {"d", "x"}}};
    CHECK(render_table(t) ==
          "  k  value\n"
          "  a     -3\n"
          "  b    97%\n"
          "  c  1,234\n"
          "  d  x\n");
}

TEST_CASE("render_table left-aligns a number followed by a long word") {
    Table t{"", {"k", "value"}, {{"a", "12 seconds"}, {"b", "1"}}};
    CHECK(render_table(t) ==
          "  k  value\n"
          "  a  12 seconds\n"
          "  b           1\n");
}

TEST_CASE("render_table right-aligns a fraction like 3/128, as numbers") {
    Table t{"", {"k", "backlog"}, {{"a", "3/128"}, {"b", "100/4096"}}};
    CHECK(render_table(t) ==
          "  k  backlog\n"
          "  a     3/128\n"
          "  b  100/4096\n");
}

TEST_CASE("render_table pads short rows and ignores cells beyond the columns") {
    Table t{"", {"a", "b"}, {{"x"}, {"y", "z", "extra"}}};
    CHECK(render_table(t) ==
          "  a  b\n"
          "  x\n"
          "  y  z\n");
}

TEST_CASE("render_text separates tables with a blank line and ends with the notes") {
    Report r;
    r.tables = {Table{"One", {"a"}, {{"1"}}}, Table{"Two", {"b"}, {{"2"}}}};
    r.notes = {"note: first", "note: second"};
    CHECK(render_text(r) ==
          "One\n  a\n  1\n"
          "\n"
          "Two\n  b\n  2\n"
          "note: first\nnote: second\n");
    CHECK(render_text(Report{}) == "");
}

TEST_CASE("rfc3339 writes UTC with a Z suffix") {
    using clock = std::chrono::system_clock;
    CHECK(sockdrill::report::rfc3339(clock::time_point{}) == "1970-01-01T00:00:00Z");
    CHECK(sockdrill::report::rfc3339(clock::from_time_t(1795736369)) == "2026-11-26T23:39:29Z");
}

TEST_CASE("kernel_release is the running kernel's uname release") {
    utsname u{};
    REQUIRE(uname(&u) == 0);
    CHECK(sockdrill::report::kernel_release() == u.release);
}
