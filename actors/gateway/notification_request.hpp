#pragma once

// The body of POST /api/v1/notifications/, validated: every mistake is named by field.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace herald {

struct notification_request {
  std::string notification_type; ///< "email" or "push"
  std::string user_id;
  std::string template_code;
  nlohmann::json variables = nlohmann::json::object();
  std::string request_id;        ///< optional idempotency key
  int priority = 5;              ///< 1 (lowest) .. 10
  nlohmann::json metadata = nlohmann::json::object();
  std::string language;          ///< optional
};

struct validation {
  std::optional<notification_request> value;
  int status = 400;   ///< when !value
  std::string error;  ///< names the field
};

validation parse_notification_request(const nlohmann::json& body);

/// The message published to RabbitMQ for a validated request.
nlohmann::json notification_message(const notification_request& r,
                                    const std::string& notification_id,
                                    const std::string& correlation_id);

} // namespace herald
