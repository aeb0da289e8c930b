// Fuzz target for the configuration parser: arbitrary text, and mutations spliced into a valid
// file, must give either a Config or an error whose every line is `source:line:col: message`,
// never a crash or an escaped yaml-cpp exception.
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/config.h"

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

// Every line of an error names the source and a 1-based position, or is the overflow summary
// (`source: ... and N more errors`); user text with newlines in it must not break that shape.
void check_error(const std::string& message) {
  size_t start = 0;
  while (start < message.size()) {
    size_t end = message.find('\n', start);
    if (end == std::string::npos) end = message.size();
    std::string_view line(message.data() + start, end - start);
    require(line.starts_with("fuzz.yaml:"));
    if (!line.starts_with("fuzz.yaml: ... and ")) {
      size_t i = 10;
      size_t digits = 0;
      while (i < line.size() && std::isdigit(static_cast<unsigned char>(line[i]))) ++i, ++digits;
      require(digits > 0 && i < line.size() && line[i] == ':');
    }
    start = end + 1;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  // Half the inputs: the raw bytes. The other half: the bytes spliced into the default config,
  // so the fuzzer explores deep keys instead of top-level syntax errors.
  std::string text;
  if (size > 0 && data[0] & 1) {
    std::string_view base = pmdnet::config::default_config_yaml();
    size_t at = size > 1 ? (data[1] * base.size()) / 256 : 0;
    text.assign(base.substr(0, at));
    text.append(input.substr(std::min<size_t>(2, size)));
    text.append(base.substr(at));
  } else {
    text.assign(input);
  }
  auto config = pmdnet::config::parse_config(text, "fuzz.yaml");
  if (!config) {
    require(config.error().code == pmdnet::Errc::kInvalidArgument);
    require(!config.error().message.empty());
    check_error(config.error().message);
  } else {
    require(!config->workers.empty());
  }
  return 0;
}
