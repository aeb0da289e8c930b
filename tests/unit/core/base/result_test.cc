// Tests of the Result helpers: make_error, make_queue_error, to_error and to_string(Errc).
#include "core/base/result.h"

#include <gtest/gtest.h>

#include <array>
#include <set>
#include <string>
#include <string_view>

namespace pmdnet {
namespace {

constexpr std::array kAllErrc = {
    Errc::kInvalidArgument, Errc::kOutOfRange,  Errc::kOverflow,
    Errc::kMalformed,       Errc::kUnsupported, Errc::kState,
    Errc::kClosed,          Errc::kResource,    Errc::kIo,
    Errc::kDevice,
};

Result<int> fails() { return make_error(Errc::kMalformed, "bad chain"); }
QueueResult<int> queue_fails() { return make_queue_error(Errc::kOutOfRange, "index too large"); }

TEST(ResultTest, MakeErrorCarriesCodeAndMessage) {
  Result<int> r = fails();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::kMalformed);
  EXPECT_EQ(r.error().message, "bad chain");
  EXPECT_EQ(r.error(), (Error{Errc::kMalformed, "bad chain"}));
  EXPECT_NE(r.error(), (Error{Errc::kMalformed, "other"}));
  EXPECT_NE(r.error(), (Error{Errc::kIo, "bad chain"}));
}

TEST(ResultTest, ResultHoldsAValue) {
  Result<std::string> r = std::string("ok");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, "ok");
  Result<void> v;
  EXPECT_TRUE(v.has_value());
}

TEST(ResultTest, MakeQueueErrorKeepsTheStaticString) {
  static constexpr const char* kWhat = "ring index out of range";
  QueueResult<int> r = make_queue_error(Errc::kOutOfRange, kWhat);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::kOutOfRange);
  EXPECT_EQ(r.error().what, kWhat);  // the same pointer: nothing was copied
  EXPECT_EQ(queue_fails().error().code, Errc::kOutOfRange);
}

TEST(ResultTest, QueueErrorsCompareByCode) {
  EXPECT_EQ((QueueError{Errc::kOverflow, "a"}), (QueueError{Errc::kOverflow, "b"}));
  EXPECT_NE((QueueError{Errc::kOverflow, "a"}), (QueueError{Errc::kMalformed, "a"}));
}

TEST(ResultTest, ToErrorLiftsCodeAndText) {
  Error e = to_error(QueueError{Errc::kResource, "no mbufs"});
  EXPECT_EQ(e.code, Errc::kResource);
  EXPECT_EQ(e.message, "no mbufs");
}

TEST(ResultTest, EveryErrcIsListedOnceInOrder) {
  // If this fails, an Errc was added: add it to kAllErrc so the name test covers it.
  for (size_t i = 0; i < kAllErrc.size(); ++i) EXPECT_EQ(static_cast<size_t>(kAllErrc[i]), i);
  EXPECT_EQ(static_cast<size_t>(Errc::kDevice) + 1, kAllErrc.size());
}

TEST(ResultTest, EveryErrcHasADistinctNonEmptyName) {
  std::set<std::string_view> names;
  for (Errc code : kAllErrc) {
    std::string_view name = to_string(code);
    EXPECT_FALSE(name.empty()) << static_cast<int>(code);
    EXPECT_NE(name, "unknown error") << static_cast<int>(code);
    EXPECT_TRUE(names.insert(name).second) << "duplicate name " << name;
  }
  EXPECT_EQ(names.size(), kAllErrc.size());
}

TEST(ResultTest, UnknownErrcHasAFallbackName) {
  EXPECT_EQ(to_string(static_cast<Errc>(200)), "unknown error");
}

}  // namespace
}  // namespace pmdnet
