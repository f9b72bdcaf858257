#pragma once

#include <caf/all.hpp>

#include "runtime/cache/change_feed.hpp"
#include "runtime/config/settings.hpp"
#include "runtime/registry/registry.hpp"

namespace herald {

/// What every service tree gets from the node that spawns it.
struct node_context {
  caf::actor_system& system;
  const config::settings& settings;
  runtime::registry& registry;
  /// Shared: actors that outlive the node during shutdown may still announce.
  std::shared_ptr<runtime::change_feed> changes;
};

/// Timeout of a call between services on one node.
inline constexpr std::chrono::milliseconds service_timeout{5000};

} // namespace herald
