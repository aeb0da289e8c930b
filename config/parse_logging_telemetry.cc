// The `logging` section (level, sink, file) and the `telemetry` section.
#include <fmt/format.h>

#include "config/schema.h"

namespace pmdnet::config {

void parse_logging(Reader& reader, const Value& v, Logging& logging) {
  if (!reader.expect_map(v)) return;
  MapReader keys(reader, v, {"level", "sink", "file"});
  if (auto level = keys.get("level")) {
    if (auto l = read_name<LogLevel>(reader, *level)) logging.level = *l;
  }
  std::optional<LogSink> sink;
  if (auto s = keys.get("sink")) {
    sink = read_name<LogSink>(reader, *s);
    if (!sink) return;  // whether `file` belongs depends on the sink
    logging.sink = *sink;
  }
  auto file = keys.get("file");
  if (logging.sink == LogSink::kFile && !file) {
    reader.error(v, "logging.sink is file, so logging.file (an absolute path) is required");
  } else if (logging.sink != LogSink::kFile && file) {
    reader.error(*file, fmt::format("only valid with sink: file, and the sink is {}",
                                    to_string(logging.sink)));
  } else if (file) {
    if (auto path = reader.string(*file)) {
      if (path->empty() || !path->starts_with('/') || path->ends_with('/')) {
        reader.error(*file, fmt::format("'{}' is not an absolute file path", *path));
      } else {
        logging.file = *path;
      }
    }
  }
}

void parse_telemetry(Reader& reader, const Value& v, Telemetry& telemetry) {
  if (!reader.expect_map(v)) return;
  MapReader keys(reader, v, {"enabled"});
  if (auto enabled = keys.get("enabled")) {
    if (auto b = reader.boolean(*enabled)) telemetry.enabled = *b;
  }
}

}  // namespace pmdnet::config
