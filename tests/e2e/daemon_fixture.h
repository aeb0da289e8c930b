// The fixture of the end-to-end tests: pmdnetd as a child process in a network namespace of its
// own, on a YAML file in a directory of the test's, with its own DPDK file prefix; pmdnet_guest
// children as guests; DPDK telemetry read from the daemon's socket. Everything a test starts is
// stopped (by PID) and everything it wrote is removed.
#pragma once

#include <fcntl.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace pmdnet::e2e {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

inline std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Polls `done` every 20 ms until it holds or `timeout` passes.
inline bool eventually(const std::function<bool()>& done, milliseconds timeout) {
  const auto deadline = steady_clock::now() + timeout;
  while (steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return done();
}

// A child process with stdout and stderr in a file; killed (SIGKILL) and reaped if still running
// when destroyed.
class Child {
 public:
  Child(std::vector<std::string> argv, fs::path log, bool own_netns = false)
      : log_(std::move(log)) {
    pid_ = ::fork();
    if (pid_ == 0) {
      const int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd >= 0) {
        ::dup2(fd, STDOUT_FILENO);
        ::dup2(fd, STDERR_FILENO);
      }
      if (own_netns && ::unshare(CLONE_NEWNET) != 0) _exit(126);
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      _exit(127);
    }
  }
  ~Child() {
    if (running()) {
      ::kill(pid_, SIGKILL);
      (void)wait(milliseconds(5000));
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0 && !status_; }
  void signal(int sig) const {
    if (running()) ::kill(pid_, sig);
  }
  // The exit status (as from waitpid) once the child exits within `timeout`.
  std::optional<int> wait(milliseconds timeout) {
    if (status_) return status_;
    const auto deadline = steady_clock::now() + timeout;
    do {
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        status_ = st;
        return status_;
      }
      std::this_thread::sleep_for(milliseconds(10));
    } while (steady_clock::now() < deadline);
    return std::nullopt;
  }
  std::string output() const { return read_file(log_); }

 private:
  fs::path log_;
  pid_t pid_ = -1;
  std::optional<int> status_;
};

// The pmdnetd under test: the one built beside the tests, or $PMDNET_E2E_PMDNETD (another build
// of it, e.g. to show that a test fails against the code before a fix).
inline std::string pmdnetd_path() {
  const char* other = std::getenv("PMDNET_E2E_PMDNETD");
  return other != nullptr && *other != '\0' ? other : PMDNETD_PATH;
}

inline int exit_code(std::optional<int> status) {
  if (!status) return -1;
  return WIFEXITED(*status) ? WEXITSTATUS(*status) : 128 + WTERMSIG(*status);
}

// A daemon on its own file prefix and socket directory, removed with everything it left.
class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int serial = 0;
    prefix_ = fmt::format("pmdnet-e2e-{}-{}", getpid(), serial++);
    dir_ = fs::temp_directory_path() / prefix_;
    fs::create_directories(dir_);
  }
  void TearDown() override {
    daemon_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
    for (const std::string& p : prefixes_) fs::remove_all(fs::path("/var/run/dpdk") / p, ec);
    fs::remove_all(fs::path("/var/run/dpdk") / prefix_, ec);
  }

  std::string socket(const std::string& port) const { return (dir_ / (port + ".sock")).string(); }

  // The YAML of one loopback port per name in `loopback`, plus `extra` appended under ports:.
  std::string config(const std::vector<std::string>& loopback,
                     const std::string& extra = "") const {
    std::string y = fmt::format(
        "eal:\n  no_huge: true\n  memory_mb: 256\n  file_prefix: {}\nstate_dir: {}\n"
        "workers:\n  - lcore: 1\n    idle: adaptive\nports:\n",
        prefix_, (dir_ / "state").string());
    for (const std::string& name : loopback) {
      y += fmt::format(
          "  - name: {}\n    vhost_user:\n      socket: {}\n    backend:\n      type: loopback\n",
          name, socket(name));
    }
    return y + extra;
  }

  void write_config(const std::string& yaml) { std::ofstream(dir_ / "pmdnetd.yaml") << yaml; }

  // Starts pmdnetd on the written config and waits until every socket in `sockets` exists.
  void start_daemon(const std::vector<std::string>& sockets) {
    daemon_ = std::make_unique<Child>(
        std::vector<std::string>{pmdnetd_path(), "--config", (dir_ / "pmdnetd.yaml").string()},
        dir_ / "pmdnetd.log", /*own_netns=*/true);
    for (const std::string& s : sockets) {
      const bool up =
          eventually([&] { return fs::exists(s) || daemon_->wait(milliseconds(0)).has_value(); },
                     milliseconds(20000));
      ASSERT_TRUE(up && fs::exists(s)) << "no socket " << s << "; pmdnetd said:\n"
                                       << daemon_->output();
    }
  }

  // Runs pmdnet_guest on `port`'s socket with `args`; returns the child (running).
  std::unique_ptr<Child> guest(const std::string& port, std::vector<std::string> args) {
    const std::string prefix = fmt::format("{}-g{}", prefix_, guests_++);
    prefixes_.push_back(prefix);
    std::vector<std::string> argv = {
        PMDNET_GUEST_PATH, "--socket", socket(port), "--file-prefix", prefix, "--lcore", "0"};
    argv.insert(argv.end(), args.begin(), args.end());
    return std::make_unique<Child>(argv, dir_ / (prefix + ".log"));
  }

  // Runs a guest to completion; returns its exit code (its output is in `out`).
  int run_guest(const std::string& port, std::vector<std::string> args, std::string& out,
                milliseconds timeout = milliseconds(60000)) {
    auto g = guest(port, std::move(args));
    const int rc = exit_code(g->wait(timeout));
    out = g->output();
    return rc;
  }

  // A telemetry command's JSON reply, straight from DPDK's telemetry socket.
  std::string telemetry(const std::string& command) const {
    const fs::path path = fs::path("/var/run/dpdk") / prefix_ / "dpdk_telemetry.v2";
    const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0) return {};
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
    std::string reply;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
      std::vector<char> buf(1 << 20);
      (void)::read(fd, buf.data(), buf.size());  // the greeting
      if (::write(fd, command.data(), command.size()) == static_cast<ssize_t>(command.size())) {
        const ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n > 0) reply.assign(buf.data(), static_cast<size_t>(n));
      }
    }
    ::close(fd);
    return reply;
  }

  // The sum of every `"name":N` in `json` (no std::regex: g++ 12 warns inside it under ASan).
  static uint64_t sum_of(const std::string& json, const std::string& name) {
    const std::string key = "\"" + name + "\":";
    uint64_t total = 0;
    for (size_t at = json.find(key); at != std::string::npos; at = json.find(key, at + 1)) {
      size_t i = at + key.size();
      while (i < json.size() && json[i] == ' ') ++i;
      uint64_t value = 0;
      while (i < json.size() && json[i] >= '0' && json[i] <= '9')
        value = value * 10 + (json[i++] - '0');
      total += value;
    }
    return total;
  }

  std::string prefix_;
  fs::path dir_;
  std::unique_ptr<Child> daemon_;
  std::vector<std::string> prefixes_;
  int guests_ = 0;
};

}  // namespace pmdnet::e2e
