#include "report/expect.hpp"

#include <charconv>
#include <fmt/format.h>

#include "net/error.hpp"

namespace sockdrill::report {

namespace {

struct OpSpelling {
    std::string_view text;
    Op op;
};
// Two-character operators first, so "<=" is not read as "<".
constexpr OpSpelling kOps[] = {{"<=", Op::le}, {">=", Op::ge}, {"==", Op::eq},
                               {"!=", Op::ne}, {"<", Op::lt},  {">", Op::gt}};

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

json parse_value(std::string_view text) {
    if (text == "true") return true;
    if (text == "false") return false;
    double number = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (ec == std::errc{} && end == text.data() + text.size()) return number;
    if (text.size() >= 2 && (text.front() == '"' || text.front() == '\'') && text.back() == text.front())
        text = text.substr(1, text.size() - 2);
    return std::string(text);
}

std::string_view op_text(Op op) {
    for (const auto& o : kOps)
        if (o.op == op) return o.text;
    return "?";
}

template <typename T>
bool compare(const T& a, Op op, const T& b) {
    switch (op) {
        case Op::lt: return a < b;
        case Op::le: return a <= b;
        case Op::gt: return a > b;
        case Op::ge: return a >= b;
        case Op::eq: return a == b;
        case Op::ne: return a != b;
    }
    return false;
}

// The literal as the user wrote it: 5, not nlohmann's 5.0.
std::string value_text(const json& value) {
    if (value.is_string()) return value.get<std::string>();
    if (value.is_number()) return fmt::format("{}", value.get<double>());
    return value.dump();
}

}  // namespace

Expectation parse_expectation(std::string_view text) {
    for (const auto& o : kOps) {
        auto at = text.find(o.text);
        if (at == std::string_view::npos) continue;
        Expectation e;
        e.expr = std::string(trim(text));
        e.path = std::string(trim(text.substr(0, at)));
        e.op = o.op;
        auto value = trim(text.substr(at + o.text.size()));
        if (e.path.empty() || value.empty()) break;
        e.value = parse_value(value);
        return e;
    }
    throw Error::usage(fmt::format(
        "--expect: expected 'FIELD OP VALUE' with OP one of < <= > >= == !=, got \"{}\"", text));
}

const json* lookup(const json& whole, std::string_view path) {
    const json* node = &whole;
    // A path that does not start with a top-level key is read inside "results".
    auto first = path.substr(0, path.find('.'));
    if (!whole.contains(std::string(first)) && whole.contains("results")) node = &whole["results"];
    while (!path.empty()) {
        auto dot = path.find('.');
        auto key = path.substr(0, dot);
        path = dot == std::string_view::npos ? std::string_view{} : path.substr(dot + 1);
        if (node->is_object()) {
            auto it = node->find(std::string(key));
            if (it == node->end()) return nullptr;
            node = &*it;
        } else if (node->is_array()) {
            size_t index = 0;
            auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), index);
            if (ec != std::errc{} || end != key.data() + key.size() || index >= node->size())
                return nullptr;
            node = &(*node)[index];
        } else {
            return nullptr;
        }
    }
    return node;
}

std::vector<Verdict> evaluate(const std::vector<Expectation>& expectations, const json& whole) {
    std::vector<Verdict> verdicts;
    for (const auto& e : expectations) {
        Verdict v;
        v.expr = e.expr;
        const json* actual = lookup(whole, e.path);
        if (!actual) {
            v.actual = nullptr;
            v.message = fmt::format("{}: no such field in the result", e.path);
        } else {
            v.actual = *actual;
            if (actual->is_number() && e.value.is_number())
                v.ok = compare(actual->get<double>(), e.op, e.value.get<double>());
            else if (actual->is_boolean() && e.value.is_boolean())
                v.ok = compare(actual->get<bool>(), e.op, e.value.get<bool>());
            else if (actual->is_string() && (e.op == Op::eq || e.op == Op::ne))
                v.ok = compare(actual->get<std::string>(), e.op, value_text(e.value));
            if (!v.ok)
                v.message = fmt::format("{} = {}, expected {} {}", e.path, actual->dump(),
                                        op_text(e.op), value_text(e.value));
        }
        verdicts.push_back(std::move(v));
    }
    return verdicts;
}

}  // namespace sockdrill::report
