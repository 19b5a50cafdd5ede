#pragma once
// Reading and writing sysctls through /proc/sys, in the current network
// namespace (net.* sysctls are per namespace).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace sockdrill::kernel {

/// The value of a sysctl ("net.core.somaxconn"), trimmed; nullopt when absent.
std::optional<std::string> read_sysctl(std::string_view name);
/// Writes a sysctl; throws Error(Exit::environment) naming it on failure.
void write_sysctl(std::string_view name, std::string_view value);
/// {"net.core.somaxconn": 4096, ...}: numbers as numbers, absent ones left out.
nlohmann::json sysctls_json(const std::vector<std::string_view>& names);

}  // namespace sockdrill::kernel
