#pragma once
// sockdrill-herd as a function: N workers (threads or forked processes)
// serving K loopback listeners under churn load, once per accept model
// (blocking accept, shared epoll, EPOLLEXCLUSIVE, SO_REUSEPORT, four accept
// mutexes, select over several listeners), and what each model cost: wakeups
// per accepted connection, CPU per accept, accept latency, fairness across
// workers and starvation of listeners.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cli/run_main.hpp"

namespace sockdrill::scenario {

/// How the workers wait for and take connections (--model).
enum class AcceptModel {
    blocking,         ///< accept() in every worker (worker i on listener i % K)
    epoll_shared,     ///< every listener in every worker's epoll, level-triggered
    epoll_exclusive,  ///< the same with EPOLLEXCLUSIVE
    reuseport,        ///< one SO_REUSEPORT socket per worker and listener address
    mutex_fcntl,      ///< Apache's accept mutex: fcntl(F_OFD_SETLKW) around poll + accept
    mutex_flock,      ///< flock(LOCK_EX)
    mutex_sysvsem,    ///< a SysV semaphore with SEM_UNDO
    mutex_pthread,    ///< a process-shared robust pthread mutex
    select_multi,     ///< select() over every listener, blocking accept on the first ready
};

/// Every model, in the order `--model all` runs them.
std::span<const AcceptModel> all_models();
/// "epoll-shared": the spelling of --model and of the table.
std::string_view model_name(AcceptModel model);
/// "epoll_shared": the JSON key.
std::string model_key(AcceptModel model);
/// Parses --model values (each may hold a comma list; "all"). Throws
/// Error(usage) naming --model and the accepted words.
std::vector<AcceptModel> parse_models(const std::vector<std::string>& values);
/// Parses --weights "90,10": one positive integer per listener. Throws
/// Error(usage) naming --weights.
std::vector<unsigned> parse_weights(std::string_view text);

/// Everything one run can be told.
struct HerdConfig {
    std::vector<AcceptModel> models{all_models().begin(), all_models().end()};
    unsigned workers = 4;                      ///< accepting threads or processes
    bool processes = false;                    ///< fork workers instead of threads
    unsigned listeners = 1;                    ///< K listening addresses
    bool listeners_given = false;              ///< --listeners said; else select-multi takes 2
    std::vector<unsigned> weights;             ///< share of new connections per listener; empty: even
    unsigned concurrency = 32;                 ///< client connections in flight (closed loop)
    unsigned client_threads = 2;               ///< threads driving them
    uint64_t count = 0;                        ///< connections per model; 0: until --duration
    cli::Duration accept_timeout{1000000};     ///< a client gives a connection up after this (1 s)
    cli::Duration starve_threshold{200000};    ///< a listener whose max accept latency reaches this is starved
};

/// Range checks, each naming its flag; throws Error(usage).
void validate(const HerdConfig& config, const cli::CommonOptions& common);

/// How many listeners a model runs with: select-multi's starvation needs
/// two, so it takes 2 when neither --listeners nor --weights said.
unsigned listeners_for(const HerdConfig& config, AcceptModel model);

/// Jain's fairness index (sum x)^2 / (n * sum x^2): 1 when every worker got
/// the same share, 1/n when one got everything; 1 for no samples.
double jain_index(std::span<const uint64_t> values);

/// Runs the scenario (sockdrill.herd/1).
report::Report run_herd(const HerdConfig& config, const cli::CommonOptions& common, cli::Output& output);

}  // namespace sockdrill::scenario
