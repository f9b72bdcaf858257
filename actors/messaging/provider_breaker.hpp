#pragma once

// One provider's circuit breaker as a sending service keeps it (an SMTP relay, FCM, a Web
// Push service): the runtime::circuit_breaker, its registry entry, and what each
// transition does there and in the log. Not an actor: the actor that owns the provider's
// pool (its supervising actor) calls it from its handlers and sets the timer it asks for.
// Shared by the channels' senders (email's SMTP relays, push's providers).
//
// Calls are admitted one by one: admit() says whether a call may start now and whether it
// is the probe. Closed: every call is admitted and its outcome counts. Open: none is
// admitted until the cool-down has passed; then the next call is the probe (half-open)
// and only its outcome decides: success closes, failure opens for another cool-down.
// Outcomes of calls that end in another state than the one they started in change
// nothing (a call that started before the breaker opened says nothing about the probe).
// A service whose probe is not a real call (email's SMTP session check) admits the probe
// itself when its timer fires and reports the check as that call.
//
// The registry entry: state; processed and failed (the calls counted); counters
// transitions, opened, half_opened, closed, probes, probe_failures; info `info_key` (the
// provider's address, no credentials), last_change, last_transition, last_error, probe_at.
// Every transition is logged (warn when opening, info otherwise).

#include <chrono>
#include <optional>
#include <string>

#include "runtime/logging/log.hpp"
#include "runtime/registry/registry.hpp"
#include "runtime/supervision/circuit_breaker.hpp"

namespace herald::messaging {

/// What admit() allowed.
enum class admission {
  refused, ///< open (cooling down), or half-open with its probe under way: do not call
  call,    ///< closed: call, and report the outcome
  probe,   ///< the probe: call, and report the outcome; it decides
};

class provider_breaker {
public:
  using clock = std::chrono::steady_clock;

  /// `label` names the provider in log lines ("FCM", "SMTP relay"); `where` is its
  /// address for the registry's `info_key` and the logs.
  provider_breaker(std::string name, std::string label, std::string where,
                   runtime::breaker_policy policy, runtime::entry_ptr entry,
                   log::context who, std::string info_key = "endpoint");

  const std::string& name() const { return name_; }
  const std::string& where() const { return where_; }
  runtime::breaker_state state() const { return breaker_.state(); }

  /// Open and still cooling down at `now`: nothing will be admitted before retry_at().
  bool cooling(clock::time_point now) const {
    return breaker_.state() == runtime::breaker_state::open && now < breaker_.retry_at();
  }
  clock::time_point retry_at() const { return breaker_.retry_at(); }

  /// Whether a call may start now; an open breaker past its cool-down turns half-open and
  /// admits this call as its probe.
  admission admit(clock::time_point now);

  /// The outcome of a call admitted as `kind`. `failed`: the provider could not be talked
  /// to (what counts as a failure is the caller's rule). Returns the cool-down to wait
  /// when this outcome opened the breaker (the owner wakes up then, e.g. to resume
  /// consumption or to probe), else nullopt.
  std::optional<std::chrono::milliseconds> report(admission kind, bool failed,
                                                  const std::string& why, clock::time_point now,
                                                  double random01);

private:
  void transition(runtime::breaker_state from, const std::string& why, clock::time_point now);

  std::string name_;
  std::string label_;
  std::string where_;
  runtime::circuit_breaker breaker_;
  runtime::entry_ptr entry_;
  log::context who_;
  std::string info_key_;
};

/// UTC time as 2026-11-29T23:59:59.123Z, for registry fields.
std::string utc_text(std::chrono::system_clock::time_point t);

} // namespace herald::messaging
