// The `ports` section: each port's name and its guest side, `vhost_user` (socket, mode, queue
// pairs, MTU, MAC, withheld virtio features, packed rings and IN_ORDER); its `backend` is in
// parse_backend.cc.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <map>
#include <utility>

#include "config/formats.h"
#include "config/schema.h"
#include "config/text.h"

namespace pmdnet::config {
namespace {

void parse_port_name(Reader& reader, const Value& v, Port& port, PortNotes& notes) {
  auto name = reader.string(v);
  if (!name) return;
  bool ok = !name->empty() && name->size() <= kMaxPortNameLength &&
            std::isalnum(static_cast<unsigned char>(name->front())) &&
            std::ranges::all_of(*name, [](unsigned char c) {
              return std::isalnum(c) || c == '_' || c == '.' || c == '-';
            });
  if (!ok) {
    reader.error(v, fmt::format("'{}' is not a valid port name: expected 1..{} characters from "
                                "A-Z a-z 0-9 _ . -, starting with a letter or digit",
                                *name, kMaxPortNameLength));
    return;
  }
  port.name = *name;
  notes.name = v.pos;
}

std::optional<std::string> socket_path_problem(std::string_view path) {
  if (path.empty()) return "must not be empty";
  if (path.find('\0') != std::string_view::npos) return "must not contain a NUL character";
  if (!path.starts_with('/')) {
    return fmt::format(
        "'{}' is a relative path; socket paths must be absolute (the daemon's "
        "working directory is not the operator's)",
        path);
  }
  if (path.ends_with('/')) return fmt::format("'{}' names a directory, not a socket", path);
  if (path.size() > kMaxSocketPathLength) {
    return fmt::format("is {} bytes long; a unix socket path has at most {} (sun_path)",
                       path.size(), kMaxSocketPathLength);
  }
  return std::nullopt;
}

void parse_disabled_features(Reader& reader, const Value& v, VhostUser& vu,
                             const std::optional<Value>& queue_pairs, bool queue_pairs_ok) {
  if (!reader.expect_list(v)) return;
  std::map<VhostFeature, Pos> seen;
  for (const Value& item : reader.items(v)) {
    auto feature = read_name<VhostFeature>(reader, item);
    if (!feature) continue;
    if (auto [first, inserted] = seen.emplace(*feature, item.pos); !inserted) {
      reader.error(item, fmt::format("'{}' is listed twice (first at line {})", to_string(*feature),
                                     first->second.line));
      continue;
    }
    vu.disabled_features.insert(*feature);
  }
  // virtio 1.2 5.1.3.1: HOST_TSO4/6 and HOST_USO require CSUM; GUEST_TSO4/6 and GUEST_USO4/6
  // require GUEST_CSUM. A device must not offer a feature without the ones it requires.
  auto require_also = [&](VhostFeature base, std::initializer_list<VhostFeature> dependents) {
    if (!vu.disabled_features.contains(base)) return;
    std::vector<std::string_view> missing;
    for (VhostFeature d : dependents) {
      if (!vu.disabled_features.contains(d)) missing.push_back(to_string(d));
    }
    if (missing.empty()) return;
    reader.error(v, fmt::format("disabling '{}' also requires disabling {}: virtio offers "
                                "those only together with '{}' (virtio 1.2 5.1.3.1)",
                                to_string(base), join(missing), to_string(base)));
  };
  require_also(VhostFeature::kCsum, {VhostFeature::kTso, VhostFeature::kUso});
  require_also(VhostFeature::kGuestCsum, {VhostFeature::kGuestTso, VhostFeature::kGuestUso});
  if (vu.disabled_features.contains(VhostFeature::kMq) && queue_pairs_ok && vu.queue_pairs > 1) {
    reader.error(queue_pairs ? *queue_pairs : v,
                 fmt::format("{} queue pairs need the 'mq' feature, which disable_features "
                             "withholds; set queue_pairs: 1 or stop disabling 'mq'",
                             vu.queue_pairs));
  }
}

void parse_vhost_user(Reader& reader, const Value& v, Port& port, PortNotes& notes) {
  if (!reader.expect_map(v)) return;
  MapReader keys(reader, v,
                 {"socket", "mode", "queue_pairs", "mtu", "mac", "disable_features", "packed_ring",
                  "in_order"});
  VhostUser& vu = port.vhost_user;
  if (auto socket = keys.require("socket")) {
    if (auto path = reader.string(*socket)) {
      if (auto problem = socket_path_problem(*path)) {
        reader.error(*socket, *problem);
      } else {
        vu.socket = *path;
        notes.socket = socket->pos;
      }
    }
  }
  if (auto mode = keys.get("mode")) {
    if (auto m = read_name<VhostMode>(reader, *mode)) vu.mode = *m;
  }
  notes.queue_pairs_ok = true;
  std::optional<Value> queue_pairs = keys.get("queue_pairs");
  if (queue_pairs) {
    if (auto n = reader.integer(*queue_pairs, 1, kMaxQueuePairs)) {
      vu.queue_pairs = static_cast<uint32_t>(*n);
    } else {
      notes.queue_pairs_ok = false;
    }
  }
  if (auto mtu = keys.get("mtu")) {
    if (auto n = reader.integer(*mtu, kMinMtu, kMaxMtu)) vu.mtu = static_cast<uint32_t>(*n);
  }
  if (auto mac = keys.get("mac")) {
    if (auto text = reader.string(*mac)) {
      auto parsed = parse_mac(*text);
      if (!parsed) {
        reader.error(*mac, fmt::format("'{}' is not a MAC address; expected six hex bytes "
                                       "separated by ':', e.g. 52:54:00:12:34:56",
                                       *text));
      } else if (((*parsed)[0] & 0x01) != 0) {
        reader.error(*mac, fmt::format("{} is a multicast address; a port needs a unicast MAC "
                                       "(the lowest bit of the first byte clear)",
                                       *text));
      } else if (*parsed == MacAddress{}) {
        reader.error(*mac, "00:00:00:00:00:00 is not a usable MAC address");
      } else {
        vu.mac = *parsed;
        notes.mac = mac->pos;
      }
    }
  }
  if (auto features = keys.get("disable_features")) {
    parse_disabled_features(reader, *features, vu, queue_pairs, notes.queue_pairs_ok);
  }
  if (auto packed_ring = keys.get("packed_ring")) {
    if (auto b = reader.boolean(*packed_ring)) vu.packed_ring = *b;
  }
  if (auto in_order = keys.get("in_order")) {
    if (auto b = reader.boolean(*in_order)) vu.in_order = *b;
  }
}

}  // namespace

void parse_ports(Reader& reader, const Value& v, std::vector<Port>& ports,
                 std::vector<PortNotes>& notes) {
  if (!reader.expect_list(v)) return;
  for (const Value& item : reader.items(v)) {
    Port port;
    PortNotes port_notes;
    if (reader.expect_map(item)) {
      MapReader keys(reader, item, {"name", "vhost_user", "backend"});
      if (auto name = keys.require("name")) parse_port_name(reader, *name, port, port_notes);
      if (auto vhost = keys.require("vhost_user")) {
        parse_vhost_user(reader, *vhost, port, port_notes);
      }
      if (auto backend = keys.require("backend")) {
        parse_backend(reader, *backend, port, port_notes);
      }
    }
    ports.push_back(std::move(port));
    notes.push_back(std::move(port_notes));
  }
}

}  // namespace pmdnet::config
