// Fuzz target for what pmdnet inspects of a vhost-user message before rte_vhost handles it
// (daemon/vhost_user/vhost_user_msg.h): classify_message, parse_mem_table and
// check_mem_table_files, over hostile headers (any request, flags and declared size), payloads
// cut anywhere, and memory tables sent with any number of fds of any kind. Every answer is checked
// against a model computed from the message's declared size and the bytes actually there; the
// message lies in a buffer of exactly its length, so ASan sees any read past it.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "daemon/vhost_user/vhost_user_msg.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using namespace pmdnet;
using namespace pmdnet::vhost_user;
using Kind = QuiesceAction::Kind;
using Request = VhostUserRequest;

void require(bool ok) {
  if (!ok) std::abort();
}

// What rte_vhost hands pre_msg_handle at most: the header and a 632-byte payload union.
constexpr size_t kMaxPayload = 632;

constexpr uint32_t kRequests[] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14,
                                  15, 16, 17, 18, 19, 20, 21, 22, 36, 37, 38, 39, 0,  0xffffffff};

template <class T>
T load(const std::vector<uint8_t>& msg, size_t at) {
  T v;
  std::memcpy(&v, msg.data() + at, sizeof(v));
  return v;
}

// classify_message's answer, derived from the specification's payload sizes: a message whose
// declared size or buffer is too short for its payload changes nothing.
QuiesceAction model_classify(const std::vector<uint8_t>& msg) {
  if (msg.size() < kVhostUserHeaderSize) return {};
  const auto header = load<VhostUserMsgHeader>(msg, 0);
  const size_t payload = std::min<size_t>(header.size, msg.size() - kVhostUserHeaderSize);
  const auto u32_at = [&](size_t off) { return load<uint32_t>(msg, kVhostUserHeaderSize + off); };
  const auto u64_at = [&](size_t off) { return load<uint64_t>(msg, kVhostUserHeaderSize + off); };
  QuiesceAction a;
  switch (header.request) {
    case 11:  // GET_VRING_BASE
    case 18:  // SET_VRING_ENABLE
    case 8:   // SET_VRING_NUM
    case 10:  // SET_VRING_BASE
      if (payload < sizeof(VhostVringState)) return {};
      a.vring = u32_at(0);
      if (header.request == 11) a.kind = Kind::kStopVring;
      if (header.request == 18) {
        if (u32_at(4) != 0) return {};
        a.kind = Kind::kDisableVring;
      }
      if (header.request == 8 || header.request == 10) a.kind = Kind::kRestartVring;
      a.sets_base = header.request == 10;
      return a;
    case 9:  // SET_VRING_ADDR
      if (payload < sizeof(VhostVringAddr)) return {};
      return {Kind::kRestartVring, u32_at(0), 0};
    case 12:  // SET_VRING_KICK
    case 13:  // SET_VRING_CALL
    case 14:  // SET_VRING_ERR
      if (payload < 8) return {};
      return {Kind::kRestartVring, static_cast<uint32_t>(u64_at(0) & 0xff), 0};
    case 5:   // SET_MEM_TABLE
    case 37:  // ADD_MEM_REG
    case 38:  // REM_MEM_REG
    case 4:   // RESET_OWNER
      return {Kind::kStopAll, 0, 0};
    case 6:  // SET_LOG_BASE
      return {Kind::kPauseAll, 0, 0};
    case 20:  // NET_SET_MTU
      if (payload < 8 || u64_at(0) > 0xffff) return {};
      a.kind = Kind::kMtu;
      a.mtu = static_cast<uint16_t>(u64_at(0));
      return a;
    case 2:  // SET_FEATURES
      if (payload < 8) return {};
      return {Kind::kFeatures, 0, u64_at(0)};
    case 19:  // SEND_RARP: the MAC in the first six bytes of a u64
      if (payload < 8) return {};
      a.kind = Kind::kAnnounce;
      for (size_t i = 0; i < a.mac.size(); ++i) a.mac[i] = msg[kVhostUserHeaderSize + i];
      return a;
    default:
      return {};
  }
}

// The fds a memory table may come with: files of known sizes, and fds that are not regular files
// or not open. Opened once; the last memfd's size is set by each input.
struct FdKind {
  int fd;
  bool regular;
  uint64_t size;
};
std::vector<FdKind>& fd_pool() {
  static std::vector<FdKind> pool = [] {
    std::vector<FdKind> p;
    for (uint64_t size : {uint64_t{0}, uint64_t{4096}, uint64_t{1} << 21, uint64_t{0}}) {
      const int fd = ::memfd_create("fuzz_vhost_user_msg", MFD_CLOEXEC);
      require(fd >= 0 && ::ftruncate(fd, static_cast<off_t>(size)) == 0);
      p.push_back({fd, true, size});
    }
    const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    const int dir_fd = ::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    require(null_fd >= 0 && dir_fd >= 0);
    p.push_back({null_fd, false, 0});
    p.push_back({dir_fd, false, 0});
    p.push_back({-1, false, 0});
    p.push_back({1 << 20, false, 0});  // above any fd this process opens: EBADF
    return p;
  }();
  return pool;
}
constexpr size_t kResizedFd = 3;

// check_mem_table_files' answer: the first region whose fd is not a regular file, or that maps a
// range running past its file's end, is refused; so is a table with fewer or more fds than regions.
bool model_files_ok(const std::vector<VhostUserMemoryRegion>& regions,
                    const std::vector<FdKind>& fds) {
  if (regions.size() != fds.size()) return false;
  for (size_t i = 0; i < regions.size(); ++i) {
    const VhostUserMemoryRegion& r = regions[i];
    if (!fds[i].regular || r.memory_size == 0) return false;
    // offset + size <= file size, the sum computed with an overflow check.
    uint64_t end = 0;
    if (__builtin_add_overflow(r.mmap_offset, r.memory_size, &end) || end > fds[i].size) {
      return false;
    }
  }
  return true;
}

// A memory-table payload built to reach the file checks: a region count (sometimes past 8), and
// regions whose offset and size land near the pool's file sizes.
void append_mem_table(fuzz::FuzzInput& in, std::vector<uint8_t>& payload) {
  const uint32_t nregions = static_cast<uint32_t>(in.below(11));
  const uint32_t padding = in.take<uint32_t>();
  payload.resize(kMemTableHeaderSize);
  std::memcpy(payload.data(), &nregions, 4);
  std::memcpy(payload.data() + 4, &padding, 4);
  for (uint32_t i = 0; i < nregions && i < kVhostMaxMemRegions + 1; ++i) {
    // 0, a power of two up to 4 MiB, one less or one more, or any u64.
    const auto near = [&] {
      const uint8_t shape = in.take<uint8_t>();
      if (shape & 0x80) return in.take<uint64_t>();
      uint64_t v = (shape & 0x1f) == 0 ? 0 : uint64_t{1} << ((shape & 0x1f) % 23);
      if (shape & 0x20) --v;
      if (shape & 0x40) ++v;
      return v;
    };
    VhostUserMemoryRegion r{in.take<uint64_t>(), near(), in.take<uint64_t>(), near()};
    const size_t at = payload.size();
    payload.resize(at + sizeof(r));
    std::memcpy(payload.data() + at, &r, sizeof(r));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::FuzzInput in(data, size);
  const uint8_t ctl = in.take<uint8_t>();

  // The header: a known request or any u32, any flags, a declared size that is sometimes exact.
  VhostUserMsgHeader header;
  header.request = (ctl & 1) ? kRequests[in.below(std::size(kRequests))] : in.take<uint32_t>();
  header.flags = in.take<uint32_t>();
  header.size = in.take<uint32_t>();

  // The fds sent along (as many as rte_vhost passes on: 0 to 8), and the resized file's size.
  std::vector<FdKind>& pool = fd_pool();
  pool[kResizedFd].size = in.below(uint64_t{1} << 22);
  require(::ftruncate(pool[kResizedFd].fd, static_cast<off_t>(pool[kResizedFd].size)) == 0);
  std::vector<FdKind> fds(in.below(kVhostMaxMemRegions + 1));
  for (FdKind& f : fds) f = pool[in.below(pool.size())];

  // The payload: a structured memory table, or the rest of the input; then the buffer is cut to
  // the declared size, left longer or shorter, or cut inside the header.
  std::vector<uint8_t> payload;
  if (ctl & 2) append_mem_table(in, payload);
  const size_t rest = size - std::min(size, static_cast<size_t>(in.position()));
  payload.insert(payload.end(), data + (size - rest), data + size);
  payload.resize(std::min(payload.size(), kMaxPayload));
  if (ctl & 4) header.size = static_cast<uint32_t>(payload.size());
  std::vector<uint8_t> full(kVhostUserHeaderSize + payload.size());
  std::memcpy(full.data(), &header, sizeof(header));
  std::copy(payload.begin(), payload.end(), full.begin() + kVhostUserHeaderSize);
  size_t length = full.size();
  if (ctl & 8) length = static_cast<size_t>(ctl >> 4) * full.size() / 16;
  // Exactly `length` bytes on the heap: a read past them is an ASan report.
  const std::vector<uint8_t> msg(full.begin(), full.begin() + static_cast<ptrdiff_t>(length));

  // classify_message: the model's answer; bytes past the declared size never matter.
  const QuiesceAction action = classify_message(msg);
  require(action == model_classify(msg));
  if (msg.size() >= kVhostUserHeaderSize && msg.size() > kVhostUserHeaderSize + header.size) {
    const std::vector<uint8_t> declared(msg.begin(),
                                        msg.begin() + kVhostUserHeaderSize + header.size);
    require(classify_message(declared) == action);
  }
  if (action.kind == Kind::kStopVring || action.kind == Kind::kDisableVring ||
      action.kind == Kind::kRestartVring || action.kind == Kind::kMtu ||
      action.kind == Kind::kFeatures || action.kind == Kind::kAnnounce) {
    // An answer read from the payload: the header declared it and the buffer held it.
    const size_t needed = header.request == static_cast<uint32_t>(Request::kSetVringAddr)
                              ? sizeof(VhostVringAddr)
                              : 8;
    require(header.size >= needed && msg.size() >= kVhostUserHeaderSize + needed);
  }

  // parse_mem_table: regions only for SET_MEM_TABLE, at most 8, all inside the declared size and
  // the buffer, byte for byte what the message holds.
  const auto regions = parse_mem_table(msg);
  const size_t available = msg.size() < kVhostUserHeaderSize
                               ? 0
                               : std::min<size_t>(header.size, msg.size() - kVhostUserHeaderSize);
  bool parses = msg.size() >= kVhostUserHeaderSize &&
                header.request == static_cast<uint32_t>(Request::kSetMemTable) &&
                available >= kMemTableHeaderSize;
  uint32_t nregions = 0;
  if (parses) {
    nregions = load<uint32_t>(msg, kVhostUserHeaderSize);
    parses = nregions <= kVhostMaxMemRegions &&
             available >= kMemTableHeaderSize + sizeof(VhostUserMemoryRegion) * nregions;
  }
  require(regions.has_value() == parses);
  if (!regions) return 0;
  require(regions->size() == nregions);
  require(nregions == 0 ||
          std::memcmp(regions->data(), msg.data() + kVhostUserHeaderSize + kMemTableHeaderSize,
                      sizeof(VhostUserMemoryRegion) * nregions) == 0);

  // check_mem_table_files: refused unless one regular file per region covers the region.
  std::vector<int> fd_numbers;
  for (const FdKind& f : fds) fd_numbers.push_back(f.fd);
  const auto checked = check_mem_table_files(*regions, fd_numbers);
  require(checked.has_value() == model_files_ok(*regions, fds));
  if (!checked) {
    require(checked.error().code == pmdnet::Errc::kInvalidArgument);
    require(!checked.error().message.empty());
    if (fds.size() == regions->size()) {
      require(checked.error().message.starts_with("region "));
    }
  }
  return 0;
}
