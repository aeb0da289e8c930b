// The driver behind every fuzz target (libFuzzer's LLVMFuzzerTestOneInput entry point).
//
// Replay mode, in every build: runs corpus files and directories, then seeded random inputs.
//   <target> [--random N] [--seed S] [--max-len L] [file-or-dir ...]
// Fuzz mode, in PMDNET_FUZZ builds (code under test compiled with GCC's
// -fsanitize-coverage=trace-pc): a small coverage-guided fuzzer in the manner of AFL. It keeps an
// edge bitmap with bucketed hit counts, mutates inputs from the corpus, keeps those that reach new
// edges (written to the corpus directory), and saves the input that crashes.
//   <target> --fuzz SECONDS --corpus DIR [--crash-dir DIR] [--seed S] [--max-len L] [seed-dir ...]
// Both modes: --timeout-ms T (default 2000) fails any single input that runs longer, saving it
// like a crash (a hang is a bug too).
//
// Debian 12 has neither a clang that can compile this project (clang 14 cannot instantiate
// libstdc++ 12's std::expected) nor a working AFL++ GCC plugin (built for another gcc-12 build),
// hence this engine; see docs/fuzzing.md.
#include <fcntl.h>
#include <sys/time.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" void __sanitizer_set_death_callback(void (*callback)()) __attribute__((weak));

namespace {

constexpr size_t kMapSize = size_t{1} << 16;
uint8_t g_hits[kMapSize];   // hit counts of the current run, per edge
uint8_t g_seen[kMapSize];   // bucket bits seen so far, per edge
uintptr_t g_prev_location;  // previous block, for edge hashing
uint64_t g_trace_calls;     // nonzero once anything instrumented ran

const uint8_t* g_current_data;  // the input being run, for the crash handler
size_t g_current_size;
char g_crash_path[4096];
long g_timeout_ms = 2000;

}  // namespace

// Called by GCC at the start of every basic block of instrumented code.
extern "C" __attribute__((no_sanitize_coverage)) void __sanitizer_cov_trace_pc() {
  auto pc = reinterpret_cast<uintptr_t>(__builtin_return_address(0));
  uintptr_t location = (pc >> 4) ^ (pc << 8);
  ++g_hits[(location ^ g_prev_location) & (kMapSize - 1)];
  g_prev_location = location >> 1;
  ++g_trace_calls;
}

namespace {

using Input = std::vector<uint8_t>;

std::vector<uint8_t> read_file(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

void write_file(const std::filesystem::path& path, const Input& data) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

// Async-signal-safe: saves the running input where g_crash_path says.
void save_crash_input() {
  if (g_crash_path[0] == '\0' || g_current_data == nullptr) return;
  int fd = ::open(g_crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return;
  [[maybe_unused]] ssize_t n = ::write(fd, g_current_data, g_current_size);
  ::close(fd);
  const char msg[] = "\nfuzz: crashing input saved to ";
  [[maybe_unused]] ssize_t m = ::write(2, msg, sizeof(msg) - 1);
  m = ::write(2, g_crash_path, std::strlen(g_crash_path));
  m = ::write(2, "\n", 1);
}

void on_timeout(int) {
  const char msg[] = "\nfuzz: an input ran past --timeout-ms";
  [[maybe_unused]] ssize_t n = ::write(2, msg, sizeof(msg) - 1);
  save_crash_input();
  ::_exit(70);
}

// Arms (or, with 0, disarms) the per-input timer.
void arm_timer(long ms) {
  itimerval t{};
  t.it_value.tv_sec = ms / 1000;
  t.it_value.tv_usec = (ms % 1000) * 1000;
  ::setitimer(ITIMER_REAL, &t, nullptr);
}

void on_fatal_signal(int sig) {
  save_crash_input();
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

// AFL's hit-count buckets: 1, 2, 3, 4-7, 8-15, 16-31, 32-127, 128+.
uint8_t bucket(uint8_t hits) {
  if (hits <= 3) return static_cast<uint8_t>(1u << (hits - 1));
  if (hits <= 7) return 1u << 3;
  if (hits <= 15) return 1u << 4;
  if (hits <= 31) return 1u << 5;
  if (hits <= 127) return 1u << 6;
  return 1u << 7;
}

// Runs one input; returns true if it reached an edge or hit-count bucket not seen before.
bool run(const Input& input) {
  std::memset(g_hits, 0, sizeof(g_hits));
  g_prev_location = 0;
  g_current_data = input.data();
  g_current_size = input.size();
  if (g_timeout_ms > 0) arm_timer(g_timeout_ms);
  LLVMFuzzerTestOneInput(input.data(), input.size());
  if (g_timeout_ms > 0) arm_timer(0);
  g_current_data = nullptr;
  bool novel = false;
  for (size_t i = 0; i < kMapSize; ++i) {
    if (g_hits[i] == 0) continue;
    uint8_t b = bucket(g_hits[i]);
    if ((g_seen[i] & b) == 0) {
      g_seen[i] |= b;
      novel = true;
    }
  }
  return novel;
}

size_t edges_seen() {
  size_t n = 0;
  for (uint8_t s : g_seen) n += s != 0;
  return n;
}

Input mutate(const std::vector<Input>& corpus, const Input& parent, std::mt19937_64& rng,
             size_t max_len) {
  static constexpr std::array<uint64_t, 10> kInteresting = {
      0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0xffff, 0x7fffffff, 0xffffffff, ~uint64_t{0}};
  Input child = parent;
  auto pick = [&](size_t bound) { return bound == 0 ? size_t{0} : size_t(rng() % bound); };
  int rounds = 1 + static_cast<int>(rng() % 6);
  for (int r = 0; r < rounds; ++r) {
    switch (rng() % 8) {
      case 0:  // flip a bit
        if (!child.empty()) child[pick(child.size())] ^= static_cast<uint8_t>(1u << (rng() % 8));
        break;
      case 1:  // random byte
        if (!child.empty()) child[pick(child.size())] = static_cast<uint8_t>(rng());
        break;
      case 2: {  // an interesting value of 1, 2, 4 or 8 bytes
        uint64_t v = kInteresting[pick(kInteresting.size())];
        size_t width = size_t{1} << (rng() % 4);
        if (child.size() >= width) std::memcpy(&child[pick(child.size() - width + 1)], &v, width);
        break;
      }
      case 3: {  // insert random bytes
        size_t n = 1 + pick(16);
        Input bytes(n);
        for (auto& b : bytes) b = static_cast<uint8_t>(rng());
        child.insert(child.begin() + static_cast<ptrdiff_t>(pick(child.size() + 1)), bytes.begin(),
                     bytes.end());
        break;
      }
      case 4: {  // delete a range
        if (child.empty()) break;
        size_t at = pick(child.size());
        size_t n = 1 + pick(std::min<size_t>(16, child.size() - at));
        child.erase(child.begin() + static_cast<ptrdiff_t>(at),
                    child.begin() + static_cast<ptrdiff_t>(at + n));
        break;
      }
      case 5: {  // add or subtract a small number
        if (child.empty()) break;
        size_t at = pick(child.size());
        child[at] = static_cast<uint8_t>(child[at] + static_cast<int>(rng() % 35) - 17);
        break;
      }
      case 6: {  // copy a range within the input
        if (child.size() < 2) break;
        size_t from = pick(child.size());
        size_t to = pick(child.size());
        size_t n = 1 + pick(std::min(child.size() - from, child.size() - to));
        std::memmove(&child[to], &child[from], n);
        break;
      }
      default: {  // splice with another corpus entry
        const Input& other = corpus[pick(corpus.size())];
        size_t cut = pick(child.size() + 1);
        child.resize(cut);
        size_t from = pick(other.size() + 1);
        child.insert(child.end(), other.begin() + static_cast<ptrdiff_t>(from), other.end());
        break;
      }
    }
  }
  if (child.size() > max_len) child.resize(max_len);
  return child;
}

int fuzz(double seconds, const std::filesystem::path& corpus_dir,
         const std::filesystem::path& crash_dir, const std::vector<std::filesystem::path>& seeds,
         uint64_t seed, size_t max_len) {
  std::filesystem::create_directories(corpus_dir);
  std::filesystem::create_directories(crash_dir);
  std::snprintf(g_crash_path, sizeof(g_crash_path), "%s/crash-%d", crash_dir.string().c_str(),
                static_cast<int>(::getpid()));
  for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL}) std::signal(sig, on_fatal_signal);
  std::signal(SIGALRM, on_timeout);
  if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(save_crash_input);

  std::vector<Input> corpus;
  std::vector<std::filesystem::path> dirs = seeds;
  dirs.push_back(corpus_dir);
  for (const auto& dir : dirs) {
    if (!std::filesystem::is_directory(dir)) continue;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      if (e.is_regular_file()) corpus.push_back(read_file(e.path()));
    }
  }
  corpus.push_back({});
  for (const auto& input : corpus) run(input);
  if (g_trace_calls == 0) {
    std::fprintf(stderr, "fuzz: no coverage instrumentation; configure with -DPMDNET_FUZZ=ON\n");
    return 2;
  }

  std::mt19937_64 rng(seed);
  auto start = std::chrono::steady_clock::now();
  auto last_report = start;
  uint64_t execs = 0;
  size_t added = 0;
  for (;;) {
    auto now = std::chrono::steady_clock::now();
    double elapsed = std::chrono::duration<double>(now - start).count();
    if (elapsed >= seconds) break;
    if (now - last_report > std::chrono::seconds(5)) {
      std::printf("fuzz: %.0fs %llu execs corpus %zu edges %zu\n", elapsed,
                  static_cast<unsigned long long>(execs), corpus.size(), edges_seen());
      std::fflush(stdout);
      last_report = now;
    }
    for (int i = 0; i < 256; ++i, ++execs) {
      Input child = mutate(corpus, corpus[rng() % corpus.size()], rng, max_len);
      if (run(child)) {
        char name[32];
        std::snprintf(name, sizeof(name), "%016llx",
                      static_cast<unsigned long long>(std::hash<std::string_view>{}(
                          {reinterpret_cast<const char*>(child.data()), child.size()})));
        write_file(corpus_dir / name, child);
        corpus.push_back(std::move(child));
        ++added;
      }
    }
  }
  std::printf("fuzz: done: %llu execs in %.0fs, corpus %zu (+%zu new), edges %zu, no crash\n",
              static_cast<unsigned long long>(execs), seconds, corpus.size(), added, edges_seen());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t random_runs = 0;
  uint64_t seed = 1;
  size_t max_len = 512;
  double fuzz_seconds = -1;
  std::filesystem::path corpus_dir;
  std::filesystem::path crash_dir = ".";
  std::vector<std::filesystem::path> paths;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    bool has_value = i + 1 < argc;
    if (arg == "--random" && has_value) {
      random_runs = std::strtoull(argv[++i], nullptr, 0);
    } else if (arg == "--seed" && has_value) {
      seed = std::strtoull(argv[++i], nullptr, 0);
    } else if (arg == "--max-len" && has_value) {
      max_len = std::strtoull(argv[++i], nullptr, 0);
    } else if (arg == "--fuzz" && has_value) {
      fuzz_seconds = std::strtod(argv[++i], nullptr);
    } else if (arg == "--corpus" && has_value) {
      corpus_dir = argv[++i];
    } else if (arg == "--crash-dir" && has_value) {
      crash_dir = argv[++i];
    } else if (arg == "--timeout-ms" && has_value) {
      g_timeout_ms = std::strtol(argv[++i], nullptr, 0);
    } else if (arg.starts_with("--")) {
      std::fprintf(stderr, "%s: unknown option %s\n", argv[0], arg.c_str());
      return 2;
    } else {
      paths.emplace_back(arg);
    }
  }

  if (fuzz_seconds >= 0) {
    if (corpus_dir.empty()) {
      std::fprintf(stderr, "%s: --fuzz needs --corpus DIR\n", argv[0]);
      return 2;
    }
    return fuzz(fuzz_seconds, corpus_dir, crash_dir, paths, seed, max_len);
  }

  std::snprintf(g_crash_path, sizeof(g_crash_path), "%s/timeout-%d", crash_dir.string().c_str(),
                static_cast<int>(::getpid()));
  std::signal(SIGALRM, on_timeout);
  size_t files = 0;
  for (const auto& p : paths) {
    if (std::filesystem::is_directory(p)) {
      for (const auto& e : std::filesystem::directory_iterator(p)) {
        if (!e.is_regular_file()) continue;
        Input input = read_file(e.path());
        run(input);
        ++files;
      }
    } else if (std::filesystem::is_regular_file(p)) {
      run(read_file(p));
      ++files;
    } else {
      std::fprintf(stderr, "%s: no such file or directory: %s\n", argv[0], p.c_str());
      return 2;
    }
  }
  std::mt19937_64 rng(seed);
  Input input;
  for (uint64_t r = 0; r < random_runs; ++r) {
    input.resize(rng() % (max_len + 1));
    for (auto& b : input) b = static_cast<uint8_t>(rng());
    run(input);
  }
  std::printf("%s: %zu corpus inputs, %llu random inputs (seed %llu): no failure\n", argv[0], files,
              static_cast<unsigned long long>(random_runs), static_cast<unsigned long long>(seed));
  return 0;
}
