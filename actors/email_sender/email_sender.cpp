#include "actors/email_sender/email_sender.hpp"

#include <nlohmann/json.hpp>

#include "actors/messaging/messages.hpp"
#include "actors/messaging/queue_consumer.hpp"
#include "actors/messaging/topology.hpp"
#include "actors/template_cache/render.hpp"
#include "adapters/smtp/client.hpp"
#include "runtime/logging/log.hpp"

namespace herald {

using json = nlohmann::json;

namespace {

// -- smtp_connection -------------------------------------------------------------

struct smtp_state {
  std::unique_ptr<smtp::client> client;
  static inline const char* name = "smtp_connection";
};

caf::behavior smtp_connection(caf::stateful_actor<smtp_state>* self, smtp::settings settings,
                              std::string from, runtime::entry_ptr entry) {
  self->state.client = std::make_unique<smtp::client>(settings);
  entry->set_state("running");
  return {
    [=](send_atom, const outgoing_email& e) -> send_result {
      smtp::mail m;
      m.from = from;
      m.to = e.to;
      m.subject = e.subject;
      m.text_body = e.text_body;
      m.html_body = e.html_body;
      m.message_id = "<" + e.notification_id + "@herald>";
      m.headers = {{"X-Herald-Notification-ID", e.notification_id},
                   {"X-Correlation-ID", e.correlation_id}};
      auto r = self->state.client->send(m);
      entry->processed += 1;
      if (r.status != smtp::send_status::sent) {
        entry->failed += 1;
      }
      return {r.status == smtp::send_status::sent,
              r.status == smtp::send_status::permanent_failure, r.detail};
    },
  };
}

// -- email_sender ----------------------------------------------------------------

/// What one message is about, read from its body.
struct job {
  std::uint64_t tag = 0;
  caf::actor consumer;
  std::string notification_id;
  std::string user_id;
  std::string template_code;
  std::string language;
  int template_version = 0; ///< 0: the latest version
  std::string correlation_id;
  json variables;
  int attempt = 1;
};

struct sender_state {
  static inline const char* name = "email_sender";
};

caf::behavior email_sender(caf::stateful_actor<sender_state>* self, caf::actor users,
                           caf::actor templates, caf::actor smtp_pool, caf::actor writer,
                           std::chrono::milliseconds smtp_timeout, runtime::entry_ptr entry) {
  entry->set_state("running");
  // Acks (or requeues) the message after its final status is safely recorded.
  auto finish = [=](std::shared_ptr<job> j, std::string status, std::string detail) {
    log::context who{"email", "email_sender", j->correlation_id};
    status_event ev{j->notification_id, status, detail, j->attempt, {}, j->user_id, "email",
                    j->template_code, j->correlation_id, {}, 0};
    self->request(writer, service_timeout, record_atom::value, ev)
      .then(
        [=](bool written) {
          entry->in_flight -= 1;
          entry->processed += 1;
          if (status != "sent" && status != "skipped") {
            entry->failed += 1;
          }
          if (written) {
            log::info(who, "notification " + status,
                      {{"notification_id", j->notification_id}, {"detail", detail}});
            self->send(j->consumer, ack_atom::value, j->tag);
          } else {
            self->send(j->consumer, requeue_atom::value, j->tag);
          }
        },
        [=](caf::error& e) {
          entry->in_flight -= 1;
          log::warn(who, "status not recorded, requeueing",
                    {{"notification_id", j->notification_id},
                     {"error", self->system().render(e)}});
          self->send(j->consumer, requeue_atom::value, j->tag);
        });
  };
  // A dependency is down: give the message back to the queue, a little later.
  auto requeue = [=](std::shared_ptr<job> j, std::string why) {
    log::warn({"email", "email_sender", j->correlation_id}, "requeueing",
              {{"notification_id", j->notification_id}, {"reason", why}});
    entry->in_flight -= 1;
    self->delayed_send(j->consumer, std::chrono::seconds{1}, requeue_atom::value, j->tag);
  };
  auto send_mail = [=](std::shared_ptr<job> j, user_record user, template_record tpl) {
    if (tpl.channel != "email") {
      finish(j, "failed", "template " + tpl.template_code + " is for " + tpl.channel);
      return;
    }
    auto rendered = render_email(tpl, j->variables);
    if (!rendered.ok) {
      finish(j, "failed", rendered.error);
      return;
    }
    if (!rendered.missing.empty()) {
      std::string names;
      for (auto& n : rendered.missing) {
        names += (names.empty() ? "" : ", ") + n;
      }
      finish(j, "failed", "missing template variables: " + names);
      return;
    }
    outgoing_email mail{user.email, rendered.email.subject, rendered.email.text_body,
                        rendered.email.html_body, j->notification_id, j->correlation_id};
    self->request(smtp_pool, smtp_timeout + std::chrono::seconds{5}, send_atom::value, mail)
      .then(
        [=](send_result& r) {
          if (r.sent) {
            finish(j, "sent", "delivered to " + user.email);
          } else {
            finish(j, "failed", (r.permanent ? "SMTP refused: " : "SMTP error: ") + r.detail);
          }
        },
        [=](caf::error& e) { requeue(j, "SMTP connection: " + self->system().render(e)); });
  };
  return {
    [=](deliver_atom, queued_message& m) {
      entry->in_flight += 1;
      auto j = std::make_shared<job>();
      j->tag = m.tag;
      j->consumer = caf::actor_cast<caf::actor>(self->current_sender());
      j->correlation_id = m.correlation_id;
      auto body = json::parse(m.body, nullptr, false);
      if (body.is_discarded() || !body.is_object()
          || !body.value("notification_id", json()).is_string()) {
        log::error({"email", "email_sender", m.correlation_id}, "unreadable message dropped",
                   {{"body", m.body.substr(0, 200)}});
        entry->in_flight -= 1;
        entry->failed += 1;
        self->send(j->consumer, ack_atom::value, j->tag);
        return;
      }
      j->notification_id = body["notification_id"].get<std::string>();
      j->user_id = body.value("user_id", "");
      j->template_code = body.value("template_code", "");
      j->language = body.value("language", "");
      if (auto v = body.find("template_version"); v != body.end() && v->is_number_integer()) {
        j->template_version = v->get<int>();
      }
      j->attempt = body.value("attempt", 1);
      j->variables = body.value("variables", json::object());
      if (j->correlation_id.empty()) {
        j->correlation_id = body.value("correlation_id", "");
      }
      self->request(users, service_timeout, lookup_atom::value, j->user_id)
        .then(
          [=](outcome& o, user_record& user) {
            if (o.status == 404) {
              finish(j, "failed", "unknown user " + j->user_id);
              return;
            }
            if (!o.ok()) {
              requeue(j, o.error);
              return;
            }
            if (!user.email_enabled) {
              finish(j, "skipped", "user turned email notifications off");
              return;
            }
            // The user's language, else the request's, else the template's default.
            self->request(templates, service_timeout, lookup_atom::value, j->template_code,
                          std::vector<std::string>{user.language, j->language},
                          j->template_version)
              .then(
                [=](outcome& to, template_record& tpl) {
                  if (to.status == 404) {
                    finish(j, "failed", "unknown template: " + to.error);
                  } else if (!to.ok()) {
                    requeue(j, to.error);
                  } else {
                    send_mail(j, user, tpl);
                  }
                },
                [=](caf::error& e) { requeue(j, self->system().render(e)); });
          },
          [=](caf::error& e) { requeue(j, self->system().render(e)); });
    },
  };
}

} // namespace

email_service spawn_email_sender(node_context& ctx, caf::actor user_lookup,
                                 caf::actor template_cache, caf::actor status_writer) {
  smtp::settings smtp_settings{ctx.settings.get("smtp.url"), ctx.settings.get_ms("smtp.timeout_ms")};
  auto from = ctx.settings.get("smtp.from");
  runtime::pool_spec smtp_spec;
  smtp_spec.name = "smtp_connection";
  smtp_spec.role = "email";
  smtp_spec.size = static_cast<std::size_t>(ctx.settings.get_int("smtp.connections"));
  smtp_spec.spawn_worker = [=](caf::actor_system& sys, runtime::entry_ptr entry) {
    return sys.spawn<caf::detached>(smtp_connection, smtp_settings, from, entry);
  };
  auto smtp = runtime::spawn_supervised_pool(ctx.system, ctx.registry, std::move(smtp_spec));

  auto sender = ctx.system.spawn(email_sender, user_lookup, template_cache, smtp.pool,
                                 status_writer, smtp_settings.timeout,
                                 ctx.registry.enlist("email_sender", "email", "event_based"));

  messaging::consumer_settings cs{ctx.settings.get("amqp.url"), messaging::email_queue,
                                  static_cast<std::uint16_t>(ctx.settings.get_int("amqp.prefetch"))};
  runtime::pool_spec consumer_spec;
  consumer_spec.name = "email_consumer";
  consumer_spec.role = "email";
  consumer_spec.size = static_cast<std::size_t>(ctx.settings.get_int("email.consumers"));
  consumer_spec.spawn_worker = [=](caf::actor_system& sys, runtime::entry_ptr entry) {
    return sys.spawn(messaging::queue_consumer, cs, sender, entry);
  };
  auto consumers = runtime::spawn_supervised_pool(ctx.system, ctx.registry,
                                                  std::move(consumer_spec));
  return {sender, smtp, consumers};
}

} // namespace herald
