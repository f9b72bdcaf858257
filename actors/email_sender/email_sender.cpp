#include "actors/email_sender/email_sender.hpp"

#include <algorithm>
#include <optional>

#include "actors/email_sender/email_batch.hpp"
#include "actors/messaging/batch_pipeline.hpp"
#include "actors/messaging/messages.hpp"
#include "actors/messaging/provider_breaker.hpp"
#include "adapters/smtp/client.hpp"
#include "adapters/url.hpp"
#include "runtime/logging/log.hpp"
#include "runtime/supervision/crash_ledger.hpp"
#include "runtime/supervision/supervised_pool.hpp"
#include "runtime/supervision/supervisor.hpp"

namespace herald {

using messaging::verdict;

namespace {

using clock_type = std::chrono::steady_clock;

std::int64_t to_ticks(clock_type::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// -- smtp_connection -------------------------------------------------------------

struct smtp_state {
  std::unique_ptr<smtp::client> client;
  static inline const char* name = "smtp_connection";
};

caf::behavior smtp_connection(caf::stateful_actor<smtp_state>* self, smtp::settings settings,
                              std::string from, std::shared_ptr<runtime::crash_ledger> ledger,
                              runtime::entry_ptr entry) {
  self->state.client = std::make_unique<smtp::client>(settings);
  entry->set_state("running");
  auto to_mail = [from](const outgoing_email& e) {
    smtp::mail m;
    m.from = from;
    m.to = e.to;
    m.subject = e.subject;
    m.text_body = e.text_body;
    m.html_body = e.html_body;
    m.message_id = "<" + e.notification_id + "@herald>";
    m.headers = {{"X-Herald-Notification-ID", e.notification_id},
                 {"X-Correlation-ID", e.correlation_id}};
    return m;
  };
  auto to_result = [entry](const smtp::send_outcome& r) -> send_result {
    entry->processed += 1;
    if (r.status != smtp::send_status::sent) {
      entry->failed += 1;
    }
    return to_send_result(r);
  };
  return {
    [=](send_atom, const outgoing_email& e) -> send_result {
      auto r = self->state.client->send(to_mail(e));
      if (r.status == smtp::send_status::sent) {
        ledger->sent(e.notification_id);
      }
      return to_result(r);
    },
    // A batch, one after another on this connection (pipelined where the relay allows).
    // Sends stop at the first failure of the connection itself and once `start_by` has
    // passed (the requester stops waiting soon after): the rest are answered as transient
    // failures without being tried, so the requester requeues them and nothing is sent
    // after it gave up on the batch.
    [=](send_atom, const std::vector<outgoing_email>& emails,
        std::int64_t start_by) -> std::vector<send_result> {
      std::vector<smtp::mail> mails;
      mails.reserve(emails.size());
      for (auto& e : emails) {
        mails.push_back(to_mail(e));
      }
      auto deadline = clock_type::time_point{std::chrono::nanoseconds{start_by}};
      std::vector<send_result> out;
      out.reserve(emails.size());
      // Noted in the tree's ledger as they are sent: should the sender die before it
      // records them, their redeliveries are recorded as sent, not sent again.
      std::size_t k = 0;
      for (auto& r : self->state.client->send_all(mails, deadline)) {
        if (r.status == smtp::send_status::sent && k < emails.size()) {
          ledger->sent(emails[k].notification_id);
        }
        ++k;
        out.push_back(to_result(r));
      }
      return out;
    },
  };
}

// -- email_sender ----------------------------------------------------------------
//
// The batch flow is messaging/batch_pipeline.hpp's; email's own steps are here: its
// preference, sending through the SMTP relays with their circuit breakers, and when
// consumption pauses.

using messaging::batch_item;
using messaging::batch_ptr;
using messaging::decide;
using messaging::fail;

struct smtp_config {
  std::chrono::milliseconds smtp_timeout;
  std::size_t smtp_connections;
};

/// One SMTP relay: its pool of connections and its circuit breaker, both owned by the
/// email_sender (the supervising actor of the email service's sends).
struct smtp_relay {
  smtp::settings settings;
  caf::actor pool;
  /// name "primary" or "fallback"; where scheme://host:port, no credentials; its registry
  /// entry "smtp_breaker/<name>"
  messaging::provider_breaker breaker;
};

const log::context breaker_log{"email", "email_sender", {}};

// Each relay's breaker counts the sends while it is closed (one call per request to a
// connection; email_batch.hpp's relay_failed says what fails). While it is open, or
// half-open, no batch goes to that relay: after the cool-down one probe, an SMTP session
// check (smtp::probe on a thread of its own: connect, greeting, EHLO, STARTTLS, AUTH; no
// mail), decides. Batches go to the primary while its breaker is closed, else to the
// fallback while its breaker is closed, else nowhere: consumption pauses.
class smtp_channel : public messaging::channel_steps {
public:
  smtp_channel(std::vector<smtp_relay> relays, smtp_config cfg)
    : relays_(std::move(relays)), cfg_(std::move(cfg)) {}

  std::string opted_out(const user_record& user) const override {
    return user.email_enabled ? std::string{} : "user turned email notifications off";
  }

  messaging::route_status route() override {
    auto index = route_index();
    if (!index) {
      return {true, "paused: SMTP circuit breaker open", nullptr};
    }
    auto& b = relays_[*index].breaker;
    return {false, "sending through " + b.name() + " relay " + b.where(),
            {{"relay", b.where()}, {"breaker", b.name()}}};
  }

  std::optional<messaging::retry_plan> plan_retry(const batch_item& item,
                                                  double random01) override {
    return messaging::plan_retry(item.job.attempt, pipeline().config().retries, random01);
  }

  // The batch's emails split across the relay's connections: one request per connection,
  // sent one after another on it.
  void send(const batch_ptr& b, std::vector<messaging::rendered_item> ready,
            std::function<void()> done) override {
    auto relay = route_index();
    if (!relay) {
      messaging::requeue_pending(b->items,
                                 "SMTP relay unavailable (circuit breaker open), not sending");
      done();
      return;
    }
    auto self = pipeline().self();
    auto chunks = messaging::split_evenly(ready.size(), cfg_.smtp_connections);
    // Sends start by `start_by`; the one under way then may take two SMTP transactions.
    auto start_by = to_ticks(clock_type::now() + cfg_.smtp_timeout);
    auto wait = 3 * cfg_.smtp_timeout + std::chrono::seconds{5};
    b->awaiting = chunks.size();
    for (auto [first, last] : chunks) {
      std::vector<std::size_t> members;
      std::vector<outgoing_email> mails;
      for (auto k = first; k < last; ++k) {
        auto& item = b->items[ready[k].index];
        auto& r = ready[k].content.email;
        members.push_back(ready[k].index);
        mails.push_back({item.user.email, std::move(r.subject), std::move(r.text_body),
                         std::move(r.html_body), item.job.notification_id,
                         item.job.correlation_id});
      }
      auto end_chunk = [b, done] {
        if (--b->awaiting == 0) {
          done();
        }
      };
      auto index = *relay;
      self->request(relays_[index].pool, wait, send_atom::value, std::move(mails), start_by)
        .then(
          [=, this](std::vector<send_result>& results) {
            std::string why;
            for (auto& r : results) {
              if (r.relay_failure) {
                why = r.detail;
                break;
              }
            }
            report(index, relay_failed(results, members.size()),
                   why.empty() ? "missing results" : why);
            for (std::size_t k = 0; k < members.size(); ++k) {
              auto& item = b->items[members[k]];
              if (k >= results.size()) {
                decide(item, verdict::requeue, "SMTP: no result");
              } else if (results[k].sent) {
                decide(item, verdict::sent, "delivered to " + item.user.email);
              } else if (results[k].permanent) {
                fail(item, messaging::reason::smtp_refused, "SMTP refused: " + results[k].detail);
              } else if (results[k].message_specific) {
                decide(item, verdict::retry, "SMTP: " + results[k].detail);
              } else {
                decide(item, verdict::requeue, "SMTP: " + results[k].detail);
              }
            }
            end_chunk();
          },
          [=, this](caf::error& e) {
            auto why = "SMTP connection: " + pipeline().render_error(e);
            report(index, true, why);
            for (auto i : members) {
              decide(b->items[i], verdict::requeue, why);
            }
            end_chunk();
          });
    }
  }

  /// Once the cool-down has passed: one session check on a thread of its own (it blocks).
  void probe_relay(std::size_t index) {
    auto self = pipeline().self();
    auto& r = relays_[index];
    if (r.breaker.state() != runtime::breaker_state::open) {
      return;
    }
    auto now = clock_type::now();
    if (r.breaker.admit(now) != messaging::admission::probe) { // the timer fired a little early
      auto wait = std::chrono::ceil<std::chrono::milliseconds>(r.breaker.retry_at() - now);
      self->delayed_send(self, std::max(wait, std::chrono::milliseconds{1}), probe_atom::value,
                         static_cast<std::uint64_t>(index));
      return;
    }
    pipeline().update_route();
    auto settings = r.settings;
    auto prober = self->system().spawn<caf::detached>(
      [settings](caf::event_based_actor* p) -> caf::behavior {
        return {
          [=](probe_atom) -> std::string {
            p->quit();
            try {
              return smtp::probe(settings.url, settings.timeout, settings.ca_file);
            } catch (const std::exception& e) {
              return e.what();
            }
          },
        };
      });
    self->request(prober, 2 * settings.timeout + std::chrono::seconds{5}, probe_atom::value)
      .then([=, this](std::string& error) {
              report(index, !error.empty(), error, messaging::admission::probe);
            },
            [=, this](caf::error& e) {
              report(index, true, pipeline().render_error(e), messaging::admission::probe);
            });
  }

private:
  /// The relay batches go to now; none while consumption is paused.
  std::optional<std::size_t> route_index() const {
    std::optional<runtime::breaker_state> fallback;
    if (relays_.size() > 1) {
      fallback = relays_[1].breaker.state();
    }
    switch (choose_route(relays_[0].breaker.state(), fallback)) {
      case smtp_route::primary:
        return 0;
      case smtp_route::fallback:
        return 1;
      case smtp_route::paused:
        break;
    }
    return std::nullopt;
  }

  /// The outcome of one send request: counted when it started and ended while `index`'s
  /// breaker was closed (requests started before it opened change nothing: only the probe
  /// decides); when it opened the breaker, the probe is timed for the end of the cool-down.
  void report(std::size_t index, bool failed, const std::string& why,
              messaging::admission kind = messaging::admission::call) {
    auto self = pipeline().self();
    if (auto wait = relays_[index].breaker.report(kind, failed, why, clock_type::now(),
                                                  pipeline().random01())) {
      self->delayed_send(self, *wait, probe_atom::value, static_cast<std::uint64_t>(index));
    }
    pipeline().update_route();
  }

  /// [0] the primary (smtp.url), [1] the fallback (smtp.fallback_url) when configured.
  std::vector<smtp_relay> relays_;
  smtp_config cfg_;
};

struct sender_state {
  std::unique_ptr<smtp_channel> channel;
  std::unique_ptr<messaging::batch_pipeline> pipeline;
  static inline const char* name = "email_sender";
};

using sender_actor = caf::stateful_actor<sender_state>;

caf::behavior email_sender(sender_actor* self, std::vector<smtp_relay> relays,
                           smtp_config smtp, messaging::pipeline_config cfg,
                           messaging::pipeline_services services) {
  auto& st = self->state;
  st.channel = std::make_unique<smtp_channel>(std::move(relays), std::move(smtp));
  st.pipeline = std::make_unique<messaging::batch_pipeline>(self, *st.channel, std::move(cfg),
                                                            std::move(services));
  return {
    [=](probe_atom, std::uint64_t index) {
      self->state.channel->probe_relay(static_cast<std::size_t>(index));
    },
    [=](deliver_atom, std::vector<queued_message>& messages) {
      self->state.pipeline->deliver(messages);
    },
  };
}

} // namespace

email_service spawn_email_sender(node_context& ctx, caf::actor user_lookup,
                                 caf::actor template_cache, caf::actor status_writer) {
  // Everything is read and enlisted here: the spawn functions below run again on each
  // restart, on the supervisor's thread, and capture only values.
  auto& reg = ctx.registry;
  smtp::settings smtp_settings{ctx.settings.get("smtp.url"), ctx.settings.get_ms("smtp.timeout_ms"),
                               ctx.settings.get("smtp.ca_file")};
  auto from = ctx.settings.get("smtp.from");
  auto smtp_connections = static_cast<std::size_t>(ctx.settings.get_int("smtp.connections"));
  runtime::breaker_policy policy;
  policy.consecutive_failures = static_cast<int>(ctx.settings.get_int("smtp.breaker.failures"));
  policy.failure_rate =
    static_cast<double>(ctx.settings.get_int("smtp.breaker.failure_rate_percent")) / 100.0;
  policy.window = static_cast<int>(ctx.settings.get_int("smtp.breaker.window"));
  policy.cool_down = ctx.settings.get_ms("smtp.breaker.cool_down_ms");
  auto restart = runtime::restart_policy_from(ctx.settings);
  auto ledger = std::make_shared<runtime::crash_ledger>();

  runtime::supervisor_spec tree;
  tree.name = "email/supervisor";
  tree.role = "email";

  // One pool of connections per relay; its breaker lives in the sender.
  struct relay_plan {
    std::string name;
    std::string where;
    smtp::settings settings;
    std::string pool; ///< the pool's child name (its front)
    runtime::entry_ptr entry;
  };
  std::vector<relay_plan> relays;
  auto relay = [&](std::string name, const std::string& pool_name, smtp::settings settings) {
    runtime::pool_spec spec;
    spec.name = pool_name;
    spec.role = "email";
    spec.size = smtp_connections;
    spec.policy = restart;
    spec.spawn_worker = [=](caf::actor_system& sys, runtime::entry_ptr entry) {
      return sys.spawn<caf::detached>(smtp_connection, settings, from, ledger, entry);
    };
    auto make_pool = runtime::pool_factory(reg, std::move(spec));
    runtime::child_spec child;
    child.name = pool_name + "/supervisor";
    child.kind = "supervisor";
    child.policy = restart;
    child.spawn = [make_pool](caf::actor_system& sys, const runtime::child_env&) {
      return make_pool(sys);
    };
    tree.children.push_back(std::move(child));
    std::string where = "smtp relay";
    if (auto u = parse_url(settings.url)) {
      where = u->scheme + "://" + (u->host.find(':') == std::string::npos ? u->host
                                                                          : "[" + u->host + "]")
              + ":" + std::to_string(u->port != 0 ? u->port : (u->scheme == "smtps" ? 465 : 25));
    }
    auto entry = reg.enlist("smtp_breaker/" + name, "email", "circuit_breaker");
    relays.push_back({std::move(name), std::move(where), std::move(settings),
                      pool_name + "/supervisor", std::move(entry)});
  };
  relay("primary", "smtp_connection", smtp_settings);
  if (auto fallback_url = ctx.settings.get("smtp.fallback_url"); !fallback_url.empty()) {
    auto fallback_settings = smtp_settings;
    fallback_settings.url = fallback_url;
    relay("fallback", "smtp_fallback_connection", fallback_settings);
  }

  smtp_config smtp{smtp_settings.timeout, smtp_connections};
  messaging::pipeline_config cfg;
  cfg.channel = "email";
  cfg.actor = "email_sender";
  cfg.pause_log =
    "every SMTP relay's circuit breaker is open: email.queue paused, messages wait in RabbitMQ";
  cfg.resume_log = "email.queue resumed";
  cfg.unavailable = "SMTP relay unavailable (circuit breaker open), not sending";
  messaging::add_pipeline_children(
    tree, ctx.settings, reg, cfg, {user_lookup, template_cache, status_writer, {}, ledger, {}},
    [=](caf::actor_system& sys, const runtime::child_env& env,
        const messaging::pipeline_config& cfg, messaging::pipeline_services services) {
      std::vector<smtp_relay> live;
      for (auto& r : relays) {
        live.push_back({r.settings, env.front(r.pool),
                        messaging::provider_breaker{r.name, "SMTP", r.where, policy, r.entry,
                                                    breaker_log, "relay"}});
      }
      return sys.spawn(email_sender, std::move(live), smtp, cfg, std::move(services));
    });
  return {runtime::spawn_supervisor(ctx.system, reg, std::move(tree))};
}

} // namespace herald
