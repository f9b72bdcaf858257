#include "actors/push_sender/push_sender.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <optional>
#include <random>
#include <unordered_map>
#include <unordered_set>

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
#include "actors/push_sender/push_batch.hpp"
#include "actors/push_sender/push_provider.hpp"
#include "actors/push_sender/push_providers.hpp"
#include "actors/template_cache/compiled_cache.hpp"
#include "actors/template_cache/render.hpp"
#include "actors/user_lookup/user_lookup.hpp"
#include "adapters/url.hpp"
#include "runtime/logging/log.hpp"
#include "runtime/supervision/supervisor.hpp"

namespace herald {

using json = nlohmann::json;
using messaging::verdict;

namespace {

using clock_type = std::chrono::steady_clock;

std::int64_t to_ticks(clock_type::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

const log::context push_log{"push", "push_sender", {}};

// -- provider workers -------------------------------------------------------------

struct worker_state {
  std::unique_ptr<push_provider> provider;
  static inline const char* name = "push_worker";
};

/// One provider object (one kept-alive HTTP client) on a thread of its own. A request met
/// after its start_by is answered transient without sending: its requester gave up on it.
caf::behavior provider_worker(caf::stateful_actor<worker_state>* self, provider_factory make,
                              runtime::entry_ptr entry) {
  self->state.provider = make();
  entry->set_state("running");
  return {
    [=](send_atom, const push_delivery& d, std::int64_t start_by) -> device_outcome {
      if (to_ticks(clock_type::now()) > start_by) {
        return device_outcome::transient("not attempted: the sender stopped waiting", false);
      }
      device_outcome out;
      try {
        out = self->state.provider->send(d);
      } catch (const std::exception& e) {
        out = device_outcome::transient(std::string{"provider error: "} + e.what(), true);
      }
      entry->processed += 1;
      if (out.result != device_result::accepted) {
        entry->failed += 1;
      }
      return out;
    },
  };
}

// -- push_sender ------------------------------------------------------------------

using compiled_ptr = compiled_cache::compiled_ptr;

struct push_item {
  messaging::notification_job job;
  verdict result = verdict::pending;
  std::string detail;
  std::string reason; ///< dead-letter reason, for `failed`
  user_record user;
  compiled_ptr tpl;
  std::set<std::string> done_before;     ///< devices that accepted in earlier attempts
  std::vector<device_report> reports;    ///< this attempt's devices
  push_decision decision;
  bool tracked = true;
  std::size_t source = 0;
};

struct push_batch {
  std::vector<caf::actor> consumers;
  std::vector<push_item> items;
  std::size_t awaiting = 0;
  bool isolated = false; ///< one suspect of a crash, worked on with no other batch
};

using batch_ptr = std::shared_ptr<push_batch>;

/// One provider: configured (a pool and a breaker) or not (a reason).
struct provider_slot {
  std::string kind; ///< "fcm", "webpush"
  std::string not_configured; ///< "" when configured
  caf::actor pool;
  std::optional<messaging::provider_breaker> breaker;
};

struct sender_config {
  std::chrono::milliseconds send_timeout;
  std::chrono::milliseconds requeue_delay;
  std::size_t max_batches;
  std::size_t compiled_max;
  std::size_t compiled_bytes;
  render_limits limits;
  runtime::retry_schedule retries;
  std::chrono::milliseconds publish_timeout;
  std::string crash_on_variable; ///< fault.crash_on_variable ("": off)
};

struct sender_state {
  caf::actor users;
  caf::actor templates;
  caf::actor writer;
  caf::actor publisher;
  std::vector<provider_slot> providers;
  std::vector<caf::actor> consumers;
  bool paused = false;
  sender_config cfg;
  std::minstd_rand random{std::random_device{}()};
  runtime::entry_ptr entry;
  std::unordered_set<std::string> in_flight;
  compiled_cache compiled{0, 0};
  batch_ptr forming;
  bool status_db_down = false;
  std::size_t running = 0;
  /// The tree's memory of crashes (messaging/crash_triage.hpp): survives this incarnation.
  std::shared_ptr<runtime::crash_ledger> ledger;
  messaging::suspect_queue<batch_ptr> isolated;
  static inline const char* name = "push_sender";
};

using sender_actor = caf::stateful_actor<sender_state>;

void check_redelivered(sender_actor* self, batch_ptr b);
void lookup_users(sender_actor* self, batch_ptr b);
void resolve_templates(sender_actor* self, batch_ptr b);
void render_and_send(sender_actor* self, batch_ptr b);
void decide_all(sender_actor* self, batch_ptr b);
void forward(sender_actor* self, batch_ptr b);
void record(sender_actor* self, batch_ptr b);
void finish(sender_actor* self, batch_ptr b, bool recorded);
void start_batch(sender_actor* self, batch_ptr b);
void schedule(sender_actor* self);

std::atomic<std::uint64_t>& count(sender_actor* self, const char* name) {
  return self->state.entry->counter(name);
}

using messaging::decide;
using messaging::fail;

std::string render_error(sender_actor* self, const caf::error& e) {
  return self->system().render(e);
}

double unit_random(sender_actor* self) {
  std::uniform_real_distribution<double> unit{0.0, 1.0};
  return unit(self->state.random);
}

// -- pausing ----------------------------------------------------------------------
// Consumption pauses while every configured provider's breaker is open and cooling down:
// nothing could be sent. A provider whose cool-down has passed takes the next send as its
// probe, so consumption resumes then.

bool all_cooling(const sender_state& st) {
  auto now = clock_type::now();
  bool any = false;
  for (auto& p : st.providers) {
    if (!p.breaker) {
      continue;
    }
    any = true;
    if (!p.breaker->cooling(now)) {
      return false;
    }
  }
  return any;
}

void update_route(sender_actor* self) {
  auto& st = self->state;
  bool pause = all_cooling(st);
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
      count(self, "pauses") += 1;
      log::warn(push_log,
                "every push provider's circuit breaker is open: push.queue paused, messages "
                "wait in RabbitMQ",
                {{"consumers", st.consumers.size()}});
    } else {
      log::info(push_log, "push.queue resumed");
    }
  }
  st.entry->set_state(pause ? "paused: push circuit breakers open" : "running");
}

/// The outcome of one admitted send: counted by the provider's breaker; when it opened
/// it, a wake-up at the end of the cool-down (to resume consumption for the probe).
void report(sender_actor* self, std::size_t provider, messaging::admission kind,
            const device_outcome& o) {
  auto& p = self->state.providers[provider];
  if (!p.breaker) {
    return;
  }
  bool failed = o.result == device_result::transient && o.provider_failure;
  if (auto wait = p.breaker->report(kind, failed, o.detail, clock_type::now(),
                                    unit_random(self))) {
    self->delayed_send(self, *wait, probe_atom::value, static_cast<std::uint64_t>(provider));
  }
  update_route(self);
}

// Step 1, as email's: a redelivered or retried message whose notification is already
// final is not sent again; when the status database cannot answer, nothing is sent.
void check_redelivered(sender_actor* self, batch_ptr b) {
  std::vector<std::string> ids;
  auto checked = [](const push_item& item) {
    return item.result == verdict::pending
           && (item.job.redelivered || item.job.from_retry || item.job.attempt > 1);
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
    lookup_users(self, b);
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
        std::size_t i = 0;
        for (auto& item : b->items) {
          if (!checked(item)) {
            continue;
          }
          if (statuses.size() != asked) {
            decide(item, verdict::requeue, "status of a redelivery unknown");
            continue;
          }
          auto& status = statuses[i++];
          if (messaging::is_terminal_status(status)) {
            count(self, "duplicates") += 1;
            decide(item, verdict::drop, "redelivered, already " + status);
          }
        }
        lookup_users(self, b);
      },
      [=](caf::error& e) { unreachable(render_error(self, e)); });
}

// Step 2: every user of the batch in one request, read at send time.
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
          } else if (!r.user.push_enabled) {
            decide(item, verdict::skipped, "user turned push notifications off");
          } else if (r.user.push_tokens.empty()) {
            decide(item, verdict::skipped, "user has no push device");
          } else {
            item.user = r.user;
          }
        }
        defer_quiet_hours(self, b, "push", [=] { resolve_templates(self, b); });
      },
      [=](caf::error& e) {
        messaging::requeue_pending(b->items, "users: " + render_error(self, e));
        forward(self, b);
      });
}

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

// Step 3: one template lookup per distinct key; a pinned version compiled here needs none.
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
    auto members = by_key[key.text()];
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
    auto version = key.version;
    self->request(self->state.templates, service_timeout, lookup_atom::value, key.code,
                  key.languages, key.version)
      .then(
        [=](outcome& o, template_record& t) {
          if (o.status == 404) {
            apply([&](push_item& item) {
              fail(item, messaging::reason::unknown_template, "unknown template: " + o.error);
            });
          } else if (!o.ok()) {
            apply([&](push_item& item) { decide(item, verdict::requeue, "templates: " + o.error); });
          } else if (t.channel != "push") {
            apply([&](push_item& item) {
              fail(item, messaging::reason::unknown_template,
                   "template " + t.template_code + " is for " + t.channel);
            });
          } else if (!pinned_language.empty() && t.language != pinned_language) {
            apply([&](push_item& item) {
              fail(item, messaging::reason::unknown_template,
                   "unknown template: " + t.template_code + " has no version "
                     + std::to_string(version) + " in language " + pinned_language);
            });
          } else {
            auto c = compiled_version(self, t);
            apply([&](push_item& item) { item.tpl = c; });
          }
        },
        [=](caf::error& e) {
          auto why = "templates: " + render_error(self, e);
          apply([&](push_item& item) { decide(item, verdict::requeue, why); });
        });
  }
}

std::size_t provider_index(const sender_state& st, const std::string& kind) {
  for (std::size_t i = 0; i < st.providers.size(); ++i) {
    if (st.providers[i].kind == kind) {
      return i;
    }
  }
  return st.providers.size();
}

// Step 4: render each message, then one request per device to its provider's pool.
void render_and_send(sender_actor* self, batch_ptr b) {
  auto& st = self->state;
  struct pending_send {
    std::size_t item;
    std::size_t report;
    std::size_t provider;
    messaging::admission kind;
    push_delivery delivery;
  };
  std::vector<pending_send> sends;
  auto now = clock_type::now();
  for (std::size_t i = 0; i < b->items.size(); ++i) {
    auto& item = b->items[i];
    if (item.result != verdict::pending) {
      continue;
    }
    messaging::crash_on_variable(item.job.variables, st.cfg.crash_on_variable);
    auto r = item.tpl->render(item.job.variables, st.cfg.limits);
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
    if (auto h = item.job.headers.find(push_done_header); h != item.job.headers.end()) {
      item.done_before = parse_push_done(h->second);
    }
    auto options = push_options_for(item.job.priority);
    auto data = r.push.data.dump(-1, ' ', false, json::error_handler_t::replace);
    for (auto& device : devices_to_send(item.user.push_tokens, item.done_before)) {
      device_report rep;
      rep.device = device;
      auto p = provider_index(st, device.kind);
      if (p == st.providers.size()) {
        rep.outcome = device_outcome::refused("unknown device type '" + device.kind + "'");
        item.reports.push_back(std::move(rep));
        continue;
      }
      auto& slot = st.providers[p];
      if (!slot.breaker) {
        rep.outcome = device_outcome::refused(slot.not_configured);
        item.reports.push_back(std::move(rep));
        continue;
      }
      auto kind = slot.breaker->admit(now);
      if (kind == messaging::admission::refused) {
        rep.deferred = true;
        item.reports.push_back(std::move(rep));
        continue;
      }
      push_delivery d{device,       r.push.title, r.push.body,
                      r.push.image_url, r.push.link, data,
                      options,      item.job.notification_id, item.job.correlation_id};
      item.reports.push_back(std::move(rep));
      sends.push_back({i, item.reports.size() - 1, p, kind, std::move(d)});
    }
  }
  if (sends.empty()) {
    decide_all(self, b);
    return;
  }
  auto start_by = to_ticks(now + st.cfg.send_timeout);
  auto wait = 2 * st.cfg.send_timeout + std::chrono::seconds{5};
  b->awaiting = sends.size();
  for (auto& s : sends) {
    auto item = s.item;
    auto slot = s.report;
    auto provider = s.provider;
    auto kind = s.kind;
    auto done = [=](device_outcome o) {
      report(self, provider, kind, o);
      b->items[item].reports[slot].outcome = std::move(o);
      if (--b->awaiting == 0) {
        decide_all(self, b);
      }
    };
    self->request(st.providers[provider].pool, wait, send_atom::value, std::move(s.delivery),
                  start_by)
      .then([=](device_outcome& o) { done(std::move(o)); },
            [=](caf::error& e) {
              done(device_outcome::transient("provider worker: " + render_error(self, e), true));
            });
  }
}

// Step 5: each notification's fate from its devices' outcomes; gone devices removed.
void decide_all(sender_actor* self, batch_ptr b) {
  auto& st = self->state;
  for (auto& item : b->items) {
    if (item.result != verdict::pending) {
      continue;
    }
    for (auto& r : item.reports) {
      if (r.deferred) {
        count(self, "devices_deferred") += 1;
        continue;
      }
      count(self, ("devices_" + to_string(r.outcome.result)).c_str()) += 1;
    }
    bool retries_left = st.cfg.retries.step_after(item.job.attempt).has_value();
    item.decision = decide_push(item.reports, item.done_before, retries_left);
    if (item.decision.verdict == verdict::failed) {
      item.reason = item.decision.reason;
    }
    decide(item, item.decision.verdict, item.decision.detail);
    for (auto& device : gone_devices(item.reports)) {
      auto user_id = item.user.id;
      auto correlation = item.job.correlation_id;
      auto device_id = device.id;
      self->request(st.users, service_timeout, remove_token_atom::value, user_id, device_id,
                    std::string{}, std::string{})
        .then(
          [=](outcome& o, push_token&) {
            if (o.ok()) {
              count(self, "devices_removed") += 1;
              log::info({"push", "push_sender", correlation}, "gone device removed",
                        {{"user_id", user_id}, {"device_id", device_id}});
            } else if (o.status != 404) {
              log::warn({"push", "push_sender", correlation}, "gone device not removed",
                        {{"user_id", user_id}, {"device_id", device_id}, {"error", o.error}});
            }
          },
          [=](caf::error& e) {
            log::warn({"push", "push_sender", correlation}, "gone device not removed",
                      {{"user_id", user_id},
                       {"device_id", device_id},
                       {"error", render_error(self, e)}});
          });
    }
  }
  forward(self, b);
}

// Step 5b: retries to their delay queue (with the devices that accepted), dead letters to
// failed.queue, each confirmed before anything is recorded or acked.
void forward(sender_actor* self, batch_ptr b) {
  auto& st = self->state;
  std::vector<std::pair<std::size_t, amqp::message>> out;
  for (std::size_t i = 0; i < b->items.size(); ++i) {
    auto& item = b->items[i];
    auto& j = item.job;
    if (item.result == verdict::retry) {
      auto plan = plan_push_retry(j.attempt, item.decision.spend_attempt, st.cfg.retries,
                                  unit_random(self), item.decision.retry_after_ms);
      if (plan) {
        item.detail = "attempt " + std::to_string(j.attempt) + ": " + item.detail + "; next in "
                      + std::to_string(plan->delay.count()) + " ms";
        auto m = messaging::to_delay_queue(j.body, "push", j.notification_id, j.correlation_id,
                                           *plan);
        if (!item.decision.done.empty()) {
          m.headers[push_done_header] = format_push_done(item.decision.done);
        }
        out.emplace_back(i, std::move(m));
        continue;
      }
      item.result = verdict::failed;
      item.reason = messaging::reason::retries_exhausted;
    }
    if (item.result == verdict::failed) {
      out.emplace_back(i, messaging::to_failed_queue(j.body, "push", j.notification_id,
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

// Step 6: the batch's statuses, each with its devices' timeline entries, in one request.
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
    ev.channel = "push";
    ev.template_code = j.template_code;
    ev.correlation_id = j.correlation_id;
    if (item.tpl) {
      ev.language = item.tpl->record().language;
      ev.template_version = item.tpl->record().version;
    }
    if (!item.reports.empty()) {
      ev.device_events = device_events(item.reports);
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
            log::warn(push_log, "statuses not recorded, requeueing",
                      {{"messages", b->items.size()}, {"error", render_error(self, e)}});
            finish(self, b, false);
          });
}

// Step 7: one ack and at most one requeue per consumer; then the next batch.
void finish(sender_actor* self, batch_ptr b, bool recorded) {
  auto& st = self->state;
  std::uint64_t requeued = 0;
  if (b->isolated) {
    st.isolated.finished();
  }
  for (auto& item : b->items) {
    if (item.tracked) {
      st.in_flight.erase(item.job.notification_id);
      st.ledger->finished(item.job.notification_id);
      if (recorded && item.result != verdict::requeue && item.result != verdict::pending) {
        st.ledger->forget(item.job.notification_id);
      }
    }
    log::context who{"push", "push_sender", item.job.correlation_id};
    auto status = messaging::status_name(item.result);
    if (*status != '\0' && recorded) {
      count(self, item.result == verdict::sent      ? "sent"
                  : item.result == verdict::skipped ? "skipped"
                  : item.result == verdict::retry   ? "retried"
                                                    : "failed") += 1;
      if (item.result == verdict::failed) {
        count(self, "dead_lettered") += 1;
      }
      log::info(who, std::string{"notification "} + status,
                {{"notification_id", item.job.notification_id},
                 {"attempt", item.job.attempt},
                 {"detail", item.detail}});
    } else if (item.result == verdict::requeue || item.result == verdict::pending
               || *status != '\0') {
      log::warn(who, "requeueing",
                {{"notification_id", item.job.notification_id}, {"reason", item.detail}});
    } else {
      log::info(who, "acknowledged without sending",
                {{"notification_id", item.job.notification_id}, {"reason", item.detail}});
    }
  }
  for (std::size_t source = 0; source < b->consumers.size(); ++source) {
    std::vector<std::pair<std::uint64_t, verdict>> mine;
    for (auto& item : b->items) {
      if (item.source == source) {
        mine.emplace_back(item.job.tag, item.result);
      }
    }
    auto s = messaging::settle(mine, recorded);
    requeued += s.requeue.size();
    auto& consumer = b->consumers[source];
    if (!s.ack.empty()) {
      self->send(consumer, ack_atom::value, std::move(s.ack));
    }
    if (!s.requeue.empty() && st.paused) {
      count(self, "paused_requeued") += s.requeue.size();
      self->send(consumer, requeue_atom::value, std::move(s.requeue));
    } else if (!s.requeue.empty()) {
      self->delayed_send(consumer, st.cfg.requeue_delay, requeue_atom::value,
                         std::move(s.requeue));
    }
  }
  count(self, "requeued") += requeued;
  auto n = b->items.size();
  st.entry->processed += n;
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
      count(self, "isolated") += 1;
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

void start_batch(sender_actor* self, batch_ptr b) {
  auto& st = self->state;
  for (auto& item : b->items) {
    if (item.tracked) {
      st.ledger->started(item.job.notification_id);
    }
  }
  auto n = b->items.size();
  st.running += 1;
  count(self, "batches") += 1;
  count(self, "batched_messages") += n;
  st.entry->in_flight += static_cast<std::int64_t>(n);
  if (st.paused) {
    messaging::requeue_pending(b->items, "push providers unavailable (circuit breakers open), not sending");
    finish(self, b, true);
    return;
  }
  check_redelivered(self, std::move(b));
}

caf::behavior push_sender(sender_actor* self, caf::actor users, caf::actor templates,
                          caf::actor writer, caf::actor publisher,
                          std::vector<provider_slot> providers, sender_config cfg,
                          std::shared_ptr<runtime::crash_ledger> ledger,
                          runtime::entry_ptr entry) {
  auto& st = self->state;
  st.ledger = ledger;
  entry->in_flight = 0; // what an earlier incarnation had in flight went with it
  // A crash: every message in flight is blamed in the tree's ledger, then the actor dies
  // with the exception's text and its supervisor restarts it (and its consumers).
  messaging::blame_on_crash(self, ledger, {"push", "push_sender", {}});
  st.users = std::move(users);
  st.templates = std::move(templates);
  st.writer = std::move(writer);
  st.publisher = std::move(publisher);
  st.providers = std::move(providers);
  st.cfg = cfg;
  st.compiled = compiled_cache{cfg.compiled_max, cfg.compiled_bytes};
  st.entry = entry;
  for (auto name : {"sent", "skipped", "failed", "retried", "dead_lettered", "requeued",
                    "duplicates", "batches", "batched_messages", "pauses", "paused_requeued",
                    "devices_accepted", "devices_gone", "devices_refused", "devices_transient",
                    "devices_deferred", "devices_removed", "poison", "isolated"}) {
    entry->counter(name);
  }
  update_route(self);
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& cs = self->state.consumers;
    cs.erase(std::remove_if(cs.begin(), cs.end(),
                            [&](const caf::actor& c) { return c.address() == dm.source; }),
             cs.end());
  });
  return {
    // The end of a breaker's cool-down: its next send is the probe; resume if paused.
    [=](probe_atom, std::uint64_t) { update_route(self); },
    [=](deliver_atom, std::vector<queued_message>& messages) {
      auto& st = self->state;
      auto consumer = caf::actor_cast<caf::actor>(self->current_sender());
      if (std::find(st.consumers.begin(), st.consumers.end(), consumer) == st.consumers.end()) {
        st.consumers.push_back(consumer);
        self->monitor(consumer);
        if (st.paused) {
          self->send(consumer, pause_atom::value);
        }
      }
      // The next batch, and this consumer's index in it, made when first needed.
      std::size_t source = 0;
      auto forming = [&]() -> push_batch& {
        if (!st.forming) {
          st.forming = std::make_shared<push_batch>();
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
          st.entry->processed += 1;
          st.entry->failed += 1;
          messaging::dead_letter_unreadable(
            self, st.publisher, st.cfg.publish_timeout, consumer, m, why,
            {"push", "push_sender", m.correlation_id}, st.cfg.requeue_delay,
            [self] { count(self, "dead_lettered") += 1; });
          continue;
        }
        push_item item;
        item.job = std::move(*job);
        auto& id = item.job.notification_id;
        if (!st.in_flight.insert(id).second) {
          item.result = verdict::requeue;
          item.detail = "redelivered while its first delivery is still in progress";
          item.tracked = false;
        } else {
          // Push notes no sends in the ledger (a device sent to before a crash is sent to
          // again on redelivery: at-least-once per device), so recovered_send is not met.
          switch (messaging::triage(*st.ledger, id)) {
            case messaging::crash_triage::poison:
              fail(item, messaging::reason::poison,
                   messaging::poison_detail(*st.ledger, id, "push sender"));
              count(self, "poison") += 1;
              messaging::log_poison(*st.ledger, id,
                                    {"push", "push_sender", item.job.correlation_id});
              break;
            case messaging::crash_triage::suspect: {
              // In flight when the sender crashed: worked on alone, so a crash is its own.
              auto b = std::make_shared<push_batch>();
              b->consumers.push_back(consumer);
              b->isolated = true;
              b->items.push_back(std::move(item));
              st.isolated.push(std::move(b));
              continue;
            }
            case messaging::crash_triage::recovered_send:
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

/// scheme://host[:port] of a URL, without credentials or path: for logs and the registry.
std::string origin_of(const std::string& url) {
  if (auto u = parse_url(url)) {
    auto host = u->host.find(':') == std::string::npos ? u->host : "[" + u->host + "]";
    return u->scheme + "://" + host + (u->port != 0 ? ":" + std::to_string(u->port) : "");
  }
  return "(unparsable URL)";
}

} // namespace

push_service spawn_push_sender(node_context& ctx, caf::actor user_lookup,
                               caf::actor template_cache, caf::actor status_writer) {
  // Everything is read and enlisted here: the spawn functions below run again on each
  // restart, on the supervisor's thread, and capture only values.
  auto& s = ctx.settings;
  auto& reg = ctx.registry;
  runtime::breaker_policy policy;
  policy.consecutive_failures = static_cast<int>(s.get_int("push.breaker.failures"));
  policy.failure_rate =
    static_cast<double>(s.get_int("push.breaker.failure_rate_percent")) / 100.0;
  policy.window = static_cast<int>(s.get_int("push.breaker.window"));
  policy.cool_down = s.get_ms("push.breaker.cool_down_ms");
  auto workers = static_cast<std::size_t>(s.get_int("push.workers"));
  auto restart = runtime::restart_policy_from(s);
  auto ledger = std::make_shared<runtime::crash_ledger>();

  runtime::supervisor_spec tree;
  tree.name = "push/supervisor";
  tree.role = "push";

  // One plan per provider: a pool of workers (a child of the tree) and a breaker (made in
  // each sender incarnation, closed at start) when configured, else the setting to set.
  // The adapters (adapters/push/) plug in through the factories.
  struct provider_plan {
    std::string kind; ///< "fcm", "webpush"
    std::string label;
    std::string where;
    std::string not_configured; ///< "" when configured
    std::string pool;           ///< the pool's child name (its front), when configured
    runtime::entry_ptr entry;   ///< "push_breaker/<kind>"
  };
  std::vector<provider_plan> plans;
  auto provider = [&](const std::string& kind, const std::string& label,
                      const std::string& where, std::string not_configured,
                      provider_factory make) {
    provider_plan plan{kind, label, where, std::move(not_configured), {},
                       reg.enlist("push_breaker/" + kind, "push", "circuit_breaker")};
    if (!plan.not_configured.empty()) {
      plan.entry->set_state("not configured");
      plan.entry->set_info("reason", plan.not_configured);
      log::warn(push_log, kind + " devices will be refused", {{"reason", plan.not_configured}});
      plans.push_back(std::move(plan));
      return;
    }
    runtime::pool_spec spec;
    spec.name = kind + "_worker";
    spec.role = "push";
    spec.size = workers;
    spec.policy = restart;
    spec.spawn_worker = [make](caf::actor_system& sys, runtime::entry_ptr e) {
      return sys.spawn<caf::detached>(provider_worker, make, e);
    };
    auto make_pool = runtime::pool_factory(reg, std::move(spec));
    runtime::child_spec child;
    child.name = kind + "_worker/supervisor";
    child.kind = "supervisor";
    child.policy = restart;
    child.spawn = [make_pool](caf::actor_system& sys, const runtime::child_env&) {
      return make_pool(sys);
    };
    plan.pool = child.name;
    tree.children.push_back(std::move(child));
    plans.push_back(std::move(plan));
  };

  auto timeout = s.get_ms("push.timeout_ms");
  auto ca_file = s.get("push.ca_file");
  {
    // FCM: the service account is read once, here, at start-up; a file that cannot be used
    // leaves FCM not configured, with the adapter's words for why.
    std::string why;
    provider_factory make;
    if (s.get("push.fcm_credentials").empty()) {
      why = std::string{push::fcm::not_configured};
    } else if (auto loaded = push::fcm::load_service_account(s.get("push.fcm_credentials"));
               !loaded.account) {
      why = "FCM is not configured: " + loaded.error;
    } else {
      make = fcm_provider({*loaded.account, s.get("push.fcm_endpoint"), timeout, ca_file});
    }
    provider("fcm", "FCM", origin_of(s.get("push.fcm_endpoint")), why, make);
  }
  {
    // Web Push: main checked the keys and the subject at start-up; empty keys leave it off.
    std::string why;
    provider_factory make;
    if (s.get("push.vapid_public_key").empty() || s.get("push.vapid_private_key").empty()) {
      why = "Web Push is not configured (push.vapid_public_key / HERALD_VAPID_PUBLIC_KEY and "
            "push.vapid_private_key / HERALD_VAPID_PRIVATE_KEY are empty)";
    } else if (auto keys = webpush::vapid_keys::parse(s.get("push.vapid_public_key"),
                                                      s.get("push.vapid_private_key"), why);
               !keys) {
      why = "Web Push is not configured: " + why;
    } else if (auto e = webpush::check_subject(s.get("push.vapid_subject")); !e.empty()) {
      why = "Web Push is not configured: push.vapid_subject (HERALD_VAPID_SUBJECT): " + e;
    } else {
      make = webpush_provider({*keys, s.get("push.vapid_subject"),
                               net::outbound_policy{s.get_bool("push.allow_insecure_endpoints")},
                               timeout, ca_file});
    }
    provider("webpush", "Web Push", "push services", why, make);
  }

  runtime::retry_schedule retries;
  retries.steps = s.get_ms_list("retry.steps_ms");
  auto declare = messaging::topology(retries.steps);
  {
    auto make_publisher = messaging::publisher_factory(s, declare);
    runtime::child_spec child;
    child.name = "push_forwarder";
    child.kind = "io_thread";
    child.policy = restart;
    child.spawn = [make_publisher](caf::actor_system& sys, const runtime::child_env& env) {
      return make_publisher(sys, env.entry);
    };
    tree.children.push_back(std::move(child));
  }

  sender_config cfg{timeout,
                    s.get_ms("push.requeue_delay_ms"),
                    static_cast<std::size_t>(s.get_int("push.batches_in_flight")),
                    1024,
                    static_cast<std::size_t>(s.get_int("templates.cache_bytes")),
                    render_limits_from(s),
                    retries,
                    s.get_ms("amqp.confirm_timeout_ms") + std::chrono::seconds{2},
                    s.get("fault.crash_on_variable")};
  {
    runtime::child_spec child;
    child.name = "push_sender";
    child.kind = "event_based";
    child.policy = restart;
    // Rest-for-one: the consumers hold the sender's deliveries unacked; they restart with
    // it, dropping their connections, so the broker redelivers what it had in flight.
    child.restart_dependants = true;
    child.spawn = [=](caf::actor_system& sys, const runtime::child_env& env) {
      std::vector<provider_slot> live;
      for (auto& p : plans) {
        provider_slot slot;
        slot.kind = p.kind;
        slot.not_configured = p.not_configured;
        if (p.not_configured.empty()) {
          slot.pool = env.front(p.pool);
          slot.breaker.emplace(p.kind, p.label, p.where, policy, p.entry,
                               log::context{"push", "push_sender", {}});
        }
        live.push_back(std::move(slot));
      }
      return sys.spawn(push_sender, user_lookup, template_cache, status_writer,
                       env.front("push_forwarder"), std::move(live), cfg, ledger,
                       env.entry);
    };
    tree.children.push_back(std::move(child));
  }

  messaging::consumer_settings cs{s.get("amqp.url"), messaging::push_queue,
                                  static_cast<std::uint16_t>(s.get_int("amqp.prefetch")),
                                  declare};
  {
    // The consumers' worker is the sender's front: it outlives the sender's incarnations.
    auto sender_front = std::make_shared<caf::actor>();
    runtime::pool_spec spec;
    spec.name = "push_consumer";
    spec.role = "push";
    spec.size = static_cast<std::size_t>(s.get_int("push.consumers"));
    spec.policy = restart;
    spec.spawn_worker = [=](caf::actor_system& sys, runtime::entry_ptr entry) {
      return sys.spawn(messaging::queue_consumer, cs, *sender_front, entry);
    };
    auto make_pool = runtime::pool_factory(reg, std::move(spec));
    runtime::child_spec child;
    child.name = "push_consumer/supervisor";
    child.kind = "supervisor";
    child.policy = restart;
    child.spawn = [make_pool, sender_front](caf::actor_system& sys,
                                            const runtime::child_env& env) {
      if (!*sender_front) { // written once, before any consumer reads it
        *sender_front = env.front("push_sender");
      }
      return make_pool(sys);
    };
    tree.children.push_back(std::move(child));
  }
  return {runtime::spawn_supervisor(ctx.system, reg, std::move(tree))};
}

} // namespace herald
