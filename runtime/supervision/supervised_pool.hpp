#pragma once

// A one-for-one supervisor that is also the front of its workers. Senders address the
// supervisor; it forwards every message it does not handle itself to the next live worker
// (round robin, sender and request id intact), and the worker answers the sender
// directly. While no worker is alive a request is answered at once with an error, so
// callers fail fast instead of waiting out their timeout.
//
// A crashed worker is restarted after the restart_policy's backoff (exponential, with
// jitter). Past the restart intensity the supervisor quits with the worker's error, which
// escalates to whoever monitors it. When the supervisor stops, so do its workers.

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
  caf::actor pool;       ///< send work here (the supervisor itself)
  caf::actor supervisor; ///< monitor this to learn about escalation; exit it to stop all
};

supervised_pool spawn_supervised_pool(caf::actor_system& sys, registry& reg, pool_spec spec);

/// For a pool that is a child of a supervisor (supervisor.hpp): enlists its entries now and
/// returns a function that spawns the pool and answers its supervisor, each time it is
/// called (the registry is not touched again, so it may run after the caller is gone).
std::function<caf::actor(caf::actor_system&)> pool_factory(registry& reg, pool_spec spec);

} // namespace herald::runtime
