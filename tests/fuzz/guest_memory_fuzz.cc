// Fuzz target for GuestMemory: random region tables and random accesses, each checked against a
// simple interval model, so any out-of-bounds access, wrong answer or wrong byte aborts.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "core/guest_memory/guest_memory.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using pmdnet::GuestMemory;
using pmdnet::GuestMemoryRegion;

void require(bool ok) {
  if (!ok) std::abort();
}

// Whether every byte of [gpa, gpa + len) lies in some region, computed the slow, obvious way.
bool model_mapped(const std::vector<GuestMemoryRegion>& regions, uint64_t gpa, uint64_t len) {
  if (len == 0) return true;
  if (len - 1 > ~uint64_t{0} - gpa) return false;
  uint64_t at = gpa;
  uint64_t end_inclusive = gpa + (len - 1);
  for (;;) {
    const GuestMemoryRegion* hit = nullptr;
    for (const auto& r : regions) {
      if (at >= r.gpa && at - r.gpa < r.size) hit = &r;
    }
    if (!hit) return false;
    uint64_t region_last = hit->gpa + (hit->size - 1);
    if (region_last >= end_inclusive) return true;
    at = region_last + 1;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  pmdnet::fuzz::FuzzInput in(data, size);
  size_t n = in.below(6);
  std::vector<std::vector<uint8_t>> backing;
  std::vector<GuestMemoryRegion> regions;
  uint64_t base = in.take<uint8_t>() & 1 ? ~uint64_t{0} - 0x10000 : 0;  // sometimes near 2^64
  for (size_t i = 0; i < n; ++i) {
    uint64_t size_bytes = in.below(4096) + (in.take<uint8_t>() & 1);  // 0 is a bad region
    uint64_t gpa = base + in.below(0x8000);
    if (in.take<uint8_t>() == 0xff) gpa = in.take<uint64_t>();  // anywhere, wrapping included
    backing.emplace_back(size_bytes + 1);
    regions.push_back({gpa, size_bytes, backing.back().data()});
  }
  auto created = GuestMemory::create(regions);
  if (!created) return 0;  // bad tables are refused; what matters is that good ones behave
  const GuestMemory& mem = *created;
  // The model is the validated table: non-empty, non-overlapping, non-wrapping.
  std::vector<GuestMemoryRegion> model(mem.regions().begin(), mem.regions().end());

  std::vector<uint8_t> buf;
  std::vector<std::span<uint8_t>> spans;
  while (!in.empty()) {
    uint64_t gpa = base + in.below(0x9000);
    uint64_t len = in.below(0x3000);
    switch (in.below(4)) {
      case 0: {  // arbitrary 64-bit ranges: only the answer is checked
        gpa = in.take<uint64_t>();
        len = in.take<uint64_t>();
        spans.clear();
        bool ok = mem.translate(gpa, len, spans).has_value();
        require(ok == model_mapped(model, gpa, len));
        uint64_t total = 0;
        for (auto s : spans) total += s.size();
        require(ok ? total == len : spans.empty());
        break;
      }
      case 1: {  // write a pattern, read it back
        buf.assign(len, static_cast<uint8_t>(gpa));
        bool ok = mem.write_at(gpa, buf).has_value();
        require(ok == model_mapped(model, gpa, len));
        std::vector<uint8_t> back(len, 0);
        require(mem.read_at(gpa, back).has_value() == ok);
        if (ok) require(back == buf);
        break;
      }
      case 2: {
        auto c = mem.contiguous(gpa, len);
        if (c) {
          require(c->size() == len);
          bool inside_one = len == 0;
          for (const auto& r : model) {
            if (gpa >= r.gpa && gpa - r.gpa < r.size && len <= r.size - (gpa - r.gpa)) {
              inside_one = true;
              require(len == 0 || c->data() == r.host + (gpa - r.gpa));
            }
          }
          require(inside_one);
        } else {
          require(len > 0);
        }
        break;
      }
      default: {
        buf.resize(len);
        require(mem.read_at(gpa, buf).has_value() == model_mapped(model, gpa, len));
        break;
      }
    }
  }
  return 0;
}
