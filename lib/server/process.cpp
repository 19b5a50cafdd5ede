#include "server/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fmt/format.h>
#include <thread>

#include "net/error.hpp"

namespace sockdrill::server {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string serve_binary() {
    std::error_code ec;
    fs::path self = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        fs::path beside = self.parent_path() / "sockdrill-serve";
        if (::access(beside.c_str(), X_OK) == 0) return beside.string();
    }
    if (const char* path = std::getenv("PATH")) {
        std::string_view rest = path;
        while (!rest.empty()) {
            auto colon = rest.find(':');
            fs::path candidate = fs::path(std::string(rest.substr(0, colon))) / "sockdrill-serve";
            if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
            rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
        }
    }
    return {};
}

ServeProcess::ServeProcess(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
    std::string binary = serve_binary();
    if (binary.empty())
        throw Error(Exit::environment, "sockdrill-serve: not beside this command nor on PATH");
    std::vector<std::string> argv_strings = {binary, "--json"};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : argv_strings) argv.push_back(s.data());
    argv.push_back(nullptr);

    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw Error::system("pipe2", errno);
    net::Fd read_end(out[0]), write_end(out[1]);
    // stderr goes to memory, read back for error messages: no file to clean up.
    net::Fd err(::memfd_create("sockdrill-serve-stderr", MFD_CLOEXEC));
    if (!err) throw Error::system("memfd_create", errno);

    pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) throw Error::system("fork", errno);
    if (pid_ == 0) {
        // Only async-signal-safe calls until exec.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
        // Its own process group: a Ctrl-C at the terminal reaches the
        // command, which stops the server when it has read its statistics.
        ::setpgid(0, 0);
        ::dup2(write_end.get(), STDOUT_FILENO);
        ::dup2(err.get(), STDERR_FILENO);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    write_end.reset();
    stdout_ = std::move(read_end);
    stderr_ = std::move(err);

    try {
        // The server prints every "listening ADDR:PORT" line, then flushes
        // once: one pipe write, so the first read holds them all.
        std::string line = read_line(timeout);
        for (;;) {
            if (line.rfind("listening ", 0) != 0)
                throw Error(Exit::environment, fmt::format("sockdrill-serve printed \"{}\" before listening", line));
            addresses_.push_back(net::Address::parse(line.substr(10)));
            if (buffered_.find('\n') == std::string::npos) break;
            line = read_line(timeout);
        }
    } catch (...) {
        stop(std::chrono::milliseconds(500));
        throw;
    }
}

ServeProcess::~ServeProcess() {
    if (pid_ > 0) stop(std::chrono::seconds(2));
}

std::string ServeProcess::stderr_text() const {
    char buf[512];
    ssize_t n = ::pread(stderr_.get(), buf, sizeof buf - 1, 0);
    std::string text(buf, n > 0 ? static_cast<size_t>(n) : 0);
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    if (auto nl = text.find('\n'); nl != std::string::npos) text.resize(nl);
    return text;
}

std::string ServeProcess::read_line(std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    for (;;) {
        if (auto nl = buffered_.find('\n'); nl != std::string::npos) {
            std::string line = buffered_.substr(0, nl);
            buffered_.erase(0, nl + 1);
            return line;
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        pollfd p{stdout_.get(), POLLIN, 0};
        int ready = left > 0 ? ::poll(&p, 1, static_cast<int>(left)) : 0;
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0)
            throw Error(Exit::environment,
                        fmt::format("sockdrill-serve (pid {}) said nothing for {} ms", pid_, timeout.count()));
        char buf[65536];
        ssize_t n = ::read(stdout_.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            std::string why = stderr_text();
            throw Error(Exit::environment, fmt::format("sockdrill-serve exited: {}", why.empty() ? "no message" : why));
        }
        buffered_.append(buf, static_cast<size_t>(n));
    }
}

nlohmann::json ServeProcess::stats(std::chrono::milliseconds timeout) {
    if (::kill(pid_, SIGUSR1) != 0) throw Error::system(fmt::format("kill SIGUSR1 sockdrill-serve (pid {})", pid_), errno);
    std::string line = read_line(timeout);
    auto doc = nlohmann::json::parse(line, nullptr, false);
    if (doc.is_discarded() || !doc.contains("results"))
        throw Error(Exit::environment, fmt::format("sockdrill-serve statistics: not a JSON result: \"{}\"",
                                                   line.substr(0, 80)));
    return doc["results"];
}

bool ServeProcess::stop(std::chrono::milliseconds timeout) {
    if (pid_ <= 0) return false;
    ::kill(pid_, SIGTERM);
    auto deadline = Clock::now() + timeout;
    int status = 0;
    pid_t done = 0;
    while ((done = ::waitpid(pid_, &status, WNOHANG)) == 0 && Clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (done == 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
    }
    pid_ = -1;
    return done > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace sockdrill::server
