// A port's `backend`: its type and, for dpdk, the device, queues, descriptor rings, mbuf pool,
// `rss` (key, hash types), `offloads` and zero-copy TX.
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "config/formats.h"
#include "config/schema.h"
#include "config/text.h"

namespace pmdnet::config {
namespace {

void parse_rss_key(Reader& reader, const Value& v, std::string_view text, Rss& rss) {
  if (!std::ranges::all_of(text, is_hex)) {
    auto bad = std::ranges::find_if_not(text, is_hex);
    reader.error(v, fmt::format("the RSS key must be hex digits only; found '{}' at offset {}",
                                *bad, bad - text.begin()));
    return;
  }
  if (text.size() % 2 != 0 ||
      (text.size() != 2 * kRssKeyLength && text.size() != 2 * kRssKeyLengthLong)) {
    reader.error(v, fmt::format("the RSS key has {} hex digits; expected {} ({} bytes, the "
                                "Toeplitz key) or {} ({} bytes, i40e/ice)",
                                text.size(), 2 * kRssKeyLength, kRssKeyLength,
                                2 * kRssKeyLengthLong, kRssKeyLengthLong));
    return;
  }
  rss.key.clear();
  for (size_t i = 0; i < text.size(); i += 2) {
    rss.key.push_back(static_cast<uint8_t>(hex_value(text[i]) << 4 | hex_value(text[i + 1])));
  }
}

void parse_hash_types(Reader& reader, const Value& types, Rss& rss) {
  if (!reader.expect_list(types)) return;
  std::vector<std::string_view> names = names_of<RssHashType>();
  for (const auto& group : kRssGroups) names.push_back(group.name);
  RssHashTypes set;
  std::map<std::string, Pos, std::less<>> seen;
  std::vector<Value> items = reader.items(types);
  bool all_ok = true;
  for (const Value& item : items) {
    auto name = reader.string(item);
    if (!name) {
      all_ok = false;
      continue;
    }
    if (auto [first, inserted] = seen.emplace(*name, item.pos); !inserted) {
      reader.error(
          item, fmt::format("'{}' is listed twice (first at line {})", *name, first->second.line));
      continue;
    }
    if (auto type = from_string<RssHashType>(*name)) {
      set.insert(*type);
    } else if (auto group = std::ranges::find(kRssGroups, *name, &RssGroupName::name);
               group != kRssGroups.end()) {
      set |= group->types;
    } else {
      reader.error(item, unknown_name_message("hash type", *name, names));
      all_ok = false;
    }
  }
  if (items.empty()) {
    reader.error(types,
                 "must name at least one hash type (remove the key for the default "
                 "[ip, tcp, udp])");
  } else if (all_ok) {
    rss.hash_types = set;
  }
}

void parse_reta(Reader& reader, const Value& v, uint32_t queues, Rss& rss) {
  if (!reader.expect_list(v)) return;
  std::vector<Value> items = reader.items(v);
  const size_t n = items.size();
  if (n == 0 || n > kMaxRssReta || (n & (n - 1)) != 0) {
    reader.error(v, fmt::format("the indirection table has {} entries; expected a power of two "
                                "from 1 to {} (it must divide the NIC's table size)",
                                n, kMaxRssReta));
    return;
  }
  std::vector<uint16_t> table;
  table.reserve(n);
  for (const Value& item : items) {
    // Each entry names a queue of this backend: 0 to queues - 1.
    if (auto q = reader.integer(item, 0, queues - 1u)) table.push_back(static_cast<uint16_t>(*q));
  }
  if (table.size() == n) rss.reta = std::move(table);
}

void parse_rss(Reader& reader, const Value& v, uint32_t queues, Rss& rss) {
  if (!reader.expect_map(v)) return;
  MapReader keys(reader, v, {"key", "hash_types", "reta"});
  if (auto key = keys.get("key")) {
    if (auto text = reader.string(*key)) parse_rss_key(reader, *key, *text, rss);
  }
  if (auto types = keys.get("hash_types")) parse_hash_types(reader, *types, rss);
  if (auto reta = keys.get("reta")) parse_reta(reader, *reta, queues, rss);
}

void parse_offloads(Reader& reader, const Value& v, Offloads& offloads) {
  if (!reader.expect_map(v)) return;
  MapReader keys(reader, v, {"checksum", "tso", "uso", "vlan", "gro"});
  auto flag = [&](std::string_view key, bool& out) {
    if (auto f = keys.get(key)) {
      if (auto b = reader.boolean(*f)) out = *b;
    }
  };
  flag("checksum", offloads.checksum);
  flag("tso", offloads.tso);
  flag("uso", offloads.uso);
  flag("vlan", offloads.vlan);
  flag("gro", offloads.gro);
}

}  // namespace

void parse_backend(Reader& reader, const Value& v, Port& port, PortNotes& notes) {
  if (!reader.expect_map(v)) return;
  MapReader keys(reader, v,
                 {"type", "device", "queues", "rss", "offloads", "rx_descriptors", "tx_descriptors",
                  "mempool_size", "tx_zero_copy"});
  Backend& backend = port.backend;
  backend.queues = port.vhost_user.queue_pairs;
  std::optional<BackendType> type;
  if (auto t = keys.require("type")) type = read_name<BackendType>(reader, *t);
  if (type) backend.type = *type;
  if (!type) return;  // the other keys' meaning depends on the type
  if (*type != BackendType::kDpdk) {
    for (std::string_view key : {"device", "queues", "rss", "offloads", "rx_descriptors",
                                 "tx_descriptors", "mempool_size", "tx_zero_copy"}) {
      if (auto extra = keys.get(key)) {
        reader.error(*extra, fmt::format("only valid with type dpdk, and this backend is {}",
                                         to_string(*type)));
      }
    }
    return;
  }
  // NOLINTNEXTLINE(bugprone-unchecked-optional-access): `type` is set only if the key is there
  notes.dpdk = keys.get("type")->pos;

  if (auto device = keys.require("device")) {
    if (auto text = reader.string(*device)) {
      if (auto d = classify_device(*text); !d) {
        reader.error(*device, d.error());
      } else {
        backend.device = *text;
        backend.device_kind = d->kind;
        notes.device = device->pos;
        notes.device_identity = d->identity;
      }
    }
  }
  bool sizes_ok = notes.queue_pairs_ok;
  if (auto queues = keys.get("queues")) {
    if (auto n = reader.integer(*queues, 1, kMaxQueuePairs)) {
      if (notes.queue_pairs_ok && *n != port.vhost_user.queue_pairs) {
        reader.error(*queues, fmt::format("{} does not match vhost_user.queue_pairs ({}): each "
                                          "guest queue pair uses one ethdev queue pair",
                                          *n, port.vhost_user.queue_pairs));
      }
    }
  }
  if (auto rss = keys.get("rss")) parse_rss(reader, *rss, backend.queues, backend.rss);
  if (auto offloads = keys.get("offloads")) parse_offloads(reader, *offloads, backend.offloads);
  if (auto zero_copy = keys.get("tx_zero_copy")) {
    if (auto b = reader.boolean(*zero_copy)) backend.tx_zero_copy = *b;
  }
  auto descriptors = [&](std::string_view key, uint32_t& out) {
    auto d = keys.get(key);
    if (!d) return;
    auto n = reader.integer(*d, kMinDescriptors, kMaxDescriptors);
    if (!n) {
      sizes_ok = false;
    } else if ((*n & (*n - 1)) != 0) {
      reader.error(*d, fmt::format("{} is not a power of two; expected one of 64, 128, ..., {}", *n,
                                   kMaxDescriptors));
      sizes_ok = false;
    } else {
      out = static_cast<uint32_t>(*n);
    }
  };
  descriptors("rx_descriptors", backend.rx_descriptors);
  descriptors("tx_descriptors", backend.tx_descriptors);

  uint64_t ring_mbufs =
      uint64_t{backend.queues} * (uint64_t{backend.rx_descriptors} + backend.tx_descriptors);
  if (auto pool = keys.get("mempool_size")) {
    if (auto n = reader.integer(*pool, 1, kMaxMempoolSize)) {
      backend.mempool_size = static_cast<uint32_t>(*n);
      notes.pool_ok = true;
      if (sizes_ok && *n < ring_mbufs) {
        reader.error(*pool, fmt::format("{} mbufs cannot fill the descriptor rings: queues ({}) "
                                        "x (rx_descriptors + tx_descriptors) needs at least {}",
                                        *n, backend.queues, ring_mbufs));
        notes.pool_ok = false;
      }
    }
  } else {
    uint64_t size = 8191;
    while (size < 2 * ring_mbufs) size = size * 2 + 1;
    backend.mempool_size = static_cast<uint32_t>(std::min<uint64_t>(size, kMaxMempoolSize));
    notes.pool_ok = sizes_ok;
  }
}

}  // namespace pmdnet::config
