// pmdnetctl: prints pmdnetd's /pmdnet/* telemetry as tables (info, ports, port NAME, workers) or
// live per-port rates (watch), reading DPDK's telemetry socket. See daemon/pmdnetctl/README.md.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "daemon/pmdnetctl/cli.h"
#include "daemon/pmdnetctl/client.h"
#include "daemon/pmdnetctl/fetch.h"
#include "daemon/pmdnetctl/format.h"

#ifndef PMDNET_VERSION
#define PMDNET_VERSION "0.1.0"
#endif

namespace pmdnet::ctl {
namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

int fail(const Error& error) {
  fmt::print(stderr, "pmdnetctl: {}\n", error.message);
  return kExitFailure;
}

// Connects to --socket, or to the first candidate path for --file-prefix that exists.
Result<TelemetryClient> open_client(const CtlOptions& options) {
  const std::string hint =
      options.socket.empty()
          ? fmt::format("is pmdnetd running with telemetry enabled and --file-prefix {}?",
                        options.file_prefix)
          : std::string("is pmdnetd running with telemetry enabled?");
  std::vector<std::string> paths;
  if (!options.socket.empty()) {
    paths.push_back(options.socket);
  } else {
    for (std::string& p : telemetry_socket_candidates(options.file_prefix, current_runtime_env())) {
      std::error_code ec;
      if (std::filesystem::exists(p, ec)) paths.push_back(std::move(p));
    }
    if (paths.empty()) {
      const auto tried = telemetry_socket_candidates(options.file_prefix, current_runtime_env());
      return make_error(Errc::kClosed, fmt::format("no telemetry socket at {}: {}",
                                                   fmt::join(tried, " or "), hint));
    }
  }
  Error last{Errc::kClosed, ""};
  for (const std::string& path : paths) {
    auto client = TelemetryClient::connect(path);
    if (client) return client;
    last = client.error();
  }
  if (last.code == Errc::kClosed) last.message += ": " + hint;
  return std::unexpected(last);
}

void print_raw(const std::vector<std::string>& raw) {
  for (const std::string& r : raw) fmt::print("{}\n", r);
}

std::string local_time_label() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char buf[32];
  const size_t n = std::strftime(buf, sizeof(buf), "%H:%M:%S", &tm);
  return std::string(buf, n);
}

int watch(const QueryFn& query, const CtlOptions& options) {
  using Clock = std::chrono::steady_clock;
  const auto interval = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(options.interval_s));
  auto before = fetch_ports(query);
  if (!before) return fail(before.error());
  Clock::time_point before_time = Clock::now();
  Clock::time_point wake = before_time;
  for (uint64_t reports = 0; options.count == 0 || reports < options.count; ++reports) {
    wake += interval;
    std::this_thread::sleep_until(wake);
    auto after = fetch_ports(query);
    if (!after) return fail(after.error());
    const Clock::time_point after_time = Clock::now();
    const double seconds = std::chrono::duration<double>(after_time - before_time).count();
    const auto rates = compute_rates(*before, *after, seconds);
    if (options.json) {
      fmt::print("{}\n", rates_json(rates, local_time_label(), seconds));
    } else {
      if (reports > 0) fmt::print("\n");
      fmt::print("{}", format_rates(rates, local_time_label(), seconds));
    }
    std::fflush(stdout);
    before = std::move(after);
    before_time = after_time;
  }
  return 0;
}

int run(const CtlOptions& options) {
  auto client = open_client(options);
  if (!client) return fail(client.error());
  const QueryFn query = [&](std::string_view request) { return client->request(request); };
  std::vector<std::string> raw;
  std::vector<std::string>* keep = options.json ? &raw : nullptr;

  switch (options.command) {
    case Command::kInfo: {
      auto info = fetch_info(query, keep);
      if (!info) return fail(info.error());
      options.json ? print_raw(raw) : fmt::print("{}", format_info(*info));
      return 0;
    }
    case Command::kPorts: {
      auto ports = fetch_ports(query, keep);
      if (!ports) return fail(ports.error());
      options.json ? print_raw(raw) : fmt::print("{}", format_ports(*ports));
      return 0;
    }
    case Command::kPort: {
      auto port = fetch_port(query, options.port, keep);
      if (!port) return fail(port.error());
      options.json ? print_raw(raw) : fmt::print("{}", format_port(*port, options.nonzero));
      return 0;
    }
    case Command::kWorkers: {
      auto workers = fetch_workers(query, keep);
      if (!workers) return fail(workers.error());
      options.json ? print_raw(raw) : fmt::print("{}", format_workers(workers->workers));
      return 0;
    }
    case Command::kWatch:
      return watch(query, options);
  }
  return kExitFailure;
}

}  // namespace
}  // namespace pmdnet::ctl

int main(int argc, char** argv) {
  using namespace pmdnet::ctl;  // NOLINT(google-build-using-namespace)
  const std::vector<std::string_view> args = ctl_arguments(argc, argv);
  auto options = parse_ctl_args(args);
  if (!options) {
    fmt::print(stderr, "pmdnetctl: {}\n\n{}", options.error().message, ctl_usage_text());
    return kExitUsage;
  }
  if (options->help) {
    fmt::print("{}", ctl_usage_text());
    return 0;
  }
  if (options->version) {
    fmt::print("pmdnetctl {}\n", PMDNET_VERSION);
    return 0;
  }
  return run(*options);
}
