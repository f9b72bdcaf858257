#pragma once

// email_sender: takes notifications from email.queue, looks up the user and the template,
// renders, sends over SMTP and records the outcome; only then is the message acked.
//
// The tree (runtime/supervision/supervisor.hpp), one root of the node, children started
// in this order and stopped in the reverse one:
//
//   email/supervisor
//   |-- smtp_connection/supervisor           pool: smtp_connection/0..n-1 (detached, one
//   |                                        reused SMTP connection each)
//   |-- smtp_fallback_connection/supervisor  the same for smtp.fallback_url, when set
//   |-- email_forwarder                      confirmed publisher: delay queues, failed.queue
//   |-- email_sender                         this actor (restart_dependants: rest-for-one)
//   `-- email_consumer/supervisor            pool: email_consumer/0..n-1 (own connections)
//
// Children reach each other through the supervisor's fronts (the sender sends to its pools
// and publisher, consumers deliver to the sender), so a restarted child is reachable at the
// same address. Every child restarts with supervision.* backoff; past the intensity the
// tree escalates and the node exits. The users' store workers, the node's template cache
// and its status writer serve it from outside the tree.
//
// -- Crashes and poison messages -----------------------------------------------------------
// An exception in the sender's handlers kills it; it is restarted with backoff, and its
// consumers with it (rest-for-one): they drop their connections, so the broker redelivers
// every delivery the dead sender had unsettled; nothing is lost or stuck. The tree keeps a
// runtime::crash_ledger that outlives sender incarnations:
// - every message in a batch in flight at the crash is blamed once; a message blamed once
//   is a suspect and is worked on in a batch of its own, with no other batch in flight, so
//   an innocent message of a crashed batch is cleared and a crash is its own;
// - a message blamed twice is poison: dead-lettered untouched (failed.queue, reason
//   `poison`, the exception's text as detail; status `failed`, then `dead` by the
//   dead_letter service) and acked. It can be replayed like any dead letter.
// - the SMTP connections note each mail sent; the sender forgets it once recorded. A
//   redelivery of a mail sent but not recorded when the sender crashed is recorded as
//   sent without being sent again (the duplicate window that remains is a process killed
//   between a send and its status commit).
// The breakers' state lives in the sender and starts closed after a restart.
// fault.crash_on_variable (a testing aid, off by default) makes the sender throw while
// rendering a message whose variables contain that key.
//
// -- Batches ---------------------------------------------------------------------------
// The flow below is messaging/batch_pipeline.hpp's, shared with push; email's own steps
// (its preference, the SMTP send and the relays' breakers) plug into it.
// Work moves in batches, one message per batch at every hop (group commit everywhere):
// a consumer hands on every delivery it read in one wake-up as one batch. For a batch the
// sender then makes
//   1. one status query for its redelivered messages (status writer, statuses_atom), and
//      for every batch while the status database is known to be down (the last status
//      write or query failed): when it fails, nothing of the batch is sent;
//   2. one user lookup for all its users (user store, lookup_many_atom: one Redis MGET,
//      one PostgreSQL query for the misses), at send time, so a changed address or
//      preference applies to messages still queued; then, per message, deliver or skip
//      (batch_pipeline's decide_delivery: the user turned email off);
//   3. one template lookup per distinct (code, languages, version); a pinned version
//      already compiled here needs none;
//   4. renders each message with its template version compiled once and kept here
//      (versions are immutable; a message is rendered before the relay is chosen, so
//      while every breaker is open one that does not render is still dead-lettered),
//      then splits the emails across the SMTP connections:
//      one (send_atom, std::vector<outgoing_email>, start_by) per connection, sent one
//      after another on its reused connection;
//   5. one record_many_atom with the batch's outcomes to the status writer;
//   6. one ack (and at most one delayed requeue) of the batch's tags to its consumer.
// Many batches are in flight at once (the actor never waits); how many messages is bounded
// by amqp.prefetch per consumer. Each request of a batch has its own timeout (per batch,
// not per message), so a dependency that never answers ends in a requeue of that batch.
//
// -- Which template ----------------------------------------------------------------------
// A message that names template_language and template_version (the version the gateway
// resolved and validated) is rendered with exactly that version. An older message without
// them resolves as the gateway would: the user's language, then the request's `language`,
// then the code's default language; its template_version (0: the latest).
//
// -- Guarantees ----------------------------------------------------------------------------
// - A message is acked only after its outcome is committed in notification_db: `sent`,
//   `skipped` (the user turned email off; not sent; counted) or `failed` (permanent:
//   unknown user or template, template not for email, render error or missing variables,
//   SMTP 5xx for this message). Commits are durable (synchronous), not merely ordered.
// - A dependency that is down or does not answer in time (users, templates, the status
//   database, the SMTP relay: connection failures, 4xx, timeouts) leaves the message
//   unsettled until it is requeued, email.requeue_delay_ms later; it comes back
//   redelivered. Nothing waits in memory without a deadline.
// - Outcomes are per message: one unknown user, refused address or missing variable in
//   a batch settles only that message.
// - Unreadable messages (not JSON, no UUID notification_id) are logged and acked: they
//   would never become readable.
// - At-least-once: a crash anywhere loses nothing; unacked messages are redelivered.
//   A redelivered message whose notification is already final (sent, skipped, failed,
//   dead) is acked without being sent again; one whose first delivery is still being
//   worked on in this sender (its consumer lost the connection meanwhile) is requeued
//   until that attempt has ended. What remains is the window between a send and its
//   status commit: a process killed there sends that email again on redelivery.
// - The status database down: the batches already sending when it went down are sent and
//   requeued (their `sent` stays with the status writer, which writes it once the
//   database is back, so their redeliveries are acked without sending); from the first
//   failed status write on, nothing is sent until a status query answers again, so a
//   node stopped during the outage re-sends only those first batches, not the outage.
//
// -- Circuit breakers and failover -------------------------------------------------------
// The sender owns one runtime::circuit_breaker per relay: the primary (smtp.url) and, when
// smtp.fallback_url is set, the fallback, each with its own pool of connections. While a
// breaker is closed every send request to that relay's connections is one call: it fails
// when the relay could not be talked to for any of its mails (connection refused or lost,
// a timeout, the session refused), and succeeds when each mail was answered — a 5xx or a
// 4xx for one recipient included (email_batch.hpp: relay_failed; the breaker's bookkeeping is
// messaging/provider_breaker.hpp, shared with push). Outcomes of requests
// that end after the breaker opened count for nothing. Open, the relay gets no batch;
// after the cool-down (smtp.breaker.cool_down_ms, jittered) one probe, an SMTP session
// check on a thread of its own (smtp::probe: connect, greeting, EHLO, STARTTLS, AUTH; no
// mail is sent), closes it or opens it for another cool-down.
// Batches go to the primary while its breaker is closed, else to the fallback while its
// breaker is closed. When neither is, consumption pauses: every consumer that delivered
// here is sent pause_atom (basic.cancel on the broker), so messages wait in RabbitMQ
// with no attempt spent and nothing dead-lettered; deliveries still arriving, and the
// messages of batches in flight once they end, are requeued at once. When a breaker
// closes, the consumers get resume_atom. A consumer restarted meanwhile is paused at its
// first delivery. Every transition is logged (warn when opening, info otherwise, with the
// relay's scheme://host:port) and shown on the registry entries "smtp_breaker/primary" and
// "smtp_breaker/fallback": state, counters (transitions, opened, half_opened, closed,
// probes, probe_failures; processed and failed: the calls counted), info (relay,
// last_change, last_transition, last_error, probe_at).
//
// Counters on the registry entry "email_sender" (batch_pipeline.hpp's): sent, skipped, failed, requeued,
// duplicates (redeliveries acked without sending), batches, batched_messages (their sum:
// the mean batch size is batched_messages / batches), batch_size_max, batch_size_last,
// retried, dead_lettered, pauses (times consumption paused), paused_requeued (messages
// given back to the queue while paused), poison (dead-lettered as poison), isolated
// (suspects worked on alone), recovered_sends (sent before a crash, recorded after it).
// Its state names the relay batches go to, or "paused: ...".

#include "actors/node/node_context.hpp"
#include "runtime/supervision/supervisor.hpp"

namespace herald {

struct email_service {
  runtime::supervisor_handle tree; ///< the node's root for role email
};

email_service spawn_email_sender(node_context& ctx, caf::actor user_lookup,
                                 caf::actor template_cache, caf::actor status_writer);

} // namespace herald
