// The YAML names of the configuration's enumerations: to_string(E) and from_string<E>(name),
// from one table per enumeration, shared by the parser, its error messages and the daemon's logs.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

#include "config/config.h"

namespace pmdnet::config {

template <class E>
struct EnumName {
  E value;
  std::string_view name;
};

// EnumNames<E>::kTable lists every enumerator but kCount with its YAML name, in enum order.
template <class E>
struct EnumNames;

template <>
struct EnumNames<IdlePolicy> {
  static constexpr std::array<EnumName<IdlePolicy>, 2> kTable{{
      {IdlePolicy::kBusy, "busy"},
      {IdlePolicy::kAdaptive, "adaptive"},
  }};
};

template <>
struct EnumNames<VhostMode> {
  static constexpr std::array<EnumName<VhostMode>, 2> kTable{{
      {VhostMode::kServer, "server"},
      {VhostMode::kClient, "client"},
  }};
};

template <>
struct EnumNames<VhostFeature> {
  static constexpr std::array<EnumName<VhostFeature>, 11> kTable{{
      {VhostFeature::kCsum, "csum"},
      {VhostFeature::kGuestCsum, "guest_csum"},
      {VhostFeature::kTso, "tso"},
      {VhostFeature::kUso, "uso"},
      {VhostFeature::kGuestTso, "guest_tso"},
      {VhostFeature::kGuestUso, "guest_uso"},
      {VhostFeature::kMrgRxbuf, "mrg_rxbuf"},
      {VhostFeature::kEventIdx, "event_idx"},
      {VhostFeature::kIndirectDesc, "indirect_desc"},
      {VhostFeature::kMq, "mq"},
      {VhostFeature::kGuestAnnounce, "guest_announce"},
  }};
};

template <>
struct EnumNames<BackendType> {
  static constexpr std::array<EnumName<BackendType>, 3> kTable{{
      {BackendType::kDpdk, "dpdk"},
      {BackendType::kLoopback, "loopback"},
      {BackendType::kNull, "null"},
  }};
};

template <>
struct EnumNames<DeviceKind> {
  static constexpr std::array<EnumName<DeviceKind>, 3> kTable{{
      {DeviceKind::kNone, "none"},
      {DeviceKind::kPci, "pci"},
      {DeviceKind::kVdev, "vdev"},
  }};
};

template <>
struct EnumNames<RssHashType> {
  static constexpr std::array<EnumName<RssHashType>, 15> kTable{{
      {RssHashType::kIpv4, "ipv4"},
      {RssHashType::kIpv4Frag, "ipv4_frag"},
      {RssHashType::kIpv4Tcp, "ipv4_tcp"},
      {RssHashType::kIpv4Udp, "ipv4_udp"},
      {RssHashType::kIpv4Sctp, "ipv4_sctp"},
      {RssHashType::kIpv4Other, "ipv4_other"},
      {RssHashType::kIpv6, "ipv6"},
      {RssHashType::kIpv6Frag, "ipv6_frag"},
      {RssHashType::kIpv6Tcp, "ipv6_tcp"},
      {RssHashType::kIpv6Udp, "ipv6_udp"},
      {RssHashType::kIpv6Sctp, "ipv6_sctp"},
      {RssHashType::kIpv6Other, "ipv6_other"},
      {RssHashType::kIpv6Ex, "ipv6_ex"},
      {RssHashType::kIpv6TcpEx, "ipv6_tcp_ex"},
      {RssHashType::kIpv6UdpEx, "ipv6_udp_ex"},
  }};
};

template <>
struct EnumNames<LogLevel> {
  static constexpr std::array<EnumName<LogLevel>, 7> kTable{{
      {LogLevel::kTrace, "trace"},
      {LogLevel::kDebug, "debug"},
      {LogLevel::kInfo, "info"},
      {LogLevel::kWarn, "warn"},
      {LogLevel::kError, "error"},
      {LogLevel::kCritical, "critical"},
      {LogLevel::kOff, "off"},
  }};
};

template <>
struct EnumNames<LogSink> {
  static constexpr std::array<EnumName<LogSink>, 3> kTable{{
      {LogSink::kStderr, "stderr"},
      {LogSink::kJournal, "journal"},
      {LogSink::kFile, "file"},
  }};
};

template <class E>
concept NamedEnum = requires {
  EnumNames<E>::kTable;
};

// The YAML name of `value`; "?" for kCount or a value outside the enumeration.
template <NamedEnum E>
constexpr std::string_view to_string(E value) noexcept {
  static_assert(EnumNames<E>::kTable.size() == static_cast<size_t>(E::kCount));
  for (const auto& entry : EnumNames<E>::kTable) {
    if (entry.value == value) return entry.name;
  }
  return "?";
}

// The enumerator named `name` (exact, case-sensitive match), if any.
template <NamedEnum E>
constexpr std::optional<E> from_string(std::string_view name) noexcept {
  for (const auto& entry : EnumNames<E>::kTable) {
    if (entry.name == name) return entry.value;
  }
  return std::nullopt;
}

// The RSS group names (`ip`, `tcp`, `udp`, `sctp`) and the sets they stand for.
struct RssGroupName {
  std::string_view name;
  RssHashTypes types;
};
inline constexpr std::array<RssGroupName, 4> kRssGroups{{
    {"ip", kRssGroupIp},
    {"tcp", kRssGroupTcp},
    {"udp", kRssGroupUdp},
    {"sctp", kRssGroupSctp},
}};

}  // namespace pmdnet::config
