#include "actors/messaging/notification_job.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "actors/common/ids.hpp"
#include "actors/messaging/topology.hpp"

namespace herald::messaging {

using json = nlohmann::json;

namespace {

std::string text_field(const json& body, const char* name) {
  auto i = body.find(name);
  return i != body.end() && i->is_string() ? i->get<std::string>() : std::string{};
}

int int_field(const json& body, const char* name, int fallback) {
  auto i = body.find(name);
  if (i == body.end() || !i->is_number_integer()) {
    return fallback;
  }
  auto v = i->get<long long>();
  return v < 0 || v > 1'000'000'000 ? fallback : static_cast<int>(v);
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

} // namespace

std::optional<notification_job> parse_notification_job(const queued_message& m,
                                                       std::string& why) {
  auto body = json::parse(m.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    why = "the body is not a JSON object";
    return std::nullopt;
  }
  notification_job j;
  j.tag = m.tag;
  // A scheduler's publish may be a second copy (topology.hpp): checked like a redelivery.
  j.redelivered = m.redelivered || m.headers.count(scheduled_header) > 0;
  j.notification_id = text_field(body, "notification_id");
  if (!is_uuid(j.notification_id)) {
    why = "no UUID notification_id";
    return std::nullopt;
  }
  j.user_id = text_field(body, "user_id");
  j.template_code = text_field(body, "template_code");
  j.language = text_field(body, "language");
  j.template_language = lower(text_field(body, "template_language"));
  j.template_version = int_field(body, "template_version", 0);
  j.request_id = text_field(body, "request_id");
  j.correlation_id = m.correlation_id.empty() ? text_field(body, "correlation_id")
                                              : m.correlation_id;
  j.priority = int_field(body, "priority", 5);
  if (j.priority < 1 || j.priority > 10) {
    j.priority = 5;
  }
  j.attempt = int_field(body, "attempt", 1);
  if (auto h = m.headers.find(attempt_header); h != m.headers.end()) {
    auto v = std::atoll(h->second.c_str());
    if (v >= 1 && v <= 1'000'000) {
      j.attempt = static_cast<int>(v);
      j.from_retry = true;
    }
  }
  if (j.attempt < 1) {
    j.attempt = 1;
  }
  j.body = m.body;
  j.headers = m.headers;
  if (auto v = body.find("variables"); v != body.end() && v->is_object()) {
    j.variables = std::move(*v);
  }
  return j;
}

std::string template_key::text() const {
  // Each part prefixed by its length: distinct keys never read the same.
  auto out = std::to_string(version) + ':' + std::to_string(code.size()) + ':' + code;
  for (auto& l : languages) {
    out += std::to_string(l.size()) + ':' + l;
  }
  return out;
}

template_key template_key_for(const notification_job& job, const user_record& user) {
  if (!job.template_language.empty()) {
    return {job.template_code, {job.template_language}, job.template_version};
  }
  return {job.template_code, {user.language, job.language}, job.template_version};
}

std::vector<std::pair<std::size_t, std::size_t>> split_evenly(std::size_t n, std::size_t parts) {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  if (n == 0 || parts == 0) {
    return out;
  }
  parts = std::min(parts, n);
  auto size = n / parts;
  auto larger = n % parts; // the first `larger` ranges get one more
  std::size_t first = 0;
  for (std::size_t i = 0; i < parts; ++i) {
    auto len = size + (i < larger ? 1 : 0);
    out.emplace_back(first, first + len);
    first += len;
  }
  return out;
}

const char* status_name(verdict v) {
  switch (v) {
    case verdict::sent:
      return "sent";
    case verdict::skipped:
      return "skipped";
    case verdict::failed:
      return "failed";
    case verdict::retry:
      return "retrying";
    default:
      return "";
  }
}

batch_settlement settle(const std::vector<std::pair<std::uint64_t, verdict>>& outcomes,
                        bool recorded) {
  batch_settlement out;
  for (auto& [tag, v] : outcomes) {
    switch (v) {
      case verdict::drop:
        out.ack.push_back(tag);
        break;
      case verdict::sent:
      case verdict::skipped:
      case verdict::failed:
      case verdict::retry:
        (recorded ? out.ack : out.requeue).push_back(tag);
        break;
      case verdict::requeue:
      case verdict::pending:
        out.requeue.push_back(tag);
        break;
    }
  }
  return out;
}

bool is_terminal_status(const std::string& status) {
  return status == "sent" || status == "skipped" || status == "failed" || status == "dead"
         || status == "cancelled";
}

} // namespace herald::messaging
