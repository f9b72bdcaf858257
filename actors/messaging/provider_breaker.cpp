#include "actors/messaging/provider_breaker.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace herald::messaging {

using runtime::breaker_state;

std::string utc_text(std::chrono::system_clock::time_point t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[40];
  std::snprintf(out, sizeof out, "%s.%03dZ", text, static_cast<int>(ms % 1000));
  return out;
}

provider_breaker::provider_breaker(std::string name, std::string label, std::string where,
                                   runtime::breaker_policy policy, runtime::entry_ptr entry,
                                   log::context who, std::string info_key)
  : name_(std::move(name)),
    label_(std::move(label)),
    where_(std::move(where)),
    breaker_(policy),
    entry_(std::move(entry)),
    who_(std::move(who)),
    info_key_(std::move(info_key)) {
  entry_->set_state(std::string{runtime::to_string(breaker_.state())});
  entry_->set_info(info_key_, where_);
  entry_->set_info("last_change", utc_text(std::chrono::system_clock::now()));
  entry_->counter("transitions");
}

admission provider_breaker::admit(clock::time_point now) {
  auto from = breaker_.state();
  if (!breaker_.allow(now)) {
    return admission::refused;
  }
  if (from == breaker_state::closed) {
    return admission::call;
  }
  entry_->counter("probes") += 1;
  transition(from, {}, now);
  return admission::probe;
}

std::optional<std::chrono::milliseconds> provider_breaker::report(admission kind, bool failed,
                                                                  const std::string& why,
                                                                  clock::time_point now,
                                                                  double random01) {
  auto from = breaker_.state();
  bool counts = (kind == admission::call && from == breaker_state::closed)
                || (kind == admission::probe && from == breaker_state::half_open);
  if (!counts) {
    return std::nullopt;
  }
  entry_->processed += 1;
  if (failed) {
    entry_->failed += 1;
    if (kind == admission::probe) {
      entry_->counter("probe_failures") += 1;
    }
    breaker_.on_failure(now, random01);
  } else {
    breaker_.on_success(now);
  }
  if (breaker_.state() == from) {
    return std::nullopt;
  }
  transition(from, kind == admission::probe && failed ? "probe: " + why : why, now);
  if (breaker_.state() != breaker_state::open) {
    return std::nullopt;
  }
  return std::max(std::chrono::ceil<std::chrono::milliseconds>(breaker_.retry_at() - now),
                  std::chrono::milliseconds{1});
}

void provider_breaker::transition(breaker_state from, const std::string& why,
                                  clock::time_point now) {
  auto to = breaker_.state();
  if (to == from) {
    return;
  }
  auto wall = std::chrono::system_clock::now();
  auto to_name = std::string{runtime::to_string(to)};
  entry_->set_state(to_name);
  entry_->counter("transitions").store(breaker_.transitions());
  entry_->counter(to == breaker_state::open     ? "opened"
                  : to == breaker_state::closed ? "closed"
                                                : "half_opened") += 1;
  entry_->set_info("last_change", utc_text(wall));
  entry_->set_info("last_transition", std::string{runtime::to_string(from)} + " -> " + to_name);
  nlohmann::json fields = {{info_key_, where_},
                           {"breaker", name_},
                           {"from", runtime::to_string(from)},
                           {"to", to_name},
                           {"transitions", breaker_.transitions()}};
  if (to == breaker_state::open) {
    auto wait = std::max(std::chrono::ceil<std::chrono::milliseconds>(breaker_.retry_at() - now),
                         std::chrono::milliseconds{1});
    entry_->set_info("probe_at", utc_text(wall + wait));
    entry_->set_info("last_error", why);
    fields["probe_in_ms"] = wait.count();
    fields["error"] = why;
    log::warn(who_, label_ + " circuit breaker open", fields);
  } else if (to == breaker_state::half_open) {
    log::info(who_, label_ + " circuit breaker half-open: probing", fields);
  } else {
    entry_->set_info("probe_at", nullptr);
    log::info(who_, label_ + " circuit breaker closed", fields);
  }
}

} // namespace herald::messaging
