#include "actors/messaging/publisher.hpp"

#include <unordered_map>

#include "actors/messaging/forwarding.hpp"
#include "adapters/amqp/confirmed_publisher.hpp"

namespace herald::messaging {

namespace {

using published_atom = caf::atom_constant<caf::atom("published")>;

struct publisher_state {
  std::shared_ptr<amqp::confirmed_publisher> io;
  std::unordered_map<std::uint64_t, caf::response_promise> waiting;
  std::uint64_t next = 0;
  static inline const char* name = "confirmed_publisher";
};

caf::behavior publisher(caf::stateful_actor<publisher_state>* self,
                        amqp::publisher_settings settings, runtime::entry_ptr entry) {
  self->state.io = std::make_shared<amqp::confirmed_publisher>(std::move(settings));
  // The I/O thread is joined when the last reference goes: never on a scheduler thread
  // while it could block for long (it fails what is pending and stops within a timeout).
  self->attach_functor([io = self->state.io]() mutable { io.reset(); });
  entry->set_state("running");
  return {
    [=](publish_atom, amqp::message& m) -> caf::result<outcome> {
      auto& st = self->state;
      auto id = st.next++;
      auto rp = self->make_response_promise<outcome>();
      st.waiting.emplace(id, rp);
      entry->in_flight += 1;
      auto me = caf::actor_cast<caf::actor>(self);
      st.io->publish(std::move(m), [me, id](const amqp::publish_outcome& o) {
        auto ok = o.status == amqp::publish_status::confirmed;
        caf::anon_send(me, published_atom::value, id,
                       outcome{ok ? 200 : 503, ok ? std::string{} : o.detail});
      });
      return rp;
    },
    [=](published_atom, std::uint64_t id, outcome& o) {
      auto& st = self->state;
      auto i = st.waiting.find(id);
      if (i == st.waiting.end()) {
        return;
      }
      entry->in_flight -= 1;
      entry->processed += 1;
      if (!o.ok()) {
        entry->failed += 1;
      }
      entry->set_state(st.io->stats().connected ? "connected" : "disconnected");
      i->second.deliver(std::move(o));
      st.waiting.erase(i);
    },
  };
}

} // namespace

namespace {

amqp::publisher_settings publisher_settings(const config::settings& s, amqp::topology declare) {
  amqp::publisher_settings ps;
  ps.url = s.get("amqp.url");
  ps.declare = std::move(declare);
  ps.confirm_timeout = s.get_ms("amqp.confirm_timeout_ms");
  return ps;
}

} // namespace

caf::actor spawn_publisher(node_context& ctx, const std::string& name, const std::string& role,
                           amqp::topology declare) {
  return ctx.system.spawn(publisher, publisher_settings(ctx.settings, std::move(declare)),
                          ctx.registry.enlist(name, role, "io_thread"));
}

std::function<caf::actor(caf::actor_system&, runtime::entry_ptr)>
publisher_factory(const config::settings& settings, amqp::topology declare) {
  auto ps = publisher_settings(settings, std::move(declare));
  return [ps](caf::actor_system& sys, runtime::entry_ptr entry) {
    return sys.spawn(publisher, ps, std::move(entry));
  };
}

void dead_letter_unreadable(caf::event_based_actor* self, const caf::actor& publisher,
                            std::chrono::milliseconds publish_timeout,
                            const caf::actor& consumer, const queued_message& m,
                            const std::string& why, const log::context& who,
                            std::chrono::milliseconds requeue_delay,
                            std::function<void()> dead_lettered) {
  log::error(who, "unreadable message", {{"reason", why}, {"body", m.body.substr(0, 200)}});
  auto tag = m.tag;
  auto settle = [=](bool forwarded) {
    if (forwarded) {
      dead_lettered();
      self->send(consumer, ack_atom::value, tag);
    } else {
      self->delayed_send(consumer, requeue_delay, requeue_atom::value, tag);
    }
  };
  self->request(publisher, publish_timeout, publish_atom::value,
                to_failed_queue(m.body, who.role, {}, m.correlation_id, reason::unreadable, why,
                                1))
    .then([=](outcome& o) { settle(o.ok()); }, [=](caf::error&) { settle(false); });
}

} // namespace herald::messaging
