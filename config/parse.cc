// parse_config: YAML text -> Config. Reads the top-level map section by section (parse_*.cc),
// then checks the relations between sections (relations.cc), collecting every problem with its
// position; any problem refuses the whole file.
#include <fmt/format.h>

#include "config/config.h"
#include "config/problems.h"
#include "config/schema.h"
#include "config/yaml_reader.h"

namespace pmdnet::config {
namespace {

Config read_config(Reader& reader, const Value& root) {
  Config config;
  if (root.node.IsNull()) {
    reader.error(root.pos,
                 "the file has no configuration; at least `workers` is required (see "
                 "config/examples/minimal.yaml)");
    return config;
  }
  if (!root.node.IsMap()) {
    reader.error(root.pos, fmt::format("the top level must be a map of sections (eal, workers, "
                                       "ports, ...), got {}",
                                       describe(root.node)));
    return config;
  }
  Notes notes;
  MapReader keys(reader, root,
                 {"eal", "workers", "ports", "affinity", "logging", "telemetry", "state_dir"});
  if (auto v = keys.get("eal")) parse_eal(reader, *v, config.eal, notes.eal);
  if (auto v = keys.require("workers")) parse_workers(reader, *v, config.workers, notes.workers);
  if (auto v = keys.get("ports")) parse_ports(reader, *v, config.ports, notes.ports);
  if (auto v = keys.get("affinity")) parse_affinity(reader, *v, config.affinity, notes.affinity);
  if (auto v = keys.get("logging")) parse_logging(reader, *v, config.logging);
  if (auto v = keys.get("telemetry")) parse_telemetry(reader, *v, config.telemetry);
  if (auto v = keys.get("state_dir")) {
    if (auto path = reader.string(*v)) {
      if (path->empty() || !path->starts_with('/')) {
        reader.error(*v, fmt::format("'{}' is not an absolute directory path", *path));
      } else {
        config.state_dir = *path;
      }
    }
  }
  const auto eal = keys.get("eal");
  notes.eal.section = eal ? eal->pos : root.pos;

  check_relations(reader, config, notes);
  return config;
}

}  // namespace

Result<Config> parse_config(std::string_view yaml, std::string_view source_name) {
  Problems problems;
  Config config;
  read_document(yaml, problems,
                [&](Reader& reader, const Value& root) { config = read_config(reader, root); });
  if (!problems.empty()) {
    return make_error(Errc::kInvalidArgument, problems.render(source_name, kMaxReportedErrors));
  }
  return config;
}

}  // namespace pmdnet::config
