// Fuzz target for PackedRing: a hostile guest's descriptor ring (flags, wrap bits, ids, lengths,
// addresses), indirect tables, event suppression and resume indexes, generated from the input,
// then a sequence of device operations (pop, push_used, publish, rewalk, kicks, drain, abandon)
// interleaved with guest writes to the ring and the tables. Nothing may crash or touch memory
// outside the guest's region (ASan); every chain handed out lies in guest memory, readable before
// writable, with an id below the ring size that was not already out; a held chain rewalks to
// exactly what pop() gave whatever the guest wrote to the ring since (while its indirect table, if
// any, was left alone); the descriptors held never exceed the ring size.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/virtqueue/packed_ring.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/unit/core/virtqueue/test_memory.h"

namespace {

using namespace pmdnet;
using namespace pmdnet::virtio;

void require(bool ok) {
  if (!ok) std::abort();
}

constexpr uint64_t kMem = 0x10000;
constexpr uint64_t kMemSize = 0x10000;
constexpr uint64_t kRing = kMem;  // at most 32 descriptors and the two event structures
constexpr uint64_t kData = kMem + 0x1000;
constexpr uint64_t kDataSize = kMemSize - 0x1000;
constexpr uint16_t kMaxSize = 32;
constexpr int kMaxOps = 256;

uint16_t avail_bits(bool wrap) { return wrap ? kPackedDescFAvail : kPackedDescFUsed; }

// A value below `bound` from two input bytes (FuzzInput::below takes eight; rings need many).
uint32_t small(fuzz::FuzzInput& in, uint32_t bound) { return in.take<uint16_t>() % bound; }

// One descriptor from the input: mostly inside the data area with small lengths and ids near the
// ring size, sometimes anything (each wild field when two bits of `shape` are set); NEXT and
// INDIRECT a quarter of the time each; AVAIL/USED bits mostly those that make it available to the
// device (whose wrap counter is `wrap`), else the other wrap's, or a used descriptor's; sometimes
// flags of any value.
PackedDesc take_desc(fuzz::FuzzInput& in, uint16_t size, bool wrap) {
  const auto shape = in.take<uint8_t>();
  auto wild = [&](int shift) { return ((shape >> shift) & 3) == 3; };
  PackedDesc d;
  d.addr = wild(6) ? in.take<uint64_t>() : kData + small(in, kDataSize);
  d.len = wild(4) ? in.take<uint32_t>() : small(in, 0x800);
  d.id = wild(2) ? in.take<uint16_t>() : static_cast<uint16_t>(in.take<uint8_t>() % (size + 1u));
  const auto f = in.take<uint8_t>();
  d.flags = f & kDescFWrite;
  if ((f & 0x41) == 0x41) d.flags |= kDescFNext;
  if ((f & 0x84) == 0x84) d.flags |= kDescFIndirect;
  switch ((f >> 3) & 3) {
    case 0:
    case 1:
      d.flags |= avail_bits(wrap);
      break;
    case 2:
      d.flags |= avail_bits(!wrap);
      break;
    default:
      d.flags |= (f & 0x20) ? kPackedDescFAvail | kPackedDescFUsed : 0;
      break;
  }
  if (wild(0)) d.flags = in.take<uint16_t>();
  return d;
}

void write_desc(uint8_t* at, const PackedDesc& d) { std::memcpy(at, &d, sizeof(d)); }

// A table entry or any 16 bytes in the data area (indirect tables, or buffers).
void write_data(fuzz::FuzzInput& in, testing::TestMemory& m, uint16_t size) {
  const uint64_t at = kData + small(in, kDataSize - sizeof(PackedDesc));
  write_desc(m.host(at), take_desc(in, size, true));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t len) {
  fuzz::FuzzInput in(data, len);
  // One guest memory for every input, zeroed: a fresh allocation per input costs page faults.
  static testing::TestMemory m(kMem, kMemSize);
  m.clear();
  const auto size = static_cast<uint16_t>(1 + in.take<uint8_t>() % kMaxSize);
  const auto features_byte = in.take<uint8_t>();
  uint64_t features = bit(feature::kVersion1) | bit(feature::kRingPacked);
  if (features_byte & 1) features |= bit(feature::kRingIndirectDesc);
  if (features_byte & 2) features |= bit(feature::kRingEventIdx);
  if (features_byte & 4) features |= bit(feature::kInOrder);
  const RingRole role = (features_byte & 8) ? RingRole::kDeviceReads : RingRole::kDeviceWrites;
  RingIndexes start{in.take<uint16_t>(), in.take<uint16_t>()};
  if ((features_byte & 0x30) != 0x30) {  // mostly positions inside the ring
    start.last_avail_idx = static_cast<uint16_t>((start.last_avail_idx & kPackedWrapBit) |
                                                 (start.last_avail_idx & 0x7fff) % size);
    start.used_idx =
        static_cast<uint16_t>((start.used_idx & kPackedWrapBit) | (start.used_idx & 0x7fff) % size);
  }
  const bool avail_wrap = (start.last_avail_idx & kPackedWrapBit) != 0;

  // The descriptors from the device's position on, as many as the input says; the rest stay
  // zero, which is available for neither wrap counter.
  uint8_t* ring_host = m.host(kRing);
  const uint32_t filled = 1 + in.take<uint8_t>() % size;
  for (uint32_t i = 0; i < filled; ++i) {
    const uint32_t p = ((start.last_avail_idx & 0x7fff) + i) % size;
    write_desc(ring_host + sizeof(PackedDesc) * p, take_desc(in, size, avail_wrap));
  }
  const uint32_t tables = in.take<uint8_t>() % 8;
  for (size_t i = 0; i < tables; ++i) write_data(in, m, size);
  uint8_t* driver_event = ring_host + sizeof(PackedDesc) * size;
  uint8_t* device_event = driver_event + sizeof(PackedEventSuppress);
  const PackedEventSuppress ev{in.take<uint16_t>(), static_cast<uint16_t>(in.take<uint8_t>() & 3)};
  std::memcpy(driver_event, &ev, sizeof(ev));

  const RingAddresses a{ring_host, driver_event, device_event, size};
  auto created = PackedRing::create(a, m.mem(), features, start, role);
  const bool in_range = (start.last_avail_idx & 0x7fff) < size && (start.used_idx & 0x7fff) < size;
  require(created.has_value() == in_range);
  if (!created) return 0;
  PackedRing& ring = *created;
  require(ring.indexes().last_avail_idx == start.last_avail_idx);
  require(ring.indexes().used_idx == start.used_idx);

  std::vector<ChainBuffer> scratch(size);
  // What pop() handed out and the test has not returned: its buffers, and the ring descriptors
  // it took. `epoch` counts guest writes outside the ring (indirect tables live there).
  struct Out {
    bool out = false;
    bool direct = true;  // no indirect table: its rewalk always gives the same buffers
    bool stable = true;  // its table is in the data area: the same buffers while none is written
    std::vector<ChainBuffer> buffers;
    uint64_t epoch = 0;
  };
  std::vector<Out> out(size);
  std::vector<uint8_t> ring_before(sizeof(PackedDesc) * size);
  std::vector<uint32_t> descs_of(size, 0);
  uint64_t epoch = 0;
  auto position = [](uint16_t encoded) { return encoded & 0x7fff; };

  for (int op_count = 0; op_count < kMaxOps && !in.empty(); ++op_count) {
    const auto op = in.take<uint8_t>();
    switch (op % 10) {
      case 0:
      case 1:
      case 2: {  // a poll: pop up to what avail_count() gives
        auto n = ring.avail_count();
        if (!n) {
          require(breaks_queue(n.error()));
          ring.abandon();
          return 0;
        }
        require(*n <= size);
        const uint16_t take = std::min<uint16_t>(*n, static_cast<uint16_t>(1 + (op >> 4)));
        for (uint16_t i = 0; i < take; ++i) {
          std::vector<uint8_t> held_before(size);
          for (uint16_t id = 0; id < size; ++id) held_before[id] = ring.held(id);
          std::memcpy(ring_before.data(), ring_host, ring_before.size());
          const uint16_t before = ring.indexes().last_avail_idx;
          auto c = ring.pop(scratch);
          const uint16_t after = ring.indexes().last_avail_idx;
          if (!c && breaks_queue(c.error())) {
            ring.abandon();
            return 0;
          }
          // At least one descriptor consumed, at most the ring.
          const uint32_t moved = (position(after) + size - position(before)) % size;
          const bool lapped = ((after ^ before) & kPackedWrapBit) != 0;
          require(lapped == (moved == 0 || position(after) < position(before)));
          const uint32_t consumed = moved == 0 ? size : moved;
          if (!c) {
            // A chain that fails its walk is returned at once, but with IN_ORDER only after the
            // chains before it: its id may stay held, with the descriptors it took.
            for (uint16_t id = 0; id < size; ++id) {
              if (!held_before[id] && ring.held(id)) descs_of[id] = consumed;
            }
            continue;
          }
          require(c->head < size);
          require(!held_before[c->head] && !out[c->head].out);
          require(ring.held(c->head));
          require(c->buffers.size() <= scratch.size());
          bool writable = false;
          uint64_t r = 0;
          uint64_t w = 0;
          for (const ChainBuffer& b : c->buffers) {
            require(b.len > 0);
            require(m.mem().check_range(b.gpa, b.len).has_value());
            require(b.host == nullptr || b.host == m.host(b.gpa));
            require(!(writable && !b.writable));
            writable |= b.writable;
            (b.writable ? w : r) += b.len;
          }
          require(r == c->readable_len && w == c->writable_len);
          // The chain's ring descriptors as pop() read them: an indirect table outside the data
          // area (in the ring itself, which both sides write) may change without an epoch.
          bool direct = true;
          bool stable = true;
          for (uint32_t k = 0; k < consumed; ++k) {
            PackedDesc d;
            const uint32_t p = (position(before) + k) % size;
            std::memcpy(&d, ring_before.data() + sizeof(PackedDesc) * p, sizeof(d));
            if (d.flags & kDescFIndirect) {
              direct = false;
              stable &= d.addr >= kData && d.addr < kMem + kMemSize;
            }
          }
          out[c->head] = {true, direct, stable, {c->buffers.begin(), c->buffers.end()}, epoch};
          descs_of[c->head] = consumed;
          uint32_t in_flight = 0;
          for (uint16_t id = 0; id < size; ++id) in_flight += ring.held(id) ? descs_of[id] : 0;
          require(in_flight <= size);
        }
        break;
      }
      case 3: {  // the device returns a chain (one it holds, or anything)
        const uint16_t id =
            (op & 0x80) ? in.take<uint16_t>() : static_cast<uint16_t>(small(in, size));
        const uint32_t used_len = in.take<uint16_t>();
        ring.push_used(id, used_len);
        if (id < size) {
          out[id].out = false;
          descs_of[id] = ring.held(id) ? descs_of[id] : 0;
        }
        break;
      }
      case 4:
        ring.publish_used();
        (void)ring.needs_notification();
        break;
      case 5: {  // rewalk: a direct chain's copy gives exactly what pop() gave
        const auto id = static_cast<uint16_t>(small(in, size + 1u));
        auto c = ring.rewalk(id, scratch);
        if (id >= size || !ring.held(id)) {
          require(!c.has_value());
          break;
        }
        if (c) {
          for (const ChainBuffer& b : c->buffers) {
            require(m.mem().check_range(b.gpa, b.len).has_value());
          }
        }
        if (out[id].out && (out[id].direct || (out[id].stable && out[id].epoch == epoch))) {
          require(c.has_value());
          require(c->head == id && c->buffers.size() == out[id].buffers.size());
          for (size_t i = 0; i < c->buffers.size(); ++i) {
            require(c->buffers[i].gpa == out[id].buffers[i].gpa &&
                    c->buffers[i].len == out[id].buffers[i].len &&
                    c->buffers[i].writable == out[id].buffers[i].writable);
          }
        }
        break;
      }
      case 6: {  // the guest writes a ring descriptor (taken, used, or not yet available)
        const auto p = static_cast<uint16_t>(small(in, size));
        write_desc(ring_host + sizeof(PackedDesc) * p,
                   take_desc(in, size, (ring.indexes().last_avail_idx & kPackedWrapBit) != 0));
        break;
      }
      case 7:  // the guest writes a table entry
        write_data(in, m, size);
        ++epoch;
        break;
      case 8:
        if (op & 0x80) {
          ring.suppress_kicks();
        } else {
          (void)ring.enable_kicks();
        }
        break;
      default:
        if (op & 0x80) {
          ring.drain();
          for (uint16_t id = 0; id < size; ++id) {
            require(!ring.held(id));
            out[id].out = false;
          }
        } else if (op & 0x40) {
          ring.abandon();
          for (uint16_t id = 0; id < size; ++id) {
            require(!ring.held(id));
            out[id].out = false;
          }
        } else {
          const PackedEventSuppress e{in.take<uint16_t>(),
                                      static_cast<uint16_t>(in.take<uint8_t>() & 3)};
          std::memcpy(driver_event, &e, sizeof(e));
        }
        break;
    }
  }
  ring.drain();
  for (uint16_t id = 0; id < size; ++id) require(!ring.held(id));
  return 0;
}
