// The configuration's schema, section by section (parse_<section>.cc): each parse function reads
// its section into the Config and records in Notes what the checks between sections
// (relations.cc) need beyond the Config itself: positions, and which values were valid.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/names.h"
#include "config/problems.h"
#include "config/yaml_reader.h"

namespace pmdnet::config {

struct EalNotes {
  Pos section;                                  // `eal`, or the top level when it is absent
  std::optional<std::set<uint32_t>> lcore_set;  // eal.lcores, when it is given and valid
  std::optional<Pos> lcores;
  std::optional<Pos> main_lcore;
  std::optional<Pos> memory_mb;
  bool main_lcore_ok = true;
  bool memory_ok = true;
};

// One entry per Config::workers entry.
struct WorkerNotes {
  std::vector<Pos> pos;           // of each worker's lcore
  std::vector<std::string> path;  // of each worker's lcore
  bool ok = true;                 // every worker was valid
};

// One per Config::ports entry.
struct PortNotes {
  std::optional<Pos> name;  // set when the name is valid
  std::optional<Pos> socket;
  std::optional<Pos> mac;
  std::optional<Pos> device;
  std::string device_identity;
  std::optional<Pos> dpdk;      // the position of `type: dpdk`
  bool queue_pairs_ok = false;  // queue_pairs parsed (affinity may check queues against it)
  bool pool_ok = false;         // mempool_size is meaningful (memory check)
};

// One per Config::affinity entry: its values, for their paths and positions.
struct AffinityValues {
  Value port;
  Value queue;
  Value lcore;
};

struct Notes {
  EalNotes eal;
  WorkerNotes workers;
  std::vector<PortNotes> ports;
  std::vector<AffinityValues> affinity;
};

// The sections. Each reports what is wrong through `reader` and fills in what is valid.
void parse_eal(Reader& reader, const Value& v, EalSettings& eal, EalNotes& notes);
void parse_workers(Reader& reader, const Value& v, std::vector<Worker>& workers,
                   WorkerNotes& notes);
void parse_ports(Reader& reader, const Value& v, std::vector<Port>& ports,
                 std::vector<PortNotes>& notes);
// A port's backend, after its vhost_user (the queue count follows vhost_user.queue_pairs).
void parse_backend(Reader& reader, const Value& v, Port& port, PortNotes& notes);
void parse_affinity(Reader& reader, const Value& v, std::vector<Affinity>& affinity,
                    std::vector<AffinityValues>& values);
void parse_logging(Reader& reader, const Value& v, Logging& logging);
void parse_telemetry(Reader& reader, const Value& v, Telemetry& telemetry);

// The checks between sections, once every section is read: lcores, the ports' unique values,
// affinity references, memory. Derives eal.lcores when the file leaves it out.
void check_relations(Reader& reader, Config& config, const Notes& notes);

// The YAML names of E's enumerators, in enum order.
template <NamedEnum E>
std::vector<std::string_view> names_of() {
  std::vector<std::string_view> out;
  out.reserve(std::size(EnumNames<E>::kTable));
  for (const auto& entry : EnumNames<E>::kTable) out.push_back(entry.name);
  return out;
}

// The enumerator that `v` names; any other value is reported (see Reader::one_of).
template <NamedEnum E>
std::optional<E> read_name(Reader& reader, const Value& v) {
  auto index = reader.one_of(v, names_of<E>());
  if (!index) return std::nullopt;
  return EnumNames<E>::kTable[*index].value;
}

}  // namespace pmdnet::config
