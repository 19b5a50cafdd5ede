#pragma once
// The two halves of sockdrill-halfopen and what they share; only
// halfopen*.cpp include this.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "scenario/halfopen.hpp"

namespace sockdrill::scenario {

/// --side client: we are the victim, a peer in the server namespace vanishes.
report::Report run_halfopen_client(const HalfopenConfig& config, const cli::CommonOptions& common,
                                   cli::Output& output);
/// --side server: we are the client that vanishes; the server's half is watched.
report::Report run_halfopen_server(const HalfopenConfig& config, const cli::CommonOptions& common,
                                   cli::Output& output);

/// "user-timeout" for Method::user_timeout.
std::string_view method_label(Method method);

/// "412 ms", "3.01 s", "never" for a duration in milliseconds.
std::string format_ms(std::optional<double> ms);

/// Milliseconds between two steady-clock times, fractional.
inline double ms_between(std::chrono::steady_clock::time_point from, std::chrono::steady_clock::time_point to) {
    return std::chrono::duration<double, std::milli>(to - from).count();
}

}  // namespace sockdrill::scenario
