// The packed-ring state file (daemon/vhost_user/ring_state.h): format and parse, every malformed
// line, the matching rule, the files written and taken, and the identity of memory files.
#include "daemon/vhost_user/ring_state.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/virtqueue/virtio_defs.h"
#include "daemon/ports/port_manager.h"

namespace pmdnet::vhost_user {
namespace {

namespace fs = std::filesystem;

RingState sample() {
  RingState s;
  s.memory = {
      {.gpa = 0, .size = 0xa0000, .mmap_offset = 0, .device = 12, .inode = 3456},
      {.gpa = 0x100000, .size = 0x3ff00000, .mmap_offset = 0x100000, .device = 12, .inode = 3456}};
  s.rings = {{.vring = 0,
              .size = 256,
              .desc_gpa = 0x7000,
              .driver_gpa = 0x8000,
              .device_gpa = 0x8040,
              .frontend_base = 0x8000,
              .position = {0x0012, 0x0012}},
             {.vring = 3,
              .size = 1024,
              .desc_gpa = 0x10000,
              .driver_gpa = 0x14000,
              .device_gpa = 0x14040,
              .frontend_base = 0x8000,
              .position = {0x83ff, 0x83fe}}};
  return s;
}

TEST(RingStateFormat, RoundTrips) {
  const RingState s = sample();
  const std::string text = format_ring_state(s);
  EXPECT_EQ(text.substr(0, text.find('\n')), "pmdnet-ring-state 1");
  auto parsed = parse_ring_state(text);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(*parsed, s);
  EXPECT_EQ(*parse_ring_state(format_ring_state(RingState{})), RingState{});
}

TEST(RingStateFormat, RefusesEveryMalformedFile) {
  const std::string ok_ring = "ring 0 256 1 2 3 32768 18 18\n";
  const std::string head = "pmdnet-ring-state 1\n";
  const struct {
    const char* what;
    std::string text;
  } cases[] = {
      {"empty", ""},
      {"another version", "pmdnet-ring-state 2\n"},
      {"no newline at the end", head + "ring 0 256 1 2 3 32768 18 18"},
      {"unknown line", head + "rings 0 256 1 2 3 32768 18 18\n"},
      {"short ring line", head + "ring 0 256 1 2 3 32768 18\n"},
      {"long ring line", head + "ring 0 256 1 2 3 32768 18 18 1\n"},
      {"a double space", head + "ring 0 256  1 2 3 32768 18 18\n"},
      {"a sign", head + "ring 0 256 -1 2 3 32768 18 18\n"},
      {"hex", head + "ring 0 256 0x1 2 3 32768 18 18\n"},
      {"vring past 16 bits", head + "ring 65536 256 1 2 3 32768 18 18\n"},
      {"address past 64 bits", head + "ring 0 256 18446744073709551616 2 3 32768 18 18\n"},
      {"size 0", head + "ring 0 0 1 2 3 32768 0 0\n"},
      {"size past 32768", head + "ring 0 32769 1 2 3 32768 18 18\n"},
      {"position past the size", head + "ring 0 16 1 2 3 32768 16 0\n"},
      {"used past the size", head + "ring 0 16 1 2 3 32768 0 32784\n"},
      {"base past the size", head + "ring 0 16 1 2 3 32784 0 0\n"},
      {"a ring twice", head + ok_ring + ok_ring},
      {"short memory line", head + "memory 0 1 2 3\n"},
      {"text in a number", head + "memory 0 1 2 3 x\n"},
      {"a carriage return", head + "memory 0 1 2 3 4\r\n"},
      {"nine regions", head +
                           [] {
                             std::string m;
                             for (int i = 0; i < 9; ++i) m += "memory 0 1 2 3 4\n";
                             return m;
                           }()},
      {"too large", head + std::string(kMaxRingStateBytes, '\n')},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    auto parsed = parse_ring_state(c.text);
    ASSERT_FALSE(parsed);
    EXPECT_EQ(parsed.error().code, Errc::kMalformed);
  }
  std::string many = head;
  for (int i = 0; i < 257; ++i) many += fmt::format("ring {} 256 1 2 3 32768 0 0\n", i);
  EXPECT_FALSE(parse_ring_state(many)) << "257 rings";
}

TEST(RingStateResume, MatchesOnlyTheSameMemoryRingAndFrontEndBase) {
  const RingState saved = sample();
  SavedRing now = saved.rings[1];
  now.position = {};  // not read
  auto got = resume_position(saved, saved.memory, now);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->last_avail_idx, 0x83ff);
  EXPECT_EQ(got->used_idx, 0x83fe);

  auto differs = [&](auto change) {
    RingState s = saved;
    SavedRing r = saved.rings[1];
    std::vector<MemoryFile> memory = saved.memory;
    change(s, r, memory);
    return !resume_position(s, memory, r).has_value();
  };
  EXPECT_TRUE(differs([](RingState&, SavedRing& r, auto&) { r.frontend_base = 0x8001; }));
  EXPECT_TRUE(differs([](RingState&, SavedRing& r, auto&) { r.size = 512; }));
  EXPECT_TRUE(differs([](RingState&, SavedRing& r, auto&) { r.desc_gpa += 16; }));
  EXPECT_TRUE(differs([](RingState&, SavedRing& r, auto&) { r.driver_gpa += 4; }));
  EXPECT_TRUE(differs([](RingState&, SavedRing& r, auto&) { r.device_gpa += 4; }));
  EXPECT_TRUE(differs([](RingState&, SavedRing& r, auto&) { r.vring = 1; }));
  EXPECT_TRUE(differs([](RingState&, SavedRing&, auto& m) { m[1].inode = 1; }));
  EXPECT_TRUE(differs([](RingState&, SavedRing&, auto& m) { m[1].device = 1; }));
  EXPECT_TRUE(differs([](RingState&, SavedRing&, auto& m) { m[0].size += 4096; }));
  EXPECT_TRUE(differs([](RingState&, SavedRing&, auto& m) { m.pop_back(); }));
  EXPECT_TRUE(differs([](RingState& s, SavedRing&, auto& m) {
    m.clear();
    s.memory.clear();
  })) << "memory that is not identified never matches";
  EXPECT_FALSE(differs([](RingState&, SavedRing&, auto&) {})) << "the control case";
}

class RingStateFileTest : public ::testing::Test {
 protected:
  RingStateFileTest() {
    char tmpl[] = "/tmp/pmdnet-ring-state-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  ~RingStateFileTest() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(RingStateFileTest, SavedThenTakenOnce) {
  const fs::path file = dir_ / "pmdnet.vm0.rings";
  ASSERT_TRUE(save_ring_state(file, sample()));
  struct stat st;
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(fs::exists(dir_ / "pmdnet.vm0.rings.tmp"));
  auto taken = take_ring_state(file);
  ASSERT_TRUE(taken) << taken.error().message;
  ASSERT_TRUE(taken->has_value());
  EXPECT_EQ(**taken, sample());
  EXPECT_FALSE(fs::exists(file)) << "a state is used by one start only";
  auto again = take_ring_state(file);
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->has_value());
}

TEST_F(RingStateFileTest, AFileThatDoesNotParseIsRefusedAndRemoved) {
  const fs::path file = dir_ / "bad.rings";
  std::ofstream(file) << "pmdnet-ring-state 1\nring 0 16 1 2 3 32768 99 0\n";
  auto taken = take_ring_state(file);
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error().code, Errc::kMalformed);
  EXPECT_NE(taken.error().message.find(file.string()), std::string::npos);
  EXPECT_FALSE(fs::exists(file));

  std::ofstream(file) << std::string(kMaxRingStateBytes + 100, 'x');
  EXPECT_FALSE(take_ring_state(file)) << "a file past the size bound";
}

TEST_F(RingStateFileTest, ASymlinkIsNeitherFollowedNorWrittenThrough) {
  const fs::path target = dir_ / "target";
  std::ofstream(target) << "keep\n";
  const fs::path link = dir_ / "link.rings";
  fs::create_symlink(target, link);
  auto taken = take_ring_state(link);
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error().code, Errc::kIo);
  ASSERT_TRUE(fs::exists(target));

  // The temporary file a save writes first is not followed either.
  const fs::path file = dir_ / "x.rings";
  fs::create_symlink(target, dir_ / "x.rings.tmp");
  EXPECT_FALSE(save_ring_state(file, sample()));
  std::ifstream in(target);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "keep");
}

TEST_F(RingStateFileTest, SaveFailsCleanlyWhereNothingCanBeWritten) {
  auto saved = save_ring_state(dir_ / "no-such-dir" / "x.rings", sample());
  ASSERT_FALSE(saved);
  EXPECT_EQ(saved.error().code, Errc::kIo);
}

TEST(MemoryFiles, IdentifyEachRegionsFile) {
  const int a = ::memfd_create("a", MFD_CLOEXEC);
  const int b = ::memfd_create("b", MFD_CLOEXEC);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  const VhostUserMemoryRegion regions[] = {{0, 4096, 0x7f0000000000, 0},
                                           {0x100000, 8192, 0x7f0000100000, 4096}};
  const int fds[] = {a, b};
  auto files = identify_memory_files(regions, fds);
  ASSERT_TRUE(files) << files.error().message;
  ASSERT_EQ(files->size(), 2u);
  struct stat sa, sb;
  ASSERT_EQ(::fstat(a, &sa), 0);
  ASSERT_EQ(::fstat(b, &sb), 0);
  EXPECT_EQ((*files)[0], (MemoryFile{0, 4096, 0, static_cast<uint64_t>(sa.st_dev),
                                     static_cast<uint64_t>(sa.st_ino)}));
  EXPECT_EQ((*files)[1], (MemoryFile{0x100000, 8192, 4096, static_cast<uint64_t>(sb.st_dev),
                                     static_cast<uint64_t>(sb.st_ino)}));
  EXPECT_NE((*files)[0].inode, (*files)[1].inode) << "two memfds are two files";

  const int one_fd[] = {a};
  EXPECT_FALSE(identify_memory_files(regions, one_fd)) << "a region without its fd";
  ::close(b);
  const int closed[] = {a, b};
  EXPECT_FALSE(identify_memory_files(regions, closed)) << "an fd that is not open";
  ::close(a);
}

TEST(RingStateFilePath, StateDirThenRuntimeDirectoryThenRunPmdnet) {
  config::Config cfg;
  cfg.eal.file_prefix = "pfx";
  cfg.state_dir = "/var/lib/pmdnet";
  EXPECT_EQ(ports::ring_state_file(cfg, "vm0"), "/var/lib/pmdnet/pfx.vm0.rings");
  cfg.state_dir.clear();
  const char* old = std::getenv("RUNTIME_DIRECTORY");
  const std::string saved = old == nullptr ? "" : old;
  ::setenv("RUNTIME_DIRECTORY", "/run/a:/run/b", 1);
  EXPECT_EQ(ports::ring_state_file(cfg, "vm0"), "/run/a/pfx.vm0.rings") << "the first entry";
  ::setenv("RUNTIME_DIRECTORY", "relative", 1);
  EXPECT_EQ(ports::ring_state_file(cfg, "vm0"), "/run/pmdnet/pfx.vm0.rings");
  ::unsetenv("RUNTIME_DIRECTORY");
  EXPECT_EQ(ports::ring_state_file(cfg, "vm0"), "/run/pmdnet/pfx.vm0.rings");
  if (old != nullptr) ::setenv("RUNTIME_DIRECTORY", saved.c_str(), 1);
}

}  // namespace
}  // namespace pmdnet::vhost_user
