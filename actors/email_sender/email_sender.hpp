#pragma once

// email_sender: takes notifications from email.queue, looks up the user and the template,
// renders, sends over SMTP and records the outcome; only then is the message acked.
//
// The tree: consumers (detached, one connection each) -> one event-based email_sender
// actor that runs the steps asynchronously for many messages at once -> a supervised pool
// of smtp_connection actors (detached, one reused SMTP connection each).
//
// Outcomes: sent; skipped when the user turned email off; failed (permanent: unknown user
// or template, template not for email, render error, SMTP 5xx, and — until retries land —
// SMTP transient errors). A message whose status cannot be recorded, or whose user or
// template could not be read because a dependency is down, is requeued.

#include "actors/node/node_context.hpp"
#include "runtime/supervision/supervised_pool.hpp"

namespace herald {

struct email_service {
  caf::actor sender;
  runtime::supervised_pool smtp;
  runtime::supervised_pool consumers;
};

email_service spawn_email_sender(node_context& ctx, caf::actor user_lookup,
                                 caf::actor template_cache, caf::actor status_writer);

} // namespace herald
