#include "actors/scheduler/quiet_hours_deferral.hpp"

namespace herald {

scheduled_send quiet_hours_send(const messaging::notification_job& job, const std::string& channel,
                                time::instant until) {
  scheduled_send s;
  s.notification_id = job.notification_id;
  s.send_at = time::format_rfc3339(until);
  s.reason = "quiet_hours";
  s.detail = "quiet hours until " + s.send_at;
  s.routing_key = channel;
  s.body = job.body;
  s.headers = job.headers;
  s.correlation_id = job.correlation_id;
  s.priority = job.priority;
  s.user_id = job.user_id;
  s.template_code = job.template_code;
  s.request_id = job.request_id;
  return s;
}

} // namespace herald
