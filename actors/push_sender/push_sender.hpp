#pragma once

// push_sender: takes notifications from push.queue, looks up the user's devices, renders
// the push template, sends to every device through its provider (FCM, Web Push), records
// each device's outcome and the notification's, and only then acks the message.
//
// The tree (runtime/supervision/supervisor.hpp), one root of the node, children started
// in this order and stopped in the reverse one (as email's, email_sender.hpp):
//
//   push/supervisor
//   |-- fcm_worker/supervisor       pool: fcm_worker/0..n-1 (detached; one provider object
//   |                               each, with its kept-alive HTTP client), when configured
//   |-- webpush_worker/supervisor   the same for Web Push, when configured
//   |-- push_forwarder              confirmed publisher: delay queues, failed.queue
//   |                               (messaging/forwarding.hpp, shared with email)
//   |-- push_sender                 this actor (restart_dependants: rest-for-one)
//   `-- push_consumer/supervisor    pool: push_consumer/0..n-1 (own connections)
//
// push_provider.hpp is the providers' boundary, push_providers.hpp the FCM and Web Push
// providers on adapters/push/. Children reach each other through the supervisor's fronts,
// so a restarted child is reachable at the same address. Every child restarts with
// supervision.* backoff; past the intensity the tree escalates and the node exits. An
// exception in the sender kills it; it restarts, and its consumers with it: they drop
// their connections, so the broker redelivers what the dead sender had unsettled. The
// breakers' state lives in the sender and starts closed after a restart. The users'
// store workers, the node's template cache and its status writer serve it from outside.
//
// -- Crashes and poison messages (as email's: messaging/crash_triage.hpp) ---------------
// The tree keeps a runtime::crash_ledger that outlives sender incarnations: every message
// in flight at a crash is blamed once; a suspect (blamed once) is worked on in a batch of
// its own with no other batch in flight; a message blamed twice is poison: dead-lettered
// untouched (reason `poison`, the exception's text as detail) and acked. Unlike email no
// send is noted in the ledger: devices sent to before a crash are sent to again on
// redelivery (at-least-once per device). fault.crash_on_variable (a testing aid, off by
// default) makes the sender throw while rendering a message whose variables contain it.
//
// -- Batches ---------------------------------------------------------------------------
// One flow with email's: messaging/batch_pipeline.hpp runs it; push's own steps (its
// preferences, the per-device sends, the delivery rule, the providers' breakers) plug in.
// Every delivery a consumer read in one wake-up is one batch, and for a batch the sender
// makes
//   1. one status query for its redelivered or retried messages (statuses_atom): one whose
//      notification is already final is acked without sending; when the query fails
//      nothing of the batch is sent (requeued);
//   2. one lookup_many for all its users (devices and preferences read at send time);
//      then per message deliver or skip (batch_pipeline's decide_delivery: push turned
//      off, or no device: `skipped`); unknown user: dead (`unknown_user`);
//   3. one template lookup per distinct (code, languages, version), compiled once here;
//      unknown, or not a push template: dead (`unknown_template`);
//   4. renders (title, body, image_url, link, data; a render error or a missing variable:
//      dead, `render_error`), then one request per device to its provider's pool:
//      (send_atom, push_delivery, std::int64_t start_by) -> device_outcome; a worker that
//      only gets to a request after start_by answers it transient without sending, so
//      nothing is sent after the sender stopped waiting;
//   5. decides each notification (push_batch.hpp: the rule), removes gone devices through
//      the users service (remove_token_atom by id, so its cache is invalidated; best
//      effort: a device that stays answers gone again next time), forwards retries and
//      dead letters with a confirm;
//   6. one record_many_atom with the batch's statuses, each carrying its devices' timeline
//      entries ({"status": "device", "device_id", "kind", "outcome", "detail"});
//   7. one ack (and at most one delayed requeue) of the batch's tags per consumer.
//
// -- Guarantees ----------------------------------------------------------------------------
// - Acked only after its outcome is committed: `sent` (at least one device accepted and
//   none is still waiting), `skipped`, `retrying` (the retry is in its delay queue, with
//   herald-push-done naming the devices that accepted: the retry skips them), or `failed`
//   (dead-lettered, confirmed on failed.queue; the dlq role marks it `dead`).
// - A dependency that is down (users, templates, status database, the publisher) leaves
//   the message to be requeued push.requeue_delay_ms later; no attempt is spent.
// - At-least-once per device: a process killed between a send and its status commit
//   sends to that device again on redelivery (as email). A retry never re-sends to a
//   device recorded as accepted in herald-push-done.
//
// -- Providers and circuit breakers --------------------------------------------------------
// A provider with no configuration (no push.fcm_credentials, or a file that does not load;
// no VAPID keys) has no workers:
// its devices are refused at once, the detail naming the setting to set, and it is listed
// in the registry as "push_breaker/<provider>" with state "not configured: ...". A
// configured provider has one runtime::circuit_breaker (messaging/provider_breaker.hpp;
// registry "push_breaker/fcm", "push_breaker/webpush"): a transient outcome the adapter
// marks provider_failure (connection refused, timeout, 5xx) counts as a failure; accepted,
// gone, refused and 429 count as successes (the service answered). Open, its devices are
// not attempted (`deferred` in the timeline; they retry through the delay queue at the
// same attempt, no attempt spent, with the devices that accepted carried as done; a
// message none of whose devices was attempted is requeued as it is). After the cool-down
// the next send to that provider is the probe; its outcome closes or reopens the breaker.
// While every configured provider's breaker is open and cooling down, consumption pauses
// (pause_atom to every consumer: messages wait in RabbitMQ), and resumes when a cool-down
// ends.
//
// Counters on the registry entry "push_sender": batch_pipeline.hpp's (sent, skipped,
// failed, retried, dead_lettered, requeued, duplicates, batches, batched_messages,
// batch_size_max, batch_size_last, pauses, paused_requeued, poison, isolated,
// recovered_sends: never counted here, as no send is noted in the ledger), and
// devices_accepted, devices_gone, devices_refused, devices_transient, devices_deferred,
// devices_removed.

#include "actors/node/node_context.hpp"
#include "runtime/supervision/supervisor.hpp"

namespace herald {

struct push_service {
  runtime::supervisor_handle tree; ///< the node's root for role push
};

push_service spawn_push_sender(node_context& ctx, caf::actor user_lookup,
                               caf::actor template_cache, caf::actor status_writer);

} // namespace herald
