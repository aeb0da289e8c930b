// Loading a configuration file, the built-in default configuration, and small formatting helpers.
#include "config/config.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <system_error>

namespace pmdnet::config {
namespace {

// The built-in default: what `pmdnetd` runs without --config and what scripts/run.sh starts.
// It needs no hugepages, no NIC and no root: a loopback backend reflects the guest's packets.
constexpr std::string_view kDefaultConfigYaml = R"yaml(# pmdnetd's built-in default configuration.
eal:
  main_lcore: 0
  no_huge: true
  memory_mb: 256
  file_prefix: pmdnet
workers:
  - lcore: 1
    idle: adaptive
ports:
  - name: vm0
    vhost_user:
      socket: /tmp/pmdnet-vm0.sock
      mode: server
      queue_pairs: 1
    backend:
      type: loopback
logging:
  level: info
  sink: stderr
telemetry:
  enabled: true
)yaml";

}  // namespace

std::string_view default_config_yaml() { return kDefaultConfigYaml; }

Result<Config> default_config() { return parse_config(kDefaultConfigYaml, "<built-in default>"); }

Result<Config> load_config_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return make_error(Errc::kIo, fmt::format("{}: cannot read: it is a directory", path.string()));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    return make_error(Errc::kIo, fmt::format("{}: cannot read: {}", path.string(),
                                             err != 0 ? std::strerror(err) : "open failed"));
  }
  std::string text;
  char buffer[4096];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    text.append(buffer, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxConfigFileSize) {
      return make_error(Errc::kIo, fmt::format("{}: cannot read: larger than {} bytes",
                                               path.string(), kMaxConfigFileSize));
    }
  }
  if (in.bad()) {
    return make_error(Errc::kIo, fmt::format("{}: cannot read: i/o error", path.string()));
  }
  return parse_config(text, path.string());
}

std::string format_mac(const MacAddress& mac) {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", mac[0], mac[1], mac[2], mac[3],
                     mac[4], mac[5]);
}

}  // namespace pmdnet::config
