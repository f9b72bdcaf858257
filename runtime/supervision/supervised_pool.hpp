#pragma once

// A one-for-one supervisor keeping a fixed number of workers alive behind a round-robin
// caf::actor_pool. Senders address the pool; it forwards each message (sender and
// request id intact) to one worker, which answers the sender directly. A crashed worker is
// restarted after the restart_policy's backoff; past the restart intensity the supervisor
// quits with the worker's error, which escalates to whoever monitors it.

#include <caf/all.hpp>

#include <functional>
#include <string>

#include "runtime/registry/registry.hpp"
#include "runtime/supervision/restart_policy.hpp"

namespace herald::runtime {

struct pool_spec {
  std::string name; ///< workers are listed as name/0, name/1, ...
  std::string role;
  std::size_t size = 1;
  /// Spawns one worker (blocking work: spawn it detached). Called again on each restart.
  std::function<caf::actor(caf::actor_system&, entry_ptr)> spawn_worker;
  restart_policy policy;
};

struct supervised_pool {
  caf::actor pool;       ///< send work here
  caf::actor supervisor; ///< monitor this to learn about escalation; exit it to stop all
};

supervised_pool spawn_supervised_pool(caf::actor_system& sys, registry& reg, pool_spec spec);

} // namespace herald::runtime
