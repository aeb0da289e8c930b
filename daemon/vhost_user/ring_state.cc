// The packed-ring state file: identification of guest memory, format, parse, match, save, take
// (see ring_state.h).
#include "daemon/vhost_user/ring_state.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <set>

#include "core/virtqueue/virtio_defs.h"

namespace pmdnet::vhost_user {

namespace {

constexpr std::string_view kVersionLine = "pmdnet-ring-state 1";
constexpr size_t kMaxRings = 256;

Result<void> io_error(std::string_view what, const std::filesystem::path& path) {
  return make_error(Errc::kIo, fmt::format("{} {}: {}", what, path.string(), std::strerror(errno)));
}

// Splits `line` at single spaces; empty fields are kept (and then refused by the number parser).
std::vector<std::string_view> fields(std::string_view line) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    const size_t space = line.find(' ', start);
    out.push_back(line.substr(start, space - start));
    if (space == std::string_view::npos) return out;
    start = space + 1;
  }
}

template <class T>
bool number(std::string_view text, T& out) {
  if (text.empty()) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

// A packed-ring index as RingIndexes carries it: the position below the ring's size.
bool valid_index(uint16_t index, uint16_t size) {
  return (index & static_cast<uint16_t>(~virtio::kPackedWrapBit)) < size;
}

}  // namespace

Result<std::vector<MemoryFile>> identify_memory_files(
    std::span<const VhostUserMemoryRegion> regions, std::span<const int> fds) {
  if (regions.size() != fds.size()) {
    return make_error(Errc::kInvalidArgument,
                      fmt::format("{} regions with {} fds", regions.size(), fds.size()));
  }
  std::vector<MemoryFile> files;
  for (size_t i = 0; i < regions.size(); ++i) {
    struct stat st;  // NOLINT(cppcoreguidelines-pro-type-member-init): fstat fills it
    if (fstat(fds[i], &st) != 0) {
      return make_error(Errc::kIo, fmt::format("region {}: fstat: {}", i, std::strerror(errno)));
    }
    files.push_back(MemoryFile{.gpa = regions[i].guest_phys_addr,
                               .size = regions[i].memory_size,
                               .mmap_offset = regions[i].mmap_offset,
                               .device = static_cast<uint64_t>(st.st_dev),
                               .inode = static_cast<uint64_t>(st.st_ino)});
  }
  return files;
}

std::string format_ring_state(const RingState& state) {
  std::string out{kVersionLine};
  out += '\n';
  for (const MemoryFile& m : state.memory) {
    out += fmt::format("memory {} {} {} {} {}\n", m.gpa, m.size, m.mmap_offset, m.device, m.inode);
  }
  for (const SavedRing& r : state.rings) {
    out +=
        fmt::format("ring {} {} {} {} {} {} {} {}\n", r.vring, r.size, r.desc_gpa, r.driver_gpa,
                    r.device_gpa, r.frontend_base, r.position.last_avail_idx, r.position.used_idx);
  }
  return out;
}

Result<RingState> parse_ring_state(std::string_view text) {
  auto bad = [](size_t line, std::string_view why) {
    return make_error(Errc::kMalformed, fmt::format("line {}: {}", line, why));
  };
  if (text.size() > kMaxRingStateBytes) return bad(0, "file too large");
  RingState state;
  std::set<uint16_t> seen;
  size_t line_no = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    if (nl == std::string_view::npos) return bad(line_no + 1, "no newline at the end");
    const std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    ++line_no;
    if (line_no == 1) {
      if (line != kVersionLine) return bad(1, "not a pmdnet ring state of version 1");
      continue;
    }
    const std::vector<std::string_view> f = fields(line);
    if (f[0] == "memory") {
      MemoryFile m;
      if (f.size() != 6 || !number(f[1], m.gpa) || !number(f[2], m.size) ||
          !number(f[3], m.mmap_offset) || !number(f[4], m.device) || !number(f[5], m.inode)) {
        return bad(line_no, "a memory line is: memory GPA SIZE OFFSET DEVICE INODE");
      }
      if (state.memory.size() == kVhostMaxMemRegions) return bad(line_no, "more than 8 regions");
      state.memory.push_back(m);
    } else if (f[0] == "ring") {
      SavedRing r;
      if (f.size() != 9 || !number(f[1], r.vring) || !number(f[2], r.size) ||
          !number(f[3], r.desc_gpa) || !number(f[4], r.driver_gpa) || !number(f[5], r.device_gpa) ||
          !number(f[6], r.frontend_base) || !number(f[7], r.position.last_avail_idx) ||
          !number(f[8], r.position.used_idx)) {
        return bad(line_no,
                   "a ring line is: ring VRING SIZE DESC DRIVER DEVICE BASE LAST_AVAIL USED");
      }
      if (r.size == 0 || r.size > virtio::kMaxQueueSize) return bad(line_no, "bad ring size");
      if (!valid_index(r.frontend_base, r.size) ||
          !valid_index(r.position.last_avail_idx, r.size) ||
          !valid_index(r.position.used_idx, r.size)) {
        return bad(line_no, "a position past the ring's size");
      }
      if (!seen.insert(r.vring).second) return bad(line_no, "a ring twice");
      if (state.rings.size() == kMaxRings) return bad(line_no, "more than 256 rings");
      state.rings.push_back(r);
    } else {
      return bad(line_no, "unknown line");
    }
  }
  if (line_no == 0) return bad(1, "empty");
  return state;
}

std::optional<virtio::RingIndexes> resume_position(const RingState& saved,
                                                   std::span<const MemoryFile> memory,
                                                   const SavedRing& ring) {
  if (memory.empty() || !std::ranges::equal(saved.memory, memory)) return std::nullopt;
  for (const SavedRing& r : saved.rings) {
    if (r.vring != ring.vring) continue;
    if (r.size != ring.size || r.desc_gpa != ring.desc_gpa || r.driver_gpa != ring.driver_gpa ||
        r.device_gpa != ring.device_gpa || r.frontend_base != ring.frontend_base) {
      return std::nullopt;
    }
    return r.position;
  }
  return std::nullopt;
}

Result<void> save_ring_state(const std::filesystem::path& path, const RingState& state) {
  const std::string text = format_ring_state(state);
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return io_error("cannot create", tmp);
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      auto err = io_error("cannot write", tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      return err;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    auto err = io_error("cannot write", tmp);
    ::unlink(tmp.c_str());
    return err;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    auto err = io_error("cannot rename to", path);
    ::unlink(tmp.c_str());
    return err;
  }
  return {};
}

Result<std::optional<RingState>> take_ring_state(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<RingState>{};
    return std::unexpected(io_error("cannot open", path).error());
  }
  std::string text(kMaxRingStateBytes + 1, '\0');
  size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      auto err = io_error("cannot read", path);
      ::close(fd);
      return std::unexpected(err.error());
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  text.resize(got);
  ::unlink(path.c_str());
  auto state = parse_ring_state(text);
  if (!state) {
    return make_error(Errc::kMalformed,
                      fmt::format("{}: {}", path.string(), state.error().message));
  }
  return std::optional<RingState>{std::move(*state)};
}

}  // namespace pmdnet::vhost_user
