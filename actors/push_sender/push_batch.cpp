#include "actors/push_sender/push_batch.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <sstream>

#include "actors/common/ids.hpp"

namespace herald {

using messaging::verdict;

std::string to_string(device_result r) {
  switch (r) {
    case device_result::accepted:
      return "accepted";
    case device_result::gone:
      return "gone";
    case device_result::refused:
      return "refused";
    case device_result::transient:
      return "transient";
  }
  return "unknown";
}

push_options push_options_for(int priority) {
  if (priority < 1 || priority > 10) {
    priority = 5;
  }
  push_options o;
  if (priority >= 8) {
    o.urgency = "high";
    o.high = true;
    o.ttl_s = 3600;
  } else if (priority >= 5) {
    o.urgency = "normal";
  } else if (priority >= 3) {
    o.urgency = "low";
  } else {
    o.urgency = "very-low";
  }
  return o;
}

namespace {

std::string cut(std::string s, std::size_t n) {
  if (s.size() > n) {
    s.resize(n);
    // Never end inside a UTF-8 sequence.
    while (!s.empty() && (static_cast<unsigned char>(s.back()) & 0xC0) == 0x80) {
      s.pop_back();
    }
    if (!s.empty() && (static_cast<unsigned char>(s.back()) & 0x80) != 0) {
      s.pop_back();
    }
  }
  return s;
}

std::string describe(const device_report& r) {
  auto what = r.deferred ? std::string{"deferred (circuit breaker open)"}
                         : to_string(r.outcome.result);
  auto text = r.device.kind + " " + r.device.id.substr(0, 8) + ": " + what;
  if (!r.deferred && !r.outcome.detail.empty()) {
    text += " (" + cut(r.outcome.detail, 200) + ")";
  }
  return text;
}

} // namespace

std::set<std::string> parse_push_done(const std::string& header) {
  std::set<std::string> out;
  std::istringstream in{header};
  std::string id;
  while (std::getline(in, id, ',') && out.size() < 1000) {
    if (is_uuid(id)) {
      out.insert(id);
    }
  }
  return out;
}

std::string format_push_done(const std::set<std::string>& ids) {
  std::string out;
  for (auto& id : ids) {
    out += (out.empty() ? "" : ",") + id;
  }
  return out;
}

std::vector<push_token> devices_to_send(const std::vector<push_token>& devices,
                                        const std::set<std::string>& done) {
  std::vector<push_token> out;
  for (auto& d : devices) {
    if (done.count(d.id) == 0) {
      out.push_back(d);
    }
  }
  return out;
}

push_decision decide_push(const std::vector<device_report>& reports,
                          const std::set<std::string>& done_before, bool retries_left) {
  push_decision out;
  out.done = done_before;
  std::size_t attempted = 0;
  std::size_t transient = 0;
  std::size_t deferred = 0;
  std::size_t accepted_now = 0;
  std::string waiting;
  std::string settled;
  for (auto& r : reports) {
    if (r.deferred) {
      ++deferred;
      waiting += (waiting.empty() ? "" : "; ") + describe(r);
      continue;
    }
    ++attempted;
    switch (r.outcome.result) {
      case device_result::accepted:
        ++accepted_now;
        out.done.insert(r.device.id);
        break;
      case device_result::transient:
        ++transient;
        out.retry_after_ms = std::max(out.retry_after_ms, r.outcome.retry_after_ms);
        waiting += (waiting.empty() ? "" : "; ") + describe(r);
        break;
      case device_result::gone:
      case device_result::refused:
        settled += (settled.empty() ? "" : "; ") + describe(r);
        break;
    }
  }
  auto accepted = out.done.size();
  auto total = done_before.size() + reports.size();
  auto summary = "accepted by " + std::to_string(accepted) + " of " + std::to_string(total)
                 + " device" + (total == 1 ? "" : "s");
  if (!reports.empty() && attempted == 0) {
    out.verdict = verdict::requeue;
    out.spend_attempt = false;
    out.detail = "not attempted, push providers unavailable: " + waiting;
    return out;
  }
  if (transient + deferred > 0 && (retries_left || transient == 0)) {
    out.verdict = verdict::retry;
    out.spend_attempt = transient > 0;
    out.detail = summary + "; waiting: " + waiting + (settled.empty() ? "" : "; " + settled);
    return out;
  }
  if (transient + deferred > 0) { // retries spent
    if (accepted > 0) {
      out.verdict = verdict::sent;
      out.detail = summary + "; retries spent for: " + waiting
                   + (settled.empty() ? "" : "; " + settled);
    } else {
      out.verdict = verdict::failed;
      out.reason = messaging::reason::retries_exhausted;
      out.detail = "no device accepted: " + waiting + (settled.empty() ? "" : "; " + settled);
    }
    return out;
  }
  if (accepted > 0) {
    out.verdict = verdict::sent;
    out.detail = summary + (settled.empty() ? "" : "; " + settled);
  } else {
    out.verdict = verdict::failed;
    out.reason = no_device_accepted;
    out.detail = "no device accepted: " + settled;
  }
  return out;
}

std::optional<messaging::retry_plan> plan_push_retry(int attempt, bool spend,
                                                     const runtime::retry_schedule& s,
                                                     double random01,
                                                     std::int64_t min_delay_ms) {
  if (s.steps.empty()) {
    return std::nullopt;
  }
  std::size_t index = 0;
  int next = attempt;
  if (spend) {
    auto step = s.step_after(attempt);
    if (!step) {
      return std::nullopt;
    }
    index = *step;
    next = attempt + 1;
  } else {
    index = std::min<std::size_t>(static_cast<std::size_t>(std::max(attempt, 1) - 1),
                                  s.steps.size() - 1);
  }
  auto delay = s.delay(index, random01);
  if (min_delay_ms > delay.count()) {
    while (index + 1 < s.steps.size() && 2 * s.steps[index].count() < min_delay_ms) {
      ++index;
    }
    delay = std::chrono::milliseconds{std::min(min_delay_ms, 2 * s.steps[index].count())};
  }
  return messaging::retry_plan{s.steps[index], delay, next};
}

std::string device_events(const std::vector<device_report>& reports) {
  auto out = nlohmann::json::array();
  for (auto& r : reports) {
    out.push_back({{"status", "device"},
                   {"device_id", r.device.id},
                   {"kind", r.device.kind},
                   {"outcome", r.deferred ? std::string{"deferred"} : to_string(r.outcome.result)},
                   {"detail", r.deferred ? std::string{"not attempted: circuit breaker open"}
                                         : cut(r.outcome.detail, 300)}});
  }
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::vector<push_token> gone_devices(const std::vector<device_report>& reports) {
  std::vector<push_token> out;
  for (auto& r : reports) {
    if (!r.deferred && r.outcome.result == device_result::gone) {
      out.push_back(r.device);
    }
  }
  return out;
}

} // namespace herald
