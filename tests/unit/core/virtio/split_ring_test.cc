// Tests of SplitRing: chain walking (direct, indirect) and every malformed chain a guest can write,
// index handling and wraparound, the used ring, and notification suppression (EVENT_IDX and
// NO_INTERRUPT).
#include "core/virtio/split_ring.h"

#include <gtest/gtest.h>

#include "tests/unit/core/virtio/fake_driver.h"

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
  SplitRingAddresses a = vq_.addresses();
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
  // check_range only: a huge region whose host memory is never touched by the walk.
  GuestMemoryRegion huge{0x1'0000'0000, 0x4'0000'0000, reinterpret_cast<uint8_t*>(0x1000)};
  auto big = GuestMemory::create(std::span(&huge, 1));
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

TEST(VringNeedEvent, MatchesTheSpecFormula) {
  EXPECT_TRUE(vring_need_event(0, 1, 0));
  EXPECT_FALSE(vring_need_event(1, 1, 0));
  EXPECT_TRUE(vring_need_event(5, 10, 0));
  EXPECT_FALSE(vring_need_event(10, 10, 0));
  EXPECT_TRUE(vring_need_event(65535, 1, 65534));  // wraps
}

}  // namespace
}  // namespace pmdnet::virtio
