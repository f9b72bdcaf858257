#pragma once

// One set of helpers for what integration and fault tests do through Herald's REST API
// and the servers: create users and templates, post notifications and read their status,
// read a registry entry's counters, publish straight to a queue, and stop a server for
// the length of a scope. Each REQUIREs what it needs to go on (a 201, a 202), so a test
// that uses one fails at the step that went wrong.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>

#include "support/test_env.hpp"

namespace herald::test {

using json = nlohmann::json;

/// POSTs a user (`fields` are added to a fresh address "<prefix>@example.com" and a name)
/// and answers its id.
std::string create_user(const running_node& node, const json& fields = json::object());

/// POSTs an email template with the given fields over these defaults: a unique code,
/// subject "Hello {{name}}", body "Hi {{name}}." with variable `name`. Answers its code.
std::string create_email_template(const running_node& node, const json& fields = json::object());

/// POSTs a push template with the given fields over these defaults: a unique code, title
/// "Order {{order}}", body "Hello {{name}}, it shipped.", data {"order_id": "{{order}}"}
/// with variables `name` and `order`. Answers its code.
std::string create_push_template(const running_node& node, const json& fields = json::object());

/// POSTs an email notification for `user_id` with template `code` and `variables` (more
/// fields in `extra`), REQUIREs its 202 and answers the notification id.
std::string post_notification(const running_node& node, const std::string& user_id,
                              const std::string& code, const json& variables,
                              const json& extra = json::object());

/// GET /api/v1/notifications/{id}'s data (null when not 200).
json notification(const running_node& node, const std::string& id);

/// Its status ("" when the record cannot be read).
std::string status_of(const running_node& node, const std::string& id);

/// How many mails the SMTP sink (HERALD_TEST_MAILDIR) holds per notification id (their
/// X-Herald-Notification-ID), among those whose recipient contains `rcpt` (an address,
/// or "@domain").
std::map<std::string, int> mails_per_notification(const std::string& rcpt);

/// The registry entry named `actor` on the node (null when absent).
json registry_entry(const running_node& node, const std::string& actor);

/// A counter of that entry's `counters` (0 when absent).
std::uint64_t actor_counter(const running_node& node, const std::string& actor,
                            const std::string& counter);

/// A top-level figure of that entry (processed, failed, restarts, in_flight, ...; 0 when
/// absent or negative).
std::uint64_t actor_figure(const running_node& node, const std::string& actor,
                           const std::string& figure);

/// Publishes `message` persistent and confirmed to notifications.direct with `routing_key`
/// (as the gateway would), declaring the topology first. REQUIREs the broker's ack.
void publish_direct(const json& message, const std::string& routing_key = "email");
/// The same with any bytes as the body (not JSON, not even UTF-8) and a correlation id.
void publish_raw(const std::string& body, const std::string& routing_key,
                 const std::string& correlation_id);

/// Stops one of scripts/test's servers (testctl's names) for the length of a scope, and
/// starts it again when the scope ends unless start() did already — also when the test
/// failed on the way, so no later test finds it down.
class stopped_server {
public:
  explicit stopped_server(std::string server);
  ~stopped_server();
  stopped_server(const stopped_server&) = delete;
  stopped_server& operator=(const stopped_server&) = delete;

  /// Starts it again now; true when it is ready.
  bool start();

private:
  std::string server_;
  bool stopped_ = false;
};

} // namespace herald::test
