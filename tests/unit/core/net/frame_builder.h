// Test helper for the frame-parsing tests (core/net, core/virtio_net): a builder of Ethernet frames
// layer by layer (802.1Q tags, IPv4 with options and fragments, IPv6 with extension headers, TCP,
// UDP), the IP protocol numbers it is called with, and the frames used throughout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <vector>

namespace pmdnet::net::testing {

constexpr uint8_t kTcp = 6;
constexpr uint8_t kUdp = 17;
constexpr uint8_t kIcmp = 1;
constexpr uint8_t kHopByHop = 0;
constexpr uint8_t kRouting = 43;
constexpr uint8_t kFragment = 44;
constexpr uint8_t kDestOpts = 60;
constexpr uint8_t kEsp = 50;

// Builds Ethernet frames layer by layer; build() patches the IPv4 total length and the IPv6
// payload length to match what follows.
class FrameBuilder {
 public:
  // Destination and source MACs, `tags` (TPID, TCI 0x0005 each), then `ethertype`.
  FrameBuilder& eth(uint16_t ethertype, std::initializer_list<uint16_t> tags = {}) {
    for (int i = 0; i < 12; ++i) b_.push_back(static_cast<uint8_t>(0x10 + i));
    for (uint16_t tpid : tags) {
      put16(tpid);
      put16(0x0005);
    }
    put16(ethertype);
    return *this;
  }
  FrameBuilder& ipv4(uint8_t protocol, size_t options = 0, uint16_t fragment = 0) {
    ip_at_ = b_.size();
    ipv4_ = true;
    b_.push_back(static_cast<uint8_t>(0x40 | ((20 + options) / 4)));
    b_.push_back(0);  // DSCP/ECN
    put16(0);         // total length, patched in build()
    put16(0x1234);    // id
    put16(fragment);
    b_.push_back(64);  // TTL
    b_.push_back(protocol);
    put16(0);  // header checksum
    for (int i = 0; i < 8; ++i) b_.push_back(static_cast<uint8_t>(10 + i));
    for (size_t i = 0; i < options; ++i) b_.push_back(1);  // NOP options
    return *this;
  }
  FrameBuilder& ipv6(uint8_t next) {
    ip_at_ = b_.size();
    ipv4_ = false;
    put16(0x6000);
    put16(0);
    put16(0);  // payload length, patched in build()
    b_.push_back(next);
    b_.push_back(64);  // hop limit
    for (int i = 0; i < 32; ++i) b_.push_back(static_cast<uint8_t>(0x20 + i));
    return *this;
  }
  // A hop-by-hop, routing or destination-options header of `len` bytes (a multiple of 8).
  FrameBuilder& ipv6_ext(uint8_t next, size_t len) {
    b_.push_back(next);
    b_.push_back(static_cast<uint8_t>(len / 8 - 1));
    for (size_t i = 2; i < len; ++i) b_.push_back(0);
    return *this;
  }
  FrameBuilder& ipv6_fragment(uint8_t next, uint16_t offset, bool more) {
    b_.push_back(next);
    b_.push_back(0);
    put16(static_cast<uint16_t>((offset << 3) | (more ? 1 : 0)));
    put16(0xabcd);  // identification
    put16(0x0001);
    return *this;
  }
  FrameBuilder& tcp(size_t options = 0) {
    put16(1234);                                  // source port
    put16(80);                                    // destination port
    for (int i = 0; i < 8; ++i) b_.push_back(0);  // sequence and ack numbers
    b_.push_back(static_cast<uint8_t>(((20 + options) / 4) << 4));
    b_.push_back(0x18);  // PSH|ACK
    put16(0xffff);       // window
    put16(0);            // checksum
    put16(0);            // urgent pointer
    for (size_t i = 0; i < options; ++i) b_.push_back(1);
    return *this;
  }
  FrameBuilder& udp() {
    put16(1234);
    put16(53);
    put16(0);  // length
    put16(0);  // checksum
    return *this;
  }
  FrameBuilder& payload(size_t n) {
    for (size_t i = 0; i < n; ++i) b_.push_back(static_cast<uint8_t>(i));
    return *this;
  }
  FrameBuilder& raw(std::initializer_list<uint8_t> bytes) {
    b_.insert(b_.end(), bytes);
    return *this;
  }
  std::vector<uint8_t> build() const {
    std::vector<uint8_t> out = b_;
    if (ip_at_) {
      size_t len = ipv4_ ? out.size() - *ip_at_ : out.size() - *ip_at_ - 40;
      out[*ip_at_ + (ipv4_ ? 2 : 4)] = static_cast<uint8_t>(len >> 8);
      out[*ip_at_ + (ipv4_ ? 3 : 5)] = static_cast<uint8_t>(len);
    }
    return out;
  }

 private:
  void put16(uint16_t v) {
    b_.push_back(static_cast<uint8_t>(v >> 8));
    b_.push_back(static_cast<uint8_t>(v));
  }
  std::vector<uint8_t> b_;
  std::optional<size_t> ip_at_;
  bool ipv4_ = false;
};

// Frames used throughout.
inline std::vector<uint8_t> tcp4(size_t payload = 100) {
  return FrameBuilder().eth(0x0800).ipv4(kTcp).tcp().payload(payload).build();
}
inline std::vector<uint8_t> udp4(size_t payload = 100) {
  return FrameBuilder().eth(0x0800).ipv4(kUdp).udp().payload(payload).build();
}
inline std::vector<uint8_t> tcp6(size_t payload = 100) {
  return FrameBuilder().eth(0x86dd).ipv6(kTcp).tcp().payload(payload).build();
}
inline std::vector<uint8_t> udp6(size_t payload = 100) {
  return FrameBuilder().eth(0x86dd).ipv6(kUdp).udp().payload(payload).build();
}

}  // namespace pmdnet::net::testing
