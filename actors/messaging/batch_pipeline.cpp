#include "actors/messaging/batch_pipeline.hpp"

#include <algorithm>
#include <unordered_map>

#include "actors/messaging/publisher.hpp"
#include "actors/messaging/queue_consumer.hpp"
#include "actors/messaging/topology.hpp"
#include "actors/node/node_context.hpp"
#include "actors/notification_store/notification_store.hpp"
#include "actors/scheduler/quiet_hours_deferral.hpp"
#include "actors/user_lookup/user_lookup.hpp"
#include "runtime/logging/log.hpp"
#include "runtime/supervision/supervised_pool.hpp"

namespace herald::messaging {

batch_pipeline::batch_pipeline(caf::event_based_actor* self, channel_steps& steps,
                               pipeline_config cfg, pipeline_services services)
  : self_(self),
    steps_(steps),
    cfg_(std::move(cfg)),
    services_(std::move(services)),
    compiled_(cfg_.compiled_max, cfg_.compiled_bytes) {
  auto& entry = *services_.entry;
  entry.in_flight = 0; // what an earlier incarnation had in flight went with it
  for (auto name : {"sent", "skipped", "failed", "requeued", "duplicates", "batches",
                    "batched_messages", "batch_size_max", "batch_size_last", "retried",
                    "dead_lettered", "pauses", "paused_requeued", "poison", "isolated",
                    "recovered_sends"}) {
    entry.counter(name);
  }
  // A crash: every message in flight is blamed in the tree's ledger, then the actor dies
  // with the exception's text and its supervisor restarts it (and its consumers).
  blame_on_crash(self, services_.ledger, who());
  self->set_down_handler([this](caf::down_msg& dm) {
    consumers_.erase(std::remove_if(consumers_.begin(), consumers_.end(),
                                    [&](const caf::actor& c) { return c.address() == dm.source; }),
                     consumers_.end());
  });
  steps_.pipeline_ = this;
  steps_.attached();
  update_route();
}

log::context batch_pipeline::who(const std::string& correlation_id) const {
  return {cfg_.channel, cfg_.actor, correlation_id};
}

std::string batch_pipeline::render_error(const caf::error& e) const {
  return self_->system().render(e);
}

double batch_pipeline::random01() {
  std::uniform_real_distribution<double> unit{0.0, 1.0};
  return unit(random_);
}

std::atomic<std::uint64_t>& batch_pipeline::counter(const std::string& name) const {
  return services_.entry->counter(name);
}

// -- pausing ----------------------------------------------------------------------

void batch_pipeline::update_route() {
  auto r = steps_.route();
  if (r.paused != paused_) {
    paused_ = r.paused;
    for (auto& c : consumers_) {
      if (paused_) {
        self_->send(c, pause_atom::value);
      } else {
        self_->send(c, resume_atom::value);
      }
    }
    if (paused_) {
      counter("pauses") += 1;
      log::warn(who(), cfg_.pause_log, {{"consumers", consumers_.size()}});
    } else {
      log::info(who(), cfg_.resume_log, r.resume_log);
    }
  }
  services_.entry->set_state(r.state);
}

// -- deliveries -------------------------------------------------------------------

void batch_pipeline::deliver(std::vector<queued_message>& messages) {
  auto consumer = caf::actor_cast<caf::actor>(self_->current_sender());
  if (std::find(consumers_.begin(), consumers_.end(), consumer) == consumers_.end()) {
    consumers_.push_back(consumer);
    self_->monitor(consumer);
    if (paused_) {
      self_->send(consumer, pause_atom::value); // before its deliveries' requeue
    }
  }
  // The next batch, and this consumer's index in it, made when first needed.
  std::size_t source = 0;
  auto forming = [&]() -> batch& {
    if (!forming_) {
      forming_ = std::make_shared<batch>();
    }
    auto& b = *forming_;
    source = static_cast<std::size_t>(
      std::find(b.consumers.begin(), b.consumers.end(), consumer) - b.consumers.begin());
    if (source == b.consumers.size()) {
      b.consumers.push_back(consumer);
    }
    return b;
  };
  auto& ledger = *services_.ledger;
  for (auto& m : messages) {
    std::string why;
    auto job = parse_notification_job(m, why);
    if (!job) {
      // It would never become readable: dead-lettered as it is, then acked (requeued
      // when failed.queue did not confirm it).
      services_.entry->processed += 1;
      services_.entry->failed += 1;
      dead_letter_unreadable(self_, services_.publisher, cfg_.publish_timeout, consumer, m, why,
                             who(m.correlation_id), cfg_.requeue_delay,
                             [this] { counter("dead_lettered") += 1; });
      continue;
    }
    batch_item item;
    item.job = std::move(*job);
    auto& id = item.job.notification_id;
    if (!in_flight_.insert(id).second) {
      // Its first delivery is still being worked on here: settle that one first.
      item.result = verdict::requeue;
      item.detail = "redelivered while its first delivery is still in progress";
      item.tracked = false;
    } else {
      auto sender = cfg_.channel + " sender";
      switch (triage(ledger, id)) {
        case crash_triage::recovered_send:
          decide(item, verdict::sent, "delivered before the " + sender + " restarted");
          counter("recovered_sends") += 1;
          break;
        case crash_triage::poison:
          fail(item, reason::poison, poison_detail(ledger, id, sender));
          counter("poison") += 1;
          log_poison(ledger, id, who(item.job.correlation_id));
          break;
        case crash_triage::suspect: {
          // In flight when the sender crashed: worked on alone, so a crash is its own.
          auto b = std::make_shared<batch>();
          b->consumers.push_back(consumer);
          b->isolated = true;
          b->items.push_back(std::move(item));
          isolated_.push(std::move(b));
          continue;
        }
        case crash_triage::clear:
          break;
      }
    }
    auto& b = forming();
    item.source = source;
    b.items.push_back(std::move(item));
  }
  schedule();
}

/// Starts what may start: a suspect alone once nothing else is in flight (and nothing
/// else while suspects wait), else everything that waited as one batch.
void batch_pipeline::schedule() {
  if (isolated_.blocking()) {
    if (auto b = isolated_.next(running_)) {
      counter("isolated") += 1;
      start_batch(std::move(*b));
    }
    return;
  }
  if (forming_ && running_ < cfg_.max_batches) {
    auto b = std::move(forming_);
    forming_ = nullptr;
    start_batch(std::move(b));
  }
}

/// `b` becomes a batch in flight.
void batch_pipeline::start_batch(batch_ptr b) {
  for (auto& item : b->items) {
    if (item.tracked) {
      services_.ledger->started(item.job.notification_id);
    }
  }
  auto n = b->items.size();
  running_ += 1;
  counter("batches") += 1;
  counter("batched_messages") += n;
  counter("batch_size_last").store(n);
  if (auto& max = counter("batch_size_max"); n > max.load()) {
    max.store(n);
  }
  services_.entry->in_flight += static_cast<std::int64_t>(n);
  if (paused_) {
    requeue_pending(b->items, cfg_.unavailable);
    finish(b, true);
    return;
  }
  check_redelivered(std::move(b));
}

// -- the steps --------------------------------------------------------------------

// Step 1: a redelivered or retried message whose notification already reached a final
// status is not sent again (one query for all of them). The same query tells whether
// statuses can be recorded: when it fails, nothing of the batch is sent (its outcome could
// not be recorded, and what is sent now would be sent again if this node went away before
// the status database came back); every pending message is requeued. While the database
// is known to be down every batch asks, even one without redeliveries.
void batch_pipeline::check_redelivered(batch_ptr b) {
  // A message back from a delay queue is checked too: it may have been sent, or
  // dead-lettered and replayed, since the copy was made.
  auto checked = [](const batch_item& item) {
    return item.result == verdict::pending
           && (item.job.redelivered || item.job.from_retry || item.job.attempt > 1);
  };
  std::vector<std::string> ids;
  for (auto& item : b->items) {
    if (checked(item)) {
      ids.push_back(item.job.notification_id);
    }
  }
  if (ids.empty() && !status_db_down_) {
    lookup_users(b);
    return;
  }
  auto unreachable = [this, b](const std::string& why) {
    status_db_down_ = true;
    requeue_pending(b->items, "status database unavailable, not sending: " + why);
    lookup_users(b); // nothing pending is left: records nothing, requeues the batch
  };
  auto asked = ids.size();
  self_->request(services_.writer, service_timeout, statuses_atom::value, std::move(ids))
    .then(
      [=, this](outcome& o, std::vector<std::string>& statuses) {
        if (!o.ok()) {
          unreachable(o.error);
          return;
        }
        status_db_down_ = false;
        std::size_t i = 0;
        for (auto& item : b->items) {
          if (!checked(item)) {
            continue;
          }
          if (statuses.size() != asked) {
            decide(item, verdict::requeue,
                   "status of a redelivery unknown: answer of the wrong size");
            continue;
          }
          auto& status = statuses[i++];
          if (is_terminal_status(status)) {
            counter("duplicates") += 1;
            decide(item, verdict::drop, "redelivered, already " + status);
          }
        }
        lookup_users(b);
      },
      [=, this](caf::error& e) { unreachable(render_error(e)); });
}

// Step 2: every user of the batch in one request, read at send time (fresh address,
// devices and preferences).
void batch_pipeline::lookup_users(batch_ptr b) {
  std::vector<std::string> ids;
  std::unordered_map<std::string, std::size_t> position;
  for (auto& item : b->items) {
    if (item.result == verdict::pending && position.emplace(item.job.user_id, ids.size()).second) {
      ids.push_back(item.job.user_id);
    }
  }
  if (ids.empty()) {
    forward(b);
    return;
  }
  auto asked = ids.size();
  self_->request(services_.users, service_timeout, lookup_many_atom::value, std::move(ids))
    .then(
      [=, this](std::vector<user_lookup_result>& found) {
        if (found.size() != asked) {
          requeue_pending(b->items, "users: answer of the wrong size");
          forward(b);
          return;
        }
        for (auto& item : b->items) {
          if (item.result != verdict::pending) {
            continue;
          }
          auto& r = found[position.at(item.job.user_id)];
          if (r.result.status == 404) {
            fail(item, reason::unknown_user, "unknown user " + item.job.user_id);
          } else if (!r.result.ok()) {
            decide(item, verdict::requeue, "users: " + r.result.error);
          } else {
            item.user = r.user;
          }
        }
        decide_deliveries(b);
      },
      [=, this](caf::error& e) {
        requeue_pending(b->items, "users: " + render_error(e));
        forward(b);
      });
}

// Step 3: what happens to each notification now that its user is known, decided here
// and nowhere else: skipped by preferences, then deferred by quiet hours (the deferred
// ones handed to the schedule store in one request, this step going on once it answered;
// actors/scheduler/quiet_hours_deferral.hpp).
void batch_pipeline::decide_deliveries(batch_ptr b) {
  for (auto& item : b->items) {
    if (item.result != verdict::pending) {
      continue;
    }
    if (auto d = decide_delivery(item.job, item.user, steps_); !d.deliver) {
      decide(item, verdict::skipped, std::move(d.why));
    }
  }
  defer_quiet_hours(self_, b, cfg_.channel, [=, this] { resolve_templates(b); });
}

delivery_decision decide_delivery(const notification_job&, const user_record& user,
                                  const channel_steps& channel) {
  if (auto why = channel.opted_out(user); !why.empty()) {
    return {false, std::move(why)};
  }
  return {};
}

/// A compiled version from the pipeline's own cache, or compiled now and kept.
compiled_cache::compiled_ptr batch_pipeline::compiled_version(const template_record& t) {
  auto key = template_key{t.template_code, {t.language}, t.version}.text();
  if (auto c = compiled_.find(key)) {
    return c;
  }
  auto c = std::make_shared<const compiled_template>(t);
  compiled_.put(key, c);
  return c;
}

// Step 4: one template lookup per distinct (code, languages, version) of the batch; a
// pinned version already compiled here needs none.
void batch_pipeline::resolve_templates(batch_ptr b) {
  std::unordered_map<std::string, std::vector<std::size_t>> by_key;
  std::vector<template_key> keys;
  for (std::size_t i = 0; i < b->items.size(); ++i) {
    auto& item = b->items[i];
    if (item.result != verdict::pending) {
      continue;
    }
    if (item.job.pinned()) {
      auto local = template_key{item.job.template_code, {item.job.template_language},
                                item.job.template_version}
                     .text();
      if (auto c = compiled_.find(local)) {
        item.tpl = c;
        continue;
      }
    }
    auto key = template_key_for(item.job, item.user);
    auto [slot, fresh] = by_key.try_emplace(key.text());
    if (fresh) {
      keys.push_back(std::move(key));
    }
    slot->second.push_back(i);
  }
  if (keys.empty()) {
    render_and_send(b);
    return;
  }
  b->awaiting = keys.size();
  for (auto& key : keys) {
    auto apply = [this, b, members = by_key[key.text()]](auto&& fn) {
      for (auto i : members) {
        fn(b->items[i]);
      }
      if (--b->awaiting == 0) {
        render_and_send(b);
      }
    };
    auto pinned_language = b->items[by_key[key.text()].front()].job.pinned()
                             ? key.languages.front()
                             : std::string{};
    auto version = key.version;
    self_->request(services_.templates, service_timeout, lookup_atom::value, key.code,
                   key.languages, key.version)
      .then(
        [=, this](outcome& o, template_record& t) {
          if (o.status == 404) {
            apply([&](batch_item& item) {
              fail(item, reason::unknown_template, "unknown template: " + o.error);
            });
          } else if (!o.ok()) {
            apply([&](batch_item& item) { decide(item, verdict::requeue, "templates: " + o.error); });
          } else if (t.channel != cfg_.channel) {
            apply([&](batch_item& item) {
              fail(item, reason::unknown_template,
                   "template " + t.template_code + " is for " + t.channel);
            });
          } else if (!pinned_language.empty() && t.language != pinned_language) {
            apply([&](batch_item& item) {
              fail(item, reason::unknown_template,
                   "unknown template: " + t.template_code + " has no version "
                     + std::to_string(version) + " in language " + pinned_language);
            });
          } else {
            auto c = compiled_version(t);
            apply([&](batch_item& item) { item.tpl = c; });
          }
        },
        [=, this](caf::error& e) {
          auto why = "templates: " + render_error(e);
          apply([&](batch_item& item) { decide(item, verdict::requeue, why); });
        });
  }
}

// Steps 5 and 6: render each message with its compiled version, then the channel sends.
void batch_pipeline::render_and_send(batch_ptr b) {
  std::vector<rendered_item> ready;
  for (std::size_t i = 0; i < b->items.size(); ++i) {
    auto& item = b->items[i];
    if (item.result != verdict::pending) {
      continue;
    }
    crash_on_variable(item.job.variables, cfg_.crash_on_variable);
    auto r = item.tpl->render(item.job.variables, cfg_.limits);
    if (!r.ok) {
      fail(item, reason::render_error, r.error);
      continue;
    }
    if (!r.missing.empty()) {
      std::string names;
      for (auto& n : r.missing) {
        names += (names.empty() ? "" : ", ") + n;
      }
      fail(item, reason::render_error, "missing template variables: " + names);
      continue;
    }
    ready.push_back({i, std::move(r)});
  }
  if (ready.empty()) {
    forward(b);
    return;
  }
  steps_.send(b, std::move(ready), [this, b] { forward(b); });
}

// Step 7: messages that failed for themselves leave for their next stop, each published
// with a confirm before anything is recorded or acked: a transient failure to the delay
// queue of its next attempt (with that attempt in x-herald-attempt), or to failed.queue
// once the steps are spent; a permanent one to failed.queue with its reason. A publish
// that is not confirmed leaves the message to be requeued, unrecorded.
void batch_pipeline::forward(batch_ptr b) {
  std::vector<std::pair<std::size_t, amqp::message>> out;
  for (std::size_t i = 0; i < b->items.size(); ++i) {
    auto& item = b->items[i];
    auto& j = item.job;
    if (item.result == verdict::retry) {
      if (auto plan = steps_.plan_retry(item, random01())) {
        auto next = " in " + std::to_string(plan->delay.count()) + " ms";
        item.detail = plan->next_attempt > j.attempt
                        ? "attempt " + std::to_string(j.attempt) + " failed: " + item.detail
                            + "; attempt " + std::to_string(plan->next_attempt) + next
                        : "attempt " + std::to_string(j.attempt) + ": " + item.detail
                            + "; again" + next;
        auto m = to_delay_queue(j.body, cfg_.channel, j.notification_id, j.correlation_id,
                                *plan);
        for (auto& [name, value] : item.retry_headers) {
          m.headers[name] = value;
        }
        out.emplace_back(i, std::move(m));
        continue;
      }
      item.result = verdict::failed;
      item.reason = reason::retries_exhausted;
      item.detail = std::to_string(j.attempt) + " attempts failed, the last: " + item.detail;
    }
    if (item.result == verdict::failed) {
      out.emplace_back(i, to_failed_queue(j.body, cfg_.channel, j.notification_id,
                                          j.correlation_id, item.reason, item.detail,
                                          j.attempt));
    }
  }
  if (out.empty()) {
    record(b);
    return;
  }
  b->awaiting = out.size();
  for (auto& [i, msg] : out) {
    auto queue = msg.exchange == retry_exchange ? "its delay queue" : failed_queue;
    auto done = [this, b, i = i, queue](const std::string& error) {
      if (!error.empty()) {
        auto& item = b->items[i];
        item.result = verdict::requeue;
        item.detail = std::string{"not forwarded to "} + queue + ": " + error;
      }
      if (--b->awaiting == 0) {
        record(b);
      }
    };
    self_->request(services_.publisher, cfg_.publish_timeout, publish_atom::value,
                   std::move(msg))
      .then([=, this](outcome& o) { done(o.ok() ? std::string{} : o.error); },
            [=, this](caf::error& e) { done(render_error(e)); });
  }
}

// Step 8: the batch's outcomes in one request to the status writer; the messages are
// settled only once it answered.
void batch_pipeline::record(batch_ptr b) {
  std::vector<status_event> events;
  for (auto& item : b->items) {
    auto status = status_name(item.result);
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
    ev.channel = cfg_.channel;
    ev.template_code = j.template_code;
    ev.correlation_id = j.correlation_id;
    if (item.tpl) {
      ev.language = item.tpl->record().language;
      ev.template_version = item.tpl->record().version;
    }
    ev.device_events = item.device_events;
    events.push_back(std::move(ev));
  }
  if (events.empty()) {
    finish(b, true);
    return;
  }
  self_->request(services_.writer, service_timeout, record_many_atom::value, std::move(events))
    .then([=, this](bool written) { finish(b, written); },
          [=, this](caf::error& e) {
            status_db_down_ = true;
            log::warn(who(), "statuses not recorded, requeueing",
                      {{"messages", b->items.size()}, {"error", render_error(e)}});
            finish(b, false);
          });
}

// Step 9: one ack for the batch's settled messages, one (delayed) requeue for the rest,
// per consumer; then the deliveries that waited meanwhile start as the next batch.
void batch_pipeline::finish(batch_ptr b, bool recorded) {
  auto& ledger = *services_.ledger;
  if (b->isolated) {
    isolated_.finished();
  }
  std::uint64_t failed = 0;
  for (auto& item : b->items) {
    auto& id = item.job.notification_id;
    if (item.tracked) {
      in_flight_.erase(id);
      ledger.finished(id);
      if (recorded && item.result != verdict::requeue && item.result != verdict::pending) {
        ledger.forget(id);
      }
    }
    auto log_as = who(item.job.correlation_id);
    auto status = status_name(item.result);
    if (*status != '\0' && recorded) {
      counter(item.result == verdict::sent      ? "sent"
              : item.result == verdict::skipped ? "skipped"
              : item.result == verdict::retry   ? "retried"
                                                : "failed") += 1;
      failed += item.result == verdict::failed;
      log::info(log_as, std::string{"notification "} + status,
                {{"notification_id", id}, {"attempt", item.job.attempt}, {"detail", item.detail}});
    } else if (item.result == verdict::drop) {
      log::info(log_as, "acknowledged without sending",
                {{"notification_id", id}, {"reason", item.detail}});
    } else {
      log::warn(log_as, "requeueing", {{"notification_id", id}, {"reason", item.detail}});
    }
  }
  std::uint64_t requeued = 0;
  for (std::size_t source = 0; source < b->consumers.size(); ++source) {
    std::vector<std::pair<std::uint64_t, verdict>> mine;
    for (auto& item : b->items) {
      if (item.source == source) {
        mine.emplace_back(item.job.tag, item.result);
      }
    }
    auto s = settle(mine, recorded);
    requeued += s.requeue.size();
    auto& consumer = b->consumers[source];
    if (!s.ack.empty()) {
      self_->send(consumer, ack_atom::value, std::move(s.ack));
    }
    if (!s.requeue.empty() && paused_) {
      // Its consumer is paused: back to the queue at once, to wait there.
      counter("paused_requeued") += s.requeue.size();
      self_->send(consumer, requeue_atom::value, std::move(s.requeue));
    } else if (!s.requeue.empty()) {
      self_->delayed_send(consumer, cfg_.requeue_delay, requeue_atom::value,
                          std::move(s.requeue));
    }
  }
  counter("dead_lettered") += failed;
  counter("requeued") += requeued;
  auto n = b->items.size();
  services_.entry->processed += n;
  services_.entry->failed += failed;
  services_.entry->in_flight -= static_cast<std::int64_t>(n);
  running_ -= 1;
  schedule();
}

// -- the tree ------------------------------------------------------------------------

void add_pipeline_children(runtime::supervisor_spec& tree, const config::settings& s,
                           runtime::registry& reg, pipeline_config cfg,
                           pipeline_services services, sender_factory spawn) {
  auto& channel = cfg.channel;
  auto restart = runtime::restart_policy_from(s);
  cfg.requeue_delay = s.get_ms(channel + ".requeue_delay_ms");
  cfg.max_batches = static_cast<std::size_t>(s.get_int(channel + ".batches_in_flight"));
  cfg.compiled_max = 1024;
  cfg.compiled_bytes = static_cast<std::size_t>(s.get_int("templates.cache_bytes"));
  cfg.limits = render_limits_from(s);
  cfg.retries.steps = s.get_ms_list("retry.steps_ms");
  cfg.publish_timeout = s.get_ms("amqp.confirm_timeout_ms") + std::chrono::seconds{2};
  cfg.crash_on_variable = s.get("fault.crash_on_variable");
  auto declare = topology(cfg.retries.steps);
  auto forwarder = channel + "_forwarder";
  auto sender = channel + "_sender";
  {
    auto make_publisher = publisher_factory(s, declare);
    runtime::child_spec child;
    child.name = forwarder;
    child.kind = "io_thread";
    child.policy = restart;
    child.spawn = [make_publisher](caf::actor_system& sys, const runtime::child_env& env) {
      return make_publisher(sys, env.entry);
    };
    tree.children.push_back(std::move(child));
  }
  {
    runtime::child_spec child;
    child.name = sender;
    child.kind = "event_based";
    child.policy = restart;
    child.restart_dependants = true;
    child.spawn = [=](caf::actor_system& sys, const runtime::child_env& env) {
      auto live = services;
      live.publisher = env.front(forwarder);
      live.entry = env.entry;
      return spawn(sys, env, cfg, std::move(live));
    };
    tree.children.push_back(std::move(child));
  }
  consumer_settings cs{s.get("amqp.url"), channel + ".queue",
                       static_cast<std::uint16_t>(s.get_int("amqp.prefetch")), declare};
  // The consumers' worker is the sender's front: it outlives the sender's incarnations.
  auto sender_front = std::make_shared<caf::actor>();
  runtime::pool_spec spec;
  spec.name = channel + "_consumer";
  spec.role = tree.role;
  spec.size = static_cast<std::size_t>(s.get_int(channel + ".consumers"));
  spec.policy = restart;
  spec.spawn_worker = [=](caf::actor_system& sys, runtime::entry_ptr entry) {
    return sys.spawn(queue_consumer, cs, *sender_front, entry);
  };
  auto make_pool = runtime::pool_factory(reg, std::move(spec));
  runtime::child_spec child;
  child.name = channel + "_consumer/supervisor";
  child.kind = "supervisor";
  child.policy = restart;
  child.spawn = [make_pool, sender_front, sender](caf::actor_system& sys,
                                                  const runtime::child_env& env) {
    if (!*sender_front) { // written once, before any consumer reads it
      *sender_front = env.front(sender);
    }
    return make_pool(sys);
  };
  tree.children.push_back(std::move(child));
}

} // namespace herald::messaging
