#include "kernel/sysctl.hpp"

#include <charconv>
#include <fmt/format.h>
#include <fstream>

#include "kernel/procfs.hpp"
#include "net/error.hpp"

namespace sockdrill::kernel {

namespace {
std::string proc_path(std::string_view name) {
    std::string path = "/proc/sys/";
    for (char c : name) path += c == '.' ? '/' : c;
    return path;
}
}  // namespace

std::optional<std::string> read_sysctl(std::string_view name) {
    auto value = read_proc_file(proc_path(name));
    if (!value) return std::nullopt;
    // One line; tabs separate the two numbers of ip_local_port_range.
    value->erase(std::min(value->size(), value->find('\n')));
    while (!value->empty() && (value->back() == ' ' || value->back() == '\t')) value->pop_back();
    return value;
}

void write_sysctl(std::string_view name, std::string_view value) {
    std::ofstream out(proc_path(name));
    out << value << '\n';
    out.flush();
    if (!out) throw Error(Exit::environment, fmt::format("cannot set sysctl {} = {}", name, value));
}

nlohmann::json sysctls_json(const std::vector<std::string_view>& names) {
    nlohmann::json j = nlohmann::json::object();
    for (auto name : names) {
        auto value = read_sysctl(name);
        if (!value) continue;
        long long number = 0;
        auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), number);
        if (ec == std::errc{} && end == value->data() + value->size())
            j[std::string(name)] = number;
        else
            j[std::string(name)] = *value;
    }
    return j;
}

}  // namespace sockdrill::kernel
