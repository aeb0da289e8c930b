// Tests of SplitRing: chain walking (direct, indirect) and every malformed chain a guest can write,
// index handling and wraparound, the used ring, and notification suppression (EVENT_IDX and
// NO_INTERRUPT).
#include "core/virtqueue/split_ring.h"

#include <gtest/gtest.h>

#include "tests/unit/core/virtqueue/fake_driver.h"

namespace pmdnet::virtio {
namespace {

using testing::Buf;
using testing::FakeVirtqueue;
using testing::TestMemory;

constexpr uint64_t kRing = 0x100000;
constexpr uint64_t kData = 0x200000;
constexpr uint64_t kAllFeatures = bit(feature::kRingIndirectDesc) | bit(feature::kVersion1);

class SplitRingTest : public ::testing::Test {
 protected:
  SplitRing make(uint64_t features = kAllFeatures, uint16_t last_avail = 0, uint16_t used = 0) {
    auto r = SplitRing::create(vq_.addresses(), m_.mem(), features, last_avail, used);
    EXPECT_TRUE(r) << r.error().message;
    return *r;
  }
  std::expected<Chain, RingError> walk(SplitRing& r, uint16_t head) {
    return r.walk(head, scratch_);
  }

  TestMemory m_;
  FakeVirtqueue vq_{m_, kRing, 16};
  std::vector<ChainBuffer> scratch_ = std::vector<ChainBuffer>(16);
};

TEST_F(SplitRingTest, CreateRefusesBadGeometry) {
  RingAddresses a = vq_.addresses();
  for (uint16_t size : {0, 3, 12, 100}) {
    a.size = size;
    EXPECT_FALSE(SplitRing::create(a, m_.mem(), 0, 0, 0)) << size;
  }
  a = vq_.addresses();
  a.avail = nullptr;
  EXPECT_FALSE(SplitRing::create(a, m_.mem(), 0, 0, 0));
  a = vq_.addresses();
  a.desc += 8;
  EXPECT_FALSE(SplitRing::create(a, m_.mem(), 0, 0, 0));
  a = vq_.addresses();
  a.used += 2;
  EXPECT_FALSE(SplitRing::create(a, m_.mem(), 0, 0, 0));
  a = vq_.addresses();
  a.avail += 1;
  EXPECT_FALSE(SplitRing::create(a, m_.mem(), 0, 0, 0));
  a = vq_.addresses();
  a.size = 32768;
  EXPECT_TRUE(SplitRing::create(a, m_.mem(), 0, 0, 0));
}

// Every ring part must lie inside one region for the size in force, with its event word where
// EVENT_IDX puts one: a used ring that starts inside guest memory but runs past its end, a ring
// whose size was raised after its addresses were checked, and the 2 bytes of an event word.
TEST_F(SplitRingTest, CreateRefusesRingPartsThatRunPastGuestMemory) {
  const uint64_t evt = kAllFeatures | bit(feature::kRingEventIdx);
  auto at = [&](uint64_t gpa) { return m_.host(gpa); };
  const uint64_t end = m_.end();
  RingAddresses a = vq_.addresses();  // size 16: used ring 4 + 128 (+ 2) bytes
  a.used = at(end - 1024);
  EXPECT_TRUE(SplitRing::create(a, m_.mem(), evt, 0, 0));
  a.used = at(end - 132);  // exactly the ring without its event word
  EXPECT_TRUE(SplitRing::create(a, m_.mem(), kAllFeatures, 0, 0));
  EXPECT_FALSE(SplitRing::create(a, m_.mem(), evt, 0, 0));
  a.used = at(end - 128);
  EXPECT_FALSE(SplitRing::create(a, m_.mem(), kAllFeatures, 0, 0));

  a = vq_.addresses();
  a.avail = at(end - 36);  // 4 + 2 * 16 bytes
  EXPECT_TRUE(SplitRing::create(a, m_.mem(), kAllFeatures, 0, 0));
  EXPECT_FALSE(SplitRing::create(a, m_.mem(), evt, 0, 0));
  a.desc = at(end - 256);  // 16 * 16 bytes
  EXPECT_TRUE(SplitRing::create(a, m_.mem(), kAllFeatures, 0, 0));
  a.desc = at(end - 240);
  EXPECT_FALSE(SplitRing::create(a, m_.mem(), kAllFeatures, 0, 0));

  // The same addresses, checked again for a larger size (SET_VRING_NUM after SET_VRING_ADDR).
  a = vq_.addresses();
  a.used = at(end - 4096);
  a.size = 256;
  EXPECT_TRUE(SplitRing::create(a, m_.mem(), kAllFeatures, 0, 0));
  a.size = 32768;
  EXPECT_FALSE(SplitRing::create(a, m_.mem(), kAllFeatures, 0, 0));

  // Not in guest memory at all, and a part that crosses from one region into the next.
  uint8_t outside[4096 + 16];
  a = vq_.addresses();
  a.used = outside + (16 - reinterpret_cast<uintptr_t>(outside) % 16);
  EXPECT_FALSE(SplitRing::create(a, m_.mem(), kAllFeatures, 0, 0));
  TestMemory two(0x100000, 1 << 20, 1 << 19);
  FakeVirtqueue vq(two, 0x100000, 16);
  a = vq.addresses();
  a.used = two.host(0x100000 + (1 << 19) - 64);
  EXPECT_FALSE(SplitRing::create(a, two.mem(), kAllFeatures, 0, 0));
}

TEST_F(SplitRingTest, WalksADirectChainReadableThenWritable) {
  SplitRing r = make();
  std::vector<Buf> bufs = {{kData, 12, false},
                           {kData + 0x100, 0, false},  // zero length skipped
                           {kData + 0x200, 100, false},
                           {kData + 0x1000, 1500, true}};
  uint16_t head = vq_.post(bufs);
  ASSERT_EQ(r.avail_count(), 1);
  EXPECT_EQ(r.pop_avail(), head);
  EXPECT_EQ(r.avail_count(), 0);
  auto c = walk(r, head);
  ASSERT_TRUE(c) << to_string(c.error());
  EXPECT_EQ(c->head, head);
  ASSERT_EQ(c->buffers.size(), 3u);
  EXPECT_EQ(c->buffers[0].gpa, kData);
  EXPECT_EQ(c->buffers[1].len, 100u);
  EXPECT_TRUE(c->buffers[2].writable);
  EXPECT_EQ(c->readable_len, 112u);
  EXPECT_EQ(c->writable_len, 1500u);
}

TEST_F(SplitRingTest, WalksAnIndirectChain) {
  SplitRing r = make();
  std::vector<Buf> bufs = {
      {kData, 12, false}, {kData + 64, 60, false}, {kData + 0x800, 9000, false}};
  uint16_t head = vq_.add_indirect(kData + 0x10000, bufs);
  vq_.make_available(head);
  auto c = walk(r, r.pop_avail());
  ASSERT_TRUE(c) << to_string(c.error());
  ASSERT_EQ(c->buffers.size(), 3u);
  EXPECT_EQ(c->buffers[2].len, 9000u);
  EXPECT_EQ(c->readable_len, 9072u);
}

struct BadChain {
  const char* name;
  // Writes the chain at head 0 (ring of 16); returns nothing.
  void (*build)(FakeVirtqueue&);
  RingError error;
  uint64_t features = kAllFeatures;
};

class BadChainTest : public SplitRingTest, public ::testing::WithParamInterface<BadChain> {};

TEST_P(BadChainTest, IsRejectedWithItsKind) {
  GetParam().build(vq_);
  SplitRing r = make(GetParam().features);
  auto c = walk(r, 0);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), GetParam().error) << to_string(c.error());
  EXPECT_FALSE(to_string(c.error()).empty());
  EXPECT_FALSE(breaks_queue(c.error()));
}

constexpr uint64_t kTable = kData + 0x20000;

INSTANTIATE_TEST_SUITE_P(
    Cases, BadChainTest,
    ::testing::Values(BadChain{"NextOutOfRange",
                               [](FakeVirtqueue& q) {
                                 q.set_desc(0, {kData, 10, kDescFNext, 16});
                               },
                               RingError::kNextOutOfRange},
                      BadChain{"SelfLoop",
                               [](FakeVirtqueue& q) {
                                 q.set_desc(0, {kData, 10, kDescFNext, 0});
                               },
                               RingError::kChainTooLong},
                      BadChain{"TwoDescriptorLoop",
                               [](FakeVirtqueue& q) {
                                 q.set_desc(0, {kData, 10, kDescFNext, 1});
                                 q.set_desc(1, {kData, 10, kDescFNext, 0});
                               },
                               RingError::kChainTooLong},
                      BadChain{"ReadableAfterWritable",
                               [](FakeVirtqueue& q) {
                                 q.set_desc(0, {kData, 10, kDescFWrite | kDescFNext, 1});
                                 q.set_desc(1, {kData, 10, 0, 0});
                               },
                               RingError::kReadableAfterWritable},
                      BadChain{"BufferOutsideMemory",
                               [](FakeVirtqueue& q) {
                                 q.set_desc(0, {0x10, 10, 0, 0});
                               },
                               RingError::kBufferOutOfMemory},
                      BadChain{"BufferRunsOffTheEnd",
                               [](FakeVirtqueue& q) {
                                 q.set_desc(0, {0x100000 + (4 << 20) - 8, 16, 0, 0});
                               },
                               RingError::kBufferOutOfMemory},
                      BadChain{"BufferWraps",
                               [](FakeVirtqueue& q) {
                                 q.set_desc(0, {~uint64_t{0} - 4, 16, 0, 0});
                               },
                               RingError::kBufferOutOfMemory},
                      BadChain{"IndirectNotNegotiated",
                               [](FakeVirtqueue& q) {
                                 q.set_desc(0, {kTable, 16, kDescFIndirect, 0});
                               },
                               RingError::kIndirectNotNegotiated, bit(feature::kVersion1)},
                      BadChain{"IndirectWithNext",
                               [](FakeVirtqueue& q) {
                                 q.set_desc(0, {kTable, 16, kDescFIndirect | kDescFNext, 1});
                               },
                               RingError::kIndirectWithNext},
                      BadChain{"IndirectEmpty",
                               [](FakeVirtqueue& q) {
                                 q.set_desc(0, {kTable, 0, kDescFIndirect, 0});
                               },
                               RingError::kIndirectBadLength},
                      BadChain{"IndirectNotMultipleOf16",
                               [](FakeVirtqueue& q) {
                                 q.set_desc(0, {kTable, 24, kDescFIndirect, 0});
                               },
                               RingError::kIndirectBadLength},
                      BadChain{"IndirectHuge",
                               [](FakeVirtqueue& q) {
                                 q.set_desc(0, {kTable, 16 * 40000, kDescFIndirect, 0});
                               },
                               RingError::kIndirectBadLength},
                      BadChain{"IndirectTableOutsideMemory",
                               [](FakeVirtqueue& q) {
                                 q.set_desc(0, {0x1000, 32, kDescFIndirect, 0});
                               },
                               RingError::kIndirectOutOfMemory}),
    [](const auto& p) { return std::string(p.param.name); });

// Cases that need an indirect table written into guest memory first.
class IndirectTableTest : public SplitRingTest {
 protected:
  void write_table(std::initializer_list<VirtqDesc> entries) {
    size_t i = 0;
    for (const VirtqDesc& d : entries) std::memcpy(m_.host(kTable) + 16 * i++, &d, 16);
  }
};

TEST_F(IndirectTableTest, NestedIndirectIsRejected) {
  write_table({{kTable, 16, kDescFIndirect, 0}});
  vq_.set_desc(0, {kTable, 16, kDescFIndirect, 0});
  SplitRing r = make();
  auto c = walk(r, 0);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), RingError::kIndirectNested);
}

TEST_F(IndirectTableTest, NextPastTheTableIsRejected) {
  write_table({{kData, 10, kDescFNext, 1}, {kData, 10, kDescFNext, 2}});
  vq_.set_desc(0, {kTable, 32, kDescFIndirect, 0});
  SplitRing r = make();
  auto c = walk(r, 0);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), RingError::kNextOutOfRange);
}

TEST_F(IndirectTableTest, LoopInsideTheTableIsBounded) {
  write_table({{kData, 10, kDescFNext, 1}, {kData, 10, kDescFNext, 0}});
  vq_.set_desc(0, {kTable, 32, kDescFIndirect, 0});
  SplitRing r = make();
  auto c = walk(r, 0);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), RingError::kChainTooLong);
}

TEST_F(IndirectTableTest, ZeroLengthLoopInsideTheTableIsBounded) {
  // Zero-length descriptors take no scratch entry: only the walk's own bound stops this loop.
  write_table({{kData, 0, kDescFNext, 1}, {kData, 0, kDescFNext, 0}});
  vq_.set_desc(0, {kTable, 32, kDescFIndirect, 0});
  SplitRing r = make();
  auto c = walk(r, 0);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), RingError::kChainTooLong);
}

// The bounds of a walk: the descriptors of the ring (the one that refers to an indirect table
// included) by the ring size, those of an indirect table by the table and the ring size, and the
// buffers by the caller's scratch.
class ChainBoundsTest : public SplitRingTest {
 protected:
  // An indirect table at kTable of `entries` descriptors of `len` bytes each, entry i chained to
  // `next(i)` (no NEXT on the entry where next(i) is past the table).
  template <class Next>
  void write_table(uint32_t entries, uint32_t len, Next next) {
    for (uint32_t i = 0; i < entries; ++i) {
      const uint32_t n = next(i);
      const VirtqDesc d{kData + 64 * (i % 1024), len, n < entries ? kDescFNext : uint16_t{0},
                        static_cast<uint16_t>(n < entries ? n : 0)};
      std::memcpy(m_.host(kTable) + size_t{16} * i, &d, 16);
    }
  }
  static uint32_t following(uint32_t i) { return i + 1; }
};

TEST_F(ChainBoundsTest, IndirectTableOfExactlyTheRingSizeIsWalked) {
  write_table(16, 100, following);
  vq_.set_desc(0, {kTable, 16 * 16, kDescFIndirect, 0});
  SplitRing r = make();
  auto c = walk(r, 0);
  ASSERT_TRUE(c) << to_string(c.error());
  ASSERT_EQ(c->buffers.size(), 16u);  // exactly what a ring-sized scratch holds
  EXPECT_EQ(c->readable_len, 16u * 100);
  EXPECT_EQ(c->buffers[15].gpa, kData + 64 * 15);
}

TEST_F(ChainBoundsTest, IndirectTableOfRingSizePlusOneThatLoopsIsRefused) {
  // 17 entries, the last one leading back to the first; once with buffers (the scratch fills up
  // first) and once with zero-length entries (the visit bound stops it).
  for (uint32_t len : {100u, 0u}) {
    SCOPED_TRACE(len);
    write_table(17, len, [](uint32_t i) { return (i + 1) % 17; });
    vq_.set_desc(0, {kTable, 17 * 16, kDescFIndirect, 0});
    SplitRing r = make();
    auto c = walk(r, 0);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error(), RingError::kChainTooLong);
  }
}

TEST_F(ChainBoundsTest, TableLongerThanTheRingWithAShortChainIsWalked) {
  // The table bounds the next indexes, not the chain: entry 0 leads to entry 32767, the last.
  write_table(kMaxQueueSize, 10, [](uint32_t i) { return i == 0 ? 32767u : i + 1; });
  vq_.set_desc(0, {kTable, 16 * kMaxQueueSize, kDescFIndirect, 0});
  SplitRing r = make();
  auto c = walk(r, 0);
  ASSERT_TRUE(c) << to_string(c.error());
  ASSERT_EQ(c->buffers.size(), 2u);
  EXPECT_EQ(c->buffers[1].gpa, kData + 64 * (32767 % 1024));
}

TEST_F(ChainBoundsTest, LongChainsInALargeTableFailCleanly) {
  // A table of 32768 entries chained in order: the ring-sized scratch is full after 16 buffers.
  write_table(kMaxQueueSize, 10, following);
  vq_.set_desc(0, {kTable, 16 * kMaxQueueSize, kDescFIndirect, 0});
  SplitRing r = make();
  auto c = walk(r, 0);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), RingError::kChainTooLong);
  // With zero-length entries nothing fills the scratch: a chain inside one table is bounded by
  // the ring size too, so a hostile table costs at most 16 descriptor reads here, not 32768.
  write_table(kMaxQueueSize, 0, following);
  c = walk(r, 0);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), RingError::kChainTooLong);
  // And a self-loop in the largest table.
  write_table(kMaxQueueSize, 0, [](uint32_t) { return 5u; });
  c = walk(r, 0);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), RingError::kChainTooLong);
}

TEST_F(ChainBoundsTest, DirectChainOfExactlyTheRingSizeWorksAndALongerOneIsRefused) {
  for (uint16_t i = 0; i < 16; ++i) {
    vq_.set_desc(i, {kData + 64 * i, 10, i < 15 ? kDescFNext : uint16_t{0},
                     static_cast<uint16_t>(i < 15 ? i + 1 : 0)});
  }
  SplitRing r = make();
  auto c = walk(r, 0);
  ASSERT_TRUE(c) << to_string(c.error());
  EXPECT_EQ(c->buffers.size(), 16u);
  // In a table of 16 a 17th descriptor is a revisit: the last one leads back to the first.
  // Zero-length, so that the ring bound and not the scratch stops it.
  for (uint16_t i = 0; i < 16; ++i) {
    vq_.set_desc(i, {kData, 0, kDescFNext, static_cast<uint16_t>((i + 1) % 16)});
  }
  c = walk(r, 0);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), RingError::kChainTooLong);
}

TEST_F(ChainBoundsTest, DirectDescriptorsThenARingSizedIndirectTable) {
  // 2.7.5.3.2: "The device MUST handle the case of zero or more normal chained descriptors
  // followed by a single descriptor with flags&VIRTQ_DESC_F_INDIRECT." Fifteen direct
  // descriptors and the indirect one are sixteen of the ring; the table's sixteen its own.
  for (uint16_t i = 0; i < 15; ++i) {
    vq_.set_desc(i, {kData + 64 * i, 0, kDescFNext, static_cast<uint16_t>(i + 1)});
  }
  vq_.set_desc(15, {kTable, 16 * 16, kDescFIndirect, 0});
  write_table(16, 100, following);
  SplitRing r = make();
  auto c = walk(r, 0);
  ASSERT_TRUE(c) << to_string(c.error());
  EXPECT_EQ(c->buffers.size(), 16u);
  // With buffers in the direct descriptors too there are 31: more than a ring-sized scratch
  // holds, which fails cleanly; a scratch large enough takes them all.
  for (uint16_t i = 0; i < 15; ++i) {
    vq_.set_desc(i, {kData + 64 * i, 10, kDescFNext, static_cast<uint16_t>(i + 1)});
  }
  c = walk(r, 0);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), RingError::kChainTooLong);
  std::vector<ChainBuffer> big(31);
  c = r.walk(0, big);
  ASSERT_TRUE(c) << to_string(c.error());
  EXPECT_EQ(c->buffers.size(), 31u);
  EXPECT_EQ(c->readable_len, 15u * 10 + 16u * 100);
}

TEST_F(SplitRingTest, HeadOutOfRangeBreaksTheQueue) {
  SplitRing r = make();
  vq_.make_available(16);
  uint16_t head = r.pop_avail();
  auto c = walk(r, head);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), RingError::kHeadOutOfRange);
  EXPECT_TRUE(breaks_queue(c.error()));
}

// prefetch_desc is a hint: a head out of range (masked into the table) or an entry past the ring
// (the index wraps) is fine, and it changes nothing a pop or a walk sees.
TEST_F(SplitRingTest, PrefetchDescIsOnlyAHint) {
  SplitRing r = make();
  vq_.make_available(0xffff);
  const Buf buf{kData, 64, false};
  const uint16_t head = vq_.post(std::span(&buf, 1));
  for (uint16_t ahead : {0, 1, 15, 16, 17, 0xffff}) r.prefetch_desc(ahead);
  EXPECT_EQ(r.avail_count(), 2);
  EXPECT_EQ(r.last_avail_idx(), 0);
  EXPECT_EQ(r.pop_avail(), 0xffff);
  r.prefetch_desc(0);
  EXPECT_EQ(r.pop_avail(), head);
  auto c = walk(r, head);
  ASSERT_TRUE(c) << to_string(c.error());
  EXPECT_EQ(c->readable_len, 64u);
}

TEST_F(SplitRingTest, AvailIndexJumpBreaksTheQueue) {
  SplitRing r = make();
  vq_.set_avail_idx(17);
  auto n = r.avail_count();
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error(), RingError::kAvailIndexJump);
  EXPECT_TRUE(breaks_queue(n.error()));
  vq_.set_avail_idx(16);  // exactly a full ring is fine
  EXPECT_EQ(r.avail_count(), 16);
}

TEST_F(SplitRingTest, ScratchTooSmallIsAnErrorNotAnOverflow) {
  SplitRing r = make();
  std::vector<Buf> bufs = {{kData, 1, false}, {kData, 1, false}, {kData, 1, false}};
  uint16_t head = vq_.post(bufs);
  std::vector<ChainBuffer> tiny(2);
  auto c = r.walk(head, tiny);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), RingError::kChainTooLong);
}

TEST_F(SplitRingTest, ChainLargerThan4GiBIsRejected) {
  // check_range only: a huge region whose host memory is never touched by the walk, beside the
  // region that holds the rings.
  const GuestMemoryRegion regions[] = {
      {m_.gpa(), m_.end() - m_.gpa(), m_.host(m_.gpa())},
      {0x1'0000'0000, 0x4'0000'0000, reinterpret_cast<uint8_t*>(0x1000)}};
  auto big = GuestMemory::create(regions);
  ASSERT_TRUE(big);
  auto r = SplitRing::create(vq_.addresses(), *big, kAllFeatures, 0, 0);
  ASSERT_TRUE(r);
  vq_.set_desc(0, {0x1'0000'0000, 0xffff'fff0, kDescFNext, 1});
  vq_.set_desc(1, {0x2'0000'0000, 0xffff'fff0, 0, 0});
  auto c = r->walk(0, scratch_);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), RingError::kChainTooLarge);
}

TEST_F(SplitRingTest, UsedRingAndIndexesWrapAround) {
  SplitRing r = make(kAllFeatures, 65534, 65534);
  vq_.set_avail_idx(65534);
  for (int i = 0; i < 3; ++i) vq_.make_available(static_cast<uint16_t>(i));
  ASSERT_EQ(r.avail_count(), 3);
  for (int i = 0; i < 3; ++i) {
    uint16_t head = r.pop_avail();
    EXPECT_EQ(head, i);
    r.push_used(head, 100u + i);
  }
  EXPECT_EQ(r.last_avail_idx(), 1);
  EXPECT_EQ(vq_.used_idx(), 0);  // nothing visible before publish
  r.publish_used();
  EXPECT_EQ(vq_.used_idx(), 1);
  EXPECT_EQ(r.used_idx(), 1);
}

TEST_F(SplitRingTest, NoInterruptFlagSuppressesNotification) {
  SplitRing r = make(kAllFeatures);
  r.push_used(0, 1);
  r.publish_used();
  EXPECT_TRUE(r.needs_notification());
  EXPECT_FALSE(r.needs_notification());  // nothing new since
  vq_.set_avail_flags(kAvailFNoInterrupt);
  r.push_used(1, 1);
  r.publish_used();
  EXPECT_FALSE(r.needs_notification());
}

TEST_F(SplitRingTest, EventIdxNotifiesOnlyWhenUsedEventIsCrossed) {
  SplitRing r = make(kAllFeatures | bit(feature::kRingEventIdx));
  vq_.set_avail_flags(kAvailFNoInterrupt);  // ignored with EVENT_IDX
  vq_.set_used_event(2);                    // "interrupt me when used idx passes 2"
  r.push_used(0, 1);
  r.publish_used();
  EXPECT_FALSE(r.needs_notification());  // used idx 1
  r.push_used(1, 1);
  r.publish_used();
  EXPECT_FALSE(r.needs_notification());  // used idx 2: not past 2 yet
  r.push_used(2, 1);
  r.push_used(3, 1);
  r.publish_used();
  EXPECT_TRUE(r.needs_notification());  // 2 -> 4 crosses 2
  r.push_used(4, 1);
  r.publish_used();
  EXPECT_FALSE(r.needs_notification());  // event 2 already passed
  vq_.set_used_event(5);
  r.push_used(5, 1);
  r.publish_used();
  EXPECT_TRUE(r.needs_notification());  // 5 -> 6 crosses 5
}

TEST_F(SplitRingTest, SuppressKicks) {
  SplitRing plain = make(kAllFeatures);
  plain.suppress_kicks();
  EXPECT_EQ(vq_.used_flags(), kUsedFNoNotify);

  TestMemory m2;
  FakeVirtqueue vq2(m2, kRing, 16);
  auto evt = SplitRing::create(vq2.addresses(), m2.mem(),
                               kAllFeatures | bit(feature::kRingEventIdx), 7, 0);
  ASSERT_TRUE(evt);
  evt->suppress_kicks();
  EXPECT_EQ(vq2.used_flags(), 0);
  // The driver kicks when it crosses avail_event: half the index space away.
  EXPECT_EQ(vq2.avail_event(), static_cast<uint16_t>(7 + 0x8000));
  EXPECT_FALSE(vring_need_event(vq2.avail_event(), 8, 7));
}

// suppress_kicks runs every pass; it writes the used ring's flags or avail_event only when they
// must change, so that it does not take their cache line from the driver each time.
TEST_F(SplitRingTest, SuppressKicksWritesOnlyWhatMustChange) {
  TestMemory m;
  FakeVirtqueue vq(m, kRing, 16);
  const uint64_t evt = kAllFeatures | bit(feature::kRingEventIdx);
  auto at = [&](uint16_t last_avail) {
    auto r = SplitRing::create(vq.addresses(), m.mem(), evt, last_avail, 0);
    EXPECT_TRUE(r);
    r->suppress_kicks();
    return vq.avail_event();
  };
  EXPECT_EQ(at(7), 0x8007);
  EXPECT_EQ(at(7 + 0x2000), 0x8007);  // a margin of 0x6000 is left: unchanged
  EXPECT_EQ(at(7 + 0x2001), static_cast<uint16_t>(7 + 0x2001 + 0x8000));  // 0x5fff: moved
  EXPECT_EQ(at(0x1234), 0x9234);  // a value behind the index (margin past 0x8000): moved
  EXPECT_FALSE(vring_need_event(vq.avail_event(), 0x1234 + 16, 0x1234));

  // Without EVENT_IDX: NO_NOTIFY is written again only if it is gone.
  SplitRing plain = make(kAllFeatures);
  plain.suppress_kicks();
  EXPECT_EQ(vq_.used_flags(), kUsedFNoNotify);
  std::memset(vq_.addresses().used, 0, 2);  // a driver (or a reset) cleared it
  plain.suppress_kicks();
  EXPECT_EQ(vq_.used_flags(), kUsedFNoNotify);
}

// The Virtqueue seam over the split layout: pop() walks and holds, push_used() releases, a bad
// chain goes back used with length 0, and a held head made available again is ignored.
TEST_F(SplitRingTest, PopHoldsAHeadUntilItIsUsed) {
  SplitRing r = make();
  uint16_t head = vq_.post(std::vector<Buf>{{kData, 64, false}});
  ASSERT_EQ(r.avail_count(), 1);
  auto c = r.pop(scratch_);
  ASSERT_TRUE(c) << to_string(c.error());
  EXPECT_EQ(c->head, head);
  EXPECT_EQ(c->readable_len, 64u);
  EXPECT_TRUE(r.held(head));
  EXPECT_FALSE(r.held(static_cast<uint16_t>(head + 1)));
  EXPECT_FALSE(r.held(1000));  // out of range: never held

  auto again = r.rewalk(head, scratch_);  // the same chain, checked again
  ASSERT_TRUE(again);
  EXPECT_EQ(again->readable_len, 64u);

  vq_.make_available(head);  // the driver offers the held head again
  auto dup = r.pop(scratch_);
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error(), RingError::kHeadInUse);
  EXPECT_EQ(r.used_idx(), 0);  // ignored, not returned
  EXPECT_TRUE(r.held(head));

  r.push_used(head, 0);
  EXPECT_FALSE(r.held(head));
  EXPECT_EQ(r.indexes().last_avail_idx, 2);
  EXPECT_EQ(r.indexes().used_idx, 1);
}

TEST_F(SplitRingTest, PopReturnsABadChainUsedAndBreaksOnlyOnQueueErrors) {
  SplitRing r = make(bit(feature::kVersion1));  // no INDIRECT_DESC
  uint16_t head = vq_.add_indirect(kData + 0x10000, std::vector<Buf>{{kData, 64, false}});
  vq_.make_available(head);
  auto c = r.pop(scratch_);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), RingError::kIndirectNotNegotiated);
  EXPECT_FALSE(r.held(head));
  r.publish_used();
  auto used = vq_.pop_used();
  ASSERT_TRUE(used);
  EXPECT_EQ(used->id, head);
  EXPECT_EQ(used->len, 0u);

  const uint16_t slot = vq_.avail_idx() % 16;  // the next avail entry names head 0xffff
  std::memset(vq_.addresses().avail + 4 + 2 * slot, 0xff, 2);
  vq_.set_avail_idx(static_cast<uint16_t>(vq_.avail_idx() + 1));
  auto bad = r.pop(scratch_);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), RingError::kHeadOutOfRange);
  EXPECT_TRUE(breaks_queue(bad.error()));
  EXPECT_EQ(r.used_idx(), 1);  // nothing written for a queue-breaking error
}

TEST_F(SplitRingTest, DrainReturnsEveryHeldHeadAndAbandonWritesNothing) {
  SplitRing r = make();
  for (int i = 0; i < 3; ++i) vq_.post(std::vector<Buf>{{kData + 0x100u * i, 64, false}});
  std::vector<uint16_t> heads;
  for (int i = 0; i < 3; ++i) {
    auto c = r.pop(scratch_);
    ASSERT_TRUE(c);
    heads.push_back(c->head);
  }
  r.push_used(heads[1], 0);
  r.drain();  // heads[0] and heads[2], published
  EXPECT_EQ(vq_.used_idx(), 3);
  for (uint16_t h : heads) EXPECT_FALSE(r.held(h));

  SplitRing s = make();
  vq_.post(std::vector<Buf>{{kData, 64, false}});
  auto c = s.pop(scratch_);
  ASSERT_TRUE(c);
  s.abandon();
  EXPECT_FALSE(s.held(c->head));
  EXPECT_EQ(s.used_idx(), 0);
}

TEST_F(SplitRingTest, EnableKicksAsksForKicksAndSeesWhatArrivedMeanwhile) {
  SplitRing plain = make(kAllFeatures);
  plain.suppress_kicks();
  EXPECT_FALSE(plain.enable_kicks());
  EXPECT_EQ(vq_.used_flags(), 0);
  vq_.post(std::vector<Buf>{{kData, 64, false}});
  EXPECT_TRUE(plain.enable_kicks());  // a buffer came: poll before sleeping
  plain.suppress_kicks();
  EXPECT_EQ(vq_.used_flags(), kUsedFNoNotify);

  TestMemory m2;
  FakeVirtqueue vq2(m2, kRing, 16);
  auto evt = SplitRing::create(vq2.addresses(), m2.mem(),
                               kAllFeatures | bit(feature::kRingEventIdx), 7, 0);
  ASSERT_TRUE(evt);
  vq2.set_avail_idx(7);
  evt->suppress_kicks();
  EXPECT_FALSE(evt->enable_kicks());
  EXPECT_EQ(vq2.avail_event(), 7);
  EXPECT_TRUE(vring_need_event(vq2.avail_event(), 8, 7));  // the next buffer is kicked for
  evt->suppress_kicks();
  EXPECT_EQ(vq2.avail_event(), static_cast<uint16_t>(7 + 0x8000));
}

TEST(VringNeedEvent, MatchesTheSpecFormula) {
  EXPECT_TRUE(vring_need_event(0, 1, 0));
  EXPECT_FALSE(vring_need_event(1, 1, 0));
  EXPECT_TRUE(vring_need_event(5, 10, 0));
  EXPECT_FALSE(vring_need_event(10, 10, 0));
  EXPECT_TRUE(vring_need_event(65535, 1, 65534));  // wraps
}

}  // namespace
}  // namespace pmdnet::virtio
