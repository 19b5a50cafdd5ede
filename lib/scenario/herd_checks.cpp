// `sockdrill suite` checks for herd: the kernel's wake-one accept(), the
// herd of a listener shared by several epolls, and the two fixes
// (EPOLLEXCLUSIVE, SO_REUSEPORT). Four workers, one connection at a time,
// so every connection finds every worker idle: about 2 s in all, loopback,
// no privilege needed.
#include <fmt/format.h>

#include "scenario/herd.hpp"
#include "scenario/suite.hpp"

namespace sockdrill::scenario {

std::vector<Check> herd_checks(const SuiteContext&) {
    std::vector<Check> checks;
    HerdConfig config;
    config.models = {AcceptModel::blocking, AcceptModel::epoll_shared, AcceptModel::epoll_exclusive,
                     AcceptModel::reuseport};
    config.workers = 4;
    config.concurrency = 1;  // each connection arrives to four idle workers
    config.client_threads = 1;
    cli::CommonOptions common;
    common.json = true;
    common.duration = std::chrono::milliseconds(400);
    cli::Output output("herd", common);
    try {
        auto r = run_herd(config, common, output);
        const auto& models = r.results.at("models");
        auto check = [&](AcceptModel m, const char* what, const char* expected, auto pass) {
            auto key = model_key(m);
            if (!models.contains(key)) {
                checks.push_back({"herd", what, "did not run", expected, false});
                return;
            }
            const auto& row = models.at(key);
            double wakeups = row.at("wakeups_per_accept").get<double>();
            uint64_t accepts = row.at("accepts").get<uint64_t>();
            checks.push_back({"herd", what,
                              fmt::format("{:.2f} wakeups per accept over {} accepts, Jain {:.2f}", wakeups, accepts,
                                          row.at("fairness").at("jain_index").get<double>()),
                              expected, accepts > 0 && pass(wakeups)});
        };
        check(AcceptModel::blocking, "4 threads in accept() on one listener: the kernel wakes one",
              "about 1 wakeup per accept", [](double w) { return w <= 1.3; });
        check(AcceptModel::epoll_shared, "one listener in 4 epolls, level-triggered: every worker wakes",
              "more than 1.5 wakeups per accept", [](double w) { return w > 1.5; });
        check(AcceptModel::epoll_exclusive, "the same with EPOLLEXCLUSIVE: one epoll woken",
              "at most 1.3 wakeups per accept", [](double w) { return w <= 1.3; });
        check(AcceptModel::reuseport, "SO_REUSEPORT, one listener per worker: no one else to wake",
              "at most 1.3 wakeups per accept", [](double w) { return w <= 1.3; });
    } catch (const std::exception& e) {
        checks.push_back({"herd", "the scenario runs", e.what(), "a result", false});
    }
    return checks;
}

}  // namespace sockdrill::scenario
