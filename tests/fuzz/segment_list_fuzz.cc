// Fuzz target for transmit segment lists: arbitrary head/tail sequences with arbitrary counts,
// lengths and addresses go through packet_count, next_packet, linearize, and the null and
// loopback queues. Nothing may crash, read outside guest memory, or disagree with itself.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "core/guest_memory/guest_memory.h"
#include "core/net_backend/loopback_endpoint.h"
#include "core/net_backend/null_endpoint.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/unit/core/net_backend/test_buffer_access.h"

namespace {

using namespace pmdnet;

void require(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::FuzzInput in(data, size);
  testing::TestGuestMemory g({0x10000, 0x11000, 0x20000}, 0x1000);
  std::vector<TxSegment> segs;
  size_t n = in.below(24);
  for (size_t i = 0; i < n; ++i) {
    uint64_t gpa = 0xf000 + in.below(0x12000);
    uint32_t len = static_cast<uint32_t>(in.below(0x900));
    if (in.take<uint8_t>() % 3 == 0) {
      segs.push_back(TxSegment::make_tail(gpa, len));
    } else {
      TxMetadata m;
      m.id = TxId{static_cast<uint32_t>(i)};
      m.segment_count = in.take<uint8_t>() % 5;
      m.len = in.take<uint8_t>() & 1 ? len : static_cast<uint32_t>(in.below(0x4000));
      m.flags = TxFlags::from_bits(in.take<uint8_t>());
      if (in.take<uint8_t>() & 1) m.vlan = VlanMetadata::from_bits(in.take<uint16_t>());
      segs.push_back(TxSegment::make_head(m, gpa, len));
    }
  }

  // packet_count agrees with walking next_packet.
  auto count = packet_count(segs);
  std::span<const TxSegment> s = segs;
  size_t walked = 0;
  std::expected<TxPacket, PacketError> p;
  while (!s.empty() && (p = next_packet(s))) {
    require(p->segments.size() == p->metadata->segment_count);
    require(p->segments.size() + p->rest.size() == s.size());
    s = p->rest;
    ++walked;
  }
  require(count.has_value() == s.empty());
  if (count) require(*count == walked);

  // linearize never leaves the list in a state that fails to advance.
  s = segs;
  std::vector<uint8_t> out;
  while (!s.empty()) {
    size_t before = s.size();
    auto packet = next_packet(s);
    auto r = linearize(g.mem(), s, out);
    require(packet.has_value() || !r);
    if (!r && s.size() == before) break;  // malformed: left in place
    require(packet && s.size() == packet->rest.size());
    if (r) require(out.size() == packet->metadata->len);
  }

  // The reference queues accept anything.
  testing::TestBufferAccess pool(g.mem());
  std::vector<RxId> posted;
  for (uint32_t i = 0; i < 4; ++i) {
    pool.add_buffer(RxId{i}, {{0x20000 + i * 0x400, 0x200}, {0x20200 + i * 0x400, 0x200}});
    posted.push_back(RxId{i});
  }
  NullEndpoint null_ep;
  LoopbackEndpoint loop_ep;
  std::vector<QueueConfig> config(1);
  std::vector<std::unique_ptr<Queue>> queues;
  require(null_ep.get_queues(config, nullptr, queues).has_value());
  require(loop_ep.get_queues(config, nullptr, queues).has_value());
  for (auto& q : queues) {
    q->rx_avail(pool, posted);
    std::span<const TxSegment> left = segs;
    while (!left.empty()) {
      auto r = q->tx_avail(pool, left);
      if (!r || r->segments_consumed == 0) break;
      require(r->segments_consumed <= left.size());
      left = left.subspan(r->segments_consumed);
    }
    std::vector<RxId> ids(8);
    auto got = q->rx_poll(pool, ids);
    require(got.has_value() && *got <= posted.size());
  }
  require(pool.all_writes_ok());
  return 0;
}
