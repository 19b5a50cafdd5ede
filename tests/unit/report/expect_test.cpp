#include "report/expect.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "net/error.hpp"

using sockdrill::Error;
using sockdrill::Exit;
using sockdrill::report::evaluate;
using sockdrill::report::Expectation;
using sockdrill::report::json;
using sockdrill::report::lookup;
using sockdrill::report::Op;
using sockdrill::report::parse_expectation;
using sockdrill::report::Verdict;

namespace {

// The shape of a command's JSON object: top-level keys around "results".
const json& run() {
    static const json whole = json::parse(R"({
        "schema": "sockdrill.storm/1",
        "ok": true,
        "counters": {"ListenOverflows": 4},
        "errors": {"connect": {"ECONNREFUSED": 1}},
        "environment": {"mode": "host"},
        "results": {
            "p99_ms": 7.2,
            "requests": 1000,
            "ok": "shadowed by the top-level ok",
            "drained": false,
            "io": "epoll",
            "port": "8080",
            "errors": {"read": {"ECONNRESET": 2}},
            "rows": [{"x": 1}, {"x": 2}],
            "counters": {"mine": 1}
        }
    })");
    return whole;
}

Verdict verdict(std::string_view text) {
    auto verdicts = evaluate({parse_expectation(text)}, run());
    REQUIRE(verdicts.size() == 1);
    return verdicts[0];
}

bool holds(std::string_view text) { return verdict(text).ok; }

}  // namespace

TEST_CASE("every comparison operator parses, two-character ones not read as one character") {
    struct Case {
        const char* text;
        Op op;
    };
    for (auto [text, op] : {Case{"p99_ms < 5", Op::lt}, Case{"p99_ms <= 5", Op::le}, Case{"p99_ms > 5", Op::gt},
                            Case{"p99_ms >= 5", Op::ge}, Case{"p99_ms == 5", Op::eq},
                            Case{"p99_ms != 5", Op::ne}}) {
        CAPTURE(text);
        auto e = parse_expectation(text);
        CHECK(e.op == op);
        CHECK(e.path == "p99_ms");
        CHECK(e.value == 5.0);
        CHECK(e.expr == text);
    }
}

TEST_CASE("an expectation without spaces parses the same and keeps the trimmed text") {
    auto e = parse_expectation("  counters.ListenOverflows<=0  ");
    CHECK(e.path == "counters.ListenOverflows");
    CHECK(e.op == Op::le);
    CHECK(e.value == 0.0);
    CHECK(e.expr == "counters.ListenOverflows<=0");
}

TEST_CASE("values parse as numbers, booleans or strings with optional quotes") {
    CHECK(parse_expectation("x == -2.5").value == -2.5);
    CHECK(parse_expectation("x == 1e3").value == 1000.0);
    CHECK(parse_expectation("x == true").value == true);
    CHECK(parse_expectation("x == false").value == false);
    CHECK(parse_expectation("x == epoll").value == "epoll");
    CHECK(parse_expectation("x == 'epoll'").value == "epoll");
    CHECK(parse_expectation("x == \"two words\"").value == "two words");
    CHECK(parse_expectation("x == 5ms").value == "5ms");
}

TEST_CASE("malformed expectations are usage errors naming --expect and the form") {
    for (auto text : {"", "p99_ms", "p99_ms 5", "p99_ms = 5", "< 5", "p99_ms <", "  <=  "}) {
        CAPTURE(text);
        try {
            parse_expectation(text);
            FAIL("accepted");
        } catch (const Error& e) {
            CHECK(e.exit() == Exit::usage);
            std::string message = e.what();
            CHECK(message.find("--expect: expected 'FIELD OP VALUE' with OP one of < <= > >= == !=") == 0);
            CHECK(message.find(std::string("got \"") + text + "\"") != std::string::npos);
        }
    }
}

TEST_CASE("a path that is not a top-level key is looked up inside results") {
    const json* p99 = lookup(run(), "p99_ms");
    REQUIRE(p99);
    CHECK(*p99 == 7.2);
    const json* reset = lookup(run(), "results.errors.read.ECONNRESET");
    REQUIRE(reset);
    CHECK(*reset == 2);
}

TEST_CASE("a path starting with a top-level key is looked up from the top") {
    const json* overflows = lookup(run(), "counters.ListenOverflows");
    REQUIRE(overflows);
    CHECK(*overflows == 4);
    const json* ok = lookup(run(), "ok");
    REQUIRE(ok);
    CHECK(*ok == true);  // not results.ok
    CHECK(lookup(run(), "counters.mine") == nullptr);
    const json* refused = lookup(run(), "errors.connect.ECONNREFUSED");
    REQUIRE(refused);
    CHECK(*refused == 1);
}

TEST_CASE("numeric path segments index arrays") {
    const json* x = lookup(run(), "rows.1.x");
    REQUIRE(x);
    CHECK(*x == 2);
    CHECK(lookup(run(), "rows.0.x")->get<int>() == 1);
    CHECK(lookup(run(), "rows.2.x") == nullptr);
    CHECK(lookup(run(), "rows.-1.x") == nullptr);
    CHECK(lookup(run(), "rows.one.x") == nullptr);
    CHECK(lookup(run(), "rows.1x") == nullptr);
}

TEST_CASE("absent fields and paths through scalars look up as nullptr") {
    CHECK(lookup(run(), "p50_ms") == nullptr);
    CHECK(lookup(run(), "results.p50_ms") == nullptr);
    CHECK(lookup(run(), "p99_ms.max") == nullptr);
    CHECK(lookup(run(), "errors.read") == nullptr);  // top-level errors has no "read"
}

TEST_CASE("a document without results is looked up from its root") {
    json flat = {{"a", {{"b", 3}}}};
    const json* b = lookup(flat, "a.b");
    REQUIRE(b);
    CHECK(*b == 3);
    CHECK(lookup(flat, "c") == nullptr);
}

TEST_CASE("numbers compare with every operator") {
    CHECK(holds("p99_ms < 10"));
    CHECK_FALSE(holds("p99_ms < 7.2"));
    CHECK(holds("p99_ms <= 7.2"));
    CHECK(holds("p99_ms > 7"));
    CHECK_FALSE(holds("p99_ms > 7.2"));
    CHECK(holds("p99_ms >= 7.2"));
    CHECK(holds("requests == 1000"));
    CHECK(holds("requests != 999"));
    CHECK_FALSE(holds("requests != 1000"));
    CHECK(holds("counters.ListenOverflows == 4"));
}

TEST_CASE("booleans compare with == and !=") {
    CHECK(holds("ok == true"));
    CHECK_FALSE(holds("ok == false"));
    CHECK(holds("drained != true"));
    CHECK(holds("drained == false"));
}

TEST_CASE("strings compare with == and != only, quoted or not") {
    CHECK(holds("io == epoll"));
    CHECK(holds("io == 'epoll'"));
    CHECK(holds("io != poll"));
    CHECK_FALSE(holds("io == poll"));
    CHECK(holds("environment.mode == host"));
    CHECK_FALSE(holds("io < zzz"));
}

TEST_CASE("a string field compared with a number-looking literal compares the text as written") {
    // "port == 8080" on {"port": "8080"}: the literal was parsed as the number
    // 8080.0, and its dump() "8080.0" is not the text the user wrote.
    CHECK(holds("port == 8080"));
}

TEST_CASE("a type mismatch fails the expectation and says what was found") {
    auto v = verdict("io == 5");
    CHECK_FALSE(v.ok);
    CHECK(v.actual == "epoll");
    CHECK(v.message.find("io = \"epoll\"") == 0);
    CHECK_FALSE(holds("requests == true"));
    CHECK_FALSE(holds("drained == 0"));
}

TEST_CASE("a failed number comparison explains actual and expected") {
    auto v = verdict("p99_ms < 5");
    CHECK_FALSE(v.ok);
    CHECK(v.expr == "p99_ms < 5");
    CHECK(v.actual == 7.2);
    CHECK(v.message == "p99_ms = 7.2, expected < 5");
}

TEST_CASE("a failed string comparison shows the expected text without quotes") {
    auto v = verdict("io == poll");
    CHECK(v.message == "io = \"epoll\", expected == poll");
}

TEST_CASE("a missing field fails with a null actual and says there is no such field") {
    auto v = verdict("p50_ms < 5");
    CHECK_FALSE(v.ok);
    CHECK(v.actual.is_null());
    CHECK(v.message == "p50_ms: no such field in the result");
}

TEST_CASE("a passing expectation carries the actual value and no message") {
    auto v = verdict("requests >= 1000");
    CHECK(v.ok);
    CHECK(v.actual == 1000);
    CHECK(v.message.empty());
}

TEST_CASE("evaluate returns one verdict per expectation, in order") {
    std::vector<Expectation> all{parse_expectation("ok == true"), parse_expectation("p50_ms < 1"),
                                 parse_expectation("requests > 1")};
    auto verdicts = evaluate(all, run());
    REQUIRE(verdicts.size() == 3);
    CHECK(verdicts[0].ok);
    CHECK_FALSE(verdicts[1].ok);
    CHECK(verdicts[2].ok);
    CHECK(verdicts[1].expr == "p50_ms < 1");
    CHECK(evaluate({}, run()).empty());
}
