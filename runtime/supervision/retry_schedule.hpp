#pragma once

// When a message whose delivery failed transiently is tried again: the delay steps of the
// RabbitMQ delay queues (DESIGN.md, Messaging), each jittered per message so that a burst
// of failures does not come back as one burst. Pure logic.

#include <chrono>
#include <optional>
#include <vector>

namespace herald::runtime {

struct retry_schedule {
  std::vector<std::chrono::milliseconds> steps{std::chrono::seconds{2}, std::chrono::seconds{4},
                                               std::chrono::seconds{8}, std::chrono::seconds{16},
                                               std::chrono::seconds{32}};
  double jitter = 0.1; ///< a delay is scaled by a factor in [1 - j, 1 + j]

  /// The step (index into `steps`) of the retry after `failures` failed attempts (1 for
  /// the first failure), or nullopt when the steps are spent and the message is dead.
  std::optional<std::size_t> step_after(int failures) const {
    if (failures < 1 || static_cast<std::size_t>(failures) > steps.size()) {
      return std::nullopt;
    }
    return static_cast<std::size_t>(failures - 1);
  }

  /// The jittered delay of `step`; `random01` is uniform in [0, 1).
  std::chrono::milliseconds delay(std::size_t step, double random01) const {
    auto factor = 1.0 + jitter * (2.0 * random01 - 1.0);
    return std::chrono::milliseconds{static_cast<long long>(
      static_cast<double>(steps.at(step).count()) * factor + 0.5)};
  }
};

} // namespace herald::runtime
