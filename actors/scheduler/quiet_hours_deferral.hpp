#pragma once

// Quiet hours in the senders: the one call a channel's sender makes right after its user
// lookup (issue 12). For each message of the batch still pending, of priority below
// `quiet_hours_bypass` (9), whose user has quiet hours containing now
// (runtime/time/quiet_hours.hpp, in the user's zone): the message is deferred — written as a
// scheduled send for the end of the period (schedule_store's defer_atom: the message as
// queued, its headers, routing key, correlation id, priority), its notification `scheduled`
// with send_at and a timeline entry "quiet hours until T" — and, only once that is
// committed, acked without sending (verdict drop: the store wrote its status). The
// scheduler publishes it again at T; the sender then finds the period over and sends it.
// The store unavailable or refusing: those messages are requeued (a dependency is down),
// nothing is acked. Quiet hours that cannot be applied (a zone the OS tzdata does not know)
// are logged and ignored: the message is sent.
//
// Kept out of the senders so that a shared batch pipeline can call it once for both
// channels. Never blocks: one request to the schedule store, then `next()`.

#include <caf/all.hpp>

#include <string>
#include <vector>

#include "actors/messaging/notification_job.hpp"
#include "actors/node/node_context.hpp"
#include "actors/scheduler/schedule_store.hpp"
#include "runtime/logging/log.hpp"
#include "runtime/time/quiet_hours.hpp"

namespace herald {

/// Priority from which a notification passes through quiet hours.
inline constexpr int quiet_hours_bypass = 9;

/// The scheduled send deferring `job` (a message of `channel`) until `until`.
scheduled_send quiet_hours_send(const messaging::notification_job& job, const std::string& channel,
                                time::instant until);

/// Defers the batch's pending messages that fall in their user's quiet hours (see above),
/// then calls `next()` once, on `self`. `Batch` is a pointer to a struct with `items`, each
/// with `result`, `detail`, `job` and `user` (email's batch, push's batch).
template <class Self, class Batch, class Next>
void defer_quiet_hours(Self* self, Batch b, const std::string& channel, Next next) {
  auto now = time::now();
  std::vector<scheduled_send> sends;
  std::vector<std::size_t> deferred;
  for (std::size_t i = 0; i < b->items.size(); ++i) {
    auto& item = b->items[i];
    auto& q = item.user.quiet;
    if (item.result != messaging::verdict::pending || item.job.priority >= quiet_hours_bypass
        || q.empty()) {
      continue;
    }
    auto state = time::quiet_at(q.start, q.end, q.timezone, now);
    if (!state.error.empty()) {
      log::warn({channel, "quiet_hours", item.job.correlation_id},
                "quiet hours ignored", {{"user_id", item.job.user_id}, {"error", state.error}});
      continue;
    }
    if (state.inside) {
      sends.push_back(quiet_hours_send(item.job, channel, state.until));
      deferred.push_back(i);
    }
  }
  if (sends.empty()) {
    next();
    return;
  }
  auto requeue = [b, deferred](const std::string& why) {
    for (auto i : deferred) {
      messaging::decide(b->items[i], messaging::verdict::requeue, why);
    }
  };
  auto store = self->system().registry().template get<caf::actor>(schedules_name);
  if (!store) {
    requeue("quiet hours: no schedule store on this node");
    next();
    return;
  }
  auto details = std::make_shared<std::vector<std::string>>();
  for (auto& s : sends) {
    details->push_back(s.detail);
  }
  self->request(store, service_timeout, defer_atom::value, std::move(sends))
    .then(
      [=](bool written) {
        if (!written) {
          requeue("quiet hours: deferral not written");
        } else {
          for (std::size_t k = 0; k < deferred.size(); ++k) {
            auto& item = b->items[deferred[k]];
            messaging::decide(item, messaging::verdict::drop, "deferred: " + (*details)[k]);
          }
        }
        next();
      },
      [=](caf::error& e) {
        requeue("quiet hours: deferral not written: " + self->system().render(e));
        next();
      });
}

} // namespace herald
