#pragma once

// Running test work on several threads that start together, so their requests overlap.

#include <atomic>
#include <functional>
#include <thread>
#include <vector>

namespace herald::test {

/// Runs `work(thread_index)` on `threads` threads that start together; waits for all.
inline void on_threads(int threads, const std::function<void(int)>& work) {
  std::atomic<int> waiting{threads};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      waiting.fetch_sub(1);
      while (waiting.load() > 0) {
        std::this_thread::yield();
      }
      work(t);
    });
  }
  for (auto& th : pool) {
    th.join();
  }
}

} // namespace herald::test
