// pmdnetd: the vhost-user datapath daemon. Parses the command line, loads and validates the YAML
// configuration, initialises EAL, starts the pinned workers, serves every configured port, and
// runs the control loop: signals (SIGHUP reload, SIGTERM/SIGINT stop), endpoint actions, the
// systemd watchdog.
//
// Exit codes: 0 clean stop (or --help/--version/--check-config on a valid file); 1 start-up
// failed (EAL, a worker lcore, a port); 2 bad command line or configuration, nothing started.
#include <fmt/format.h>
#include <poll.h>
#include <rte_cycles.h>
#include <rte_log.h>
#include <signal.h>  // NOLINT(modernize-deprecated-headers): pthread_sigmask is POSIX, not <csignal>
#include <spdlog/spdlog.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "daemon/ports/port_manager.h"
#include "daemon/service/cli.h"
#include "daemon/service/logging.h"
#include "daemon/service/systemd_notify.h"
#include "daemon/telemetry/telemetry_commands.h"
#include "daemon/vhost_user/guest_fault.h"
#include "daemon/workers/worker_pool.h"
#include "pmd_backends/eal.h"

namespace pmdnet {
namespace {

using Clock = std::chrono::steady_clock;

// DPDK's own log lines (EAL, PMDs, rte_vhost) go through spdlog, so that they share its sink and
// format; one level lower than ours, since DPDK's INFO is chatty (every vhost-user message).
ssize_t write_dpdk_log(void*, const char* buf, size_t size) {
  std::string_view line(buf, size);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.empty()) return static_cast<ssize_t>(size);
  spdlog::level::level_enum level = spdlog::level::info;
  const auto dpdk_level = static_cast<uint32_t>(rte_log_cur_msg_loglevel());
  if (dpdk_level <= RTE_LOG_ERR) {
    level = spdlog::level::err;
  } else if (dpdk_level == RTE_LOG_WARNING) {
    level = spdlog::level::warn;
  } else if (dpdk_level == RTE_LOG_DEBUG) {
    level = spdlog::level::debug;
  }
  spdlog::log(level, "dpdk: {}", line);
  return static_cast<ssize_t>(size);
}

void route_dpdk_log() {
  cookie_io_functions_t io{};
  io.write = &write_dpdk_log;
  if (FILE* stream = fopencookie(nullptr, "w", io); stream != nullptr) {
    setvbuf(stream, nullptr, _IOLBF, 0);
    (void)rte_openlog_stream(stream);
  }
}

std::string dpdk_log_level(config::LogLevel level) {
  switch (level) {
    case config::LogLevel::kTrace:
      return "*:debug";
    case config::LogLevel::kDebug:
      return "*:info";
    case config::LogLevel::kInfo:
      return "*:notice";
    case config::LogLevel::kWarn:
      return "*:warning";
    default:
      return "*:error";
  }
}

EalOptions eal_options(const config::Config& cfg, config::LogLevel level) {
  EalOptions o;
  o.log_level = dpdk_log_level(level);
  o.lcores = cfg.eal.lcores;
  o.main_lcore = static_cast<int>(cfg.eal.main_lcore);
  o.no_huge = cfg.eal.no_huge;
  o.memory_mb = cfg.eal.memory_mb;
  o.file_prefix = cfg.eal.file_prefix;
  o.driver_dirs = {default_pmd_dir()};
  o.no_telemetry = !cfg.telemetry.enabled;
  // PCI devices are probed only when a port names one (-a each); vdevs are hotplugged by their
  // ports, so that a reload can add and remove them.
  bool any_pci = false;
  for (const config::Port& p : cfg.ports) {
    if (p.backend.device_kind == config::DeviceKind::kPci) {
      any_pci = true;
      o.extra_args.emplace_back("-a");
      o.extra_args.push_back(p.backend.device);
    }
  }
  o.no_pci = !any_pci;
  o.extra_args.insert(o.extra_args.end(), cfg.eal.extra_args.begin(), cfg.eal.extra_args.end());
  return o;
}

std::vector<workers::WorkerSpec> worker_specs(const config::Config& cfg) {
  std::vector<workers::WorkerSpec> specs;
  specs.reserve(cfg.workers.size());
  for (const config::Worker& w : cfg.workers) {
    specs.push_back({w.lcore, w.idle == config::IdlePolicy::kBusy
                                  ? workers::IdlePolicy::kBusy
                                  : workers::IdlePolicy::kAdaptive});
  }
  return specs;
}

Result<config::Config> load(const service::CliOptions& cli) {
  return cli.config_path ? config::load_config_file(*cli.config_path) : config::default_config();
}

// The daemon once EAL is up.
class Daemon {
 public:
  Daemon(const service::CliOptions& cli, config::Config cfg, int signal_fd)
      : cli_(cli), cfg_(std::move(cfg)), signal_fd_(signal_fd) {}

  int run() {
    auto pool = workers::WorkerPool::start(worker_specs(cfg_));
    if (!pool) {
      spdlog::critical("workers: {}", pool.error().message);
      return 1;
    }
    pool_ = std::move(*pool);
    ports_ = std::make_unique<ports::PortManager>(*pool_);
    if (cfg_.telemetry.enabled) {
      if (auto r = telemetry::register_telemetry_commands([this] { return snapshot(); }); !r) {
        spdlog::warn("telemetry: {}", r.error().message);
      }
    }
    const ports::ApplyReport report = ports_->apply(cfg_);
    if (!report.errors.empty()) {
      spdlog::critical("{} of {} ports failed to start; stopping", report.errors.size(),
                       cfg_.ports.size());
      shutdown();
      return 1;
    }
    spdlog::info("pmdnetd {} ready: {} ports, {} workers", service::version(), cfg_.ports.size(),
                 pool_->size());
    (void)notifier_.ready(fmt::format("{} ports", cfg_.ports.size()));
    loop();
    shutdown();
    return 0;
  }

 private:
  void loop() {
    const auto watchdog = notifier_.watchdog_interval();
    auto next_watchdog = Clock::now();
    for (;;) {
      std::vector<pollfd> fds{{signal_fd_, POLLIN, 0}};
      for (int fd : ports_->action_fds()) fds.push_back({fd, POLLIN, 0});
      int timeout_ms = 500;
      if (watchdog) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(next_watchdog - Clock::now());
        timeout_ms = static_cast<int>(std::clamp<int64_t>(left.count(), 0, timeout_ms));
      }
      (void)::poll(fds.data(), fds.size(), timeout_ms);
      if (watchdog && Clock::now() >= next_watchdog) {
        (void)notifier_.watchdog();
        next_watchdog = Clock::now() + *watchdog;
      }
      if (fds[0].revents & POLLIN) {
        signalfd_siginfo si{};
        if (::read(signal_fd_, &si, sizeof(si)) == sizeof(si)) {
          if (si.ssi_signo == SIGHUP) {
            reload();
          } else {
            spdlog::info("{}: stopping", si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
            return;
          }
        }
      }
      ports_->handle_endpoint_actions();
    }
  }

  void reload() {
    (void)notifier_.reloading();
    auto next = load(cli_);
    if (!next) {
      ++failed_reloads_;
      spdlog::error("reload refused, the running ports stay as they were:\n{}",
                    next.error().message);
      (void)notifier_.ready("reload refused");
      return;
    }
    if (next->eal != cfg_.eal || next->workers != cfg_.workers ||
        next->telemetry != cfg_.telemetry) {
      spdlog::warn("reload: eal, workers and telemetry changes take effect on restart only");
    }
    if (next->logging != cfg_.logging) {
      if (auto r = service::init_logging(next->logging, cli_.log_level); !r) {
        spdlog::error("reload: logging: {}", r.error().message);
      }
    }
    const ports::ApplyReport report = ports_->apply(*next);
    spdlog::info("reload: {} added, {} removed, {} unchanged, {} failed", report.added.size(),
                 report.removed.size(), report.kept.size(), report.errors.size());
    if (report.errors.empty()) {
      ++reloads_;
    } else {
      ++failed_reloads_;
    }
    // The new file is the running configuration now; ports that failed are retried by the next
    // reload (they are absent from the running set).
    cfg_ = std::move(*next);
    (void)notifier_.ready(fmt::format("{} ports", ports_->names().size()));
  }

  telemetry::DaemonSnapshot snapshot() const {
    telemetry::DaemonSnapshot s;
    s.version = std::string(service::version());
    s.tsc_hz = rte_get_tsc_hz();
    s.reloads = reloads_;
    s.failed_reloads = failed_reloads_;
    if (ports_) s.ports = ports_->snapshot();
    if (pool_) s.workers = pool_->snapshot();
    return s;
  }

  void shutdown() {
    (void)notifier_.stopping();
    // Returns once no telemetry request is inside snapshot(): the ports can go.
    telemetry::clear_telemetry_provider();
    if (ports_) ports_->remove_all();
    ports_.reset();
    pool_.reset();
    spdlog::info("stopped");
    service::flush_logging();
  }

  const service::CliOptions& cli_;
  config::Config cfg_;
  const int signal_fd_;
  service::SystemdNotifier notifier_;
  std::unique_ptr<workers::WorkerPool> pool_;
  std::unique_ptr<ports::PortManager> ports_;
  std::atomic<uint64_t> reloads_{0};
  std::atomic<uint64_t> failed_reloads_{0};
};

int run(int argc, char** argv) {
  const auto args = service::cli_arguments(argc, argv);
  auto cli = service::parse_cli(args);
  if (!cli) {
    fmt::print(stderr, "pmdnetd: {}\n{}", cli.error().message, service::usage_text());
    return 2;
  }
  if (cli->help) {
    fmt::print("{}", service::usage_text());
    return 0;
  }
  if (cli->version) {
    fmt::print("{}", service::version_text());
    return 0;
  }
  auto cfg = load(*cli);
  if (!cfg) {
    fmt::print(stderr, "pmdnetd: invalid configuration:\n{}\n", cfg.error().message);
    return 2;
  }
  if (cli->check_config) {
    fmt::print("{}: valid ({} ports, {} workers)\n",
               // NOLINTNEXTLINE(bugprone-unchecked-optional-access): checked before the `?`
               cli->config_path ? cli->config_path->string() : "<built-in default>",
               cfg->ports.size(), cfg->workers.size());
    return 0;
  }
  if (auto r = service::init_logging(cfg->logging, cli->log_level); !r) {
    fmt::print(stderr, "pmdnetd: logging: {}\n", r.error().message);
    return 2;
  }
  // A write to a socket or pipe whose reader is gone (a front-end's call fd, a vhost-user reply
  // to a closed connection) must fail with EPIPE, not end the daemon.
  ::signal(SIGPIPE, SIG_IGN);
  // Guest memory that its front-end truncates under a running port faults (SIGBUS); that port
  // breaks, the daemon lives (daemon/vhost_user/guest_fault.h).
  vhost_user::install_guest_fault_handler();
  // Signals are taken by the control loop through a signalfd; blocked before EAL starts its
  // threads, so that they inherit the mask and never take them.
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  const int signal_fd = signalfd(-1, &signals, SFD_CLOEXEC);
  if (signal_fd < 0) {
    spdlog::critical("signalfd: {}", std::strerror(errno));
    return 1;
  }
  route_dpdk_log();
  auto eal = Eal::init(
      eal_options(*cfg, service::effective_log_level(cfg->logging, cli->log_level)), "pmdnetd");
  if (!eal) {
    spdlog::critical("EAL: {}", eal.error().message);
    return 1;
  }
  int rc = 0;
  {
    Daemon daemon(*cli, std::move(*cfg), signal_fd);
    rc = daemon.run();
  }
  ::close(signal_fd);
  service::flush_logging();
  return rc;
}

}  // namespace
}  // namespace pmdnet

int main(int argc, char** argv) { return pmdnet::run(argc, argv); }
