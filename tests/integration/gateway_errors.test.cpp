// Bad input to the gateway gets a 4xx in the standard envelope naming the problem.

#include <boost/test/unit_test.hpp>

#include "support/herald_api.hpp"

using namespace herald::test;
using json = nlohmann::json;

namespace {

struct gateway_fixture {
  running_node node;

  http_reply post(const std::string& body) {
    return http_call("POST", node.url() + "/api/v1/notifications/", body);
  }
};


json valid_body() {
  return {{"notification_type", "email"},
          {"user_id", "00000000-0000-4000-8000-000000000001"},
          {"template_code", "welcome"},
          {"variables", json::object()}};
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(gateway_errors, gateway_fixture)

BOOST_AUTO_TEST_CASE(malformed_json_is_a_400_saying_so) {
  check_error(post("{\"notification_type\": \"email\", "), 400, "not valid JSON");
}

BOOST_AUTO_TEST_CASE(a_json_array_body_is_a_400) {
  check_error(post("[1, 2]"), 400, "JSON object");
}

BOOST_AUTO_TEST_CASE(missing_field_is_a_400_naming_it) {
  auto body = valid_body();
  body.erase("user_id");
  check_error(post(body.dump()), 400, "'user_id'");
}

BOOST_AUTO_TEST_CASE(wrong_type_is_a_400_naming_the_field_and_type) {
  auto body = valid_body();
  body["priority"] = "high";
  check_error(post(body.dump()), 400, "'priority'");
  body = valid_body();
  body["variables"] = "name=Ada";
  check_error(post(body.dump()), 400, "'variables' must be an object");
}

BOOST_AUTO_TEST_CASE(unknown_channel_is_a_400) {
  auto body = valid_body();
  body["notification_type"] = "sms";
  check_error(post(body.dump()), 400, "'notification_type'");
}

BOOST_AUTO_TEST_CASE(body_over_the_limit_is_a_413) {
  auto body = valid_body();
  body["metadata"] = {{"blob", std::string(2 * 1024 * 1024, 'x')}};
  check_error(post(body.dump()), 413, "larger than");
}

BOOST_AUTO_TEST_CASE(unknown_endpoint_is_a_404_in_the_envelope) {
  check_error(http_call("GET", node.url() + "/api/v1/nothing-here"), 404, "no such endpoint");
}

BOOST_AUTO_TEST_CASE(a_long_unknown_path_is_not_echoed_back_whole) {
  // Within http.max_request_line_bytes (8 KB); a longer request line is a 414.
  auto path = "/api/v1/" + std::string(7000, 'x');
  auto r = http_call("GET", node.url() + path);
  check_error(r, 404, "no such endpoint: GET /api/v1/xxx");
  BOOST_CHECK_LT(r.raw.size(), 1000u);
  BOOST_CHECK_NE(r.raw.find("7008 bytes"), std::string::npos);
  check_error(http_call("GET", node.url() + "/api/v1/" + std::string(100000, 'x')), 414,
              "request line longer than 8192 bytes");
  // A handler's error quoting a long id is cut too.
  auto id = std::string(7000, 'y');
  auto u = http_call("GET", node.url(1) + "/api/v1/users/" + id);
  check_error(u, 404, "yyyy");
  BOOST_CHECK_LT(u.raw.size(), 1000u);
}

BOOST_AUTO_TEST_CASE(a_body_not_sent_as_json_is_a_415_on_every_service) {
  // What a web page can post cross-site without a CORS preflight, and no type at all.
  auto body = valid_body().dump();
  for (std::string type : {"text/plain", "application/x-www-form-urlencoded", ""}) {
    BOOST_TEST_CONTEXT("Content-Type '" << type << "'") {
      check_error(http_call("POST", node.url() + "/api/v1/notifications", body, {{"Content-Type", type}}),
                  415, "application/json");
      check_error(http_call("POST", node.url(1) + "/api/v1/users",
                            R"({"email": "form@example.com", "name": "Form"})",
                            {{"Content-Type", type}}),
                  415, "application/json");
      check_error(http_call("POST", node.url(2) + "/api/v1/templates", "{}", {{"Content-Type", type}}),
                  415, "application/json");
    }
  }
  // The media type in any case, with parameters, is JSON: read (and then found wanting).
  check_error(http_call("POST", node.url() + "/api/v1/notifications", body,
                        {{"Content-Type", "Application/JSON; charset=utf-8"}}),
              404, "00000000-0000-4000-8000-000000000001");
  BOOST_CHECK_EQUAL(http_call("GET", node.url(1) + "/api/v1/users/"
                                       + herald::test::create_user(node))
                      .status,
                    200); // no body, no type needed
}

BOOST_AUTO_TEST_CASE(trace_is_refused_without_echoing_and_options_names_the_real_methods) {
  auto trace = http_call("TRACE", node.url() + "/api/v1/notifications", "",
                         {{"Authorization", "Bearer secret-token-value"}, {"Cookie", "session=abc"}});
  check_error(trace, 405, "TRACE");
  BOOST_CHECK_EQUAL(trace.raw.find("secret-token-value"), std::string::npos);
  BOOST_CHECK_EQUAL(trace.raw.find("session=abc"), std::string::npos);
  BOOST_CHECK_EQUAL(trace.headers["Allow"], "POST, GET, HEAD, OPTIONS"); // GET: the list

  auto options = http_call("OPTIONS", node.url() + "/api/v1/notifications/");
  BOOST_CHECK_EQUAL(options.status, 204);
  BOOST_CHECK_EQUAL(options.headers["Allow"], "POST, GET, HEAD, OPTIONS"); // GET: the list
  auto one = http_call("OPTIONS", node.url(1) + "/api/v1/users/00000000-0000-4000-8000-000000000001");
  BOOST_CHECK_EQUAL(one.status, 204);
  BOOST_CHECK_EQUAL(one.headers["Allow"], "GET, HEAD, PATCH, DELETE, OPTIONS");
  check_error(http_call("OPTIONS", node.url() + "/api/v1/nothing-here"), 404, "no such endpoint");
  auto wrong = http_call("DELETE", node.url() + "/api/v1/notifications");
  check_error(wrong, 405, "DELETE");
  BOOST_CHECK_EQUAL(wrong.headers["Allow"], "POST, GET, HEAD, OPTIONS"); // GET: the list
}

BOOST_AUTO_TEST_CASE(unknown_notification_is_a_404) {
  check_error(http_call("GET", node.url() + "/api/v1/notifications/not-a-uuid"), 404,
              "no notification");
}

BOOST_AUTO_TEST_CASE(user_and_template_bodies_are_validated) {
  check_error(post_json(node.url(1) + "/api/v1/users", {{"name", "No Email"}}), 400, "'email'");
  check_error(post_json(node.url(1) + "/api/v1/users", {{"email", "nope"}, {"name", "X"}}), 400,
              "not a valid email");
  check_error(post_json(node.url(2) + "/api/v1/templates",
                        {{"template_code", "broken"},
                         {"channel", "email"},
                         {"subject", "Hi"},
                         {"body", "Hello {{name"}}),
              422, "not valid Mustache");
}

BOOST_AUTO_TEST_CASE(a_body_nested_too_deep_is_a_400_on_every_service_and_crashes_nothing) {
  // 100,000 levels in about 500 KB: it once overflowed the stack of whatever walked it.
  std::string deep;
  for (int i = 0; i < 100000; ++i) {
    deep += "{\"a\":";
  }
  deep += "1" + std::string(100000, '}');
  auto code = create_email_template(node);
  auto valid = valid_body().dump();
  auto gateway_body = valid.substr(0, valid.size() - 1) + ",\"metadata\":" + deep + "}";
  check_error(post(gateway_body), 400, "32 levels");
  check_error(http_call("POST", node.url(2) + "/api/v1/templates/" + code + "/render",
                        "{\"variables\":" + deep + "}"),
              400, "32 levels");
  check_error(http_call("POST", node.url(1) + "/api/v1/users",
                        "{\"email\":\"deep@example.com\",\"name\":" + deep + "}"),
              400, "32 levels");
  // Nesting within the limit is read as before.
  auto fine = valid_body();
  fine["metadata"] = json::parse("{\"a\":{\"b\":{\"c\":[1,[2,[3]]]}}}");
  check_error(post(fine.dump()), 404, "00000000-0000-4000-8000-000000000001"); // read, then looked up
  BOOST_CHECK_EQUAL(http_call("GET", node.url() + "/health").status, 200);
}

BOOST_AUTO_TEST_CASE(duplicate_email_is_a_409) {
  auto email = unique("dup-") + "@example.com";
  auto first = post_json(node.url(1) + "/api/v1/users", {{"email", email}, {"name", "One"}});
  BOOST_REQUIRE_EQUAL(first.status, 201);
  check_error(post_json(node.url(1) + "/api/v1/users", {{"email", email}, {"name", "Two"}}), 409,
              "already exists");
}

BOOST_AUTO_TEST_SUITE_END()
