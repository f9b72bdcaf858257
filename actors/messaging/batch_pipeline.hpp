#pragma once

// batch_pipeline: the batch flow every channel's sender runs (email_sender, push_sender),
// written once; a channel plugs in its own steps (channel_steps: preferences, send,
// retry plan, when consumption pauses).
//
// The sender actor owns one pipeline and one channel_steps object in its state; the
// pipeline installs the crash handler (crash_triage.hpp: blame_on_crash) and the consumers'
// down handler, and its deliver() is the sender's deliver_atom handler. A batch is every
// delivery one consumer read in one wake-up (batches waiting while pipeline_config's
// max_batches are in flight join into one). For a batch:
//   0. on delivery: unreadable messages are dead-lettered untouched (reason `unreadable`)
//      and acked; a redelivery whose first delivery is still being worked on here is
//      requeued until that attempt has ended; crash triage (crash_triage.hpp): a send
//      noted in the ledger before a crash is recorded `sent` without sending, poison is
//      dead-lettered untouched, a suspect is worked on in a batch of its own;
//   1. check_redelivered: one status query for its redelivered or retried messages; one
//      already final (sent, skipped, failed, dead) is acked without sending (`duplicates`);
//      while the status database is known to be down (the last status write or query
//      failed) every batch asks, and when the query fails nothing of the batch is sent;
//   2. lookup_users: one lookup_many for all its users, read at send time (unknown user:
//      dead-lettered `unknown_user`; a lookup that failed: requeued);
//   3. decide_deliveries: for each notification whose user is known,
//      decide_delivery(job, user, channel): deliver now, or skip (the channel's
//      preferences: channel_steps::opted_out; `skipped`), then defer: priority below 9
//      inside the user's quiet hours is written as a scheduled send for the period's end
//      and acked once that is committed (actors/scheduler/quiet_hours_deferral.hpp). The
//      one place where a notification's fate is taken from its user before any work is
//      spent on it;
//   4. resolve_templates: one template lookup per distinct (code, languages, version);
//      a pinned version already compiled here needs none; every version is compiled once
//      and kept (compiled_cache; versions are immutable). Unknown, of another channel, or
//      without the pinned language: dead-lettered `unknown_template`;
//   5. render: a render error or a missing variable is dead-lettered `render_error`;
//      fault.crash_on_variable throws here (a testing aid);
//   6. channel_steps::send: the channel sends the rendered messages and gives each a
//      verdict (messaging::decide / fail), then calls done once;
//   7. forward: retries to their delay queue (channel_steps::plan_retry: which step, at
//      which attempt; nullopt: spent, dead-lettered `retries_exhausted`), dead letters to
//      failed.queue, each confirmed by the publisher before anything is recorded (not
//      confirmed: requeued);
//   8. record: one record_many_atom with the batch's statuses (with the timeline entries a
//      channel set on an item, e.g. push's devices);
//   9. finish: per consumer, one ack and at most one requeue (requeue_delay later, at once
//      while paused); the ledger forgets what settled for good; the next batch starts.
// Each request has its own timeout, so a dependency that never answers ends in a requeue
// of that batch; nothing waits in memory without a deadline.
//
// -- Pausing --------------------------------------------------------------------------
// The channel says, through channel_steps::route, whether it can send at all (e.g. every
// circuit breaker open). update_route(), called by the channel whenever that may have
// changed, pauses every consumer that delivered here (pause_atom: basic.cancel, messages
// wait in RabbitMQ) or resumes them; a consumer met while paused is paused at its first
// delivery; batches that start while paused are requeued at once, unattempted.
//
// -- Guarantees ------------------------------------------------------------------------
// A message is acked only after its outcome is committed in notification_db (and its
// retry or dead letter confirmed on the broker); anything else is requeued (at-least-once).
// A verdict once given stands (messaging::decide): a later step never undoes it, except
// forward, which turns a retry or dead letter the broker did not confirm into a requeue.
//
// Counters on the sender's registry entry: sent, skipped, failed, requeued, duplicates,
// batches, batched_messages, batch_size_max, batch_size_last, retried, dead_lettered,
// pauses, paused_requeued, poison, isolated, recovered_sends; a channel adds its own.

#include <caf/all.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "actors/messaging/crash_triage.hpp"
#include "actors/messaging/forwarding.hpp"
#include "actors/messaging/messages.hpp"
#include "actors/messaging/notification_job.hpp"
#include "actors/template_cache/compiled_cache.hpp"
#include "actors/template_cache/render.hpp"
#include "runtime/registry/registry.hpp"
#include "runtime/supervision/crash_ledger.hpp"
#include "runtime/supervision/retry_schedule.hpp"
#include "runtime/supervision/supervisor.hpp"

namespace herald::messaging {

/// One message of a batch and what is known about it so far.
struct batch_item {
  notification_job job;
  verdict result = verdict::pending;
  std::string detail;
  std::string reason; ///< why it is dead-lettered (messaging::reason), for `failed`
  user_record user;
  compiled_cache::compiled_ptr tpl;
  /// For a `retry`: whether the next delivery is attempt + 1 (else the same attempt), the
  /// least delay a provider asked for (-1: none), and headers the retry message carries.
  bool spend_attempt = true;
  std::int64_t retry_after_ms = -1;
  std::map<std::string, std::string> retry_headers;
  /// Timeline entries recorded before its status (status_event::device_events: push's
  /// devices), "" none.
  std::string device_events;
  bool tracked = true;    ///< listed in the pipeline's in-flight set by this batch
  std::size_t source = 0; ///< index of its consumer in batch::consumers
};

struct batch {
  /// The consumer incarnations that delivered the items: only they can settle the tags.
  std::vector<caf::actor> consumers;
  std::vector<batch_item> items;
  std::size_t awaiting = 0; ///< replies still due in the current step
  bool isolated = false;    ///< one suspect of a crash, worked on with no other batch
};

using batch_ptr = std::shared_ptr<batch>;

/// A message rendered for sending: its index in the batch and its content.
struct rendered_item {
  std::size_t index;
  render_result content;
};

/// Whether the channel can send now, for pausing and the sender's registry state.
struct route_status {
  bool paused = false;
  std::string state;          ///< the sender's registry state
  nlohmann::json resume_log;  ///< extra fields of the "resumed" log line
};

/// Step 3's answer for one notification.
struct delivery_decision {
  bool deliver = true;
  std::string why; ///< when not delivered: the `skipped` detail
};

/// A channel's pipeline: its names and texts (set by the channel), its figures (read from
/// the settings by add_pipeline_children).
struct pipeline_config {
  std::string channel;      ///< "email", "push": routing key, status channel, template channel
  std::string actor;        ///< "email_sender": log context and poison detail
  std::string pause_log;    ///< logged (warn) when consumption pauses
  std::string resume_log;   ///< logged (info) when it resumes
  std::string unavailable;  ///< the requeue detail of a batch started while paused
  std::chrono::milliseconds requeue_delay{0};
  std::size_t max_batches = 1;    ///< batches in flight at once; deliveries wait meanwhile
  std::size_t compiled_max = 0;   ///< compiled template versions kept
  std::size_t compiled_bytes = 0; ///< and the memory they may take (templates.cache_bytes)
  render_limits limits;
  runtime::retry_schedule retries;
  std::chrono::milliseconds publish_timeout{0}; ///< waiting for the publisher's answer
  std::string crash_on_variable;             ///< fault.crash_on_variable ("": off)
};

/// The actors a pipeline talks to, and the tree's memory of crashes.
struct pipeline_services {
  caf::actor users;     ///< lookup_many_atom
  caf::actor templates; ///< lookup_atom
  caf::actor writer;    ///< statuses_atom, record_many_atom
  caf::actor publisher; ///< publish_atom: delay queues and failed.queue
  std::shared_ptr<runtime::crash_ledger> ledger;
  runtime::entry_ptr entry; ///< the sender's registry entry
};

class batch_pipeline;

/// A channel's own steps, called on the sender actor.
class channel_steps {
public:
  virtual ~channel_steps() = default;

  /// The pipeline is made: `pipeline()` is set (e.g. register the channel's counters).
  virtual void attached() {}

  /// Why `user` gets nothing on this channel now (preferences, no device), "" to deliver.
  virtual std::string opted_out(const user_record& user) const = 0;

  /// Sends `ready` (pending items of `b`, rendered); gives each a verdict (decide, fail;
  /// a `retry` may set spend_attempt, retry_after_ms, retry_headers) and calls `done`
  /// once, after the last answer. Must not block.
  virtual void send(const batch_ptr& b, std::vector<rendered_item> ready,
                    std::function<void()> done) = 0;

  /// The delay queue of an item whose verdict is `retry`; nullopt when its steps are spent.
  virtual std::optional<retry_plan> plan_retry(const batch_item& item, double random01) = 0;

  /// Whether the channel can send now.
  virtual route_status route() = 0;

protected:
  batch_pipeline& pipeline() const { return *pipeline_; }

private:
  friend class batch_pipeline;
  batch_pipeline* pipeline_ = nullptr;
};

class batch_pipeline {
public:
  /// Installs the crash and down handlers on `self`, attaches `steps` and sets the route;
  /// `steps` outlives the pipeline (both live in the sender's state).
  batch_pipeline(caf::event_based_actor* self, channel_steps& steps, pipeline_config cfg,
                 pipeline_services services);

  /// The sender's deliver_atom handler: deliveries of the consumer that sent them.
  void deliver(std::vector<queued_message>& messages);

  /// Pauses or resumes the consumers when channel_steps::route changed; the route as the
  /// sender's registry state. Called by the channel whenever its route may have changed.
  void update_route();

  bool paused() const { return paused_; }
  caf::event_based_actor* self() const { return self_; }
  const pipeline_config& config() const { return cfg_; }
  const pipeline_services& services() const { return services_; }
  std::string render_error(const caf::error& e) const;
  double random01();
  /// A counter of the sender's registry entry.
  std::atomic<std::uint64_t>& counter(const std::string& name) const;


private:
  void start_batch(batch_ptr b);
  void schedule();
  void check_redelivered(batch_ptr b);
  void lookup_users(batch_ptr b);
  void decide_deliveries(batch_ptr b);
  compiled_cache::compiled_ptr compiled_version(const template_record& t);
  void resolve_templates(batch_ptr b);
  void render_and_send(batch_ptr b);
  void forward(batch_ptr b);
  void record(batch_ptr b);
  void finish(batch_ptr b, bool recorded);
  log::context who(const std::string& correlation_id = {}) const;

  caf::event_based_actor* self_;
  channel_steps& steps_;
  pipeline_config cfg_;
  pipeline_services services_;
  std::minstd_rand random_{std::random_device{}()};
  /// Consumption is paused: the channel cannot send. Consumers are cancelled on the broker.
  bool paused_ = false;
  /// The consumer incarnations that delivered here (monitored).
  std::vector<caf::actor> consumers_;
  /// Notifications of the batches in flight: a redelivery of one waits for it to end.
  std::unordered_set<std::string> in_flight_;
  /// Template versions compiled once: immutable, so never stale.
  compiled_cache compiled_;
  /// Deliveries that came while max_batches batches were in flight: the next batch.
  batch_ptr forming_;
  /// The last status write or query failed: every batch asks first, sends nothing if it fails.
  bool status_db_down_ = false;
  std::size_t running_ = 0; ///< batches in flight
  /// Suspects of a crash, one per batch, each worked on while no other batch is in flight.
  suspect_queue<batch_ptr> isolated_;
};

/// Step 3 for one notification whose user is known: deliver now, or skip when the user
/// opted out of `channel` (preferences; no device). Pure.
delivery_decision decide_delivery(const notification_job& job, const user_record& user,
                                  const channel_steps& channel);

// -- the tree ------------------------------------------------------------------------

/// Spawns a channel's sender actor (on each restart) with its pipeline's configuration and
/// services; `env` has the fronts of the channel's own children (its pools).
using sender_factory = std::function<caf::actor(
  caf::actor_system&, const runtime::child_env&, const pipeline_config&, pipeline_services)>;

/// Appends the pipeline's children to a channel's tree, after the channel's own, in this
/// order: <channel>_forwarder (confirmed publisher: delay queues, failed.queue),
/// <channel>_sender (by `spawn`; rest-for-one: the consumers hold its deliveries unacked,
/// they restart with it, dropping their connections, so the broker redelivers what it had
/// in flight), <channel>_consumer/supervisor (pool of <channel>.consumers consumers of
/// <channel>.queue, whose worker is the sender's front). `cfg` names the channel and its
/// texts; its figures are read here: <channel>.requeue_delay_ms,
/// <channel>.batches_in_flight, templates.cache_bytes, render limits, retry.steps_ms,
/// amqp.confirm_timeout_ms (+ 2 s), fault.crash_on_variable. `services`' publisher is the
/// forwarder's front.
void add_pipeline_children(runtime::supervisor_spec& tree, const config::settings& s,
                           runtime::registry& reg, pipeline_config cfg,
                           pipeline_services services, sender_factory spawn);

} // namespace herald::messaging
