// The grammars of the configuration's structured strings: DPDK lcore lists, MAC addresses, PCI
// addresses and backend device strings. Pure functions: each returns the value, or a description
// of what is wrong for the message that names the key.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "config/config.h"

namespace pmdnet::config {

// DPDK's -l/--lcores syntax: element (',' element)*, where element is set ['@' set] and set is
// a number, a range a-b, or a parenthesised list of those. Returns the lcore ids (the part
// before each '@'); lcore ids must be below kMaxLcores, CPU ids below kMaxCpus.
std::expected<std::set<uint32_t>, std::string> parse_lcore_list(std::string_view text);

// "aa:bb:cc:dd:ee:ff", hex digits in either case.
std::optional<MacAddress> parse_mac(std::string_view s);

// A PCI address, [domain:]bus:device.function in hex: domain 1-8 digits (4 usually), bus 2,
// device 2 (at most 1f), function 1 (at most 7). Returns it normalised as dddd:bb:dd.f.
std::expected<std::string, std::string> normalise_pci(std::string_view s);

struct BackendDevice {
  DeviceKind kind;
  std::string identity;  // what two ports must not share: the normalised PCI address or vdev name
};

// backend.device: a PCI address or a vdev, either optionally followed by ",key=value,...".
std::expected<BackendDevice, std::string> classify_device(std::string_view s);

}  // namespace pmdnet::config
