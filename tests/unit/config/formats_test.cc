// Tests of the grammars of the configuration's structured strings: lcore lists, MAC addresses,
// PCI addresses and backend device strings.
#include "config/formats.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace pmdnet::config {
namespace {

TEST(LcoreListTest, ReturnsTheLcoresBeforeEachAt) {
  EXPECT_EQ(parse_lcore_list("0"), (std::set<uint32_t>{0}));
  EXPECT_EQ(parse_lcore_list("0-2,5"), (std::set<uint32_t>{0, 1, 2, 5}));
  EXPECT_EQ(parse_lcore_list("(8,9-10)@(0-3),4@5"), (std::set<uint32_t>{4, 8, 9, 10}));
  EXPECT_EQ(parse_lcore_list("127@1023"), (std::set<uint32_t>{127}));
}

TEST(LcoreListTest, DescribesWhatIsWrong) {
  auto error = [](std::string_view text) {
    auto r = parse_lcore_list(text);
    return r ? std::string("(accepted)") : r.error();
  };
  EXPECT_EQ(error("3-1"), "range 3-1 runs backwards");
  EXPECT_EQ(error("0,"), "lcore id missing at the end");
  EXPECT_EQ(error("a"), "expected a lcore id at offset 0, got 'a'");
  EXPECT_EQ(error("128"), "lcore id 128 is out of range; expected 0..127");
  EXPECT_EQ(error("0@1024"), "CPU id 1024 is out of range; expected 0..1023");
  EXPECT_EQ(error("(1,2"), "missing ')' at offset 4");
  EXPECT_EQ(error("0x"), "unexpected 'x' at offset 1");
}

TEST(MacTest, SixHexBytesSeparatedByColons) {
  EXPECT_EQ(parse_mac("52:54:00:AB:cd:ef"), (MacAddress{0x52, 0x54, 0x00, 0xab, 0xcd, 0xef}));
  EXPECT_EQ(parse_mac("52-54-00-ab-cd-ef"), std::nullopt);
  EXPECT_EQ(parse_mac("52:54:00:ab:cd"), std::nullopt);
  EXPECT_EQ(parse_mac("52:54:00:ab:cd:eg"), std::nullopt);
  EXPECT_EQ(parse_mac("52:54:00:ab:cd:ef:"), std::nullopt);
}

TEST(PciTest, NormalisesToDomainBusDeviceFunction) {
  EXPECT_EQ(normalise_pci("01:00.0"), "0000:01:00.0");
  EXPECT_EQ(normalise_pci("0000:AF:1F.7"), "0000:af:1f.7");
  EXPECT_EQ(normalise_pci("1:01:00.0"), "0001:01:00.0");
  EXPECT_EQ(normalise_pci("12345678:01:00.0"), "12345678:01:00.0");
}

TEST(PciTest, DescribesWhatIsWrong) {
  EXPECT_EQ(normalise_pci("01:20.0").error(), "device number 20 is above 1f");
  EXPECT_EQ(normalise_pci("01:00.8").error(), "function number 8 is above 7");
  for (std::string_view bad : {"0100.0", "01:00", "1:00.0", "01:0.0", "123456789:01:00.0",
                               "0:0:01:00.0", "01:00.00", "0g:00.0"}) {
    EXPECT_EQ(normalise_pci(bad).error(), "expected [dddd:]bb:dd.f") << bad;
  }
}

TEST(DeviceTest, APciAddressOrAVdevWithOptionalArguments) {
  auto pci = classify_device("01:00.0,arg=1");
  ASSERT_TRUE(pci);
  EXPECT_EQ(pci->kind, DeviceKind::kPci);
  EXPECT_EQ(pci->identity, "0000:01:00.0");
  auto vdev = classify_device("net_tap0,iface=tap0");
  ASSERT_TRUE(vdev);
  EXPECT_EQ(vdev->kind, DeviceKind::kVdev);
  EXPECT_EQ(vdev->identity, "net_tap0");
}

TEST(DeviceTest, DescribesWhatIsWrong) {
  EXPECT_EQ(classify_device("").error(), "must not be empty");
  EXPECT_EQ(classify_device("net_tap0, iface=x").error(), "must not contain whitespace");
  EXPECT_EQ(classify_device("net_tap0,").error(),
            "has a trailing ',' with no device arguments after it");
  EXPECT_EQ(classify_device("net_").error(),
            "vdev name 'net_' must be net_ followed by lower-case letters, digits or '_' (at most "
            "63 characters)");
  EXPECT_EQ(classify_device("01:20.0").error(),
            "'01:20.0' is not a PCI address: device number 20 is above 1f");
  EXPECT_EQ(classify_device("eth0").error(),
            "'eth0' is neither a PCI address (0000:01:00.0) nor a vdev string "
            "(net_tap0,iface=tap0)");
}

}  // namespace
}  // namespace pmdnet::config
