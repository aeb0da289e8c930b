// Helpers shared by the integration tests that bring DPDK's EAL up: each test body runs in a
// forked child (EAL can be initialised once per process), and EAL's runtime directory is found so
// the parent can clean it up.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

namespace pmdnet::testing {

// Where EAL puts its runtime files for `prefix` (DPDK 22.11 eal_create_runtime_dir): /var/run as
// root, else $XDG_RUNTIME_DIR, else /tmp; then dpdk/<prefix>.
inline std::filesystem::path eal_runtime_dir(const std::string& prefix) {
  const char* base = "/var/run";
  if (getuid() != 0) {
    const char* xdg = std::getenv("XDG_RUNTIME_DIR");  // NOLINT(concurrency-mt-unsafe)
    base = xdg != nullptr ? xdg : "/tmp";
  }
  return std::filesystem::path(base) / "dpdk" / prefix;
}

// Runs `body` in a forked child and fails the current test unless the child exits 0. The child's
// gtest assertions print as usual to the shared stdout and make it exit 1; a crash or sanitizer
// report kills it. The parent never initialises EAL, so each test gets a fresh process whether
// ctest runs the tests one at a time or the binary runs them all. The child leaves with _exit:
// no static destructors or atexit handlers run under EAL's threads.
inline void run_in_child(const std::function<void()>& body) {
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0) << "fork failed";
  if (pid == 0) {
    body();
#if defined(__SANITIZE_ADDRESS__)
    // _exit skips LeakSanitizer's atexit check, so run it here.
    if (__lsan_do_recoverable_leak_check() != 0) ADD_FAILURE() << "LeakSanitizer found leaks";
#endif
    std::fflush(stdout);
    std::fflush(stderr);
    _exit(::testing::Test::HasFailure() ? 1 : 0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid) << "waitpid failed";
  if (WIFSIGNALED(status)) {
    ADD_FAILURE() << "the child was killed by signal " << WTERMSIG(status)
                  << "; its output is above";
  } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    ADD_FAILURE() << "the child failed with exit status " << WEXITSTATUS(status)
                  << "; its output is above";
  }
}

}  // namespace pmdnet::testing
