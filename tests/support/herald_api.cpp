#include "support/herald_api.hpp"

#include <boost/test/unit_test.hpp>

#include "actors/messaging/topology.hpp"
#include "adapters/amqp/connection.hpp"

namespace herald::test {

std::string create_user(const running_node& node, const json& fields) {
  json body = {{"email", unique("user-") + "@example.com"}, {"name", "Test User"}};
  body.update(fields);
  auto r = post_json(node.url(1) + "/api/v1/users", body);
  BOOST_TEST_CONTEXT("create user: " << r.raw) {
    BOOST_REQUIRE_EQUAL(r.status, 201);
  }
  return r.body["data"]["id"].get<std::string>();
}

namespace {

/// POSTs `defaults` updated with `fields` as a template; answers its code.
std::string post_template(const running_node& node, json defaults, const json& fields) {
  defaults.update(fields);
  auto r = post_json(node.url(2) + "/api/v1/templates", defaults);
  BOOST_TEST_CONTEXT("create template: " << r.raw) {
    BOOST_REQUIRE_EQUAL(r.status, 201);
  }
  return defaults["template_code"].get<std::string>();
}

} // namespace

std::string create_email_template(const running_node& node, const json& fields) {
  return post_template(node,
                       {{"template_code", unique("tpl-")},
                        {"channel", "email"},
                        {"subject", "Hello {{name}}"},
                        {"body", "Hi {{name}}."},
                        {"variables", {"name"}}},
                       fields);
}

std::string create_push_template(const running_node& node, const json& fields) {
  return post_template(node,
                       {{"template_code", unique("push-")},
                        {"channel", "push"},
                        {"title", "Order {{order}}"},
                        {"body", "Hello {{name}}, it shipped."},
                        {"data", {{"order_id", "{{order}}"}}},
                        {"variables", {"name", "order"}}},
                       fields);
}

std::string post_notification(const running_node& node, const std::string& user_id,
                              const std::string& code, const json& variables,
                              const json& extra) {
  json body = {{"notification_type", "email"},
               {"user_id", user_id},
               {"template_code", code},
               {"variables", variables}};
  body.update(extra);
  auto r = post_json(node.url() + "/api/v1/notifications", body);
  BOOST_TEST_CONTEXT("post notification: " << r.raw) {
    BOOST_REQUIRE_EQUAL(r.status, 202);
  }
  return r.body["data"]["notification_id"].get<std::string>();
}

json notification(const running_node& node, const std::string& id) {
  auto r = http_call("GET", node.url() + "/api/v1/notifications/" + id);
  return r.status == 200 ? r.body["data"] : json{};
}

std::string status_of(const running_node& node, const std::string& id) {
  auto n = notification(node, id);
  return n.is_object() && n["status"].is_string() ? n["status"].get<std::string>()
                                                  : std::string{};
}

std::map<std::string, int> mails_per_notification(const std::string& rcpt) {
  std::map<std::string, int> count;
  for (auto& m : mails_to(env("HERALD_TEST_MAILDIR"), rcpt)) {
    count[m.header("X-Herald-Notification-ID")] += 1;
  }
  return count;
}

json registry_entry(const running_node& node, const std::string& actor) {
  auto r = http_call("GET", node.url() + "/api/v1/introspection/actors");
  if (r.status == 200 && r.body["data"].is_array()) {
    for (auto& a : r.body["data"]) {
      if (a.value("name", "") == actor) {
        return a;
      }
    }
  }
  return json{};
}

std::uint64_t actor_counter(const running_node& node, const std::string& actor,
                            const std::string& counter) {
  auto a = registry_entry(node, actor);
  return a.is_object() && a["counters"].is_object()
           ? a["counters"].value(counter, std::uint64_t{0})
           : 0;
}

std::uint64_t actor_figure(const running_node& node, const std::string& actor,
                           const std::string& figure) {
  auto a = registry_entry(node, actor);
  if (!a.is_object() || !a[figure].is_number_integer()) {
    return 0;
  }
  auto v = a[figure].get<std::int64_t>(); // some figures (in_flight, mailbox) are signed
  return v < 0 ? 0 : static_cast<std::uint64_t>(v);
}

namespace {

void publish_confirmed(amqp::message m) {
  amqp::connection publisher{env("HERALD_TEST_AMQP_URL")};
  BOOST_REQUIRE_EQUAL(publisher.open(), "");
  BOOST_REQUIRE_EQUAL(publisher.declare(messaging::topology()), "");
  BOOST_REQUIRE_EQUAL(publisher.enable_confirms(), "");
  BOOST_REQUIRE_EQUAL(publisher.publish(m), "");
  auto confirm = publisher.next_confirm(std::chrono::seconds{5});
  BOOST_REQUIRE(confirm && confirm->ack);
}

} // namespace

void publish_direct(const json& message, const std::string& routing_key) {
  publish_confirmed({messaging::exchange, routing_key, message.dump(),
                     message.value("notification_id", ""), message.value("correlation_id", "")});
}

void publish_raw(const std::string& body, const std::string& routing_key,
                 const std::string& correlation_id) {
  publish_confirmed({messaging::exchange, routing_key, body, "", correlation_id});
}

stopped_server::stopped_server(std::string server) : server_(std::move(server)) {
  stopped_ = server_ctl("stop", server_);
  BOOST_REQUIRE_MESSAGE(stopped_, "could not stop " << server_);
}

stopped_server::~stopped_server() {
  if (stopped_) {
    server_ctl("start", server_);
  }
}

bool stopped_server::start() {
  if (!stopped_) {
    return true;
  }
  stopped_ = !server_ctl("start", server_);
  return !stopped_;
}

} // namespace herald::test
