#include "runtime/supervision/supervisor.hpp"

#include <mutex>
#include <random>

#include "runtime/logging/log.hpp"

namespace herald::runtime {

namespace {

using restart_atom = caf::atom_constant<caf::atom("restart")>;
using stop_late_atom = caf::atom_constant<caf::atom("stoplate")>;

/// The incarnation a front forwards to; written by the supervisor before it spawns the
/// next child, so a later child never finds an earlier one's front empty.
struct front_target {
  std::mutex mtx;
  caf::actor current;

  void set(caf::actor a) {
    std::lock_guard<std::mutex> guard{mtx};
    current = std::move(a);
  }
  caf::actor get() {
    std::lock_guard<std::mutex> guard{mtx};
    return current;
  }
};

using target_ptr = std::shared_ptr<front_target>;

caf::behavior front(caf::event_based_actor* self, std::string name, target_ptr target) {
  self->set_default_handler(
    [=](caf::scheduled_actor* me, caf::message_view& x) -> caf::result<caf::message> {
      auto to = target->get();
      if (!to) {
        if (me->current_message_id().is_request()) {
          return caf::make_error(caf::sec::request_receiver_down, name + ": restarting");
        }
        me->drop_current_message_id();
        return caf::delegated<caf::message>{};
      }
      auto mid = me->take_current_message_id();
      to->enqueue(me->current_sender(), mid, x.move_content_to_message(), me->context());
      return caf::delegated<caf::message>{};
    });
  return {[](restart_atom) {}}; // handles nothing itself: everything goes to the child
}

struct child_slot {
  child_spec spec;
  entry_ptr entry;
  target_ptr target;
  caf::actor front;
  caf::actor actor; ///< the live incarnation; null while down
  clock::time_point started;
  restart_tracker tracker;
  std::uint64_t generation = 0; ///< a delayed restart for an older generation is stale
};

struct supervisor_state {
  std::vector<child_slot> children;
  bool stopping = false;
  caf::error stop_reason;
  std::mt19937_64 rng{std::random_device{}()};
  static inline const char* name = "supervisor";
};

using supervisor_actor = caf::stateful_actor<supervisor_state>;

void stop_child(supervisor_actor* self, std::size_t i) {
  auto& c = self->state.children[i];
  if (!c.actor) {
    return;
  }
  self->demonitor(c.actor);
  c.target->set(nullptr);
  self->send_exit(c.actor, caf::exit_reason::user_shutdown);
  c.actor = nullptr;
}

void start_child(supervisor_actor* self, std::size_t i) {
  auto& children = self->state.children;
  child_env env;
  env.entry = children[i].entry;
  for (std::size_t k = 0; k < i; ++k) {
    env.fronts.emplace(children[k].spec.name, children[k].front);
  }
  auto& c = children[i];
  c.actor = c.spec.spawn(self->system(), env);
  c.started = clock::now();
  self->monitor(c.actor);
  c.target->set(c.actor);
}

/// Stopping in order: asks the last live child before `end` to stop, with a deadline;
/// when none is left, the supervisor quits.
void stop_next(supervisor_actor* self, std::size_t end, std::chrono::milliseconds timeout,
               const entry_ptr& entry) {
  auto& st = self->state;
  for (auto i = end; i-- > 0;) {
    auto& c = st.children[i];
    if (c.actor) {
      c.target->set(nullptr);
      self->send_exit(c.actor, caf::exit_reason::user_shutdown);
      self->delayed_send(self, timeout, stop_late_atom::value, i, c.generation);
      return;
    }
  }
  entry->set_state("stopped");
  self->quit(st.stop_reason);
}

caf::behavior supervisor(supervisor_actor* self, supervisor_spec spec, entry_ptr entry,
                         std::vector<entry_ptr> entries, std::vector<target_ptr> targets,
                         std::vector<caf::actor> fronts) {
  log::context who{spec.role, spec.name, {}};
  auto& st = self->state;
  for (std::size_t i = 0; i < spec.children.size(); ++i) {
    st.children.push_back({spec.children[i], entries[i], targets[i], fronts[i], {},
                           clock::now(), restart_tracker{spec.children[i].policy}, 0});
  }
  // Whatever way it goes, the tree goes with it: children still alive and the fronts.
  self->attach_functor([targets, fronts](const caf::error&) {
    for (auto& t : targets) {
      if (auto a = t->get()) {
        caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
      }
      t->set(nullptr);
    }
    for (auto& f : fronts) {
      caf::anon_send_exit(f, caf::exit_reason::user_shutdown);
    }
  });
  for (std::size_t i = 0; i < st.children.size(); ++i) {
    start_child(self, i);
  }
  entry->set_state("running");
  auto stop_timeout = spec.stop_timeout;
  self->set_exit_handler([=](caf::exit_msg& em) {
    auto& st = self->state;
    if (st.stopping) {
      return;
    }
    st.stopping = true;
    st.stop_reason = em.reason;
    entry->set_state("stopping");
    log::info(who, "stopping the tree, last child first", {});
    stop_next(self, st.children.size(), stop_timeout, entry);
  });
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    auto& children = st.children;
    std::size_t i = 0;
    while (i < children.size()
           && !(children[i].actor && children[i].actor.address() == dm.source)) {
      ++i;
    }
    if (i == children.size()) {
      return;
    }
    auto& c = children[i];
    c.actor = nullptr;
    c.target->set(nullptr);
    c.generation += 1;
    if (st.stopping) {
      // The child stopped in order: stop the one before it.
      stop_next(self, i, stop_timeout, entry);
      return;
    }
    auto reason = self->system().render(dm.reason);
    std::uniform_real_distribution<double> uni{0.0, 1.0};
    auto delay = c.tracker.on_crash(clock::now(), c.started, uni(st.rng));
    if (!delay) {
      log::error(who, "restart intensity exceeded, escalating",
                 {{"child", c.spec.name}, {"reason", reason}});
      entry->set_state("escalated: " + c.spec.name);
      for (auto k = children.size(); k-- > 0;) {
        stop_child(self, k);
      }
      self->quit(dm.reason ? dm.reason
                           : caf::make_error(caf::sec::runtime_error,
                                             c.spec.name + " stopped too often"));
      return;
    }
    c.entry->restarts += 1;
    c.entry->set_state("restarting");
    entry->set_state("restarting " + c.spec.name);
    nlohmann::json fields = {{"child", c.spec.name}, {"reason", reason},
                             {"delay_ms", delay->count()}};
    if (c.spec.restart_dependants) {
      // Rest-for-one: the later children go now (last first) and come back after it.
      std::vector<std::string> names;
      for (auto k = children.size(); k-- > i + 1;) {
        if (children[k].actor) {
          names.push_back(children[k].spec.name);
          stop_child(self, k);
        }
        children[k].generation += 1;
      }
      fields["dependants_stopped"] = names;
    }
    log::warn(who, "child stopped, restarting", fields);
    self->delayed_send(self, *delay, restart_atom::value, i, c.generation);
  });
  return {
    [=](restart_atom, std::size_t i, std::uint64_t generation) {
      auto& st = self->state;
      auto& children = st.children;
      if (st.stopping || i >= children.size() || children[i].actor
          || children[i].generation != generation) {
        return;
      }
      // A dependant waits for the child it depends on: that one's restart starts it.
      for (std::size_t k = 0; k < i; ++k) {
        if (children[k].spec.restart_dependants && !children[k].actor) {
          return;
        }
      }
      start_child(self, i);
      if (children[i].spec.restart_dependants) {
        for (auto k = i + 1; k < children.size(); ++k) {
          if (!children[k].actor) {
            children[k].entry->restarts += 1;
            start_child(self, k);
          }
        }
      }
      bool all = true;
      for (auto& c : children) {
        all = all && static_cast<bool>(c.actor);
      }
      entry->set_state(all ? "running" : "restarting");
    },
    [=](stop_late_atom, std::size_t i, std::uint64_t generation) {
      auto& children = self->state.children;
      if (i < children.size() && children[i].actor && children[i].generation == generation) {
        log::warn(who, "child did not stop in time, killing it", {{"child", children[i].spec.name}});
        self->send_exit(children[i].actor, caf::exit_reason::kill);
      }
    },
  };
}

} // namespace

supervisor_handle spawn_supervisor(caf::actor_system& sys, registry& reg, supervisor_spec spec) {
  // Enlisted here, on the caller's thread (see supervised_pool.cpp).
  auto entry = reg.enlist(spec.name, spec.role, "supervisor");
  std::vector<entry_ptr> entries;
  std::vector<target_ptr> targets;
  std::vector<caf::actor> fronts;
  supervisor_handle h;
  for (auto& c : spec.children) {
    entries.push_back(reg.enlist(c.name, spec.role, c.kind));
    targets.push_back(std::make_shared<front_target>());
    fronts.push_back(sys.spawn<caf::lazy_init>(front, c.name, targets.back()));
    h.fronts.emplace(c.name, fronts.back());
  }
  h.supervisor = sys.spawn(supervisor, std::move(spec), std::move(entry), std::move(entries),
                           std::move(targets), std::move(fronts));
  return h;
}

restart_policy restart_policy_from(const config::settings& s) {
  restart_policy p;
  p.initial_delay = s.get_ms("supervision.initial_delay_ms");
  p.max_delay = s.get_ms("supervision.max_delay_ms");
  p.max_restarts = static_cast<int>(s.get_int("supervision.max_restarts"));
  p.window = std::chrono::duration_cast<std::chrono::seconds>(s.get_ms("supervision.window_ms"));
  return p;
}

} // namespace herald::runtime
