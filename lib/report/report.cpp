#include "report/report.hpp"

#include <sys/utsname.h>

#include <algorithm>
#include <ctime>
#include <fmt/format.h>

namespace sockdrill::report {

std::string rfc3339(std::chrono::system_clock::time_point t) {
    std::time_t secs = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string kernel_release() {
    utsname u{};
    if (uname(&u) != 0) return "unknown";
    return u.release;
}

json to_json(const Report& r, const Frame& f) {
    json expectations = json::array();
    bool ok = true;
    for (const auto& v : f.verdicts) {
        expectations.push_back({{"expr", v.expr}, {"actual", v.actual}, {"ok", v.ok}});
        ok = ok && v.ok;
    }
    return json{{"schema", fmt::format("sockdrill.{}/1", r.command)},
                {"command", r.command},
                {"version", SOCKDRILL_VERSION},
                {"started_at", f.started_at},
                {"elapsed_s", std::round(f.elapsed_s * 1000) / 1000},
                {"environment",
                 {{"mode", r.mode}, {"kernel", kernel_release()}, {"sysctls", r.sysctls}}},
                {"config", r.config},
                {"results", r.results},
                {"counters", r.counters},
                {"errors", r.errors},
                {"expectations", expectations},
                {"ok", ok}};
}

// Numbers (and things that look like them: "12.5 ms", "3/128") align right.
// A number, optionally followed by one short unit: "12", "-3", "4.5 ms", "97%".
bool looks_numeric(std::string_view cell) {
    size_t i = 0;
    if (i < cell.size() && cell[i] == '-') ++i;
    if (i >= cell.size() || !std::isdigit(static_cast<unsigned char>(cell[i]))) return false;
    while (i < cell.size() && (std::isdigit(static_cast<unsigned char>(cell[i])) || cell[i] == '.' ||
                               cell[i] == ',' || cell[i] == '%' || cell[i] == '/'))
        ++i;
    if (i < cell.size() && cell[i] == ' ') ++i;
    size_t unit = cell.size() - i;
    for (; i < cell.size(); ++i)
        if (!std::isalpha(static_cast<unsigned char>(cell[i])) && cell[i] != '/') return false;
    return unit <= 5;
}

std::string render_table(const Table& t) {
    std::vector<size_t> width(t.columns.size(), 0);
    for (size_t c = 0; c < t.columns.size(); ++c) width[c] = t.columns[c].size();
    for (const auto& row : t.rows)
        for (size_t c = 0; c < row.size() && c < width.size(); ++c)
            width[c] = std::max(width[c], row[c].size());
    std::string out;
    if (!t.title.empty()) out += t.title + "\n";
    auto line = [&](const std::vector<std::string>& cells, bool header) {
        std::string text;
        for (size_t c = 0; c < width.size(); ++c) {
            std::string_view cell = c < cells.size() ? std::string_view(cells[c]) : std::string_view();
            bool right = !header && looks_numeric(cell) && c > 0;
            if (c > 0) text += "  ";
            // Plain appends: this runs per cell of tables with 50,000 rows.
            size_t pad = width[c] > cell.size() ? width[c] - cell.size() : 0;
            if (right) text.append(pad, ' ');
            text += cell;
            if (!right) text.append(pad, ' ');
        }
        while (!text.empty() && text.back() == ' ') text.pop_back();
        out += "  " + text + "\n";
    };
    line(t.columns, true);
    for (const auto& row : t.rows) line(row, false);
    return out;
}

Table text_table(std::string title, std::string header, std::string_view text) {
    Table t{std::move(title), {std::move(header)}, {}};
    while (!text.empty()) {
        size_t nl = text.find('\n');
        t.rows.push_back({std::string(text.substr(0, nl))});
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    }
    return t;
}

std::string render_text(const Report& r) {
    std::string out;
    for (size_t i = 0; i < r.tables.size(); ++i) {
        if (i > 0) out += "\n";
        out += render_table(r.tables[i]);
    }
    for (const auto& note : r.notes) out += note + "\n";
    return out;
}

}  // namespace sockdrill::report
