// POST /api/v1/notifications/: the raw body through the gateway's path (parse_object,
// parse_notification_request, the missing-variables check against a template), then the
// message it publishes read back by the email worker (messaging::parse_notification_job): what the worker
// reads must be what the gateway accepted.

#include "actors/messaging/notification_job.hpp"
#include "actors/gateway/notification_request.hpp"
#include "fuzz/support.hpp"

using namespace herald;
using fuzz::require;

namespace {

template_record order_shipped() {
  template_record t;
  t.template_code = "order_shipped";
  t.language = "en";
  t.version = 3;
  t.subject = "Your order {{order.id}} is on its way";
  t.body = "Hello {{name}}";
  t.variables = {"name", "order.id"};
  return t;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto body = fuzz::request_body(data, size);
  if (!body) {
    return 0;
  }
  auto v = parse_notification_request(*body);
  if (!v.value) {
    require(v.status == 400 || v.status == 422, "a refused request is a 400 or a 422");
    fuzz::check_refusal(v.status, v.error);
    return 0;
  }
  const auto& r = *v.value;
  require(r.notification_type == "email" || r.notification_type == "push",
          "notification_type is email or push");
  require(r.priority >= 1 && r.priority <= 10, "priority is 1..10");
  require(r.variables.is_object() && r.metadata.is_object(), "variables and metadata are objects");

  static const auto tpl = order_shipped();
  if (auto missing = missing_variables_error(tpl, r.variables); !missing.empty()) {
    fuzz::check_refusal(422, missing);
  }

  const std::string id = "0b8f4a52-4a6e-4c1e-9d55-1f2a3b4c5d6e";
  queued_message m{7, false, notification_message(r, tpl, id, "corr-1"), ""};
  std::string why;
  auto job = messaging::parse_notification_job(m, why);
  require(job.has_value(), "the worker reads every message the gateway publishes");
  require(job->notification_id == id && job->user_id == r.user_id
            && job->template_code == r.template_code && job->language == r.language
            && job->request_id == r.request_id && job->correlation_id == "corr-1",
          "the worker reads the request's ids back unchanged");
  require(job->template_language == tpl.language && job->template_version == tpl.version,
          "the worker renders the template version the gateway checked");
  require(job->variables == r.variables, "the worker reads the variables back unchanged");
  return 0;
}
