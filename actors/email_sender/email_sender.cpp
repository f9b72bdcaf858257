#include "actors/email_sender/email_sender.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <deque>
#include <cstdio>
#include <ctime>
#include <optional>
#include <random>
#include <unordered_map>
#include <unordered_set>

#include "actors/email_sender/email_batch.hpp"
#include "actors/messaging/crash_triage.hpp"
#include "actors/messaging/forwarding.hpp"
#include "actors/messaging/messages.hpp"
#include "actors/messaging/notification_job.hpp"
#include "actors/messaging/provider_breaker.hpp"
#include "actors/messaging/publisher.hpp"
#include "actors/messaging/queue_consumer.hpp"
#include "actors/messaging/topology.hpp"
#include "actors/notification_store/notification_store.hpp"
#include "actors/scheduler/quiet_hours_deferral.hpp"
#include "actors/template_cache/compiled_cache.hpp"
#include "actors/template_cache/render.hpp"
#include "actors/user_lookup/user_lookup.hpp"
#include "adapters/smtp/client.hpp"
#include "adapters/url.hpp"
#include "runtime/logging/log.hpp"
#include "runtime/supervision/crash_ledger.hpp"
#include "runtime/supervision/supervisor.hpp"

namespace herald {

using json = nlohmann::json;
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

using compiled_ptr = compiled_cache::compiled_ptr;

/// One message of a batch and what is known about it so far.
struct batch_item {
  messaging::notification_job job;
  verdict result = verdict::pending;
  std::string detail;
  user_record user;
  compiled_ptr tpl;
  outgoing_email mail;
  std::string reason;      ///< why it is dead-lettered (messaging::reason), for `failed`
  bool tracked = true;     ///< listed in sender_state::in_flight by this batch
  std::size_t source = 0;  ///< index of its consumer in email_batch::consumers
};

struct email_batch {
  /// The consumer incarnations that delivered the items: only they can settle the tags.
  std::vector<caf::actor> consumers;
  std::vector<batch_item> items;
  std::size_t awaiting = 0; ///< replies still due in the current step
  bool isolated = false;    ///< one suspect of a crash, worked on with no other batch
};

using batch_ptr = std::shared_ptr<email_batch>;

struct sender_config {
  std::chrono::milliseconds smtp_timeout;
  std::size_t smtp_connections;
  std::chrono::milliseconds requeue_delay;
  std::size_t max_batches;  ///< batches in flight at once; deliveries wait meanwhile
  std::size_t compiled_max;   ///< compiled template versions kept by the sender
  std::size_t compiled_bytes; ///< and the memory they may take (templates.cache_bytes)
  render_limits limits;
  runtime::retry_schedule retries;
  std::chrono::milliseconds publish_timeout; ///< waiting for the publisher's answer
  std::string crash_on_variable;             ///< fault.crash_on_variable ("": off)
};

/// Figures on the email_sender's registry entry.
struct sender_counters {
  std::atomic<std::uint64_t>* sent;
  std::atomic<std::uint64_t>* skipped;
  std::atomic<std::uint64_t>* failed;
  std::atomic<std::uint64_t>* requeued;
  std::atomic<std::uint64_t>* duplicates;
  std::atomic<std::uint64_t>* batches;
  std::atomic<std::uint64_t>* batched_messages;
  std::atomic<std::uint64_t>* batch_size_max;
  std::atomic<std::uint64_t>* batch_size_last;
  std::atomic<std::uint64_t>* retried;
  std::atomic<std::uint64_t>* dead_lettered;
  std::atomic<std::uint64_t>* pauses;
  std::atomic<std::uint64_t>* paused_requeued;
  std::atomic<std::uint64_t>* poison;
  std::atomic<std::uint64_t>* isolated;
  std::atomic<std::uint64_t>* recovered_sends;
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

struct sender_state {
  caf::actor users;
  caf::actor templates;
  /// [0] the primary (smtp.url), [1] the fallback (smtp.fallback_url) when configured.
  std::vector<smtp_relay> relays;
  /// Consumption is paused: no relay's breaker is closed. Consumers are cancelled on the
  /// broker and every delivery still arriving is requeued at once.
  bool paused = false;
  /// The consumer incarnations that delivered here (monitored): a pause or resume goes to
  /// each; a new one met while paused is paused at its first delivery.
  std::vector<caf::actor> consumers;
  caf::actor writer;
  caf::actor publisher; ///< confirmed publishes to the delay queues and failed.queue
  sender_config cfg;
  std::minstd_rand random{std::random_device{}()};
  runtime::entry_ptr entry;
  sender_counters count{};
  /// Notifications of the batches in flight here: a redelivery of one of them (its
  /// consumer lost the connection meanwhile) waits until the first attempt has ended.
  std::unordered_set<std::string> in_flight;
  /// Template versions compiled once: immutable, so never stale. Sized at start.
  compiled_cache compiled{0, 0};
  /// Deliveries that came while cfg.max_batches batches were in flight: the next batch.
  batch_ptr forming;
  /// The last status write or query failed: the status database may be down. Until a
  /// status query answers again, every batch asks one first and sends nothing if it fails.
  bool status_db_down = false;
  std::size_t running = 0; ///< batches in flight
  /// The tree's memory of crashes (crash_ledger.hpp): survives this incarnation.
  std::shared_ptr<runtime::crash_ledger> ledger;
  /// Suspects of a crash, one per batch, each worked on while no other batch is in flight;
  /// while any waits, no other batch starts.
  messaging::suspect_queue<batch_ptr> isolated;
  static inline const char* name = "email_sender";
};

using sender_actor = caf::stateful_actor<sender_state>;

void check_redelivered(sender_actor* self, batch_ptr b);
void lookup_users(sender_actor* self, batch_ptr b);
void start_batch(sender_actor* self, batch_ptr b);
void schedule(sender_actor* self);
void resolve_templates(sender_actor* self, batch_ptr b);
void render_and_send(sender_actor* self, batch_ptr b);
void forward(sender_actor* self, batch_ptr b);
void record(sender_actor* self, batch_ptr b);
void finish(sender_actor* self, batch_ptr b, bool recorded);

using messaging::decide;
using messaging::fail;

std::string render_error(sender_actor* self, const caf::error& e) {
  return self->system().render(e);
}

// -- circuit breakers ------------------------------------------------------------
//
// Each relay's breaker counts the sends while it is closed (one call per request to a
// connection; email_batch.hpp's relay_failed says what fails). While it is open, or
// half-open, no batch goes to that relay: after the cool-down one probe, an SMTP session
// check (smtp::probe on a thread of its own: connect, greeting, EHLO, STARTTLS, AUTH; no
// mail), decides. Batches go to the primary while its breaker is closed, else to the
// fallback while its breaker is closed, else nowhere: consumption pauses.

const log::context breaker_log{"email", "email_sender", {}};

/// The relay batches go to now; none while consumption is paused.
std::optional<std::size_t> route_index(const sender_state& st) {
  std::optional<runtime::breaker_state> fallback;
  if (st.relays.size() > 1) {
    fallback = st.relays[1].breaker.state();
  }
  switch (choose_route(st.relays[0].breaker.state(), fallback)) {
    case smtp_route::primary:
      return 0;
    case smtp_route::fallback:
      return 1;
    case smtp_route::paused:
      break;
  }
  return std::nullopt;
}

/// Pauses or resumes every known consumer when the route changed; the route on the
/// email_sender's registry entry.
void update_route(sender_actor* self) {
  auto& st = self->state;
  auto index = route_index(st);
  bool pause = !index;
  if (pause != st.paused) {
    st.paused = pause;
    for (auto& c : st.consumers) {
      if (pause) {
        self->send(c, pause_atom::value);
      } else {
        self->send(c, resume_atom::value);
      }
    }
    if (pause) {
      *st.count.pauses += 1;
      log::warn(breaker_log,
                "every SMTP relay's circuit breaker is open: email.queue paused, messages wait "
                "in RabbitMQ",
                {{"consumers", st.consumers.size()}});
    } else {
      log::info(breaker_log, "email.queue resumed",
                {{"relay", st.relays[*index].breaker.where()},
                 {"breaker", st.relays[*index].breaker.name()}});
    }
  }
  st.entry->set_state(pause ? std::string{"paused: SMTP circuit breaker open"}
                            : "sending through " + st.relays[*index].breaker.name() + " relay "
                                + st.relays[*index].breaker.where());
}

/// The outcome of one send request: counted when it started and ended while `index`'s
/// breaker was closed (requests started before it opened change nothing: only the probe
/// decides); when it opened the breaker, the probe is timed for the end of the cool-down.
void report(sender_actor* self, std::size_t index, bool failed, const std::string& why,
            messaging::admission kind = messaging::admission::call) {
  auto& st = self->state;
  std::uniform_real_distribution<double> unit{0.0, 1.0};
  if (auto wait = st.relays[index].breaker.report(kind, failed, why, clock_type::now(),
                                                  unit(st.random))) {
    self->delayed_send(self, *wait, probe_atom::value, static_cast<std::uint64_t>(index));
  }
  update_route(self);
}

/// Once the cool-down has passed: one session check on a thread of its own (it blocks).
void probe_relay(sender_actor* self, std::size_t index) {
  auto& r = self->state.relays[index];
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
  update_route(self);
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
    .then([=](std::string& error) {
            report(self, index, !error.empty(), error, messaging::admission::probe);
          },
          [=](caf::error& e) {
            report(self, index, true, render_error(self, e), messaging::admission::probe);
          });
}

// Step 1: a redelivered message whose notification already reached a final status is
// not sent again (one query for all of the batch's redelivered messages). The same query
// tells whether statuses can be recorded: when it fails, nothing of the batch is sent (its
// outcome could not be recorded, and a mail sent now would be sent again if this node went
// away before the status database came back); every pending message is requeued. While
// the database is known to be down every batch asks, even one without redeliveries.
void check_redelivered(sender_actor* self, batch_ptr b) {
  std::vector<std::string> ids;
  // A message back from a delay queue is checked too: it may have been sent, or
  // dead-lettered and replayed, since the copy was made.
  auto checked = [](const batch_item& item) {
    return item.result == verdict::pending && (item.job.redelivered || item.job.attempt > 1);
  };
  for (auto& item : b->items) {
    if (checked(item)) {
      ids.push_back(item.job.notification_id);
    }
  }
  if (ids.empty() && !self->state.status_db_down) {
    lookup_users(self, b);
    return;
  }
  auto unreachable = [=](const std::string& why) {
    self->state.status_db_down = true;
    messaging::requeue_pending(b->items, "status database unavailable, not sending: " + why);
    lookup_users(self, b); // nothing pending is left: records nothing, requeues the batch
  };
  auto redelivered_pending = [b, checked](auto&& fn) {
    for (auto& item : b->items) {
      if (checked(item)) {
        fn(item);
      }
    }
  };
  auto asked = ids.size();
  self->request(self->state.writer, service_timeout, statuses_atom::value, std::move(ids))
    .then(
      [=](outcome& o, std::vector<std::string>& statuses) {
        if (!o.ok()) {
          unreachable(o.error);
          return;
        }
        self->state.status_db_down = false;
        if (statuses.size() != asked) {
          redelivered_pending([&](batch_item& item) {
            decide(item, verdict::requeue,
                   "status of a redelivery unknown: answer of the wrong size");
          });
        } else {
          std::size_t i = 0;
          redelivered_pending([&](batch_item& item) {
            auto& status = statuses[i++];
            if (messaging::is_terminal_status(status)) {
              *self->state.count.duplicates += 1;
              decide(item, verdict::drop, "redelivered, already " + status);
            }
          });
        }
        lookup_users(self, b);
      },
      [=](caf::error& e) { unreachable(render_error(self, e)); });
}

// Step 2: every user of the batch in one request, read at send time (fresh address and
// preferences).
void lookup_users(sender_actor* self, batch_ptr b) {
  std::vector<std::string> ids;
  std::unordered_map<std::string, std::size_t> position;
  for (auto& item : b->items) {
    if (item.result == verdict::pending && position.emplace(item.job.user_id, ids.size()).second) {
      ids.push_back(item.job.user_id);
    }
  }
  if (ids.empty()) {
    forward(self, b);
    return;
  }
  auto asked = ids.size();
  self->request(self->state.users, service_timeout, lookup_many_atom::value, std::move(ids))
    .then(
      [=](std::vector<user_lookup_result>& found) {
        if (found.size() != asked) {
          messaging::requeue_pending(b->items, "users: answer of the wrong size");
          forward(self, b);
          return;
        }
        for (auto& item : b->items) {
          if (item.result != verdict::pending) {
            continue;
          }
          auto& r = found[position.at(item.job.user_id)];
          if (r.result.status == 404) {
            fail(item, messaging::reason::unknown_user, "unknown user " + item.job.user_id);
          } else if (!r.result.ok()) {
            decide(item, verdict::requeue, "users: " + r.result.error);
          } else if (!r.user.email_enabled) {
            decide(item, verdict::skipped, "user turned email notifications off");
          } else {
            item.user = r.user;
          }
        }
        defer_quiet_hours(self, b, "email", [=] { resolve_templates(self, b); });
      },
      [=](caf::error& e) {
        messaging::requeue_pending(b->items, "users: " + render_error(self, e));
        forward(self, b);
      });
}

/// A compiled version from the sender's own cache, or compiled now and kept.
compiled_ptr compiled_version(sender_actor* self, const template_record& t) {
  auto& cache = self->state.compiled;
  auto key = messaging::template_key{t.template_code, {t.language}, t.version}.text();
  if (auto c = cache.find(key)) {
    return c;
  }
  auto c = std::make_shared<const compiled_template>(t);
  cache.put(key, c);
  return c;
}

// Step 3: one template lookup per distinct (code, languages, version) of the batch; a
// pinned version already compiled here needs none.
void resolve_templates(sender_actor* self, batch_ptr b) {
  std::unordered_map<std::string, std::vector<std::size_t>> by_key;
  std::vector<messaging::template_key> keys;
  for (std::size_t i = 0; i < b->items.size(); ++i) {
    auto& item = b->items[i];
    if (item.result != verdict::pending) {
      continue;
    }
    if (item.job.pinned()) {
      auto local = messaging::template_key{item.job.template_code, {item.job.template_language},
                                item.job.template_version}
                     .text();
      if (auto c = self->state.compiled.find(local)) {
        item.tpl = c;
        continue;
      }
    }
    auto key = messaging::template_key_for(item.job, item.user);
    auto [slot, fresh] = by_key.try_emplace(key.text());
    if (fresh) {
      keys.push_back(std::move(key));
    }
    slot->second.push_back(i);
  }
  if (keys.empty()) {
    render_and_send(self, b);
    return;
  }
  b->awaiting = keys.size();
  for (auto& key : keys) {
    auto& members = by_key[key.text()];
    auto apply = [=](auto&& fn) {
      for (auto i : members) {
        fn(b->items[i]);
      }
      if (--b->awaiting == 0) {
        render_and_send(self, b);
      }
    };
    auto pinned_language = b->items[members.front()].job.pinned() ? key.languages.front()
                                                                  : std::string{};
    self->request(self->state.templates, service_timeout, lookup_atom::value, key.code,
                  key.languages, key.version)
      .then(
        [=](outcome& o, template_record& t) {
          if (o.status == 404) {
            apply([&](batch_item& item) {
              fail(item, messaging::reason::unknown_template, "unknown template: " + o.error);
            });
          } else if (!o.ok()) {
            apply([&](batch_item& item) { decide(item, verdict::requeue, "templates: " + o.error); });
          } else if (t.channel != "email") {
            apply([&](batch_item& item) {
              fail(item, messaging::reason::unknown_template,
                   "template " + t.template_code + " is for " + t.channel);
            });
          } else if (!pinned_language.empty() && t.language != pinned_language) {
            apply([&](batch_item& item) {
              fail(item, messaging::reason::unknown_template,
                     "unknown template: " + t.template_code + " has no version "
                       + std::to_string(key.version) + " in language " + pinned_language);
            });
          } else {
            auto c = compiled_version(self, t);
            apply([&](batch_item& item) { item.tpl = c; });
          }
        },
        [=](caf::error& e) {
          auto why = "templates: " + render_error(self, e);
          apply([&](batch_item& item) { decide(item, verdict::requeue, why); });
        });
  }
}

// Step 4: render each message with its compiled version, then send the batch's emails
// split across the SMTP connections (one request per connection, sent one after another
// on it).
void render_and_send(sender_actor* self, batch_ptr b) {
  auto relay = route_index(self->state);
  if (!relay) {
    messaging::requeue_pending(b->items, "SMTP relay unavailable (circuit breaker open), not sending");
    forward(self, b);
    return;
  }
  std::vector<std::size_t> to_send;
  for (std::size_t i = 0; i < b->items.size(); ++i) {
    auto& item = b->items[i];
    if (item.result != verdict::pending) {
      continue;
    }
    messaging::crash_on_variable(item.job.variables, self->state.cfg.crash_on_variable);
    auto r = item.tpl->render(item.job.variables, self->state.cfg.limits);
    if (!r.ok) {
      fail(item, messaging::reason::render_error, r.error);
      continue;
    }
    if (!r.missing.empty()) {
      std::string names;
      for (auto& n : r.missing) {
        names += (names.empty() ? "" : ", ") + n;
      }
      fail(item, messaging::reason::render_error, "missing template variables: " + names);
      continue;
    }
    item.mail = {item.user.email,          std::move(r.email.subject),
                 std::move(r.email.text_body), std::move(r.email.html_body),
                 item.job.notification_id, item.job.correlation_id};
    to_send.push_back(i);
  }
  auto chunks = messaging::split_evenly(to_send.size(), self->state.cfg.smtp_connections);
  if (chunks.empty()) {
    forward(self, b);
    return;
  }
  auto& cfg = self->state.cfg;
  // Sends start by `start_by`; the one under way then may take two SMTP transactions.
  auto start_by = to_ticks(clock_type::now() + cfg.smtp_timeout);
  auto wait = 3 * cfg.smtp_timeout + std::chrono::seconds{5};
  b->awaiting = chunks.size();
  for (auto [first, last] : chunks) {
    std::vector<std::size_t> members(to_send.begin() + static_cast<std::ptrdiff_t>(first),
                                     to_send.begin() + static_cast<std::ptrdiff_t>(last));
    std::vector<outgoing_email> mails;
    mails.reserve(members.size());
    for (auto i : members) {
      mails.push_back(std::move(b->items[i].mail));
    }
    auto done = [=] {
      if (--b->awaiting == 0) {
        forward(self, b);
      }
    };
    auto index = *relay;
    self->request(self->state.relays[index].pool, wait, send_atom::value, std::move(mails),
                  start_by)
      .then(
        [=](std::vector<send_result>& results) {
          std::string why;
          for (auto& r : results) {
            if (r.relay_failure) {
              why = r.detail;
              break;
            }
          }
          report(self, index, relay_failed(results, members.size()),
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
          done();
        },
        [=](caf::error& e) {
          auto why = "SMTP connection: " + render_error(self, e);
          report(self, index, true, why);
          for (auto i : members) {
            decide(b->items[i], verdict::requeue, why);
          }
          done();
        });
  }
}

// Step 5: messages that failed for themselves leave for their next stop, each published
// with a confirm before anything is recorded or acked: a transient failure to the delay
// queue of its next attempt (with that attempt in x-herald-attempt), or to failed.queue
// once the steps are spent; a permanent one to failed.queue with its reason. A publish
// that is not confirmed leaves the message to be requeued, unrecorded.
void forward(sender_actor* self, batch_ptr b) {
  auto& st = self->state;
  std::vector<std::pair<std::size_t, amqp::message>> out;
  for (std::size_t i = 0; i < b->items.size(); ++i) {
    auto& item = b->items[i];
    auto& j = item.job;
    if (item.result == verdict::retry) {
      std::uniform_real_distribution<double> unit{0.0, 1.0};
      if (auto plan = messaging::plan_retry(j.attempt, st.cfg.retries, unit(st.random))) {
        item.detail = "attempt " + std::to_string(j.attempt) + " failed: " + item.detail
                      + "; attempt " + std::to_string(plan->next_attempt) + " in "
                      + std::to_string(plan->delay.count()) + " ms";
        out.emplace_back(i, messaging::to_delay_queue(j.body, "email", j.notification_id,
                                                      j.correlation_id, *plan));
        continue;
      }
      item.result = verdict::failed;
      item.reason = messaging::reason::retries_exhausted;
      item.detail = std::to_string(j.attempt) + " attempts failed, the last: " + item.detail;
    }
    if (item.result == verdict::failed) {
      out.emplace_back(i, messaging::to_failed_queue(j.body, "email", j.notification_id,
                                                     j.correlation_id, item.reason, item.detail,
                                                     j.attempt));
    }
  }
  if (out.empty()) {
    record(self, b);
    return;
  }
  b->awaiting = out.size();
  for (auto& [i, msg] : out) {
    auto queue = msg.exchange == messaging::retry_exchange ? "its delay queue"
                                                           : messaging::failed_queue;
    auto done = [=](const std::string& error) {
      if (!error.empty()) {
        auto& item = b->items[i];
        item.result = verdict::requeue;
        item.detail = std::string{"not forwarded to "} + queue + ": " + error;
      }
      if (--b->awaiting == 0) {
        record(self, b);
      }
    };
    self->request(st.publisher, st.cfg.publish_timeout, messaging::publish_atom::value,
                  std::move(msg))
      .then([=](outcome& o) { done(o.ok() ? std::string{} : o.error); },
            [=](caf::error& e) { done(render_error(self, e)); });
  }
}

// Step 6: the batch's outcomes in one request to the status writer; the messages are
// settled only once it answered.
void record(sender_actor* self, batch_ptr b) {
  std::vector<status_event> events;
  for (auto& item : b->items) {
    auto status = messaging::status_name(item.result);
    if (*status == '\0') {
      continue;
    }
    auto& j = item.job;
    status_event ev;
    ev.notification_id = j.notification_id;
    ev.status = status;
    ev.detail = item.detail;
    ev.attempts = j.attempt;
    ev.request_id = j.request_id;
    ev.user_id = j.user_id;
    ev.channel = "email";
    ev.template_code = j.template_code;
    ev.correlation_id = j.correlation_id;
    if (item.tpl) {
      ev.language = item.tpl->record().language;
      ev.template_version = item.tpl->record().version;
    }
    events.push_back(std::move(ev));
  }
  if (events.empty()) {
    finish(self, b, true);
    return;
  }
  self->request(self->state.writer, service_timeout, record_many_atom::value, std::move(events))
    .then([=](bool written) { finish(self, b, written); },
          [=](caf::error& e) {
            self->state.status_db_down = true;
            log::warn({"email", "email_sender", {}}, "statuses not recorded, requeueing",
                      {{"messages", b->items.size()}, {"error", render_error(self, e)}});
            finish(self, b, false);
          });
}

// Step 7: one ack for the batch's settled messages, one (delayed) requeue for the rest,
// per consumer; then the deliveries that waited meanwhile start as the next batch.
void finish(sender_actor* self, batch_ptr b, bool recorded) {
  auto& st = self->state;
  std::vector<std::pair<std::uint64_t, verdict>> outcomes;
  outcomes.reserve(b->items.size());
  std::uint64_t sent = 0;
  std::uint64_t skipped = 0;
  std::uint64_t failed = 0;
  std::uint64_t retried = 0;
  if (b->isolated) {
    st.isolated.finished();
  }
  for (auto& item : b->items) {
    outcomes.emplace_back(item.job.tag, item.result);
    if (item.tracked) {
      st.in_flight.erase(item.job.notification_id);
      st.ledger->finished(item.job.notification_id);
      if (recorded && item.result != verdict::requeue && item.result != verdict::pending) {
        st.ledger->forget(item.job.notification_id);
      }
    }
    log::context who{"email", "email_sender", item.job.correlation_id};
    switch (item.result) {
      case verdict::sent:
      case verdict::skipped:
      case verdict::failed:
      case verdict::retry:
        if (recorded) {
          sent += item.result == verdict::sent;
          skipped += item.result == verdict::skipped;
          failed += item.result == verdict::failed;
          retried += item.result == verdict::retry;
          log::info(who, std::string{"notification "} + messaging::status_name(item.result),
                    {{"notification_id", item.job.notification_id},
                     {"attempt", item.job.attempt},
                     {"detail", item.detail}});
        }
        break;
      case verdict::requeue:
      case verdict::pending:
        log::warn(who, "requeueing",
                  {{"notification_id", item.job.notification_id}, {"reason", item.detail}});
        break;
      case verdict::drop:
        log::info(who, "acknowledged without sending",
                  {{"notification_id", item.job.notification_id}, {"reason", item.detail}});
        break;
    }
  }
  auto n = b->items.size();
  std::uint64_t requeued = 0;
  for (std::size_t source = 0; source < b->consumers.size(); ++source) {
    std::vector<std::pair<std::uint64_t, verdict>> mine;
    for (std::size_t i = 0; i < n; ++i) {
      if (b->items[i].source == source) {
        mine.push_back(outcomes[i]);
      }
    }
    auto s = messaging::settle(mine, recorded);
    requeued += s.requeue.size();
    auto& consumer = b->consumers[source];
    if (!s.ack.empty()) {
      self->send(consumer, ack_atom::value, std::move(s.ack));
    }
    if (!s.requeue.empty() && st.paused) {
      // Its consumer is paused: back to the queue at once, to wait there.
      *st.count.paused_requeued += s.requeue.size();
      self->send(consumer, requeue_atom::value, std::move(s.requeue));
    } else if (!s.requeue.empty()) {
      self->delayed_send(consumer, st.cfg.requeue_delay, requeue_atom::value,
                         std::move(s.requeue));
    }
  }
  *st.count.sent += sent;
  *st.count.skipped += skipped;
  *st.count.failed += failed;
  *st.count.dead_lettered += failed;
  *st.count.retried += retried;
  *st.count.requeued += requeued;
  st.entry->processed += n;
  st.entry->failed += failed;
  st.entry->in_flight -= static_cast<std::int64_t>(n);
  st.running -= 1;
  schedule(self);
}

/// Starts what may start: a suspect alone once nothing else is in flight (and nothing
/// else while suspects wait), else everything that waited as one batch.
void schedule(sender_actor* self) {
  auto& st = self->state;
  if (st.isolated.blocking()) {
    if (auto b = st.isolated.next(st.running)) {
      *st.count.isolated += 1;
      start_batch(self, std::move(*b));
    }
    return;
  }
  if (st.forming && st.running < st.cfg.max_batches) {
    auto b = std::move(st.forming);
    st.forming = nullptr;
    start_batch(self, std::move(b));
  }
}

/// `b` becomes a batch in flight.
void start_batch(sender_actor* self, batch_ptr b) {
  auto& st = self->state;
  for (auto& item : b->items) {
    if (item.tracked) {
      st.ledger->started(item.job.notification_id);
    }
  }
  auto n = b->items.size();
  st.running += 1;
  *st.count.batches += 1;
  *st.count.batched_messages += n;
  st.count.batch_size_last->store(n);
  if (n > st.count.batch_size_max->load()) {
    st.count.batch_size_max->store(n);
  }
  st.entry->in_flight += static_cast<std::int64_t>(n);
  if (st.paused) {
    messaging::requeue_pending(b->items, "SMTP relay unavailable (circuit breaker open), not sending");
    finish(self, b, true);
    return;
  }
  check_redelivered(self, std::move(b));
}

caf::behavior email_sender(sender_actor* self, caf::actor users, caf::actor templates,
                           std::vector<smtp_relay> relays, caf::actor writer,
                           caf::actor publisher, sender_config cfg,
                           std::shared_ptr<runtime::crash_ledger> ledger,
                           runtime::entry_ptr entry) {
  auto& st = self->state;
  st.ledger = ledger;
  entry->in_flight = 0; // what an earlier incarnation had in flight went with it
  // A crash: every message in flight is blamed in the tree's ledger, then the actor dies
  // with the exception's text and its supervisor restarts it (and its consumers).
  messaging::blame_on_crash(self, ledger, {"email", "email_sender", {}});
  st.publisher = std::move(publisher);
  st.users = std::move(users);
  st.templates = std::move(templates);
  st.relays = std::move(relays);
  st.writer = std::move(writer);
  st.cfg = cfg;
  st.compiled = compiled_cache{cfg.compiled_max, cfg.compiled_bytes};
  st.entry = entry;
  st.count = {&entry->counter("sent"),           &entry->counter("skipped"),
              &entry->counter("failed"),         &entry->counter("requeued"),
              &entry->counter("duplicates"),     &entry->counter("batches"),
              &entry->counter("batched_messages"), &entry->counter("batch_size_max"),
              &entry->counter("batch_size_last"), &entry->counter("retried"),
              &entry->counter("dead_lettered"), &entry->counter("pauses"),
              &entry->counter("paused_requeued"), &entry->counter("poison"),
              &entry->counter("isolated"),      &entry->counter("recovered_sends")};
  update_route(self);
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& cs = self->state.consumers;
    cs.erase(std::remove_if(cs.begin(), cs.end(),
                            [&](const caf::actor& c) { return c.address() == dm.source; }),
             cs.end());
  });
  return {
    [=](probe_atom, std::uint64_t index) { probe_relay(self, static_cast<std::size_t>(index)); },
    [=](deliver_atom, std::vector<queued_message>& messages) {
      auto& st = self->state;
      auto consumer = caf::actor_cast<caf::actor>(self->current_sender());
      if (std::find(st.consumers.begin(), st.consumers.end(), consumer) == st.consumers.end()) {
        st.consumers.push_back(consumer);
        self->monitor(consumer);
        if (st.paused) {
          self->send(consumer, pause_atom::value); // before its deliveries' requeue
        }
      }
      // The next batch, and this consumer's index in it, made when first needed.
      std::size_t source = 0;
      auto forming = [&]() -> email_batch& {
        if (!st.forming) {
          st.forming = std::make_shared<email_batch>();
        }
        auto& b = *st.forming;
        source = static_cast<std::size_t>(
          std::find(b.consumers.begin(), b.consumers.end(), consumer) - b.consumers.begin());
        if (source == b.consumers.size()) {
          b.consumers.push_back(consumer);
        }
        return b;
      };
      for (auto& m : messages) {
        std::string why;
        auto job = messaging::parse_notification_job(m, why);
        if (!job) {
          // It would never become readable: dead-lettered as it is, then acked (requeued
          // when failed.queue did not confirm it).
          st.entry->processed += 1;
          st.entry->failed += 1;
          messaging::dead_letter_unreadable(
            self, st.publisher, st.cfg.publish_timeout, consumer, m, why,
            {"email", "email_sender", m.correlation_id}, st.cfg.requeue_delay,
            [self] { *self->state.count.dead_lettered += 1; });
          continue;
        }
        batch_item item;
        item.job = std::move(*job);
        auto& id = item.job.notification_id;
        if (!st.in_flight.insert(id).second) {
          // Its first delivery is still being worked on here: settle that one first.
          item.result = verdict::requeue;
          item.detail = "redelivered while its first delivery is still in progress";
          item.tracked = false;
        } else {
          switch (messaging::triage(*st.ledger, id)) {
            case messaging::crash_triage::recovered_send:
              decide(item, verdict::sent, "delivered before the email sender restarted");
              *st.count.recovered_sends += 1;
              break;
            case messaging::crash_triage::poison:
              fail(item, messaging::reason::poison,
                   messaging::poison_detail(*st.ledger, id, "email sender"));
              *st.count.poison += 1;
              messaging::log_poison(*st.ledger, id,
                                    {"email", "email_sender", item.job.correlation_id});
              break;
            case messaging::crash_triage::suspect: {
              // In flight when the sender crashed: worked on alone, so a crash is its own.
              auto b = std::make_shared<email_batch>();
              b->consumers.push_back(consumer);
              b->isolated = true;
              b->items.push_back(std::move(item));
              st.isolated.push(std::move(b));
              continue;
            }
            case messaging::crash_triage::clear:
              break;
          }
        }
        auto& b = forming();
        item.source = source;
        b.items.push_back(std::move(item));
      }
      schedule(self);
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

  runtime::retry_schedule retries;
  retries.steps = ctx.settings.get_ms_list("retry.steps_ms");
  auto declare = messaging::topology(retries.steps);
  {
    auto make_publisher = messaging::publisher_factory(ctx.settings, declare);
    runtime::child_spec child;
    child.name = "email_forwarder";
    child.kind = "io_thread";
    child.policy = restart;
    child.spawn = [make_publisher](caf::actor_system& sys, const runtime::child_env& env) {
      return make_publisher(sys, env.entry);
    };
    tree.children.push_back(std::move(child));
  }

  sender_config cfg{smtp_settings.timeout, smtp_connections,
                    ctx.settings.get_ms("email.requeue_delay_ms"),
                    static_cast<std::size_t>(ctx.settings.get_int("email.batches_in_flight")),
                    1024, static_cast<std::size_t>(ctx.settings.get_int("templates.cache_bytes")),
                    render_limits_from(ctx.settings), retries,
                    ctx.settings.get_ms("amqp.confirm_timeout_ms") + std::chrono::seconds{2},
                    ctx.settings.get("fault.crash_on_variable")};
  {
    runtime::child_spec child;
    child.name = "email_sender";
    child.kind = "event_based";
    child.policy = restart;
    // Rest-for-one: the consumers hold the sender's deliveries unacked; they restart with
    // it, dropping their connections, so the broker redelivers what it had in flight.
    child.restart_dependants = true;
    child.spawn = [=](caf::actor_system& sys, const runtime::child_env& env) {
      std::vector<smtp_relay> live;
      for (auto& r : relays) {
        live.push_back({r.settings, env.front(r.pool),
                        messaging::provider_breaker{r.name, "SMTP", r.where, policy, r.entry,
                                                    breaker_log, "relay"}});
      }
      return sys.spawn(email_sender, user_lookup, template_cache, std::move(live), status_writer,
                       env.front("email_forwarder"), cfg, ledger, env.entry);
    };
    tree.children.push_back(std::move(child));
  }

  messaging::consumer_settings cs{ctx.settings.get("amqp.url"), messaging::email_queue,
                                  static_cast<std::uint16_t>(ctx.settings.get_int("amqp.prefetch")),
                                  declare};
  {
    // The consumers' worker is the sender's front: it outlives the sender's incarnations.
    auto sender_front = std::make_shared<caf::actor>();
    runtime::pool_spec spec;
    spec.name = "email_consumer";
    spec.role = "email";
    spec.size = static_cast<std::size_t>(ctx.settings.get_int("email.consumers"));
    spec.policy = restart;
    spec.spawn_worker = [=](caf::actor_system& sys, runtime::entry_ptr entry) {
      return sys.spawn(messaging::queue_consumer, cs, *sender_front, entry);
    };
    auto make_pool = runtime::pool_factory(reg, std::move(spec));
    runtime::child_spec child;
    child.name = "email_consumer/supervisor";
    child.kind = "supervisor";
    child.policy = restart;
    child.spawn = [make_pool, sender_front](caf::actor_system& sys,
                                            const runtime::child_env& env) {
      if (!*sender_front) { // written once, before any consumer reads it
        *sender_front = env.front("email_sender");
      }
      return make_pool(sys);
    };
    tree.children.push_back(std::move(child));
  }
  return {runtime::spawn_supervisor(ctx.system, reg, std::move(tree))};
}

} // namespace herald
