#pragma once

// How a channel's sender (email_sender, push_sender) uses its tree's crash ledger
// (runtime/supervision/crash_ledger.hpp) against poison messages; shared so both channels
// do exactly the same.
//
// - blame_on_crash: the sender's exception handler. Every message it had in flight is
//   blamed once in the ledger, the crash is logged, and the actor dies with the
//   exception's text; its supervisor restarts it, and its consumers with it (rest-for-one),
//   so the broker redelivers what it had unsettled.
// - triage: what a delivery is, as the ledger remembers it: sent before the crash and
//   never recorded (record it as sent, do not send again), poison (dead-letter it
//   untouched, reason `poison`, poison_detail as detail), a suspect (work on it in a batch
//   of its own while no other batch is in flight: suspect_queue), or clear.
// - The sender tells the ledger which messages a batch starts (started) and which leave it
//   (finished; forget once settled for good, i.e. recorded and not requeued).
// - crash_on_variable: fault.crash_on_variable, a testing aid: the render step throws for
//   a message whose variables contain that key (off when the key is empty).

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "runtime/logging/log.hpp"
#include "runtime/supervision/crash_ledger.hpp"

namespace herald::messaging {

enum class crash_triage {
  clear,          ///< nothing known: work on it as usual
  recovered_send, ///< sent before its sender crashed, outcome never recorded
  poison,         ///< crashed its sender every time: dead-letter it untouched
  suspect,        ///< in flight at one crash: work on it alone
};

inline crash_triage triage(const runtime::crash_ledger& ledger, const std::string& id) {
  if (ledger.was_sent(id)) {
    return crash_triage::recovered_send; // that is what happened to it, however blamed
  }
  if (ledger.poison(id)) {
    return crash_triage::poison;
  }
  if (ledger.suspect(id)) {
    return crash_triage::suspect;
  }
  return crash_triage::clear;
}

/// The dead letter's detail of a poison message: "crashed the <sender> N times: <error>".
inline std::string poison_detail(const runtime::crash_ledger& ledger, const std::string& id,
                                 const std::string& sender) {
  return "crashed the " + sender + " " + std::to_string(ledger.crashes(id))
         + " times: " + ledger.last_error(id);
}

/// Logs a poison message as it is dead-lettered.
inline void log_poison(const runtime::crash_ledger& ledger, const std::string& id,
                       const log::context& who) {
  log::error(who, "poison message, dead-lettering it",
             {{"notification_id", id},
              {"crashes", ledger.crashes(id)},
              {"error", ledger.last_error(id)}});
}

/// Installs the sender's exception handler: blames its in-flight messages in `ledger`,
/// logs "<role> sender crashed", and ends the actor with the exception's text.
inline void blame_on_crash(caf::scheduled_actor* self,
                           std::shared_ptr<runtime::crash_ledger> ledger, log::context who) {
  self->set_exception_handler([ledger, who](caf::scheduled_actor*, std::exception_ptr& e) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      what = x.what();
    } catch (...) {
    }
    auto blamed = ledger->crashed(what);
    log::error(who, who.role + " sender crashed", {{"error", what}, {"messages_in_flight", blamed}});
    return caf::make_error(caf::sec::runtime_error, what);
  });
}

/// fault.crash_on_variable: throws when `key` is set and `variables` contain it.
inline void crash_on_variable(const nlohmann::json& variables, const std::string& key) {
  if (!key.empty() && variables.is_object() && variables.contains(key)) {
    throw std::runtime_error("fault injection: variables contain " + key);
  }
}

/// Suspects waiting to be worked on alone, one batch each, while no other batch is in
/// flight; while any waits or runs, no other batch starts.
template <class BatchPtr>
class suspect_queue {
public:
  void push(BatchPtr b) { waiting_.push_back(std::move(b)); }

  /// Other batches must wait: a suspect waits or is being worked on.
  bool blocking() const { return !waiting_.empty() || running_; }

  /// The suspect to start now, given `running` batches in flight; none if it must wait.
  std::optional<BatchPtr> next(std::size_t running) {
    if (running != 0 || waiting_.empty()) {
      return std::nullopt;
    }
    auto b = std::move(waiting_.front());
    waiting_.pop_front();
    running_ = true;
    return b;
  }

  /// The suspect's batch has ended.
  void finished() { running_ = false; }

private:
  std::deque<BatchPtr> waiting_;
  bool running_ = false;
};

} // namespace herald::messaging
