#include "actors/email_sender/email_batch.hpp"

#include <algorithm>

namespace herald {

send_result to_send_result(const smtp::send_outcome& r) {
  bool transient = r.status == smtp::send_status::transient_failure;
  bool answered_refusal = r.message_specific && r.smtp_code / 100 == 4;
  send_result out;
  out.sent = r.status == smtp::send_status::sent;
  out.permanent = r.status == smtp::send_status::permanent_failure;
  out.detail = r.detail;
  out.message_specific = transient && r.message_specific;
  out.relay_failure = transient && !answered_refusal;
  return out;
}

bool relay_failed(const std::vector<send_result>& results, std::size_t expected) {
  if (results.size() < expected) {
    return true;
  }
  return std::any_of(results.begin(), results.end(),
                     [](const send_result& r) { return r.relay_failure; });
}

smtp_route choose_route(runtime::breaker_state primary,
                        std::optional<runtime::breaker_state> fallback) {
  if (primary == runtime::breaker_state::closed) {
    return smtp_route::primary;
  }
  if (fallback && *fallback == runtime::breaker_state::closed) {
    return smtp_route::fallback;
  }
  return smtp_route::paused;
}

} // namespace herald
