#pragma once

// The node's root: spawns the service trees for the configured roles, opens their HTTP
// ports (gateway base+0, users +1, templates +2, email +3, push +4), and answers
// /health and /health/ready on each.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "actors/common/access.hpp"
#include "actors/node/node_context.hpp"

namespace herald {

/// Every route of every service with the credential it needs (README, "Access"): the
/// gateway's, the API keys', the users' and the templates'. /health and /health/ready
/// (every port) need none.
std::vector<access::route_row> route_rules();

class node {
public:
  node(caf::actor_system& sys, const config::settings& settings);
  ~node();

  /// Starts every role. Returns "" or why the node cannot run (e.g. a port is taken).
  std::string start();
  /// Closes the HTTP ports and stops every actor of the node: the service trees in reverse
  /// start order, each awaited (up to 10 s), so workers stop before what they use. Call it
  /// from a thread of its own (main's), not from an actor.
  void stop();

  /// Called (from an actor thread) when a service tree gave up: its supervisor exceeded
  /// its restart intensity. The process should stop and be restarted from outside.
  void on_escalation(std::function<void(const std::string& what)> fn);

  runtime::registry& registry() { return registry_; }

private:
  struct impl;
  runtime::registry registry_;
  node_context ctx_;
  std::unique_ptr<impl> impl_;
};

} // namespace herald
