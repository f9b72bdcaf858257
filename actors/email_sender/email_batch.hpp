#pragma once

// The pure logic of the email pipeline that is SMTP's own, kept apart from the actors so it
// can be tested without servers: what an SMTP outcome means to the sender and to its
// relays' circuit breakers, and where a batch's mails go. What every channel's batch
// shares (reading a queued message, template lookups, verdicts, settling with the
// consumer, splitting across a pool) is in actors/messaging/notification_job.hpp.

#include <optional>
#include <vector>

#include "actors/messaging/messages.hpp"
#include "adapters/smtp/client.hpp"
#include "runtime/supervision/circuit_breaker.hpp"

namespace herald {

// -- SMTP outcomes and the relays' circuit breakers ---------------------------------------

/// What the sender acts on for one SMTP outcome. `message_specific`: the relay answered
/// this mail's command with a 4xx (not 421) or went silent during its transaction — the
/// message's own failure, retried through the delay queues. `relay_failure`: the relay
/// could not be talked to for this mail — connection refused or lost, a timeout, the
/// session refused (greeting, EHLO, STARTTLS, AUTH, 421), or not attempted after such a
/// failure; a timeout during a transaction is both. An answered refusal (a 5xx, or a 4xx
/// for one recipient) is neither: the relay is up.
send_result to_send_result(const smtp::send_outcome& r);

/// Whether one send request to one relay connection — `results` for `expected` mails —
/// counts as a failure for the relay's circuit breaker: a result missing, or any mail the
/// relay could not be talked to for. Otherwise (each mail sent or refused by an answer)
/// it counts as a success. One request is one call, whatever its size: a relay that is
/// down fails the first mail and the rest are not attempted.
bool relay_failed(const std::vector<send_result>& results, std::size_t expected);

/// Where a batch's mails go.
enum class smtp_route { primary, fallback, paused };

/// The primary while its breaker is closed; else the fallback, when one is configured,
/// while its breaker is closed; else none: the email service pauses consumption. A
/// half-open breaker carries only its probe, never a batch.
smtp_route choose_route(runtime::breaker_state primary,
                        std::optional<runtime::breaker_state> fallback);

} // namespace herald
