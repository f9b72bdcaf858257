#pragma once

// A generic supervisor: the node of a supervision tree. It knows no service; a service
// describes its tree as an ordered list of child specs and gets one actor to own it.
//
// -- Children ------------------------------------------------------------------------------
// Each child is a spec: a name (its registry entry, where its restarts are counted), a
// spawn function, a restart_policy, and whether its dependants restart with it. Children
// are started in the order given; a child may be anything that is an actor: a worker, a
// supervised_pool's supervisor, or another supervisor (nested trees: its escalation is a
// crash of that child here).
//
// -- Restarts ------------------------------------------------------------------------------
// One-for-one: a child that stops for any reason while the tree runs is restarted after its
// restart_policy's backoff (exponential, with jitter; restart_tracker), counted on its
// entry (`restarts`). Rest-for-one where asked: a child with `restart_dependants` takes the
// children started after it down with it at once (last first) and starts them again, in
// order, right after itself. Use it where a later child holds work that belongs to the
// crashed one: the email consumers hold the sender's deliveries unacked, so they drop their
// connections and the broker redelivers what the dead sender had in flight.
// Past a child's restart intensity the supervisor stops its children and quits with that
// child's error: escalation to whoever monitors it (its parent supervisor, or the node's
// root watcher, which logs and exits the process).
//
// -- Stable fronts -------------------------------------------------------------------------
// Every child has a front: an actor spawned with the tree that lives as long as it and
// forwards each message to the child's current incarnation, sender and request id intact
// (the child answers the requester directly). Children address each other, and the world
// addresses the tree, only through fronts (child_env::front, supervisor_handle::front), so
// a restarted child is reachable at the same address. While a child is down, a request to
// its front is answered at once with an error (sec::request_receiver_down) and any other
// message is dropped: senders treat it as lost, as they would if the child had died with
// it in its mailbox. So is a message sent before the supervisor's first run, when it
// starts its children (spawn_supervisor returns before that). A front forwards one hop
// (about a mailbox enqueue). A nested supervisor is reached through its front like any
// child, but its own children's fronts are made anew when it restarts: address a
// grandchild through something its parent tree owns (e.g. a pool supervisor, which is its
// own front), not through fronts handed out by an earlier incarnation.
//
// -- Reuse (e.g. push_sender) --------------------------------------------------------------
// Build the specs once, capturing settings and registry entries by value (pools through
// runtime::pool_factory), put the worker that holds deliveries before its consumers with
// restart_dependants, give the worker a runtime::crash_ledger made beside the spec (so it
// survives the worker) and blame from its exception handler, and push the returned
// supervisor onto the node's roots. actors/email_sender/email_sender.cpp is the example.
//
// -- Shutdown ------------------------------------------------------------------------------
// An exit message to the supervisor (e.g. user_shutdown from the node) stops the children
// in reverse start order, one at a time: each gets user_shutdown and the next one is
// stopped once it is down (or after `stop_timeout`, when it is killed). For the email tree
// that is consumers, then the sender, then the publisher, then the SMTP pools. Then the
// supervisor quits with the exit's reason. A supervisor that quits any other way takes its
// children and fronts down with it.
//
// -- Registry ------------------------------------------------------------------------------
// The supervisor is listed as `name` (kind "supervisor"; state running, restarting <child>,
// stopping, stopped, escalated: <child>), each child under its own name with the kind given;
// an entry outlives incarnations, so restarts accumulate on one row.
//
// Spawn functions run on the supervisor's thread, also after the caller of
// spawn_supervisor is gone: they must capture what they need by value (registry entries
// are enlisted up front, here or with runtime::pool_factory).

#include <caf/all.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "runtime/config/settings.hpp"
#include "runtime/registry/registry.hpp"
#include "runtime/supervision/restart_policy.hpp"

namespace herald::runtime {

/// What a spawn function gets: its entry and the fronts of the children started before it.
struct child_env {
  entry_ptr entry;
  std::map<std::string, caf::actor> fronts;
  /// The front of an earlier child; throws std::out_of_range for an unknown name.
  caf::actor front(const std::string& name) const { return fronts.at(name); }
};

struct child_spec {
  std::string name;             ///< its registry entry and its front's name
  std::string kind = "worker";  ///< the entry's kind
  std::function<caf::actor(caf::actor_system&, const child_env&)> spawn;
  restart_policy policy;
  /// Rest-for-one: the children after this one stop when it stops and start after it.
  bool restart_dependants = false;
};

struct supervisor_spec {
  std::string name; ///< the supervisor's registry entry
  std::string role;
  std::vector<child_spec> children;
  std::chrono::milliseconds stop_timeout{5000}; ///< per child, when stopping in order
};

struct supervisor_handle {
  caf::actor supervisor; ///< monitor it to learn about escalation; exit it to stop the tree
  std::map<std::string, caf::actor> fronts; ///< one per child, by name
  caf::actor front(const std::string& name) const { return fronts.at(name); }
};

supervisor_handle spawn_supervisor(caf::actor_system& sys, registry& reg, supervisor_spec spec);

/// The restart policy of the node's trees: supervision.* settings.
restart_policy restart_policy_from(const config::settings& s);

} // namespace herald::runtime
