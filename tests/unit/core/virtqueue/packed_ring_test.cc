// Tests of PackedRing against a fake packed driver: chains (direct, indirect, zero-length, across
// the end of the ring), buffer ids, used descriptors written flags-last, out-of-order completion
// and the rewalk of a chain whose ring slots were reused, resume from ring indexes with wrap bits,
// drain and abandon, event suppression both ways, every malformed ring a guest can write, and the
// wrap of both counters at every ring size.
#include "core/virtqueue/packed_ring.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tests/unit/core/virtqueue/fake_packed_driver.h"

namespace pmdnet::virtio {
namespace {

using testing::Buf;
using testing::FakePackedQueue;
using testing::TestMemory;

constexpr uint64_t kRing = 0x100000;
constexpr uint64_t kData = 0x200000;
constexpr uint64_t kTable = 0x280000;
constexpr uint64_t kMemEnd = 0x100000 + (4 << 20);  // TestMemory's default
constexpr uint64_t kAllFeatures =
    bit(feature::kVersion1) | bit(feature::kRingPacked) | bit(feature::kRingIndirectDesc);
constexpr RingIndexes kNewRing{kPackedWrapBit, kPackedWrapBit};
constexpr uint16_t kWriteUsed1 =
    static_cast<uint16_t>(kPackedDescFAvail | kPackedDescFUsed | kDescFWrite);

uint16_t encode(uint16_t position, bool wrap) { return PackedRing::encode(position, wrap); }

// The error of a failed walk, or nothing.
std::optional<RingError> error_of(const std::expected<Chain, RingError>& c) {
  return c ? std::nullopt : std::optional(c.error());
}

class PackedRingTest : public ::testing::Test {
 protected:
  PackedRing make(uint64_t features = kAllFeatures, RingIndexes start = kNewRing,
                  RingRole role = RingRole::kDeviceWrites) {
    auto r = PackedRing::create(q_.addresses(), m_.mem(), features, start, role);
    EXPECT_TRUE(r) << r.error().message;
    return std::move(*r);
  }
  std::expected<Chain, RingError> pop(PackedRing& r) { return r.pop(scratch_); }
  // Pops the next chain, which must be valid.
  Chain pop_ok(PackedRing& r) {
    auto c = pop(r);
    EXPECT_TRUE(c) << to_string(c.error());
    return c ? *c : Chain{};
  }
  uint16_t post_one(uint64_t gpa, uint32_t len, bool writable = true) {
    const Buf b{gpa, len, writable};
    return q_.post(std::span(&b, 1));
  }

  TestMemory m_;
  FakePackedQueue q_{m_, kRing, 16};
  std::vector<ChainBuffer> scratch_ = std::vector<ChainBuffer>(256);
};

// ---- geometry ----

TEST_F(PackedRingTest, CreateChecksSizeAlignmentAndPlacement) {
  RingAddresses a = q_.addresses();
  for (uint16_t size : {uint16_t{0}, uint16_t{32769}, uint16_t{65535}}) {
    a.size = size;
    EXPECT_FALSE(PackedRing::create(a, m_.mem(), kAllFeatures, kNewRing, RingRole::kDeviceWrites))
        << size;
  }
  // Any size up to 32768 is a packed ring size, not only powers of two.
  for (uint16_t size : {uint16_t{1}, uint16_t{3}, uint16_t{100}, uint16_t{32768}}) {
    a.size = size;
    EXPECT_TRUE(PackedRing::create(a, m_.mem(), kAllFeatures, kNewRing, RingRole::kDeviceWrites))
        << size;
  }
  auto refused = [&](RingAddresses bad) {
    return !PackedRing::create(bad, m_.mem(), kAllFeatures, kNewRing, RingRole::kDeviceWrites);
  };
  a = q_.addresses();
  a.desc = nullptr;
  EXPECT_TRUE(refused(a));
  a = q_.addresses();
  a.avail = nullptr;
  EXPECT_TRUE(refused(a));
  a = q_.addresses();
  a.used = nullptr;
  EXPECT_TRUE(refused(a));
  // Alignment: descriptor ring 16, event suppression structures 4.
  a = q_.addresses();
  a.desc += 8;
  EXPECT_TRUE(refused(a));
  a = q_.addresses();
  a.avail += 2;
  EXPECT_TRUE(refused(a));
  a = q_.addresses();
  a.used += 2;
  EXPECT_TRUE(refused(a));
  a = q_.addresses();
  a.used += 4;  // still aligned, still inside memory
  EXPECT_FALSE(refused(a));
}

TEST_F(PackedRingTest, CreateRefusesPartsOutsideGuestMemory) {
  auto at = [&](uint64_t gpa) { return m_.host(gpa); };
  auto refused = [&](const RingAddresses& a, const GuestMemory& mem) {
    return !PackedRing::create(a, mem, kAllFeatures, kNewRing, RingRole::kDeviceWrites);
  };
  RingAddresses a = q_.addresses();
  a.avail = at(kMemEnd - 4);  // the last 4 bytes: inside
  a.used = at(kMemEnd - 8);
  EXPECT_FALSE(refused(a, m_.mem()));
  a.avail = at(kMemEnd - 2);  // runs 2 bytes past the end
  EXPECT_TRUE(refused(a, m_.mem()));
  a = q_.addresses();
  a.used = at(kMemEnd - 2);
  EXPECT_TRUE(refused(a, m_.mem()));
  a = q_.addresses();
  a.desc = at(kMemEnd - 16 * 16);  // exactly the ring
  EXPECT_FALSE(refused(a, m_.mem()));
  a.desc = at(kMemEnd - 16 * 15);
  EXPECT_TRUE(refused(a, m_.mem()));
  a = q_.addresses();
  a.size = 32768;
  a.desc = at(kMemEnd - 16 * 32767);  // 16 bytes short for 32768 descriptors
  EXPECT_TRUE(refused(a, m_.mem()));

  // Not in guest memory at all.
  alignas(16) uint8_t outside[64] = {};
  a = q_.addresses();
  a.avail = outside;
  EXPECT_TRUE(refused(a, m_.mem()));
  a = q_.addresses();
  a.used = outside + 4;
  EXPECT_TRUE(refused(a, m_.mem()));
  a = q_.addresses();
  a.desc = outside;
  a.size = 4;
  EXPECT_TRUE(refused(a, m_.mem()));

  // A ring across the edge between two regions has no single mapping.
  TestMemory two(0x100000, 1 << 20, 1 << 19);
  FakePackedQueue q(two, 0x100000 + (1 << 19) - 16 * 8, 16);
  EXPECT_TRUE(refused(q.addresses(), two.mem()));
  FakePackedQueue fits(two, 0x100000 + (1 << 19) - 16 * 16 - 16, 16);  // ring, then both events
  EXPECT_FALSE(refused(fits.addresses(), two.mem()));
}

TEST_F(PackedRingTest, CreateRefusesBasePositionsPastTheRing) {
  const RingAddresses a = q_.addresses();  // size 16
  auto created = [&](uint16_t avail, uint16_t used) {
    return PackedRing::create(a, m_.mem(), kAllFeatures, {avail, used}, RingRole::kDeviceWrites)
        .has_value();
  };
  EXPECT_TRUE(created(15, 15));
  EXPECT_TRUE(created(encode(15, true), encode(0, false)));
  EXPECT_FALSE(created(16, 0));
  EXPECT_FALSE(created(0, 16));
  EXPECT_FALSE(created(encode(16, true), encode(0, true)));
  EXPECT_FALSE(created(encode(0, true), encode(16, true)));
  EXPECT_FALSE(created(0x7fff, 0));
  EXPECT_FALSE(created(0xffff, 0xffff));
  RingAddresses big = a;
  big.size = 32768;
  EXPECT_TRUE(
      PackedRing::create(big, m_.mem(), kAllFeatures, {0xffff, 0x7fff}, RingRole::kDeviceWrites));
}

// ---- normal paths ----

TEST_F(PackedRingTest, PopsAChainAndPublishesItsUsedDescriptorFlagsLast) {
  PackedRing r = make();
  EXPECT_EQ(r.indexes().last_avail_idx, encode(0, true));
  EXPECT_EQ(r.avail_count(), 0);
  const std::vector<Buf> bufs = {{kData, 12, false},
                                 {kData + 0x100, 0, false},  // zero length: skipped
                                 {kData + 0x200, 100, false},
                                 {kData + 0x1000, 1500, true}};
  const uint16_t id = q_.post(bufs);
  ASSERT_EQ(r.avail_count(), 1);
  Chain c = pop_ok(r);
  EXPECT_EQ(c.head, id);
  ASSERT_EQ(c.buffers.size(), 3u);
  EXPECT_EQ(c.buffers[0].gpa, kData);
  EXPECT_EQ(c.buffers[0].host, m_.host(kData));
  EXPECT_FALSE(c.buffers[1].writable);
  EXPECT_EQ(c.buffers[1].len, 100u);
  EXPECT_TRUE(c.buffers[2].writable);
  EXPECT_EQ(c.readable_len, 112u);
  EXPECT_EQ(c.writable_len, 1500u);
  EXPECT_TRUE(r.held(id));
  EXPECT_EQ(r.avail_count(), 0);
  EXPECT_EQ(r.indexes().last_avail_idx, encode(4, true));

  const uint16_t used_before = r.used_idx();
  r.push_used(id, 700);
  EXPECT_NE(r.used_idx(), used_before);
  EXPECT_FALSE(r.held(id));
  // Written, not yet visible: the id and length are there, the flags still the head's.
  const PackedDesc pending = q_.desc(0);
  EXPECT_EQ(pending.id, id);
  EXPECT_EQ(pending.len, 700u);
  EXPECT_FALSE(q_.has_used());
  r.publish_used();
  auto used = q_.drain_used();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].id, id);
  EXPECT_EQ(used[0].len, 700u);
  EXPECT_EQ(used[0].flags, kWriteUsed1);
  EXPECT_EQ(used[0].position, 0);
  EXPECT_TRUE(used[0].known);
  // The device skipped the chain's four descriptors.
  EXPECT_EQ(r.indexes().used_idx, encode(4, true));
  EXPECT_EQ(q_.indexes().used_idx, encode(4, true));
}

TEST_F(PackedRingTest, UsedWithoutBytesHasNoWriteFlag) {
  PackedRing r = make();
  const uint16_t id = post_one(kData, 64, false);
  pop_ok(r);
  r.push_used(id, 0);
  r.publish_used();
  auto used = q_.drain_used();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].flags, kPackedDescFAvail | kPackedDescFUsed);
}

TEST_F(PackedRingTest, ChainOfOnlyZeroLengthDescriptors) {
  PackedRing r = make();
  const std::vector<Buf> bufs = {{kData, 0, false}, {0, 0, true}};  // even at an unmapped address
  const uint16_t id = q_.post(bufs);
  Chain c = pop_ok(r);
  EXPECT_EQ(c.head, id);
  EXPECT_TRUE(c.buffers.empty());
  EXPECT_EQ(c.readable_len + c.writable_len, 0u);
}

// 2.8.6: the buffer id is the last descriptor's; what the others carry does not matter.
TEST_F(PackedRingTest, TheBufferIdIsTheLastDescriptors) {
  PackedRing r = make();
  const PackedDesc descs[] = {{kData, 10, 0xffff, 0}, {kData + 64, 10, 12345, 0}, {kData, 8, 9, 0}};
  q_.publish(descs, 9);
  Chain c = pop_ok(r);
  EXPECT_EQ(c.head, 9);
  EXPECT_EQ(c.buffers.size(), 3u);
  EXPECT_TRUE(r.held(9));
}

TEST_F(PackedRingTest, WalksAnIndirectTable) {
  PackedRing r = make();
  const std::vector<Buf> bufs = {
      {kData, 12, false}, {kData + 64, 0, false}, {kData + 0x800, 9000, false}, {kData, 40, true}};
  const uint16_t id = q_.post_indirect(kTable, bufs);
  const uint16_t after = post_one(kData, 1);
  ASSERT_EQ(r.avail_count(), 2);
  Chain c = pop_ok(r);
  EXPECT_EQ(c.head, id);
  ASSERT_EQ(c.buffers.size(), 3u);
  EXPECT_EQ(c.buffers[1].gpa, kData + 0x800);
  EXPECT_EQ(c.buffers[1].len, 9000u);
  EXPECT_TRUE(c.buffers[2].writable);
  EXPECT_EQ(c.readable_len, 9012u);
  EXPECT_EQ(c.writable_len, 40u);
  // One ring descriptor: the next chain is right after it.
  EXPECT_EQ(pop_ok(r).head, after);
  r.push_used(id, 40);
  r.push_used(after, 1);
  r.publish_used();
  auto used = q_.drain_used();
  ASSERT_EQ(used.size(), 2u);
  EXPECT_EQ(used[0].position, 0);
  EXPECT_EQ(used[1].position, 1);
  EXPECT_EQ(used[1].id, after);
}

// 2.8.19: the table is walked entry by entry; NEXT and ids inside it are not followed.
TEST_F(PackedRingTest, IndirectTableEntriesAreTakenInOrderWhateverTheirNext) {
  PackedRing r = make();
  const PackedDesc table[] = {
      {kData, 10, 7, kDescFNext}, {kData + 32, 20, 0, kDescFNext}, {kData + 64, 30, 3, 0}};
  std::memcpy(m_.host(kTable), table, sizeof(table));
  const PackedDesc d{kTable, sizeof(table), 5, kDescFIndirect};
  q_.publish(std::span(&d, 1), 5);
  Chain c = pop_ok(r);
  EXPECT_EQ(c.head, 5);
  ASSERT_EQ(c.buffers.size(), 3u);
  EXPECT_EQ(c.buffers[2].len, 30u);
}

TEST_F(PackedRingTest, OutOfOrderCompletionWritesUsedDescriptorsInCompletionOrder) {
  PackedRing r = make();
  std::vector<uint16_t> ids;
  for (uint32_t i = 0; i < 4; ++i) ids.push_back(post_one(kData + 0x100 * i, 100 + i));
  ASSERT_EQ(r.avail_count(), 4);
  for (uint16_t id : ids) EXPECT_EQ(pop_ok(r).head, id);
  for (size_t i : {2u, 0u, 3u, 1u}) r.push_used(ids[i], 10 + static_cast<uint32_t>(i));
  r.publish_used();
  auto used = q_.drain_used();
  ASSERT_EQ(used.size(), 4u);
  const size_t order[] = {2, 0, 3, 1};
  for (size_t k = 0; k < 4; ++k) {
    EXPECT_EQ(used[k].id, ids[order[k]]);
    EXPECT_EQ(used[k].len, 10 + order[k]);
    EXPECT_EQ(used[k].position, k);
  }
}

// A held chain's ring slots are overwritten by a used descriptor of another chain, then made
// available again by the driver for a new chain: rewalk() still gives the held chain's buffers,
// from the copy pop() kept.
TEST_F(PackedRingTest, RewalkOfAHeldChainAfterItsSlotsWereReused) {
  FakePackedQueue q(m_, kRing, 4);
  auto r =
      PackedRing::create(q.addresses(), m_.mem(), kAllFeatures, kNewRing, RingRole::kDeviceWrites);
  ASSERT_TRUE(r);
  const std::vector<Buf> a_bufs = {{kData, 100, true}, {kData + 0x1000, 200, true}};
  const std::vector<Buf> b_bufs = {{kData + 0x2000, 300, true}, {kData + 0x3000, 400, true}};
  const uint16_t a = q.post(a_bufs);  // positions 0, 1
  const uint16_t b = q.post(b_bufs);  // positions 2, 3
  ASSERT_EQ(r->avail_count(), 2);
  EXPECT_EQ(r->pop(scratch_)->head, a);
  EXPECT_EQ(r->pop(scratch_)->head, b);
  EXPECT_EQ(r->avail_count(), 0);  // the whole ring is held

  r->push_used(b, 300);  // written at position 0, over a's head
  r->publish_used();
  auto used = q.drain_used();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].id, b);
  EXPECT_EQ(used[0].position, 0);

  // The driver reuses positions 0 and 1 (wrap counter 0 now) for a new chain.
  const std::vector<Buf> c_bufs = {{kData + 0x4000, 50, true}, {kData + 0x5000, 60, true}};
  const uint16_t c = q.post(c_bufs);
  ASSERT_EQ(q.desc(0).addr, kData + 0x4000);
  ASSERT_EQ(r->avail_count(), 1);
  auto cc = r->pop(scratch_);
  ASSERT_TRUE(cc);
  EXPECT_EQ(cc->head, c);
  EXPECT_EQ(cc->writable_len, 110u);

  auto ra = r->rewalk(a, scratch_);
  ASSERT_TRUE(ra) << to_string(ra.error());
  EXPECT_EQ(ra->head, a);
  ASSERT_EQ(ra->buffers.size(), 2u);
  EXPECT_EQ(ra->buffers[0].gpa, kData);
  EXPECT_EQ(ra->buffers[0].len, 100u);
  EXPECT_EQ(ra->buffers[1].gpa, kData + 0x1000);
  EXPECT_EQ(ra->writable_len, 300u);
  auto rc = r->rewalk(c, scratch_);
  ASSERT_TRUE(rc);
  EXPECT_EQ(rc->buffers[0].gpa, kData + 0x4000);

  r->push_used(a, 150);  // position 2, wrap 1
  r->push_used(c, 70);   // position 0, wrap 0
  r->publish_used();
  used = q.drain_used();
  ASSERT_EQ(used.size(), 2u);
  EXPECT_EQ(used[0].id, a);
  EXPECT_EQ(used[0].len, 150u);
  EXPECT_EQ(used[0].position, 2);
  EXPECT_EQ(used[0].flags, kWriteUsed1);
  EXPECT_EQ(used[1].id, c);
  EXPECT_EQ(used[1].position, 0);
  EXPECT_EQ(used[1].flags, kDescFWrite);  // AVAIL and USED both 0: wrap counter 0
  EXPECT_EQ(r->indexes().used_idx, encode(2, false));
  EXPECT_EQ(q.indexes().used_idx, encode(2, false));
  EXPECT_EQ(error_of(r->rewalk(a, scratch_)), RingError::kBufferIdOutOfRange);  // not held
}

// A chain that starts near the end of the ring continues at its start (the descriptors after the
// end carry the other wrap counter's bits; only the head's count).
TEST_F(PackedRingTest, AChainAcrossTheEndOfTheRing) {
  q_.resume({encode(14, true), encode(14, true)});
  PackedRing r = make(kAllFeatures, q_.indexes());
  const std::vector<Buf> bufs = {
      {kData, 10, false}, {kData + 0x10, 20, false}, {kData + 0x20, 30, true}, {kData, 40, true}};
  const uint16_t id = q_.post(bufs);
  EXPECT_EQ(q_.desc(15).flags & (kPackedDescFAvail | kPackedDescFUsed), kPackedDescFAvail);
  EXPECT_EQ(q_.desc(0).flags & (kPackedDescFAvail | kPackedDescFUsed), kPackedDescFUsed);
  ASSERT_EQ(r.avail_count(), 1);
  Chain c = pop_ok(r);
  EXPECT_EQ(c.head, id);
  ASSERT_EQ(c.buffers.size(), 4u);
  EXPECT_EQ(c.buffers[3].len, 40u);
  EXPECT_EQ(r.indexes().last_avail_idx, encode(2, false));
  r.push_used(id, 70);
  r.publish_used();
  auto used = q_.drain_used();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].position, 14);
  EXPECT_EQ(used[0].flags, kWriteUsed1);
  EXPECT_EQ(r.indexes().used_idx, encode(2, false));
  // And the next chain, at position 2 with wrap counter 0.
  const uint16_t next = post_one(kData, 5);
  ASSERT_EQ(r.avail_count(), 1);
  EXPECT_EQ(pop_ok(r).head, next);
  r.push_used(next, 5);
  r.publish_used();
  used = q_.drain_used();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].position, 2);
  EXPECT_EQ(used[0].flags, kDescFWrite);
}

// vhost-user's ring base for packed rings: the position in bits 0..14, the wrap counter in 15.
TEST_F(PackedRingTest, ResumesFromIndexesWithWrapBits) {
  for (bool wrap : {false, true}) {
    SCOPED_TRACE(::testing::Message() << "wrap " << wrap);
    TestMemory m;
    FakePackedQueue q(m, kRing, 16);
    // Driver and device met at position 9 with this wrap counter.
    const RingIndexes at{encode(9, wrap), encode(9, wrap)};
    q.resume(at);
    auto r = PackedRing::create(q.addresses(), m.mem(), kAllFeatures, at, RingRole::kDeviceWrites);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->indexes().last_avail_idx, at.last_avail_idx);
    EXPECT_EQ(r->indexes().used_idx, at.used_idx);
    EXPECT_EQ(r->used_idx(), at.used_idx);
    // Ten single-descriptor chains: positions 9..15, then 0..2 with the other wrap counter.
    std::vector<uint16_t> ids;
    for (uint32_t i = 0; i < 10; ++i) {
      const Buf b{kData + 0x100 * i, 64, true};
      ids.push_back(q.post(std::span(&b, 1)));
    }
    ASSERT_EQ(r->avail_count(), 10);
    for (uint16_t id : ids) {
      auto c = r->pop(scratch_);
      ASSERT_TRUE(c);
      EXPECT_EQ(c->head, id);
      r->push_used(id, 64);
    }
    r->publish_used();
    auto used = q.drain_used();
    ASSERT_EQ(used.size(), 10u);
    for (size_t i = 0; i < used.size(); ++i) {
      EXPECT_EQ(used[i].id, ids[i]);
      const bool used_wrap = i < 7 ? wrap : !wrap;
      EXPECT_EQ(used[i].flags, FakePackedQueue::used_bits(used_wrap) | kDescFWrite) << i;
    }
    EXPECT_EQ(r->indexes().last_avail_idx, encode(3, !wrap));
    EXPECT_EQ(r->indexes().used_idx, encode(3, !wrap));
    EXPECT_EQ(q.indexes().used_idx, r->indexes().used_idx);
  }
}

// The device resumes with chains still out (GET_VRING_BASE while they were in flight, then the
// guest returned nothing): the used side is behind, by a chain that crosses the end of the ring.
TEST_F(PackedRingTest, ResumesWithTheUsedSideALapBehind) {
  const RingIndexes at{encode(2, false), encode(15, true)};
  q_.resume({encode(2, false), encode(2, false)});
  PackedRing r = make(kAllFeatures, at);
  EXPECT_EQ(r.indexes().used_idx, encode(15, true));
  const uint16_t id = post_one(kData, 8);
  EXPECT_EQ(pop_ok(r).head, id);
  r.push_used(id, 8);
  r.publish_used();
  EXPECT_EQ(q_.desc(15).id, id);
  EXPECT_EQ(q_.desc(15).flags, kWriteUsed1);
  EXPECT_EQ(r.indexes().used_idx, encode(0, false));
}

TEST_F(PackedRingTest, DrainReturnsEveryHeldChainAndPublishes) {
  PackedRing r = make();
  std::vector<uint16_t> ids;
  for (uint32_t i = 0; i < 4; ++i) ids.push_back(post_one(kData + 0x100 * i, 256));
  for (size_t i = 0; i < 4; ++i) pop_ok(r);
  r.push_used(ids[2], 99);  // finished, not published
  r.drain();
  for (uint16_t id : ids) EXPECT_FALSE(r.held(id));
  auto used = q_.drain_used();
  ASSERT_EQ(used.size(), 4u);
  EXPECT_EQ(used[0].id, ids[2]);
  EXPECT_EQ(used[0].len, 99u);
  std::vector<uint16_t> rest;
  for (size_t i = 1; i < 4; ++i) {
    EXPECT_EQ(used[i].len, 0u);
    EXPECT_EQ(used[i].flags, kPackedDescFAvail | kPackedDescFUsed);
    rest.push_back(used[i].id);
  }
  std::sort(rest.begin(), rest.end());
  EXPECT_EQ(rest, (std::vector<uint16_t>{ids[0], ids[1], ids[3]}));
  EXPECT_EQ(r.indexes().used_idx, r.indexes().last_avail_idx);
  r.drain();  // nothing held: nothing more
  EXPECT_TRUE(q_.drain_used().empty());
}

TEST_F(PackedRingTest, AbandonForgetsHeldChainsWithoutWritingTheRing) {
  PackedRing r = make();
  std::vector<uint16_t> ids;
  for (uint32_t i = 0; i < 3; ++i) ids.push_back(post_one(kData + 0x100 * i, 256));
  for (size_t i = 0; i < 3; ++i) pop_ok(r);
  std::vector<uint16_t> flags_before;
  for (uint16_t p = 0; p < 16; ++p) flags_before.push_back(q_.desc(p).flags);
  r.push_used(ids[1], 10);  // written, not published: its flags must never be stored
  r.abandon();
  for (uint16_t id : ids) EXPECT_FALSE(r.held(id));
  r.publish_used();
  r.drain();
  for (uint16_t p = 0; p < 16; ++p) EXPECT_EQ(q_.desc(p).flags, flags_before[p]) << p;
  EXPECT_FALSE(q_.has_used());
}

// ---- notifications ----

TEST_F(PackedRingTest, NotificationsWithoutEventIdxFollowEnableAndDisable) {
  PackedRing r = make();
  auto complete_one = [&] {
    const uint16_t id = post_one(kData, 8);
    pop_ok(r);
    r.push_used(id, 8);
    r.publish_used();
    q_.drain_used();
  };
  EXPECT_FALSE(r.needs_notification());  // nothing published
  complete_one();
  EXPECT_TRUE(r.needs_notification());
  EXPECT_FALSE(r.needs_notification());  // already decided
  q_.set_driver_event(kPackedEventDisable);
  complete_one();
  EXPECT_FALSE(r.needs_notification());
  q_.set_driver_event(kPackedEventEnable);
  complete_one();
  EXPECT_TRUE(r.needs_notification());
  // DESC without EVENT_IDX negotiated is not a mode the driver may use: it is read as enabled.
  q_.set_driver_event(kPackedEventDesc, encode(0, false));
  complete_one();
  EXPECT_TRUE(r.needs_notification());
  r.publish_used();  // nothing new
  EXPECT_FALSE(r.needs_notification());
}

// With EVENT_IDX in DESC mode the driver asks to be notified once the used descriptor at
// off_wrap (position, wrap counter) is written. For every such request on a ring of 8, through
// three laps of one- and two-descriptor chains published one or two at a time, the device
// notifies exactly in the publish that wrote that descriptor.
TEST_F(PackedRingTest, DescModeNotifiesWhenTheRequestedUsedDescriptorIsWritten) {
  constexpr uint16_t kSize = 8;
  const uint64_t features = kAllFeatures | bit(feature::kRingEventIdx);
  for (uint16_t target_pos = 0; target_pos < kSize; ++target_pos) {
    for (bool target_wrap : {false, true}) {
      TestMemory m;
      FakePackedQueue q(m, kRing, kSize);
      auto r =
          PackedRing::create(q.addresses(), m.mem(), features, kNewRing, RingRole::kDeviceWrites);
      ASSERT_TRUE(r);
      q.set_driver_event(kPackedEventDesc, encode(target_pos, target_wrap));
      uint32_t used_abs = 0;  // descriptors written as used so far
      bool first = true;
      for (int step = 0; used_abs < 3 * kSize; ++step) {
        SCOPED_TRACE(::testing::Message()
                     << "target " << target_pos << "/" << target_wrap << " step " << step);
        // One or two chains of one or two descriptors, published together.
        const int chains = 1 + step % 2;
        uint32_t descs = 0;
        for (int k = 0; k < chains; ++k) {
          const uint32_t n = 1 + (step / 2 + k) % 2;
          std::vector<Buf> bufs(n, Buf{kData, 16, true});
          const uint16_t id = q.post(bufs);
          auto c = r->pop(scratch_);
          ASSERT_TRUE(c);
          r->push_used(id, 16);
          descs += n;
        }
        r->publish_used();
        q.drain_used();
        const uint32_t old_abs = used_abs;
        used_abs += descs;
        // The requested descriptor in absolute terms: in the current lap of the used side when
        // its wrap counter matches that lap's, else in the lap before (the lap's wrap counter is
        // 1 in even laps: both sides start at 1).
        const int64_t lap = used_abs / kSize;
        const bool lap_wrap = lap % 2 == 0;
        const int64_t target = (lap_wrap == target_wrap ? lap : lap - 1) * kSize + target_pos;
        const bool expect = first || (target >= old_abs && target < used_abs);
        EXPECT_EQ(r->needs_notification(), expect);
        first = false;
      }
    }
  }
}

TEST_F(PackedRingTest, EventIdxRingHonoursEnableAndDisableToo) {
  PackedRing r = make(kAllFeatures | bit(feature::kRingEventIdx));
  auto complete_one = [&] {
    const uint16_t id = post_one(kData, 8);
    pop_ok(r);
    r.push_used(id, 8);
    r.publish_used();
    q_.drain_used();
  };
  q_.set_driver_event(kPackedEventDisable);
  complete_one();
  EXPECT_FALSE(r.needs_notification());
  q_.set_driver_event(kPackedEventEnable);
  complete_one();
  EXPECT_TRUE(r.needs_notification());
  complete_one();
  EXPECT_TRUE(r.needs_notification());
}

TEST_F(PackedRingTest, SuppressAndEnableKicksWithRecheck) {
  PackedRing r = make();
  r.suppress_kicks();
  EXPECT_EQ(q_.device_event().flags, kPackedEventDisable);
  EXPECT_FALSE(r.enable_kicks());
  EXPECT_EQ(q_.device_event().flags, kPackedEventEnable);
  r.suppress_kicks();
  EXPECT_EQ(q_.device_event().flags, kPackedEventDisable);
  // A chain made available while kicks were off: enable_kicks() sees it.
  const uint16_t id = post_one(kData, 8);
  EXPECT_TRUE(r.enable_kicks());
  EXPECT_EQ(pop_ok(r).head, id);
  EXPECT_FALSE(r.enable_kicks());
  // A descriptor with the other wrap counter's bits is not a chain.
  q_.set_desc(1, {kData, 8, 3, FakePackedQueue::avail_bits(false)});
  EXPECT_FALSE(r.enable_kicks());
}

TEST_F(PackedRingTest, EnableKicksWithEventIdxAsksForTheNextPositionAcrossTheWrap) {
  PackedRing r = make(kAllFeatures | bit(feature::kRingEventIdx));
  EXPECT_FALSE(r.enable_kicks());
  EXPECT_EQ(q_.device_event().flags, kPackedEventDesc);
  EXPECT_EQ(q_.device_event().off_wrap, encode(0, true));
  // Around the ring once and a bit: 20 single descriptors.
  for (int i = 0; i < 20; ++i) {
    const uint16_t id = post_one(kData, 8);
    r.suppress_kicks();
    EXPECT_EQ(q_.device_event().flags, kPackedEventDisable);
    EXPECT_EQ(pop_ok(r).head, id);
    r.push_used(id, 8);
    r.publish_used();
    q_.drain_used();
    EXPECT_FALSE(r.enable_kicks());
    EXPECT_EQ(q_.device_event().flags, kPackedEventDesc);
    EXPECT_EQ(q_.device_event().off_wrap, encode((i + 1) % 16, i + 1 < 16)) << i;
  }
  post_one(kData, 8);
  EXPECT_TRUE(r.enable_kicks());
}

// ---- hostile rings ----

// Only AVAIL == wrap and USED != wrap make a descriptor available (2.8.1).
TEST_F(PackedRingTest, DescriptorsWithTheWrongAvailUsedBitsAreNotAvailable) {
  for (bool wrap : {true, false}) {
    for (uint16_t bits : {uint16_t{0}, kPackedDescFAvail, kPackedDescFUsed,
                          static_cast<uint16_t>(kPackedDescFAvail | kPackedDescFUsed)}) {
      TestMemory m;
      FakePackedQueue q(m, kRing, 16);
      const RingIndexes at{encode(0, wrap), encode(0, wrap)};
      auto r =
          PackedRing::create(q.addresses(), m.mem(), kAllFeatures, at, RingRole::kDeviceWrites);
      ASSERT_TRUE(r);
      for (uint16_t p = 0; p < 16; ++p) q.set_desc(p, {kData, 64, p, bits});
      const bool avail = bits == FakePackedQueue::avail_bits(wrap);
      EXPECT_EQ(r->avail_count(), avail ? 16 : 0) << wrap << " " << bits;
      EXPECT_EQ(r->enable_kicks(), avail);
    }
  }
}

TEST_F(PackedRingTest, ABufferIdOutOfRangeBreaksTheQueue) {
  for (uint16_t bad : {uint16_t{16}, uint16_t{0xffff}}) {
    TestMemory m;
    FakePackedQueue q(m, kRing, 16);
    auto r =
        PackedRing::create(q.addresses(), m.mem(), kAllFeatures, kNewRing, RingRole::kDeviceWrites);
    ASSERT_TRUE(r);
    const PackedDesc descs[] = {{kData, 10, 1, 0}, {kData, 10, bad, 0}};
    q.publish(descs, bad);
    ASSERT_EQ(r->avail_count(), 1);
    auto c = r->pop(scratch_);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error(), RingError::kBufferIdOutOfRange);
    EXPECT_TRUE(breaks_queue(c.error()));
    EXPECT_FALSE(r->held(bad));
    r->push_used(bad, 10);  // ignored
    r->publish_used();
    EXPECT_FALSE(q.has_used());
  }
}

// An id the device still holds, made available again: consumed and ignored (kHeadInUse); the
// held chain is unchanged and returns once.
TEST_F(PackedRingTest, AnIdReusedWhileInFlightIsIgnored) {
  PackedRing r = make();
  const uint16_t id = post_one(kData, 100);
  pop_ok(r);
  const Buf again{kData + 0x5000, 7, true};
  q_.post_as(std::span(&again, 1), id);
  const uint16_t next = post_one(kData + 0x100, 5);
  ASSERT_EQ(r.avail_count(), 2);
  auto c = pop(r);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), RingError::kHeadInUse);
  EXPECT_FALSE(breaks_queue(c.error()));
  EXPECT_TRUE(r.held(id));
  auto held = r.rewalk(id, scratch_);
  ASSERT_TRUE(held);
  EXPECT_EQ(held->buffers[0].gpa, kData);
  EXPECT_EQ(held->writable_len, 100u);
  EXPECT_EQ(pop_ok(r).head, next);
  r.push_used(id, 100);
  r.push_used(id, 100);  // a second return of the same id is ignored
  r.publish_used();
  auto used = q_.drain_used();
  ASSERT_GE(used.size(), 1u);
  EXPECT_EQ(used[0].id, id);
  EXPECT_EQ(used[0].len, 100u);
  EXPECT_EQ(r.indexes().used_idx, encode(1, true));
}

// NEXT on every descriptor of the ring: no end the device can find.
TEST_F(PackedRingTest, NextOnEveryDescriptorIsUnterminated) {
  PackedRing r = make();
  std::vector<PackedDesc> descs(16, PackedDesc{kData, 10, 0, 0});
  q_.publish(descs, 0, /*next_on_last=*/true);
  auto n = r.avail_count();
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error(), RingError::kChainUnterminated);
  EXPECT_TRUE(breaks_queue(n.error()));
  auto c = pop(r);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), RingError::kChainUnterminated);
}

// With chains held, the driver can have made fewer descriptors available: a chain that runs past
// that budget has no end either, even though the ring slots after it hold something.
TEST_F(PackedRingTest, AChainLongerThanWhatTheDriverCanHaveOutIsUnterminated) {
  PackedRing r = make();
  const std::vector<Buf> twelve(12, Buf{kData, 8, true});
  const uint16_t held = q_.post(twelve);
  EXPECT_EQ(pop_ok(r).head, held);
  // Four descriptors with NEXT on all of them; after them come the held chain's slots (NEXT).
  std::vector<PackedDesc> descs(4, PackedDesc{kData, 10, 1, 0});
  q_.publish(descs, 1, /*next_on_last=*/true);
  auto n = r.avail_count();
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error(), RingError::kChainUnterminated);
  auto c = pop(r);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), RingError::kChainUnterminated);
}

// A chain whose last available descriptor has NEXT continues into a slot the driver did not
// make available: the device cannot tell (only the head's flags count), takes that slot as the
// chain's end, and checks it like any other (here: outside guest memory, so the chain drops).
TEST_F(PackedRingTest, NextOnTheLastAvailableDescriptorRunsIntoTheNextSlot) {
  PackedRing r = make();
  std::vector<PackedDesc> descs(2, PackedDesc{kData, 10, 4, 0});
  q_.publish(descs, 4, /*next_on_last=*/true);
  q_.set_desc(2, {0x10, 100, 7, 0});  // stale, not available: no AVAIL bit for wrap 1
  ASSERT_EQ(r.avail_count(), 1);
  auto c = pop(r);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), RingError::kBufferOutOfMemory);
  EXPECT_FALSE(breaks_queue(c.error()));
  r.publish_used();
  const PackedDesc used = q_.desc(0);
  EXPECT_EQ(used.id, 7);
  EXPECT_EQ(used.len, 0u);
  EXPECT_EQ(used.flags, kPackedDescFAvail | kPackedDescFUsed);
  EXPECT_EQ(r.indexes().used_idx, encode(3, true));
}

// A chain that drops, not breaking the queue: the ring keeps going after it, and the chain goes
// back to the driver as used with length 0.
struct BadChain {
  const char* name;
  // Writes the chain's ring descriptors (buffer id 3) and whatever it points at.
  void (*build)(FakePackedQueue&, TestMemory&);
  RingError error;
  uint64_t features = kAllFeatures;
};

void publish_one(FakePackedQueue& q, PackedDesc d) { q.publish(std::span(&d, 1), d.id); }
void write_table(TestMemory& m, std::initializer_list<PackedDesc> entries) {
  size_t i = 0;
  for (const PackedDesc& e : entries) std::memcpy(m.host(kTable) + 16 * i++, &e, 16);
}

class PackedBadChainTest : public PackedRingTest, public ::testing::WithParamInterface<BadChain> {};

TEST_P(PackedBadChainTest, DropsWithItsKindAndTheRingGoesOn) {
  GetParam().build(q_, m_);
  const uint16_t good = post_one(kData + 0x7000, 33);
  PackedRing r = make(GetParam().features);
  ASSERT_EQ(r.avail_count(), 2);
  auto c = pop(r);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), GetParam().error) << to_string(c.error());
  EXPECT_FALSE(breaks_queue(c.error()));
  EXPECT_FALSE(r.held(3));
  Chain g = pop_ok(r);
  EXPECT_EQ(g.head, good);
  r.push_used(good, 33);
  r.publish_used();
  auto used = q_.drain_used();
  ASSERT_EQ(used.size(), 2u);
  EXPECT_EQ(used[0].id, 3);
  EXPECT_EQ(used[0].len, 0u);
  EXPECT_EQ(used[1].id, good);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, PackedBadChainTest,
    ::testing::Values(
        BadChain{"BufferOutsideMemory",
                 [](FakePackedQueue& q, TestMemory&) {
                   publish_one(q, {0x10, 10, 3, 0});
                 },
                 RingError::kBufferOutOfMemory},
        BadChain{"BufferRunsOffTheEnd",
                 [](FakePackedQueue& q, TestMemory&) {
                   publish_one(q, {kMemEnd - 8, 16, 3, kDescFWrite});
                 },
                 RingError::kBufferOutOfMemory},
        BadChain{"BufferWraps",
                 [](FakePackedQueue& q, TestMemory&) {
                   publish_one(q, {~uint64_t{0} - 4, 16, 3, 0});
                 },
                 RingError::kBufferOutOfMemory},
        BadChain{"SecondBufferOutsideMemory",
                 [](FakePackedQueue& q, TestMemory&) {
                   const PackedDesc d[] = {{kData, 10, 0, 0}, {kMemEnd, 1, 3, 0}};
                   q.publish(d, 3);
                 },
                 RingError::kBufferOutOfMemory},
        BadChain{"ReadableAfterWritable",
                 [](FakePackedQueue& q, TestMemory&) {
                   const PackedDesc d[] = {{kData, 10, 3, kDescFWrite}, {kData, 10, 3, 0}};
                   q.publish(d, 3);
                 },
                 RingError::kReadableAfterWritable},
        BadChain{
            "ReadableInTableAfterWritableInRing",
            [](FakePackedQueue& q, TestMemory& m) {
              write_table(m, {{kData, 10, 0, 0}});
              const PackedDesc d[] = {{kData, 10, 3, kDescFWrite}, {kTable, 16, 3, kDescFIndirect}};
              q.publish(d, 3);
            },
            RingError::kReadableAfterWritable},
        BadChain{"ReadableAfterWritableInTable",
                 [](FakePackedQueue& q, TestMemory& m) {
                   write_table(m, {{kData, 10, 0, kDescFWrite}, {kData, 10, 0, 0}});
                   publish_one(q, {kTable, 32, 3, kDescFIndirect});
                 },
                 RingError::kReadableAfterWritable},
        BadChain{"IndirectNotNegotiated",
                 [](FakePackedQueue& q, TestMemory& m) {
                   write_table(m, {{kData, 10, 0, 0}});
                   publish_one(q, {kTable, 16, 3, kDescFIndirect});
                 },
                 RingError::kIndirectNotNegotiated,
                 bit(feature::kVersion1) | bit(feature::kRingPacked)},
        BadChain{"IndirectWithNext",
                 [](FakePackedQueue& q, TestMemory& m) {
                   write_table(m, {{kData, 10, 0, 0}});
                   const PackedDesc d[] = {{kTable, 16, 3, kDescFIndirect}, {kData, 10, 3, 0}};
                   q.publish(d, 3);
                 },
                 RingError::kIndirectWithNext},
        BadChain{"NestedIndirect",
                 [](FakePackedQueue& q, TestMemory& m) {
                   write_table(m, {{kData, 10, 0, 0}, {kTable, 32, 0, kDescFIndirect}});
                   publish_one(q, {kTable, 32, 3, kDescFIndirect});
                 },
                 RingError::kIndirectNested},
        BadChain{"IndirectEmpty",
                 [](FakePackedQueue& q, TestMemory&) {
                   publish_one(q, {kTable, 0, 3, kDescFIndirect});
                 },
                 RingError::kIndirectBadLength},
        BadChain{"IndirectNotMultipleOf16",
                 [](FakePackedQueue& q, TestMemory&) {
                   publish_one(q, {kTable, 24, 3, kDescFIndirect});
                 },
                 RingError::kIndirectBadLength},
        BadChain{"IndirectLongerThanTheRing",
                 [](FakePackedQueue& q, TestMemory&) {
                   publish_one(q, {kTable, 16 * 17, 3, kDescFIndirect});
                 },
                 RingError::kChainTooLong},
        BadChain{"IndirectHuge",
                 [](FakePackedQueue& q, TestMemory&) {
                   publish_one(q, {kTable, 0xfffffff0, 3, kDescFIndirect});
                 },
                 RingError::kChainTooLong},
        BadChain{"IndirectTableOutsideMemory",
                 [](FakePackedQueue& q, TestMemory&) {
                   publish_one(q, {0x1000, 32, 3, kDescFIndirect});
                 },
                 RingError::kIndirectOutOfMemory},
        BadChain{"IndirectTableRunsOffTheEnd",
                 [](FakePackedQueue& q, TestMemory&) {
                   publish_one(q, {kMemEnd - 16, 32, 3, kDescFIndirect});
                 },
                 RingError::kIndirectOutOfMemory},
        BadChain{"BufferInTableOutsideMemory",
                 [](FakePackedQueue& q, TestMemory& m) {
                   write_table(m, {{kData, 10, 0, 0}, {0x10, 10, 0, 0}});
                   publish_one(q, {kTable, 32, 3, kDescFIndirect});
                 },
                 RingError::kBufferOutOfMemory}),
    [](const auto& p) { return std::string(p.param.name); });

TEST_F(PackedRingTest, MoreBuffersThanTheScratchHolds) {
  PackedRing r = make();
  const std::vector<Buf> bufs(5, Buf{kData, 8, false});
  const uint16_t id = q_.post(bufs);
  std::vector<ChainBuffer> small(4);
  auto c = r.pop(small);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), RingError::kChainTooLong);
  r.publish_used();
  auto used = q_.drain_used();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].id, id);
  EXPECT_EQ(used[0].len, 0u);
}

// Buffers inside guest memory whose lengths add up past 4 GiB: the same 3 MiB, 1400 times, in
// one indirect table.
TEST(PackedRingLargeChain, LengthsPastFourGiBDrop) {
  TestMemory m(0x100000, 8 << 20);
  FakePackedQueue q(m, 0x100000, 2048);
  constexpr uint64_t kBig = 0x400000;
  const std::vector<Buf> bufs(1400, Buf{kBig, 3 << 20, false});
  const uint16_t id = q.post_indirect(0x200000, bufs);
  auto r =
      PackedRing::create(q.addresses(), m.mem(), kAllFeatures, kNewRing, RingRole::kDeviceReads);
  ASSERT_TRUE(r);
  std::vector<ChainBuffer> scratch(2048);
  auto c = r->pop(scratch);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), RingError::kChainTooLarge);
  r->publish_used();
  auto used = q.drain_used();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].id, id);
}

// The guest changes what it made available between the device's looks.
TEST_F(PackedRingTest, ADescriptorChangedAfterAvailCountIsCheckedAtPop) {
  PackedRing r = make();
  const uint16_t id = post_one(kData, 64);
  ASSERT_EQ(r.avail_count(), 1);
  PackedDesc d = q_.desc(0);
  d.addr = kMemEnd;  // now outside guest memory
  q_.set_desc(0, d);
  auto c = pop(r);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), RingError::kBufferOutOfMemory);
  r.publish_used();
  auto used = q_.drain_used();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].id, id);
}

TEST_F(PackedRingTest, AChainLengthenedAfterAvailCountIsWalkedAsItIsAtPop) {
  PackedRing r = make();
  const uint16_t a = post_one(kData, 64);
  const uint16_t b = post_one(kData + 0x100, 32);
  ASSERT_EQ(r.avail_count(), 2);
  q_.set_flags(0, q_.desc(0).flags | kDescFNext);  // a now runs into b's descriptor
  Chain c = pop_ok(r);
  EXPECT_EQ(c.head, b);  // the last descriptor's id
  EXPECT_EQ(c.buffers.size(), 2u);
  EXPECT_FALSE(r.held(a));
  EXPECT_EQ(r.avail_count(), 0);
}

// A chain grown past everything avail_count() counted, into chains made available since.
TEST_F(PackedRingTest, AChainGrownPastTheCountIsWalkedAsItIsAtPop) {
  PackedRing r = make();
  post_one(kData, 64);
  post_one(kData + 0x100, 32);
  ASSERT_EQ(r.avail_count(), 2);
  const uint16_t c = post_one(kData + 0x200, 16);
  const uint16_t d = post_one(kData + 0x300, 8);
  for (uint16_t p = 0; p < 2; ++p) q_.set_flags(p, q_.desc(p).flags | kDescFNext);
  Chain popped = pop_ok(r);
  EXPECT_EQ(popped.head, c);
  EXPECT_EQ(popped.buffers.size(), 3u);  // the two counted chains and c
  ASSERT_EQ(r.avail_count(), 1);
  EXPECT_EQ(pop_ok(r).head, d);
  EXPECT_EQ(r.avail_count(), 0);
}

// avail_count() goes on from what it counted: chains popped come off it, chains made available
// since are added, and what the held chains take from the budget is given back when they return.
TEST_F(PackedRingTest, AvailCountGoesOnFromWhatItCounted) {
  PackedRing r = make();
  const std::vector<Buf> five(5, Buf{kData, 8, true});
  const uint16_t a = q_.post(five);
  const uint16_t b = q_.post(five);
  ASSERT_EQ(r.avail_count(), 2);
  EXPECT_EQ(pop_ok(r).head, a);
  ASSERT_EQ(r.avail_count(), 1);
  const uint16_t c = q_.post(five);
  ASSERT_EQ(r.avail_count(), 2);
  EXPECT_EQ(pop_ok(r).head, b);
  EXPECT_EQ(pop_ok(r).head, c);
  EXPECT_EQ(r.avail_count(), 0);
  // 15 of 16 descriptors held; the driver gets a's five back and makes a chain of six available
  // across the end of the ring (position 15, then 0..4, over a's used slots).
  r.push_used(a, 0);
  r.publish_used();
  ASSERT_EQ(q_.drain_used().size(), 1u);
  const std::vector<Buf> six(6, Buf{kData, 8, true});
  const uint16_t d = q_.post(six);
  ASSERT_EQ(r.avail_count(), 1);
  Chain got = pop_ok(r);
  EXPECT_EQ(got.head, d);
  EXPECT_EQ(got.buffers.size(), 6u);
  EXPECT_EQ(r.indexes().last_avail_idx, encode(5, false));
  EXPECT_EQ(r.avail_count(), 0);
}

// A head withdrawn after avail_count() counted it: pop() finds nothing to take. The guest broke
// the protocol (2.8.21.1); the queue is not trusted after it.
TEST_F(PackedRingTest, AHeadWithdrawnAfterAvailCountBreaksTheQueue) {
  PackedRing r = make();
  post_one(kData, 64);
  ASSERT_EQ(r.avail_count(), 1);
  q_.set_flags(0, FakePackedQueue::avail_bits(false));
  auto c = pop(r);
  ASSERT_FALSE(c);
  EXPECT_TRUE(breaks_queue(c.error()));
}

TEST_F(PackedRingTest, RewalkOfADirectChainIgnoresLaterRingWrites) {
  PackedRing r = make();
  const std::vector<Buf> bufs = {{kData, 64, true}, {kData + 0x100, 64, true}};
  const uint16_t id = q_.post(bufs);
  pop_ok(r);
  q_.set_desc(0, {0x10, 0xffffffff, 9, kDescFNext | kDescFIndirect});
  q_.set_desc(1, {kMemEnd, 100, 200, kDescFWrite});
  auto c = r.rewalk(id, scratch_);
  ASSERT_TRUE(c) << to_string(c.error());
  EXPECT_EQ(c->head, id);
  ASSERT_EQ(c->buffers.size(), 2u);
  EXPECT_EQ(c->buffers[1].gpa, kData + 0x100);
  EXPECT_EQ(c->writable_len, 128u);
}

// An indirect table lives in guest memory: what the guest changed is checked again.
TEST_F(PackedRingTest, RewalkOfAnIndirectChainChecksTheTableAgain) {
  PackedRing r = make();
  const std::vector<Buf> bufs = {{kData, 64, true}, {kData + 0x100, 64, true}};
  const uint16_t id = q_.post_indirect(kTable, bufs);
  pop_ok(r);
  write_table(m_, {{kData, 64, 0, kDescFWrite}, {kData + 0x100, 300, 0, kDescFWrite}});
  auto c = r.rewalk(id, scratch_);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->writable_len, 364u);
  write_table(m_, {{kData, 64, 0, kDescFWrite}, {kMemEnd - 10, 300, 0, kDescFWrite}});
  EXPECT_EQ(error_of(r.rewalk(id, scratch_)), RingError::kBufferOutOfMemory);
  write_table(m_, {{kData, 64, 0, kDescFWrite}, {kTable, 16, 0, kDescFIndirect}});
  EXPECT_EQ(error_of(r.rewalk(id, scratch_)), RingError::kIndirectNested);
  write_table(m_, {{kData, 64, 0, kDescFWrite}, {kData, 64, 0, 0}});
  EXPECT_EQ(error_of(r.rewalk(id, scratch_)), RingError::kReadableAfterWritable);
  EXPECT_TRUE(r.held(id));  // still held: returned when the device is done
  r.push_used(id, 0);
  r.publish_used();
  EXPECT_EQ(q_.drain_used().size(), 1u);
}

TEST_F(PackedRingTest, RewalkOfAnIdNotHeld) {
  PackedRing r = make();
  EXPECT_FALSE(r.rewalk(0, scratch_));
  EXPECT_FALSE(r.rewalk(16, scratch_));
  EXPECT_FALSE(r.rewalk(0xffff, scratch_));
  EXPECT_FALSE(r.held(16));
  r.push_used(0, 1);  // not held: ignored
  r.push_used(0xffff, 1);
  r.publish_used();
  EXPECT_FALSE(q_.has_used());
  EXPECT_EQ(r.indexes().used_idx, encode(0, true));
}

// A ring resumed with wrap counters that do not match what is in it, over descriptors full of
// garbage: whatever the device takes for a chain is inside guest memory, no id comes back twice
// while held, and nothing crashes (ASan would see a stray access).
TEST_F(PackedRingTest, AResumedRingWithWrongWrapCountersOverGarbage) {
  std::mt19937_64 rng(42);
  for (int round = 0; round < 200; ++round) {
    SCOPED_TRACE(round);
    const uint16_t size = static_cast<uint16_t>(1 + rng() % 24);
    TestMemory m(0x100000, 1 << 20);
    FakePackedQueue q(m, kRing, size);
    const uint64_t data = 0x100000 + 0x1000;
    for (uint16_t p = 0; p < size; ++p) {
      PackedDesc d;
      d.addr = (rng() % 4 == 0) ? rng() : data + rng() % 0x80000;
      d.len =
          (rng() % 8 == 0) ? static_cast<uint32_t>(rng()) : static_cast<uint32_t>(rng() % 0x800);
      d.id = static_cast<uint16_t>((rng() % 4 == 0) ? rng() : rng() % size);
      d.flags = static_cast<uint16_t>(rng());
      if (rng() % 2) d.flags &= ~kDescFIndirect;
      q.set_desc(p, d);
    }
    const RingIndexes at{static_cast<uint16_t>(rng() % size | (rng() % 2 ? kPackedWrapBit : 0)),
                         static_cast<uint16_t>(rng() % size | (rng() % 2 ? kPackedWrapBit : 0))};
    auto r = PackedRing::create(q.addresses(), m.mem(),
                                kAllFeatures | (rng() % 2 ? bit(feature::kInOrder) : 0), at,
                                RingRole::kDeviceWrites);
    ASSERT_TRUE(r);
    std::vector<uint8_t> out(size, 0);
    uint32_t in_flight = 0;
    for (int step = 0; step < 64; ++step) {
      auto n = r->avail_count();
      if (!n) break;
      if (*n == 0 || rng() % 3 == 0) {
        // Let some chains go back and the guest flip some flags.
        for (uint16_t id = 0; id < size; ++id) {
          if (out[id] && rng() % 2) {
            r->push_used(id, static_cast<uint32_t>(rng() % 100));
            out[id] = 0;
            --in_flight;
          }
        }
        r->publish_used();
        const uint16_t p = static_cast<uint16_t>(rng() % size);
        q.set_flags(p, static_cast<uint16_t>(rng()));
        if (*n == 0) continue;
      }
      auto c = r->pop(scratch_);
      if (!c) {
        if (breaks_queue(c.error())) break;
        continue;
      }
      ASSERT_LT(c->head, size);
      ASSERT_FALSE(out[c->head]) << "id handed out twice";
      ASSERT_TRUE(r->held(c->head));
      out[c->head] = 1;
      ++in_flight;
      ASSERT_LE(in_flight, size);
      for (const ChainBuffer& b : c->buffers) {
        ASSERT_TRUE(m.mem().check_range(b.gpa, b.len)) << std::hex << b.gpa << " " << b.len;
      }
      auto again = r->rewalk(c->head, scratch_);
      if (again) {
        for (const ChainBuffer& b : again->buffers) ASSERT_TRUE(m.mem().check_range(b.gpa, b.len));
      }
    }
    r->drain();
  }
}

// ---- the wrap at every ring size ----

// For every ring size from 1 to 32768, chains of one to five descriptors go through until both
// sides' wrap counters have flipped at least twice. Each round the driver makes up to half the
// ring available; the device pops every chain and checks it against what was posted, and returns
// them in reverse order but for the first, which it holds two rounds (the driver reuses its slots
// meanwhile), then rewalks, checks and returns. The driver checks every used descriptor's id,
// length and flags, and both sides' indexes are compared after every round. The sizes are split
// into shards (size % kShards), each its own test; the checks in the loop are plain comparisons
// that report the first difference, which keeps the sanitizer build's run time down.
constexpr uint32_t kShards = 8;
constexpr uint32_t kMaxChain = 5;
constexpr uint64_t kWrapRing = 0x100000;
constexpr uint64_t kWrapBufs = 0x100000 + (1 << 20);

Buf wrap_buf(uint32_t salt, uint32_t k) {
  return Buf{kWrapBufs + ((salt * 3 + k) % 1024) * 64, 1 + (salt * 5 + k * 11) % 1500, true};
}
uint32_t wrap_used_len(uint32_t salt) { return salt % 5 == 0 ? 0 : salt % 4096; }
// Whether `c` is the chain made available with `salt` and `k` buffers.
bool wrap_chain_matches(const Chain& c, uint32_t salt, uint32_t k) {
  if (c.buffers.size() != k || c.readable_len != 0) return false;
  uint32_t total = 0;
  for (uint32_t i = 0; i < k; ++i) {
    const Buf b = wrap_buf(salt, i);
    if (c.buffers[i].gpa != b.gpa || c.buffers[i].len != b.len || !c.buffers[i].writable) {
      return false;
    }
    total += b.len;
  }
  return c.writable_len == total;
}

// Runs a ring of size `n` through; "" when all went well, else the first thing that did not.
std::string wrap_ring_of_size(TestMemory& m, uint32_t n, std::vector<ChainBuffer>& scratch) {
  const auto size = static_cast<uint16_t>(n);
  FakePackedQueue q(m, kWrapRing, size);
  auto created =
      PackedRing::create(q.addresses(), m.mem(), kAllFeatures, kNewRing, RingRole::kDeviceWrites);
  if (!created) return "create: " + created.error().message;
  PackedRing& r = *created;
  std::vector<uint32_t> salt_of(n);
  std::vector<uint8_t> count_of(n);
  std::vector<uint16_t> popped;
  std::deque<int> kept;  // the chain held back each round (-1: none), oldest first
  uint32_t salt = 0;
  uint32_t avail_flips = 0;
  uint32_t used_flips = 0;
  std::ostringstream why;
  // Returns `id` to the driver (after checking its rewalk when `rewalk`).
  auto give_back = [&](uint16_t id, bool rewalk) {
    if (rewalk) {
      auto again = r.rewalk(id, scratch);
      if (!again || !wrap_chain_matches(*again, salt_of[id], count_of[id])) {
        why << "rewalk of held id " << id << " differs";
        return false;
      }
    }
    r.push_used(id, wrap_used_len(salt_of[id]));
    return true;
  };
  // The driver takes back `returned` used descriptors.
  auto take_back = [&](uint32_t returned) {
    for (uint32_t i = 0; i < returned; ++i) {
      const bool wrap = q.used_wrap();
      auto u = q.pop_used();
      if (!u || !u->known) {
        why << "used descriptor " << i << " of " << returned << " missing or unknown";
        return false;
      }
      const uint32_t len = wrap_used_len(salt_of[u->id]);
      const uint16_t flags = FakePackedQueue::used_bits(wrap) | (len > 0 ? kDescFWrite : 0);
      if (u->len != len || u->flags != flags) {
        why << "used id " << u->id << " len " << u->len << " flags " << u->flags << ", expected "
            << len << " " << flags;
        return false;
      }
    }
    if (q.has_used()) {
      why << "more used descriptors than returned";
      return false;
    }
    if (r.indexes().last_avail_idx != q.indexes().last_avail_idx ||
        r.indexes().used_idx != q.indexes().used_idx) {
      why << "indexes differ: device " << r.indexes().last_avail_idx << "/" << r.indexes().used_idx
          << ", driver " << q.indexes().last_avail_idx << "/" << q.indexes().used_idx;
      return false;
    }
    return true;
  };
  for (uint32_t round = 0; avail_flips < 2 || used_flips < 2; ++round) {
    const bool avail_wrap = q.avail_wrap();
    const bool used_wrap = q.used_wrap();
    const uint32_t limit = n / 2 + 1;
    uint32_t posted = 0;
    uint32_t descs = 0;
    for (;;) {
      const uint32_t k = std::min(1 + salt % kMaxChain, limit);
      if (q.free_descs() < k || descs + k > limit) break;
      const Buf b[kMaxChain] = {wrap_buf(salt, 0), wrap_buf(salt, 1), wrap_buf(salt, 2),
                                wrap_buf(salt, 3), wrap_buf(salt, 4)};
      const uint16_t id = q.post(std::span(b, k));
      salt_of[id] = salt;
      count_of[id] = static_cast<uint8_t>(k);
      ++salt;
      ++posted;
      descs += k;
    }
    auto avail = r.avail_count();
    if (!avail || *avail != posted) {
      why << "round " << round << ": avail_count " << (avail ? int{*avail} : -1) << ", posted "
          << posted;
      return why.str();
    }
    popped.clear();
    for (uint32_t i = 0; i < posted; ++i) {
      auto c = r.pop(scratch);
      if (!c || c->head >= n || !wrap_chain_matches(*c, salt_of[c->head], count_of[c->head])) {
        why << "round " << round << ": pop " << i << " "
            << (c ? "id " + std::to_string(c->head) : std::string(to_string(c.error())));
        return why.str();
      }
      popped.push_back(c->head);
    }
    const int keep = popped.size() > 1 ? popped.front() : -1;
    uint32_t returned = 0;
    if (kept.size() == 2) {
      const int id = kept.front();
      kept.pop_front();
      if (id >= 0) {
        if (!give_back(static_cast<uint16_t>(id), true)) return why.str();
        ++returned;
      }
    }
    for (auto it = popped.rbegin(); it != popped.rend(); ++it) {
      if (*it == keep) continue;
      give_back(*it, false);
      ++returned;
    }
    kept.push_back(keep);
    r.publish_used();
    if (!take_back(returned)) return "round " + std::to_string(round) + ": " + why.str();
    avail_flips += q.avail_wrap() != avail_wrap;
    used_flips += q.used_wrap() != used_wrap;
  }
  uint32_t returned = 0;
  for (int id : kept) {
    if (id < 0) continue;
    if (!give_back(static_cast<uint16_t>(id), true)) return why.str();
    ++returned;
  }
  r.publish_used();
  if (!take_back(returned)) return "at the end: " + why.str();
  if (r.indexes().used_idx != r.indexes().last_avail_idx || q.free_descs() != n) {
    return "at the end: chains still out";
  }
  return "";
}

class EveryRingSize : public ::testing::TestWithParam<uint32_t> {};

TEST_P(EveryRingSize, BothWrapCountersFlipTwice) {
  TestMemory m(0x100000, 2 << 20);  // the largest ring is 512 KiB
  std::vector<ChainBuffer> scratch(kMaxChain);
  for (uint32_t n = 1 + GetParam(); n <= 32768; n += kShards) {
    const std::string failure = wrap_ring_of_size(m, n, scratch);
    ASSERT_EQ(failure, "") << "ring size " << n;
  }
}

INSTANTIATE_TEST_SUITE_P(Shards, EveryRingSize, ::testing::Range(0u, kShards));

}  // namespace
}  // namespace pmdnet::virtio
