#include "actors/dead_letter/dead_letter.hpp"

#include <nlohmann/json.hpp>

#include "actors/common/ids.hpp"
#include "actors/common/text.hpp"
#include "actors/dead_letter/dead_letter_store.hpp"
#include "actors/messaging/messages.hpp"
#include "actors/messaging/queue_consumer.hpp"
#include "actors/messaging/topology.hpp"
#include "runtime/logging/log.hpp"

namespace herald {

using json = nlohmann::json;

namespace {

std::string header(const queued_message& m, const char* name) {
  auto i = m.headers.find(name);
  return i == m.headers.end() ? std::string{} : as_text(i->second);
}

/// A delivery from failed.queue as a dead letter to store. Every text is made valid UTF-8
/// without NUL first (as_text): PostgreSQL refuses anything else, and an unreadable body
/// that could not be stored would be requeued for ever, holding up the letters after it.
dead_letter_in letter_of(const queued_message& m) {
  dead_letter_in d;
  d.id = make_uuid();
  d.message = as_text(m.body);
  d.correlation_id = as_text(m.correlation_id);
  d.reason = header(m, messaging::reason_header);
  if (d.reason.empty()) {
    d.reason = "unknown";
  }
  d.detail = header(m, messaging::detail_header);
  d.attempts = std::atoi(header(m, messaging::attempts_header).c_str());
  d.channel = header(m, messaging::channel_header);
  auto body = json::parse(m.body, nullptr, false);
  if (body.is_object()) {
    // Strings only (a number where a string belongs is just not there), as text.
    auto text = [&](const char* name) {
      auto i = body.find(name);
      return i != body.end() && i->is_string() ? as_text(i->get<std::string>()) : std::string{};
    };
    auto id = text("notification_id");
    if (is_uuid(id)) {
      d.notification_id = id;
    }
    if (d.channel.empty()) {
      d.channel = text("notification_type");
    }
    if (d.correlation_id.empty()) {
      d.correlation_id = text("correlation_id");
    }
  }
  return d;
}

caf::behavior dead_letter_intake(caf::event_based_actor* self, caf::actor store,
                                 std::chrono::milliseconds requeue_delay,
                                 runtime::entry_ptr entry) {
  entry->set_state("running");
  auto& stored = entry->counter("stored");
  auto& requeued = entry->counter("requeued");
  return {
    [=, &stored, &requeued](deliver_atom, std::vector<queued_message>& messages) {
      auto consumer = caf::actor_cast<caf::actor>(self->current_sender());
      std::vector<dead_letter_in> letters;
      std::vector<std::uint64_t> tags;
      for (auto& m : messages) {
        letters.push_back(letter_of(m));
        tags.push_back(m.tag);
      }
      entry->in_flight += static_cast<std::int64_t>(tags.size());
      auto n = tags.size();
      auto settle = [=, &stored, &requeued](const outcome& o) {
        entry->in_flight -= static_cast<std::int64_t>(n);
        entry->processed += n;
        if (o.ok()) {
          stored += n;
          self->send(consumer, ack_atom::value, tags);
          for (auto& d : letters) {
            log::warn({"dlq", "dead_letter", d.correlation_id}, "notification dead",
                      {{"notification_id", d.notification_id}, {"reason", d.reason},
                       {"detail", d.detail}, {"attempts", d.attempts}});
          }
        } else {
          requeued += n;
          entry->failed += n;
          log::warn({"dlq", "dead_letter", {}}, "dead letters not stored, requeueing",
                    {{"messages", n}, {"error", o.error}});
          self->delayed_send(consumer, requeue_delay, requeue_atom::value, tags);
        }
      };
      self->request(store, service_timeout, dl_store_atom::value, std::move(letters))
        .then([=](outcome& o) { settle(o); },
              [=](caf::error& e) { settle({503, self->system().render(e)}); });
    },
  };
}

} // namespace

dead_letter_service spawn_dead_letter_service(node_context& ctx, caf::actor store) {
  auto restart = runtime::restart_policy_from(ctx.settings);
  auto requeue_delay = ctx.settings.get_ms("email.requeue_delay_ms");
  runtime::supervisor_spec tree;
  tree.name = "dlq/supervisor";
  tree.role = "dlq";
  runtime::child_spec intake;
  intake.name = "dead_letter";
  intake.kind = "event_based";
  intake.policy = restart;
  // Rest-for-one: a consumer holds the intake's deliveries unacked until it settles them.
  intake.restart_dependants = true;
  intake.spawn = [=](caf::actor_system& sys, const runtime::child_env& env) {
    return sys.spawn(dead_letter_intake, store, requeue_delay, env.entry);
  };
  tree.children.push_back(std::move(intake));

  messaging::consumer_settings cs{ctx.settings.get("amqp.url"), messaging::failed_queue,
                                  static_cast<std::uint16_t>(ctx.settings.get_int("amqp.prefetch"))};
  auto intake_front = std::make_shared<caf::actor>();
  runtime::pool_spec spec;
  spec.name = "dead_letter_consumer";
  spec.role = "dlq";
  spec.size = 1;
  spec.policy = restart;
  spec.spawn_worker = [=](caf::actor_system& sys, runtime::entry_ptr entry) {
    return sys.spawn(messaging::queue_consumer, cs, *intake_front, entry);
  };
  auto make_pool = runtime::pool_factory(ctx.registry, std::move(spec));
  runtime::child_spec consumers;
  consumers.name = "dead_letter_consumer/supervisor";
  consumers.kind = "supervisor";
  consumers.policy = restart;
  consumers.spawn = [=](caf::actor_system& sys, const runtime::child_env& env) {
    if (!*intake_front) { // written once, before any consumer reads it
      *intake_front = env.front("dead_letter");
    }
    return make_pool(sys);
  };
  tree.children.push_back(std::move(consumers));
  return {runtime::spawn_supervisor(ctx.system, ctx.registry, std::move(tree))};
}

} // namespace herald
