#include "runtime/supervision/supervised_pool.hpp"

#include <random>

#include "runtime/logging/log.hpp"

namespace herald::runtime {

namespace {

using restart_atom = caf::atom_constant<caf::atom("restart")>;

struct slot {
  caf::actor worker;
  clock::time_point started;
  restart_tracker tracker;
  entry_ptr entry;
};

struct supervisor_state {
  std::vector<slot> slots;
  std::size_t next = 0;
  std::mt19937_64 rng{std::random_device{}()};
  static inline const char* name = "supervisor";
};

caf::behavior supervisor(caf::stateful_actor<supervisor_state>* self, pool_spec spec,
                         entry_ptr sup_entry, std::vector<entry_ptr> entries) {
  log::context who{spec.role, spec.name + "/supervisor", {}};
  // Workers die with their supervisor; the functor outlives the state, so it keeps its own
  // list of them.
  auto live = std::make_shared<std::vector<caf::actor>>(spec.size);
  self->attach_functor([live](const caf::error& reason) {
    for (auto& w : *live) {
      if (w) {
        caf::anon_send_exit(w, reason ? caf::exit_reason::user_shutdown
                                      : caf::exit_reason::normal);
      }
    }
  });
  auto start = [=](std::size_t index) {
    auto& s = self->state.slots[index];
    s.worker = spec.spawn_worker(self->system(), s.entry);
    s.started = clock::now();
    (*live)[index] = s.worker;
    self->monitor(s.worker);
  };
  for (std::size_t i = 0; i < spec.size; ++i) {
    self->state.slots.push_back({caf::actor{}, clock::now(), restart_tracker{spec.policy},
                                 entries[i]});
    start(i);
  }
  sup_entry->set_state("running");
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& slots = self->state.slots;
    for (std::size_t i = 0; i < slots.size(); ++i) {
      if (!slots[i].worker || slots[i].worker.address() != dm.source) {
        continue;
      }
      slots[i].worker = nullptr;
      (*live)[i] = nullptr;
      std::uniform_real_distribution<double> uni{0.0, 1.0};
      auto delay = slots[i].tracker.on_crash(clock::now(), slots[i].started,
                                             uni(self->state.rng));
      auto reason = self->system().render(dm.reason);
      if (!delay) {
        log::error(who, "restart intensity exceeded, escalating",
                   {{"worker", slots[i].entry->name()}, {"reason", reason}});
        sup_entry->set_state("escalated");
        self->quit(dm.reason);
        return;
      }
      slots[i].entry->restarts += 1;
      slots[i].entry->set_state("restarting");
      log::warn(who, "worker stopped, restarting",
                {{"worker", slots[i].entry->name()}, {"reason", reason},
                 {"delay_ms", delay->count()}});
      self->delayed_send(self, *delay, restart_atom::value, i);
      return;
    }
  });
  // Everything else is work: hand it to the next live worker.
  self->set_default_handler(
    [=](caf::scheduled_actor*, caf::message_view& x) -> caf::result<caf::message> {
      auto& slots = self->state.slots;
      for (std::size_t tries = 0; tries < slots.size(); ++tries) {
        auto& s = slots[self->state.next++ % slots.size()];
        if (s.worker) {
          auto rp = self->make_response_promise();
          rp.delegate(s.worker, x.move_content_to_message());
          return caf::delegated<caf::message>{};
        }
      }
      return caf::make_error(caf::sec::request_receiver_down,
                             spec.name + ": no worker alive (restarting)");
    });
  return {
    [=](restart_atom, std::size_t index) {
      if (index < self->state.slots.size() && !self->state.slots[index].worker) {
        start(index);
      }
    },
  };
}

} // namespace

std::function<caf::actor(caf::actor_system&)> pool_factory(registry& reg, pool_spec spec) {
  // Enlisted here, on the caller's thread: the supervisor's first run may come after its
  // node (and the registry) is gone, when a node stops right after starting.
  auto sup_entry = reg.enlist(spec.name + "/supervisor", spec.role, "supervisor");
  std::vector<entry_ptr> entries;
  for (std::size_t i = 0; i < spec.size; ++i) {
    entries.push_back(reg.enlist(spec.name + "/" + std::to_string(i), spec.role, "worker"));
  }
  return [spec = std::move(spec), sup_entry, entries](caf::actor_system& sys) {
    return sys.spawn(supervisor, spec, sup_entry, entries);
  };
}

supervised_pool spawn_supervised_pool(caf::actor_system& sys, registry& reg, pool_spec spec) {
  auto sup = pool_factory(reg, std::move(spec))(sys);
  return {sup, sup};
}

} // namespace herald::runtime
