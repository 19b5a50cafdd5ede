// sockdrill-herd: for each accept model, fresh listeners on 127.0.0.1 and
// fresh workers (threads or forked children) counting into one shared
// mapping, the same closed-loop churn against them, and per model: wakeups
// and empty wakeups per accepted connection, CPU per accept, accept latency
// (accept() returning minus the client's stamp taken before connect()),
// throughput, fairness across workers and starved listeners.
// The worker loops and the kernel behaviour they show are in herd_worker.cpp,
// the client load in herd_load.cpp.
#include "scenario/herd.hpp"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <exception>
#include <fmt/format.h>
#include <optional>

#include "cli/signals.hpp"
#include "kernel/counters.hpp"
#include "kernel/sysctl.hpp"
#include "net/error.hpp"
#include "net/fd.hpp"
#include "scenario/herd_parts.hpp"

namespace sockdrill::scenario {

namespace {

using namespace std::chrono_literals;

constexpr AcceptModel kAllModels[] = {
    AcceptModel::blocking,      AcceptModel::epoll_shared,  AcceptModel::epoll_exclusive,
    AcceptModel::reuseport,     AcceptModel::mutex_fcntl,   AcceptModel::mutex_flock,
    AcceptModel::mutex_sysvsem, AcceptModel::mutex_pthread, AcceptModel::select_multi,
};
constexpr std::string_view kModelNames[] = {
    "blocking",    "epoll-shared",  "epoll-exclusive", "reuseport",    "mutex-fcntl",
    "mutex-flock", "mutex-sysvsem", "mutex-pthread",   "select-multi",
};
constexpr const char* kCounters[] = {"ListenOverflows", "ListenDrops"};

std::string model_list() {
    std::string out;
    for (auto name : kModelNames) out += fmt::format("{}, ", name);
    return out + "all";
}

std::optional<unsigned> parse_unsigned(std::string_view text) {
    unsigned v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return v;
}

std::vector<std::string_view> split(std::string_view text, char by) {
    std::vector<std::string_view> parts;
    size_t at = 0;
    for (;;) {
        size_t next = text.find(by, at);
        parts.push_back(text.substr(at, next == std::string_view::npos ? std::string_view::npos : next - at));
        if (next == std::string_view::npos) return parts;
        at = next + 1;
    }
}

}  // namespace

std::span<const AcceptModel> all_models() { return kAllModels; }

std::string_view model_name(AcceptModel model) { return kModelNames[static_cast<size_t>(model)]; }

std::string model_key(AcceptModel model) {
    std::string key(model_name(model));
    std::replace(key.begin(), key.end(), '-', '_');
    return key;
}

std::vector<AcceptModel> parse_models(const std::vector<std::string>& values) {
    std::vector<AcceptModel> models;
    auto add = [&](AcceptModel m) {
        if (std::find(models.begin(), models.end(), m) == models.end()) models.push_back(m);
    };
    for (const auto& value : values) {
        for (auto word : split(value, ',')) {
            if (word == "all") {
                for (auto m : kAllModels) add(m);
                continue;
            }
            auto at = std::find(std::begin(kModelNames), std::end(kModelNames), word);
            if (at == std::end(kModelNames))
                throw Error::usage(fmt::format("--model: unknown model \"{}\" (expected {})", word, model_list()));
            add(kAllModels[at - std::begin(kModelNames)]);
        }
    }
    if (models.empty()) throw Error::usage(fmt::format("--model: expected one or more of {}", model_list()));
    return models;
}

std::vector<unsigned> parse_weights(std::string_view text) {
    std::vector<unsigned> weights;
    for (auto word : split(text, ',')) {
        auto w = parse_unsigned(word);
        if (!w || *w == 0 || *w > 1000000)
            throw Error::usage(fmt::format("--weights: expected positive whole numbers like 90,10, got \"{}\"", text));
        weights.push_back(*w);
    }
    if (weights.size() > herd::kMaxListeners)
        throw Error::usage(fmt::format("--weights: at most {} listeners, got {}", herd::kMaxListeners, weights.size()));
    return weights;
}

void validate(const HerdConfig& c, const cli::CommonOptions& common) {
    if (c.models.empty()) throw Error::usage("--model: expected one or more models");
    if (c.workers < 1 || c.workers > herd::kMaxWorkers)
        throw Error::usage(fmt::format("--workers: expected 1 to {}, got {}", herd::kMaxWorkers, c.workers));
    if (c.listeners < 1 || c.listeners > herd::kMaxListeners)
        throw Error::usage(fmt::format("--listeners: expected 1 to {}, got {}", herd::kMaxListeners, c.listeners));
    if (!c.weights.empty() && c.weights.size() != c.listeners)
        throw Error::usage(fmt::format("--weights: expected {} weights, one per listener (--listeners {}), got {}",
                                       c.listeners, c.listeners, c.weights.size()));
    if (c.concurrency < 1 || c.concurrency > 10000)
        throw Error::usage(fmt::format("--concurrency: expected 1 to 10000, got {}", c.concurrency));
    if (c.client_threads < 1 || c.client_threads > 64)
        throw Error::usage(fmt::format("--client-threads: expected 1 to 64, got {}", c.client_threads));
    if (c.accept_timeout < 10ms || c.accept_timeout > 60s) throw Error::usage("--accept-timeout: expected 10ms to 60s");
    if (c.starve_threshold < 1ms || c.starve_threshold > 60s)
        throw Error::usage("--starve-threshold: expected 1ms to 60s");
    if (common.duration < 100ms || common.duration > 3600s) throw Error::usage("--duration: expected 100ms to 1h");
}

unsigned listeners_for(const HerdConfig& c, AcceptModel model) {
    if (model == AcceptModel::select_multi && !c.listeners_given && c.weights.empty()) return std::max(2u, c.listeners);
    return c.listeners;
}

double jain_index(std::span<const uint64_t> values) {
    double sum = 0, squares = 0;
    for (uint64_t v : values) {
        sum += static_cast<double>(v);
        squares += static_cast<double>(v) * static_cast<double>(v);
    }
    if (values.empty() || squares == 0) return 1.0;
    return sum * sum / (static_cast<double>(values.size()) * squares);
}

// --- one model --------------------------------------------------------------

namespace {

// What one model run measured.
struct ModelRun {
    AcceptModel model{};
    unsigned listeners = 1;
    std::vector<uint16_t> ports;
    std::vector<unsigned> weights;
    std::vector<herd::WorkerSlot> workers;
    std::vector<load::Histogram> latency_by_listener;  ///< merged over workers
    load::Histogram latency;                           ///< merged over everything
    herd::LoadResult load;
    bool own_ipc_namespace = false;                    ///< the semaphore lived in a throw-away IPC namespace
};

ModelRun run_model_here(const HerdConfig& c, AcceptModel model, cli::Duration duration) {
    ModelRun run;
    run.model = model;
    run.listeners = listeners_for(c, model);
    run.weights = c.weights.empty() ? std::vector<unsigned>(run.listeners, 1) : c.weights;

    // Set up: listeners, the shared mapping, the accept mutex, the workers.
    auto listeners = herd::make_listeners(model, run.listeners, c.workers);
    run.ports = listeners.ports;
    herd::SharedRegion region(c.workers, run.listeners);
    std::optional<herd::AcceptMutex> mutex;
    if (model == AcceptModel::mutex_fcntl || model == AcceptModel::mutex_flock ||
        model == AcceptModel::mutex_sysvsem || model == AcceptModel::mutex_pthread)
        mutex.emplace(model, region);
    herd::WorkerPlan plan{model, run.listeners, &listeners, mutex ? &*mutex : nullptr, &region, false};
    herd::Workers workers(plan, c.workers, c.processes, duration + c.accept_timeout);
    workers.wait_ready();

    // Run: the same closed-loop churn for every model. Its client threads
    // start after the workers were forked and are joined before the next
    // model forks its own.
    herd::LoadConfig lc;
    lc.ports = run.ports;
    lc.weights = run.weights;
    lc.concurrency = c.concurrency;
    lc.threads = c.client_threads;
    lc.count = c.count;
    lc.duration = duration;
    lc.accept_timeout = c.accept_timeout;
    run.load = herd::run_load(lc);

    // Stop the workers, then read what they counted.
    workers.stop();
    run.latency_by_listener.resize(run.listeners);
    for (unsigned w = 0; w < c.workers; ++w) {
        run.workers.push_back(region.slot(w));
        for (unsigned k = 0; k < run.listeners; ++k) run.latency_by_listener[k].merge(region.latency(w, k));
    }
    for (const auto& h : run.latency_by_listener) run.latency.merge(h);
    return run;
}

// The SysV semaphore, as root, lives in an IPC namespace of its own: the
// main thread enters a fresh one for this model's run and goes back to the
// host's after it. The workers inherit it, and when the process dies, even
// by SIGKILL, the namespace and the semaphore in it go with it. It is done
// on the main thread, not on a thread of its own, so that the workers are
// forked from a single-threaded process (see Workers::Workers).
class PrivateIpcNamespace {
public:
    PrivateIpcNamespace() {
        host_.reset(::open("/proc/thread-self/ns/ipc", O_RDONLY | O_CLOEXEC));
        entered_ = host_ && ::unshare(CLONE_NEWIPC) == 0;
    }
    // If setns fails the process stays in the private namespace: nothing
    // else in it uses SysV IPC.
    ~PrivateIpcNamespace() {
        if (entered_) ::setns(host_.get(), CLONE_NEWIPC);
    }
    PrivateIpcNamespace(const PrivateIpcNamespace&) = delete;
    PrivateIpcNamespace& operator=(const PrivateIpcNamespace&) = delete;
    bool entered() const { return entered_; }

private:
    net::Fd host_;
    bool entered_ = false;
};

ModelRun run_model(const HerdConfig& c, AcceptModel model, cli::Duration duration) {
    if (model != AcceptModel::mutex_sysvsem || ::geteuid() != 0) return run_model_here(c, model, duration);
    PrivateIpcNamespace ipc;
    ModelRun run = run_model_here(c, model, duration);
    run.own_ipc_namespace = ipc.entered();
    return run;
}

// --- figures ----------------------------------------------------------------

// A worker's wakeups: its sleeps, less the ones its own wait timeout ended
// and the ones spent waiting for a client's stamp.
uint64_t wakeups_of(const herd::WorkerSlot& w) {
    uint64_t other = w.timeouts + w.stamp_sleeps;
    return w.sleeps > other ? w.sleeps - other : 0;
}

// A worker killed before it wrote its CPU time and sleeps (stop()'s SIGKILL,
// the alarm) is lost: its zeros are not a measurement, so the per-accept
// figures count only the workers that finished, and their accepts.
bool lost(const herd::WorkerSlot& w) { return !w.finished && !w.error; }

struct Figures {
    uint64_t accepts = 0, wakeups = 0, returns = 0, empty_returns = 0, cpu_us = 0, accept_errors = 0;
    uint64_t measured_accepts = 0;  ///< accepts of the workers that finished: the per-accept denominator
    unsigned workers_lost = 0;
    double max_share = 0, min_share = 0, jain = 1;
    std::vector<bool> starved;
};

Figures figures(const ModelRun& run, const HerdConfig& c) {
    Figures f;
    std::vector<uint64_t> per_worker;
    for (const auto& w : run.workers) {
        f.accepts += w.accepts;
        f.accept_errors += w.accept_errors;
        per_worker.push_back(w.accepts);
        f.workers_lost += lost(w);
        if (!w.finished) continue;
        f.measured_accepts += w.accepts;
        f.wakeups += wakeups_of(w);
        f.returns += w.returns;
        f.empty_returns += w.empty_returns;
        f.cpu_us += w.cpu_us;
    }
    if (f.accepts) {
        auto [lo, hi] = std::minmax_element(per_worker.begin(), per_worker.end());
        f.min_share = static_cast<double>(*lo) / static_cast<double>(f.accepts);
        f.max_share = static_cast<double>(*hi) / static_cast<double>(f.accepts);
    }
    f.jain = jain_index(per_worker);
    auto threshold_us = static_cast<uint64_t>(c.starve_threshold.count());
    for (unsigned k = 0; k < run.listeners; ++k)
        f.starved.push_back(run.load.listeners[k].gave_up > 0 || run.latency_by_listener[k].max() >= threshold_us);
    return f;
}

double per(uint64_t n, uint64_t d) { return d ? static_cast<double>(n) / static_cast<double>(d) : 0.0; }

std::string us_text(uint64_t us) { return load::format_us(static_cast<double>(us)); }

report::json latency_json(const load::Histogram& h) {
    return {{"count", h.count()},     {"p50_us", h.percentile(50)}, {"p99_us", h.percentile(99)},
            {"max_us", h.max()},      {"mean_us", h.mean()}};
}

report::json model_json(const ModelRun& run, const Figures& f) {
    report::json j;
    j["model"] = model_name(run.model);
    j["listeners"] = run.listeners;
    j["accepts"] = f.accepts;
    j["accepts_per_s"] = run.load.elapsed_s > 0 ? static_cast<double>(f.accepts) / run.load.elapsed_s : 0.0;
    j["wakeups"] = f.wakeups;
    j["wakeups_per_accept"] = per(f.wakeups, f.measured_accepts);
    j["returns"] = f.returns;
    j["returns_per_accept"] = per(f.returns, f.measured_accepts);
    j["empty_returns"] = f.empty_returns;
    j["empty_returns_per_accept"] = per(f.empty_returns, f.measured_accepts);
    j["cpu_us_per_accept"] = per(f.cpu_us, f.measured_accepts);
    j["accept_errors"] = f.accept_errors;
    j["workers_lost"] = f.workers_lost;
    j["accept_latency"] = latency_json(run.latency);
    j["fairness"] = {{"max_share", f.max_share},
                     {"min_share", f.min_share},
                     {"max_min_ratio", f.min_share > 0 ? report::json(f.max_share / f.min_share) : report::json(nullptr)},
                     {"jain_index", f.jain}};
    uint64_t started = 0, completed = 0, gave_up = 0, failed = 0, abandoned = 0;
    report::json listeners = report::json::array();
    size_t starved = 0;
    for (unsigned k = 0; k < run.listeners; ++k) {
        const auto& l = run.load.listeners[k];
        uint64_t accepted = 0;
        for (const auto& w : run.workers) accepted += w.accepts_by_listener[k];
        started += l.started, completed += l.completed, gave_up += l.gave_up, failed += l.failed,
            abandoned += l.abandoned;
        starved += f.starved[k];
        listeners.push_back({{"listener", k},
                             {"port", run.ports[k]},
                             {"weight", run.weights[k]},
                             {"started", l.started},
                             {"accepted", accepted},
                             {"completed", l.completed},
                             {"gave_up", l.gave_up},
                             {"failed", l.failed},
                             {"accept_latency", latency_json(run.latency_by_listener[k])},
                             {"starved", static_cast<bool>(f.starved[k])}});
    }
    j["starved_listeners"] = starved;
    j["connections"] = {{"started", started}, {"completed", completed}, {"gave_up", gave_up},
                        {"failed", failed},   {"abandoned", abandoned}};
    j["per_listener"] = listeners;
    report::json workers = report::json::array();
    for (size_t w = 0; w < run.workers.size(); ++w) {
        const auto& s = run.workers[w];
        report::json row = {{"worker", w},
                            {"accepts", s.accepts},
                            {"share", per(s.accepts, f.accepts)},
                            {"wakeups", wakeups_of(s)},
                            {"returns", s.returns},
                            {"empty_returns", s.empty_returns},
                            {"timeouts", s.timeouts},
                            {"accept_errors", s.accept_errors},
                            {"cpu_us", s.cpu_us}};
        if (s.error) row["error"] = std::string(s.error_what);
        if (lost(s)) row["lost"] = true;
        workers.push_back(row);
    }
    j["per_worker"] = workers;
    j["elapsed_s"] = run.load.elapsed_s;
    return j;
}

std::string fixed(double v, int digits) { return fmt::format("{:.{}f}", v, digits); }

std::vector<std::string> model_row(const ModelRun& run, const Figures& f) {
    bool any = f.measured_accepts > 0;
    size_t starved = std::count(f.starved.begin(), f.starved.end(), true);
    return {std::string(model_name(run.model)),
            std::to_string(run.listeners),
            fixed(run.load.elapsed_s > 0 ? static_cast<double>(f.accepts) / run.load.elapsed_s : 0.0, 0),
            any ? fixed(per(f.wakeups, f.measured_accepts), 2) : "-",
            any ? fixed(per(f.returns, f.measured_accepts), 2) : "-",
            any ? fixed(per(f.empty_returns, f.measured_accepts), 2) : "-",
            any ? fixed(per(f.cpu_us, f.measured_accepts), 1) : "-",
            any ? us_text(run.latency.percentile(50)) : "-",
            any ? us_text(run.latency.percentile(99)) : "-",
            any ? us_text(run.latency.max()) : "-",
            f.min_share > 0 ? fixed(f.max_share / f.min_share, 2) : (any ? "inf" : "-"),
            fixed(f.jain, 3),
            fmt::format("{}/{}", starved, run.listeners)};
}

}  // namespace

// --- the run ----------------------------------------------------------------

report::Report run_herd(const HerdConfig& config, const cli::CommonOptions& common, cli::Output& output) {
    validate(config, common);
    report::Report r;
    r.command = "herd";
    r.mode = "host";
    r.sysctls = kernel::sysctls_json({"net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog"});
    auto counters_before = kernel::read_counters();

    // Run: one model after another, each with fresh listeners and workers.
    std::vector<ModelRun> runs;
    for (AcceptModel model : config.models) {
        if (cli::stop_requested()) break;
        output.status(fmt::format("{}: {} {} x {} s", model_name(model), config.workers,
                                  config.processes ? "processes" : "threads", cli::to_seconds(common.duration)));
        runs.push_back(run_model(config, model, common.duration));
    }
    output.clear_status();
    bool interrupted = cli::stop_requested();

    // Render: the model table, per-listener rows where K > 1, the JSON.
    report::Table table{fmt::format("herd: {} {} per model, wakeups per accepted connection", config.workers,
                                    config.processes ? "processes" : "threads"),
                        {"model", "listeners", "accepts/s", "wakeups/accept", "returns/accept", "empty/accept", "CPU us/accept",
                         "latency p50", "p99", "max", "max/min share", "Jain", "starved"},
                        {}};
    report::Table per_listener{"listeners (starved: connections given up, or max latency over --starve-threshold)",
                               {"model", "listener", "port", "weight", "accepted", "gave up", "p99", "max", "starved"},
                               {}};
    report::json models = report::json::object();
    report::json errors = report::json::object();
    for (const auto& run : runs) {
        Figures f = figures(run, config);
        models[model_key(run.model)] = model_json(run, f);
        table.rows.push_back(model_row(run, f));
        for (unsigned k = 0; run.listeners > 1 && k < run.listeners; ++k) {
            const auto& l = run.load.listeners[k];
            const auto& h = run.latency_by_listener[k];
            uint64_t accepted = 0;
            for (const auto& w : run.workers) accepted += w.accepts_by_listener[k];
            per_listener.rows.push_back({std::string(model_name(run.model)), std::to_string(k),
                                         std::to_string(run.ports[k]), std::to_string(run.weights[k]),
                                         std::to_string(accepted), std::to_string(l.gave_up),
                                         h.count() ? us_text(h.percentile(99)) : "-", h.count() ? us_text(h.max()) : "-",
                                         f.starved[k] ? "yes" : "no"});
        }
        auto add_errors = [&](const char* phase, const std::map<std::string, uint64_t>& table) {
            for (const auto& [name, n] : table) {
                auto& slot = errors[phase][name];
                slot = (slot.is_null() ? uint64_t{0} : slot.get<uint64_t>()) + n;
            }
        };
        add_errors("connect", run.load.connect_errors);
        add_errors("read", run.load.read_errors);
        for (size_t w = 0; w < run.workers.size(); ++w)
            if (run.workers[w].error)
                r.notes.push_back(fmt::format("{}: worker {} did not run: {}", model_name(run.model), w,
                                              run.workers[w].error_what));
    }
    r.results["models"] = models;
    r.results["interrupted"] = interrupted;
    r.errors = errors;
    r.counters = kernel::counter_deltas_json(counters_before, kernel::read_counters(), kCounters);
    r.tables.push_back(std::move(table));
    if (!per_listener.rows.empty()) r.tables.push_back(std::move(per_listener));

    if (interrupted) r.notes.push_back("interrupted: partial result");
    for (const auto& run : runs) {
        if (run.model == AcceptModel::select_multi && run.listeners < 2)
            r.notes.push_back("select-multi with one listener: its starvation needs two or more (--listeners 2)");
        if (run.model == AcceptModel::select_multi && !config.listeners_given && config.weights.empty() &&
            run.listeners != config.listeners)
            r.notes.push_back(fmt::format("select-multi ran with {} listeners (its starvation needs two); "
                                          "--listeners sets it", run.listeners));
        auto lost_workers = std::count_if(run.workers.begin(), run.workers.end(), lost);
        if (lost_workers)
            r.notes.push_back(fmt::format("{}: {} worker(s) killed before they reported CPU time and wakeups: "
                                          "left out of the per-accept figures (workers_lost)",
                                          model_name(run.model), lost_workers));
        uint64_t accept_errors = 0;
        for (const auto& w : run.workers) accept_errors += w.accept_errors;
        if (accept_errors)
            r.notes.push_back(fmt::format("{}: accept() failed {} times (EMFILE, ENOBUFS, ECONNABORTED, ...); "
                                          "the workers went on (accept_errors)", model_name(run.model), accept_errors));
        if (run.model == AcceptModel::blocking && config.workers < run.listeners)
            r.notes.push_back("blocking: fewer workers than listeners, some listeners have no worker");
        if (run.model == AcceptModel::mutex_sysvsem && ::geteuid() == 0 && !run.own_ipc_namespace)
            r.notes.push_back("mutex-sysvsem: no IPC namespace of its own (unshare failed): a kill -9 could leave the "
                              "semaphore behind (ipcs -s)");
    }
    r.notes.push_back("wakeups: times a worker was woken while waiting for a connection (voluntary context "
                      "switches); returns: epoll_wait/select/poll/accept returning with something; empty: the "
                      "accept() after it found nothing");

    report::json names = report::json::array();
    for (auto m : config.models) names.push_back(model_name(m));
    report::json weights = report::json::array();
    for (auto w : config.weights) weights.push_back(w);
    r.config = {{"model", names},
                {"workers", config.workers},
                {"processes", config.processes},
                {"listeners", config.listeners},
                {"weights", weights},
                {"concurrency", config.concurrency},
                {"client_threads", config.client_threads},
                {"count", config.count},
                {"duration_s", cli::to_seconds(common.duration)},
                {"accept_timeout_s", cli::to_seconds(config.accept_timeout)},
                {"starve_threshold_s", cli::to_seconds(config.starve_threshold)}};
    return r;
}

}  // namespace sockdrill::scenario
