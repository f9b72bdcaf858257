#pragma once

// How much memory this process has used: for tests that bound what an input can make
// Herald allocate (a node under test runs in the test's own process).

#include <fstream>
#include <string>

namespace herald::test {

/// The peak resident memory of this process so far (VmHWM), in bytes.
inline std::size_t peak_rss() {
  std::ifstream status{"/proc/self/status"};
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      return std::stoull(line.substr(6)) * 1024;
    }
  }
  return 0;
}

} // namespace herald::test
