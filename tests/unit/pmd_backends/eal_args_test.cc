// Tests of build_eal_args: the argv shape and order for each option, and one test per validation
// error, each checking that the message names the field. Nothing here starts EAL.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "pmd_backends/eal.h"

namespace pmdnet {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using Args = std::vector<std::string>;

EalOptions minimal() {
  EalOptions o;
  o.file_prefix = "pmdnet-test";
  return o;
}

Args build_ok(const EalOptions& o, std::string_view program = "prog") {
  auto args = build_eal_args(o, program);
  EXPECT_TRUE(args.has_value()) << args.error().message;
  return args.value_or(Args{});
}

TEST(BuildEalArgsTest, DefaultsGiveNoHugeMemoryAndPrefix) {
  EXPECT_THAT(build_ok(minimal()),
              ElementsAre("prog", "--no-huge", "-m", "256", "--file-prefix=pmdnet-test"));
}

TEST(BuildEalArgsTest, ProgramNameComesFirst) {
  Args args = build_ok(minimal(), "pmdnetd");
  ASSERT_FALSE(args.empty());
  EXPECT_EQ(args.front(), "pmdnetd");
}

TEST(BuildEalArgsTest, EveryOptionInOrder) {
  EalOptions o = minimal();
  o.lcores = "0-1";
  o.main_lcore = 1;
  o.memory_mb = 512;
  o.driver_dirs = {"/opt/pmds", "/opt/more/librte_net_x.so"};
  o.vdevs = {"net_null0", "net_ring0"};
  o.no_pci = true;
  o.log_level = "*:error";
  o.extra_args = {"--in-memory", "-n", "4"};
  o.no_telemetry = true;
  EXPECT_THAT(
      build_ok(o),
      ElementsAre("prog", "--no-huge", "-m", "512", "--file-prefix=pmdnet-test", "-l", "0-1",
                  "--main-lcore=1", "-d", "/opt/pmds", "-d", "/opt/more/librte_net_x.so",
                  "--vdev=net_null0", "--vdev=net_ring0", "--no-pci", "--log-level=*:error",
                  "--no-telemetry", "--in-memory", "-n", "4"));
}

TEST(BuildEalArgsTest, HugepagesWithoutMemoryPassNeitherNoHugeNorM) {
  EalOptions o = minimal();
  o.no_huge = false;
  o.memory_mb = 0;
  EXPECT_THAT(build_ok(o), ElementsAre("prog", "--file-prefix=pmdnet-test"));
}

TEST(BuildEalArgsTest, HugepagesWithMemoryPassM) {
  EalOptions o = minimal();
  o.no_huge = false;
  o.memory_mb = 1024;
  EXPECT_THAT(build_ok(o), ElementsAre("prog", "-m", "1024", "--file-prefix=pmdnet-test"));
}

TEST(BuildEalArgsTest, PlainLcoreSetUsesDashL) {
  EalOptions o = minimal();
  o.lcores = "0,2-3";
  EXPECT_THAT(build_ok(o), ElementsAre("prog", "--no-huge", "-m", "256",
                                       "--file-prefix=pmdnet-test", "-l", "0,2-3"));
}

TEST(BuildEalArgsTest, LcoreMappingUsesDashDashLcores) {
  EalOptions o = minimal();
  o.lcores = "0@0,1@1";
  EXPECT_THAT(build_ok(o), ElementsAre("prog", "--no-huge", "-m", "256",
                                       "--file-prefix=pmdnet-test", "--lcores=0@0,1@1"));
  o.lcores = "(0,1)@2";
  EXPECT_EQ(build_ok(o).back(), "--lcores=(0,1)@2");
}

TEST(BuildEalArgsTest, MainLcoreZeroIsPassedAndMinusOneIsNot) {
  EalOptions o = minimal();
  o.main_lcore = 0;
  EXPECT_EQ(build_ok(o).back(), "--main-lcore=0");
  o.main_lcore = -1;
  for (const auto& a : build_ok(o)) EXPECT_THAT(a, Not(HasSubstr("--main-lcore")));
}

TEST(BuildEalArgsTest, EachDriverDirIsItsOwnDashD) {
  EalOptions o = minimal();
  o.driver_dirs = {"/a", "/b dir with spaces", "/c"};
  Args args = build_ok(o);
  Args tail(args.begin() + 5, args.end());
  EXPECT_THAT(tail, ElementsAre("-d", "/a", "-d", "/b dir with spaces", "-d", "/c"));
}

TEST(BuildEalArgsTest, EachVdevIsItsOwnFlagWithItsDevargsIntact) {
  EalOptions o = minimal();
  o.vdevs = {"net_ring0", "net_null1,size=128,copy=1"};
  Args args = build_ok(o);
  Args tail(args.begin() + 5, args.end());
  EXPECT_THAT(tail, ElementsAre("--vdev=net_ring0", "--vdev=net_null1,size=128,copy=1"));
}

TEST(BuildEalArgsTest, SwitchesAppearOnlyWhenSet) {
  EalOptions o = minimal();
  o.no_pci = true;
  EXPECT_EQ(build_ok(o).back(), "--no-pci");
  o.no_pci = false;
  o.no_telemetry = true;
  EXPECT_EQ(build_ok(o).back(), "--no-telemetry");
  o.no_telemetry = false;
  o.log_level = "lib.eal:debug";
  EXPECT_EQ(build_ok(o).back(), "--log-level=lib.eal:debug");
  o.log_level.clear();
  EXPECT_EQ(build_ok(o).size(), 5u);
}

TEST(BuildEalArgsTest, ExtraArgsComeLastAndVerbatim) {
  EalOptions o = minimal();
  o.no_pci = true;
  o.no_telemetry = true;
  o.vdevs = {"net_null0"};
  o.extra_args = {"--", "--app-flag", "x y"};
  Args args = build_ok(o);
  ASSERT_GE(args.size(), 3u);
  EXPECT_THAT(Args(args.end() - 3, args.end()), ElementsAre("--", "--app-flag", "x y"));
  EXPECT_EQ(args[args.size() - 4], "--no-telemetry");
}

// One invalid option, and the words its error message must contain.
struct BadCase {
  const char* name;
  std::function<void(EalOptions&)> spoil;
  std::vector<std::string> message_parts;
};

// Names the case in test output instead of dumping its bytes.
void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class BuildEalArgsErrorTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BuildEalArgsErrorTest, FailsWithInvalidArgumentNamingTheField) {
  EalOptions o = minimal();
  o.vdevs = {"net_null0"};
  GetParam().spoil(o);
  auto args = build_eal_args(o, "prog");
  ASSERT_FALSE(args.has_value());
  EXPECT_EQ(args.error().code, Errc::kInvalidArgument);
  for (const auto& part : GetParam().message_parts) {
    EXPECT_THAT(args.error().message, HasSubstr(part));
  }
}

std::vector<BadCase> bad_cases() {
  return {
      {"EmptyFilePrefix",
       [](EalOptions& o) { o.file_prefix.clear(); },
       {"EalOptions.file_prefix", "empty"}},
      {"FilePrefixWithSlash",
       [](EalOptions& o) { o.file_prefix = "a/b"; },
       {"EalOptions.file_prefix", "\"a/b\"", "'/'"}},
      {"FilePrefixWithSpace",
       [](EalOptions& o) { o.file_prefix = "a b"; },
       {"EalOptions.file_prefix", "whitespace"}},
      {"FilePrefixWithTab",
       [](EalOptions& o) { o.file_prefix = "a\tb"; },
       {"EalOptions.file_prefix", "whitespace"}},
      {"ZeroMemoryWithNoHuge",
       [](EalOptions& o) { o.memory_mb = 0; },
       {"EalOptions.memory_mb", "no_huge"}},
      {"LcoresWithSpace",
       [](EalOptions& o) { o.lcores = "0, 1"; },
       {"EalOptions.lcores", "\"0, 1\""}},
      {"LcoresWithLetters",
       [](EalOptions& o) { o.lcores = "all"; },
       {"EalOptions.lcores", "\"all\""}},
      {"MainLcoreBelowMinusOne",
       [](EalOptions& o) { o.main_lcore = -2; },
       {"EalOptions.main_lcore", "-2"}},
      {"EmptyDriverDir",
       [](EalOptions& o) {
         o.driver_dirs = {"/ok", ""};
       },
       {"EalOptions.driver_dirs[1]", "empty"}},
      {"EmptyVdev", [](EalOptions& o) { o.vdevs = {""}; }, {"EalOptions.vdevs[0]", "empty"}},
      {"VdevWithSpace",
       [](EalOptions& o) {
         o.vdevs = {"net_null0", "net_ring0 x"};
       },
       {"EalOptions.vdevs[1]", "\"net_ring0 x\"", "whitespace"}},
      {"VdevWithNewline",
       [](EalOptions& o) { o.vdevs = {"net_null0\n"}; },
       {"EalOptions.vdevs[0]", "whitespace"}},
      {"LogLevelWithSpace",
       [](EalOptions& o) { o.log_level = "*: error"; },
       {"EalOptions.log_level", "whitespace"}},
      {"EmptyExtraArg",
       [](EalOptions& o) {
         o.extra_args = {"-n", "4", ""};
       },
       {"EalOptions.extra_args[2]", "empty"}},
  };
}

std::string case_name(const ::testing::TestParamInfo<BadCase>& case_info) {
  return case_info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Validation, BuildEalArgsErrorTest, ::testing::ValuesIn(bad_cases()),
                         case_name);

TEST(BuildEalArgsTest, EmptyProgramNameIsRefused) {
  auto args = build_eal_args(minimal(), "");
  ASSERT_FALSE(args.has_value());
  EXPECT_EQ(args.error().code, Errc::kInvalidArgument);
  EXPECT_THAT(args.error().message, HasSubstr("program_name"));
}

TEST(BuildEalArgsTest, ZeroMemoryIsFineWithHugepages) {
  EalOptions o = minimal();
  o.no_huge = false;
  o.memory_mb = 0;
  EXPECT_TRUE(build_eal_args(o, "prog").has_value());
}

TEST(BuildEalArgsTest, FirstErrorWinsWhenSeveralFieldsAreBad) {
  EalOptions o;  // empty file_prefix
  o.vdevs = {""};
  auto args = build_eal_args(o, "prog");
  ASSERT_FALSE(args.has_value());
  EXPECT_THAT(args.error().message, HasSubstr("file_prefix"));
}

TEST(DefaultPmdDirTest, IsDebiansPluginDirectory) {
  EXPECT_STREQ(default_pmd_dir(), "/usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0");
}

// Validation happens before EAL is touched, so a refused init leaves the process free to retry.
TEST(EalInitTest, InvalidOptionsFailWithoutTouchingEal) {
  EalOptions o;  // no file_prefix
  auto first = Eal::init(o, "prog");
  ASSERT_FALSE(first.has_value());
  EXPECT_EQ(first.error().code, Errc::kInvalidArgument);
  EXPECT_THAT(first.error().message, HasSubstr("file_prefix"));

  o.file_prefix = "x/y";
  auto second = Eal::init(o, "prog");
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code, Errc::kInvalidArgument);
}

}  // namespace
}  // namespace pmdnet
