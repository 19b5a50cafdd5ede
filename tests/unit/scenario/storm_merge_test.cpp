#include <doctest/doctest.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "load/histogram.hpp"
#include "load/keepalive.hpp"
#include "net/error.hpp"
#include "usage_error.hpp"
#include "report/report.hpp"
#include "scenario/storm.hpp"

using namespace sockdrill;
using namespace sockdrill::scenario;
using report::json;

namespace {

namespace fs = std::filesystem;

// A directory of its own under the temp dir, removed with everything in it.
class TempDir {
  public:
    TempDir() {
        std::string pattern = (fs::temp_directory_path() / "storm_merge_test.XXXXXX").string();
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    /// Writes `content` to `name` in the directory; returns its path.
    std::string write(const std::string& name, const std::string& content) const {
        std::string file = (path_ / name).string();
        std::ofstream(file) << content;
        return file;
    }
    const fs::path& path() const { return path_; }

  private:
    fs::path path_;
};

uint64_t& syscalls(load::KeepaliveResult& r, load::Syscall call) {
    return r.stats.syscalls[static_cast<size_t>(call)];
}

// Host A: 1000 requests in 2 s (500/s) at 100..1099 us, stopped early;
// three refused connects from 0.5 s, two resets from 1.2 s.
load::KeepaliveResult host_a() {
    load::KeepaliveResult r;
    auto& s = r.stats;
    s.sent = 1004;
    s.completed = 1000;
    s.lost = 2;
    s.abandoned = 2;
    s.late = 7;
    s.non_2xx = 1;
    s.bytes_sent = 40'000;
    s.bytes_received = 90'000;
    s.connections = {15, 12, 10, 1, 0, 3, 2, 0, 10};
    for (uint64_t i = 0; i < 1000; ++i) s.latency.record(100 + i);
    for (uint64_t i = 0; i < 12; ++i) s.connect.record(40 + i);
    s.reconnect.record(2'000);
    s.errors.add(load::Phase::connect, ECONNREFUSED, 500'000'000);
    s.errors.add(load::Phase::connect, ECONNREFUSED, 600'000'000);
    s.errors.add(load::Phase::connect, ECONNREFUSED, 700'000'000);
    s.errors.add(load::Phase::read, ECONNRESET, 1'200'000'000);
    s.errors.add(load::Phase::read, ECONNRESET, 1'300'000'000);
    syscalls(r, load::Syscall::send) = 1004;
    syscalls(r, load::Syscall::recv) = 1500;
    r.elapsed_s = 2.0;
    r.rate = 600;
    r.stopped = true;
    return r;
}

// Host B: 3000 requests in 2.5 s (1200/s) at 2 to 53 ms; a
// refused connect earlier than A's (0.2 s), a reset later than A's (1.5 s),
// four broken pipes.
load::KeepaliveResult host_b() {
    load::KeepaliveResult r;
    auto& s = r.stats;
    s.sent = 3010;
    s.completed = 3000;
    s.lost = 6;
    s.abandoned = 4;
    s.bytes_sent = 120'000;
    s.bytes_received = 270'000;
    s.connections = {40, 40, 30, 8, 2, 0, 5, 1, 32};
    for (uint64_t i = 0; i < 3000; ++i) s.latency.record(2'000 + i * 17);
    for (uint64_t i = 0; i < 40; ++i) s.connect.record(60 + 3 * i);
    s.errors.add(load::Phase::connect, ECONNREFUSED, 200'000'000);
    s.errors.add(load::Phase::read, ECONNRESET, 1'500'000'000);
    for (int i = 0; i < 4; ++i) s.errors.add(load::Phase::write, EPIPE, 2'000'000'000 + i);
    syscalls(r, load::Syscall::send) = 3010;
    syscalls(r, load::Syscall::epoll_wait) = 700;
    r.elapsed_s = 2.5;
    r.rate = 1200;
    return r;
}

// What `sockdrill-storm --json` prints for a steady run: the real frame writer.
json storm_document(const load::KeepaliveResult& result, const std::string& mode,
                    const std::string& started_at, const std::string& command = "storm",
                    const std::string& scenario = "steady") {
    report::Report r;
    r.command = command;
    r.mode = mode;
    r.config = {{"scenario", scenario}, {"sources", 1}};
    if (mode == "target") r.config["target"] = "127.0.0.1:8080";
    json load = result;
    r.results = {{"scenario", scenario}, {"load", load}, {"server", nullptr}};
    r.errors = load["errors"];
    return report::to_json(r, report::Frame{started_at, result.elapsed_s + 0.5, {}});
}

// An --interval record as cli::Output writes it: one line, "interval": true.
std::string interval_line(uint64_t completed) {
    load::KeepaliveInterval iv;
    iv.start_s = 0;
    iv.end_s = 1;
    iv.completed = completed;
    iv.latency.record(300);
    report::Report partial;
    partial.command = "storm";
    partial.mode = "sandbox";
    partial.results = {{"scenario", "steady"}, {"variant", "load"}, {"interval", json(iv)}};
    json line = report::to_json(partial, report::Frame{"2026-11-26T23:39:30Z", 0, {}});
    line["interval"] = true;
    return line.dump();
}

// The message of the usage error merge_storm throws ("" if none).
std::string merge_error(const std::vector<std::string>& files) {
    return sockdrill::testing::usage_message([&] { merge_storm(files); });
}

}  // namespace

TEST_CASE("merge sums counts, adds rates and merges histograms as one run's JSON would show them") {
    TempDir dir;
    auto a = host_a(), b = host_b();
    std::string file_a =
        dir.write("a.json", storm_document(a, "sandbox", "2026-11-26T23:39:29Z").dump(2));
    std::string file_b =
        dir.write("b.json", storm_document(b, "target", "2026-11-26T23:39:30Z").dump(2));

    report::Report merged = merge_storm({file_a, file_b});
    const json& load = merged.results.at("load");

    // The same shape and figures as one run that measured both hosts, but
    // requests/s: the hosts' rates add up (500 + 1200), where completed over
    // the longest elapsed would say 4000 / 2.5 s = 1600.
    load::KeepaliveResult both = a;
    both.stats.merge(b.stats);
    both.elapsed_s = 2.5;
    both.rate = 1800;
    both.stopped = true;
    json want = both;
    want["requests_per_s"] = 1700.0;
    CHECK(load == want);

    CHECK(load["requests"]["completed"] == 4000);
    CHECK(load["requests"]["sent"] == 4014);
    CHECK(load["connections"]["peak_open"] == 42);
    CHECK(load["requests_per_s"] == 1700.0);
    CHECK(load["target_rate_per_s"] == 1800.0);
    CHECK(load["elapsed_s"] == 2.5);
    CHECK(load["stopped"] == true);
    CHECK(load["syscalls"] == json{{"send", 4014}, {"recv", 1500}, {"epoll_wait", 700}});
    CHECK(load["syscalls_per_request"] ==
          doctest::Approx((4014.0 + 1500 + 700) / 4000).epsilon(1e-3));
    CHECK(load["errors"] == json{{"connect", {{"ECONNREFUSED", 4}}},
                                 {"read", {{"ECONNRESET", 3}}},
                                 {"write", {{"EPIPE", 4}}}});
    // The earliest of the two, whichever file it is in.
    CHECK(load["first_error_s"]["connect"]["ECONNREFUSED"] == 0.2);
    CHECK(load["first_error_s"]["read"]["ECONNRESET"] == 1.2);

    // Percentiles of the merge are those of the two histograms merged, not of either.
    load::Histogram direct = a.stats.latency;
    direct.merge(b.stats.latency);
    const json& latency = load["latency"];
    CHECK(latency["count"] == direct.count());
    CHECK(latency["max_us"] == direct.max());
    CHECK(latency["min_us"] == 100);
    for (auto [key, p] :
         {std::pair{"p50_us", 50.0}, {"p90_us", 90.0}, {"p99_us", 99.0}, {"p999_us", 99.9}})
        CHECK(latency[key] == direct.percentile(p));
    CHECK(direct.percentile(50) != a.stats.latency.percentile(50));
    CHECK(direct.percentile(50) != b.stats.latency.percentile(50));
    CHECK(load["connect"]["count"] == 52);
    CHECK(load["reconnect"]["count"] == 1);
}

TEST_CASE("the merged report: one host line per file, a row per file plus the total, the chart") {
    TempDir dir;
    auto a = host_a(), b = host_b();
    std::string file_a =
        dir.write("a.json", storm_document(a, "sandbox", "2026-11-26T23:39:29Z").dump(2));
    std::string file_b =
        dir.write("b.json", storm_document(b, "target", "2026-11-26T23:39:30Z").dump(2));

    report::Report r = merge_storm({file_a, file_b});
    CHECK(r.command == "storm");
    CHECK(r.mode == "merged");
    CHECK(r.config == json{{"files", {file_a, file_b}}});
    CHECK(r.results["scenario"] == "merged");
    CHECK(r.results["files"] == 2);
    CHECK(r.errors == r.results["load"]["errors"]);

    const json& hosts = r.results["hosts"];
    REQUIRE(hosts.size() == 2);
    CHECK(hosts[0]["file"] == file_a);
    CHECK(hosts[0]["mode"] == "sandbox");
    CHECK(hosts[0]["target"] == nullptr);
    CHECK(hosts[0]["started_at"] == "2026-11-26T23:39:29Z");
    CHECK(hosts[0]["requests_per_s"] == 500.0);
    CHECK(hosts[0]["errors"] == 5);
    CHECK(hosts[1]["mode"] == "target");
    CHECK(hosts[1]["target"] == "127.0.0.1:8080");
    CHECK(hosts[1]["completed"] == 3000);
    CHECK(hosts[1]["p50_us"] == b.stats.latency.percentile(50));
    CHECK(hosts[1]["p99_us"] == b.stats.latency.percentile(99));

    REQUIRE(r.tables.size() == 3);
    CHECK(r.tables[0].title == "storm merge: 2 runs");
    REQUIRE(r.tables[0].rows.size() == 3);
    CHECK(r.tables[0].rows[0][0] == file_a);
    CHECK(r.tables[0].rows[2] ==
          std::vector<std::string>{"total", "merged", "4000", "1700", r.tables[0].rows[2][4],
                                   r.tables[0].rows[2][5],
                                   load::format_us(double(b.stats.latency.max())), "11"});
    load::Histogram direct = a.stats.latency;
    direct.merge(b.stats.latency);
    CHECK(r.tables[0].rows[2][5] == load::format_us(double(direct.percentile(99))));
    CHECK(r.tables[1].rows[0][0] == "4000");
    CHECK(r.tables[2].rows == report::text_table("", "", load::render_chart(direct)).rows);
    // A was stopped early; the runs overlapped, so no note about that.
    REQUIRE(r.notes.size() == 1);
    CHECK(r.notes[0].find(file_a) != std::string::npos);
    CHECK(r.notes[0].find(file_b) == std::string::npos);

    // Its own JSON is a storm document (but not one that merges again).
    json doc = report::to_json(r, report::Frame{"2026-11-26T23:40:00Z", 0.1, {}});
    CHECK(doc["schema"] == "sockdrill.storm/1");
    CHECK(doc["environment"]["mode"] == "merged");
}

TEST_CASE("runs an hour apart merge, with a note that their rates do not add up") {
    TempDir dir;
    std::string file_a =
        dir.write("a.json", storm_document(host_a(), "host", "2026-11-26T22:39:29Z").dump(2));
    std::string file_b =
        dir.write("b.json", storm_document(host_a(), "host", "2026-11-26T23:39:29Z").dump(2));
    report::Report r = merge_storm({file_a, file_b});
    REQUIRE(r.notes.size() == 2);  // A was stopped, too
    CHECK(r.notes[0].find("did not all overlap") != std::string::npos);
}

TEST_CASE("a --json --interval file (JSON Lines) merges its last line, the final result") {
    TempDir dir;
    auto a = host_a();
    std::string lines = interval_line(400) + "\n" + interval_line(500) + "\n" +
                        storm_document(a, "sandbox", "2026-11-26T23:39:29Z").dump() + "\n";
    std::string file = dir.write("lines.json", lines);

    report::Report r = merge_storm({file});
    json want = a;
    CHECK(r.results["load"] == want);
    CHECK(r.results["files"] == 1);
    CHECK(r.tables[0].title == "storm merge: 1 run");

    // Cut short (kill -9): the last line is an interval record.
    std::string cut = dir.write("cut.json", interval_line(400) + "\n" + interval_line(500) + "\n");
    CHECK(merge_error({cut}) ==
          cut +
              ": ends with an --interval record, not the final result (was the run cut short?)");
}

TEST_CASE("merge errors are usage errors, one line naming the file") {
    TempDir dir;
    std::string good =
        dir.write("good.json", storm_document(host_a(), "host", "2026-11-26T23:39:29Z").dump(2));

    CHECK(merge_error({}) == "expected at least one FILE");

    std::string absent = (dir.path() / "absent.json").string();
    CHECK(merge_error({good, absent}) == absent + ": No such file or directory");
    CHECK(merge_error({dir.path().string()}) ==
          dir.path().string() + ": Is a directory");

    std::string garbage = dir.write("garbage.json", "hello\n");
    CHECK(merge_error({garbage}).rfind(garbage + ": not JSON (line 1: syntax error",
                                       0) == 0);
    std::string pretty = dir.write(
        "pretty.json", "{\n  \"schema\": \"sockdrill.storm/1\",\n  \"command\": oops\n}\n");
    CHECK(merge_error({pretty}).rfind(pretty + ": not JSON (line 3: ", 0) == 0);
    std::string torn = dir.write("torn.json", interval_line(1) + "\n" + "{\"schema\": \"sock\n");
    CHECK(merge_error({torn}).rfind(torn + ": not JSON (line 2: ", 0) == 0);
    std::string empty = dir.write("empty.json", "");
    CHECK(merge_error({empty}).rfind(empty + ": not JSON (line 1: ", 0) == 0);

    std::string nagle = dir.write(
        "nagle.json", storm_document(host_a(), "host", "2026-11-26T23:39:29Z", "nagle").dump());
    CHECK(merge_error({good, nagle}) ==
          nagle + ": schema sockdrill.nagle/1, expected sockdrill.storm/1");
    std::string array = dir.write("array.json", "[1, 2]");
    CHECK(merge_error({array}) ==
          array + ": schema (none), expected sockdrill.storm/1");

    std::string race = dir.write(
        "race.json",
        storm_document(host_a(), "host", "2026-11-26T23:39:29Z", "storm", "idle-race").dump());
    CHECK(merge_error({good, race}) ==
          race + ": scenario idle-race; only steady runs merge");
    std::string merged = dir.write(
        "merged.json",
        report::to_json(merge_storm({good}), report::Frame{"2026-11-26T23:40:00Z", 0, {}}).dump());
    CHECK(merge_error({merged}) ==
          merged + ": scenario merged; only steady runs merge");

    CHECK(merge_error({good, good}) == good + " given twice");
    std::string respelled = (dir.path() / "." / "good.json").string();
    CHECK(merge_error({good, respelled}) == respelled + " given twice");

    json doc = storm_document(host_a(), "host", "2026-11-26T23:39:29Z");
    doc["results"]["load"]["requests"].erase("completed");
    std::string broken = dir.write("broken.json", doc.dump());
    CHECK(merge_error({good, broken}) ==
          broken + ": results.load: key 'completed' not found");
    doc = storm_document(host_a(), "host", "2026-11-26T23:39:29Z");
    doc["results"]["load"]["latency"]["count"] = 7;
    std::string miscounted = dir.write("miscounted.json", doc.dump());
    CHECK(merge_error({miscounted})
              .rfind(miscounted + ": results.load: histogram: \"count\" is 7", 0) == 0);
}
