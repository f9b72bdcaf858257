#include <boost/test/unit_test.hpp>

#include "actors/gateway/notification_request.hpp"

using herald::parse_notification_request;
using json = nlohmann::json;

namespace {

json valid() {
  return {{"notification_type", "email"},
          {"user_id", "u-1"},
          {"template_code", "welcome"},
          {"variables", {{"name", "Ada"}}},
          {"request_id", "r-1"},
          {"priority", 7},
          {"metadata", {{"campaign", "x"}}}};
}

std::string error_of(const json& body) {
  auto v = parse_notification_request(body);
  BOOST_REQUIRE(!v.value);
  return v.error;
}

} // namespace

BOOST_AUTO_TEST_SUITE(notification_request)

BOOST_AUTO_TEST_CASE(valid_body_is_accepted_with_its_fields) {
  auto v = parse_notification_request(valid());
  BOOST_REQUIRE(v.value);
  BOOST_CHECK_EQUAL(v.value->notification_type, "email");
  BOOST_CHECK_EQUAL(v.value->priority, 7);
  BOOST_CHECK_EQUAL(v.value->variables["name"], "Ada");
  herald::template_record tpl;
  tpl.template_code = "welcome";
  tpl.language = "de";
  tpl.version = 3;
  auto msg = json::parse(herald::notification_message(*v.value, tpl, "n-1", "c-1"));
  BOOST_CHECK_EQUAL(msg["notification_id"], "n-1");
  BOOST_CHECK_EQUAL(msg["correlation_id"], "c-1");
  BOOST_CHECK_EQUAL(msg["attempt"], 1);
  BOOST_CHECK_EQUAL(msg["template_language"], "de");
  BOOST_CHECK_EQUAL(msg["template_version"], 3);
  BOOST_CHECK_EQUAL(msg["variables"], v.value->variables);
  BOOST_CHECK_EQUAL(msg["priority"], 7);
  BOOST_CHECK_EQUAL(msg["user_id"], v.value->user_id);
}

BOOST_AUTO_TEST_CASE(template_version_pins_a_version_and_must_be_a_positive_integer) {
  auto body = valid();
  body["template_version"] = 2;
  auto v = parse_notification_request(body);
  BOOST_REQUIRE(v.value);
  BOOST_CHECK_EQUAL(v.value->template_version, 2);
  for (auto bad : {json(0), json(-1), json(1.5), json("2")}) {
    body["template_version"] = bad;
    auto r = parse_notification_request(body);
    BOOST_CHECK(!r.value);
    BOOST_CHECK_EQUAL(r.status, 400);
    BOOST_CHECK_NE(r.error.find("template_version"), std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(missing_declared_variables_are_named_in_one_error) {
  herald::template_record tpl;
  tpl.template_code = "welcome";
  tpl.variables = {"name", "code", "order.id"};
  BOOST_CHECK_EQUAL(herald::missing_variables_error(
                      tpl, {{"name", "Ada"}, {"code", "X"}, {"order", {{"id", 7}}}}),
                    "");
  auto e = herald::missing_variables_error(tpl, {{"name", "Ada"}, {"code", nullptr}});
  BOOST_CHECK_NE(e.find("code, order.id"), std::string::npos);
  BOOST_CHECK_EQUAL(e.find("name"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_template_the_variables_would_blow_up_is_refused_at_request_time) {
  herald::template_record tpl;
  tpl.template_code = "bomb";
  tpl.channel = "email";
  tpl.subject = "Hi {{name}}";
  tpl.body = "{{#a}}{{#a}}{{#a}}{{#a}}{{#a}}{{#a}}0123456789{{/a}}{{/a}}{{/a}}{{/a}}{{/a}}{{/a}}";
  tpl.variables = {"name"};
  herald::render_limits limits;
  auto fine = herald::check_against_template(tpl, {{"name", "Ada"}, {"a", {1, 2}}}, limits);
  BOOST_CHECK_EQUAL(fine.status, 200);
  auto bomb = herald::check_against_template(tpl, {{"name", "Ada"}, {"a", std::vector<int>(40, 1)}},
                                             limits);
  BOOST_CHECK_EQUAL(bomb.status, 422);
  BOOST_CHECK_NE(bomb.error.find("field 'body' renders to more than"), std::string::npos);
  auto missing = herald::check_against_template(tpl, {{"a", {1}}}, limits);
  BOOST_CHECK_EQUAL(missing.status, 422);
  BOOST_CHECK_NE(missing.error.find("name"), std::string::npos);
  limits.max_variables_bytes = 1024;
  auto large = herald::check_against_template(tpl, {{"name", std::string(1100, 'x')}}, limits);
  BOOST_CHECK_EQUAL(large.status, 413);
  BOOST_CHECK_NE(large.error.find("field 'variables'"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(optional_fields_take_defaults) {
  auto v = parse_notification_request(
    {{"notification_type", "push"}, {"user_id", "u"}, {"template_code", "t"}});
  BOOST_REQUIRE(v.value);
  BOOST_CHECK_EQUAL(v.value->priority, 5);
  BOOST_CHECK(v.value->variables.is_object());
  BOOST_CHECK(v.value->request_id.empty());
}

BOOST_AUTO_TEST_CASE(each_missing_required_field_is_named) {
  for (auto field : {"notification_type", "user_id", "template_code"}) {
    auto body = valid();
    body.erase(field);
    BOOST_CHECK_EQUAL(error_of(body), std::string{"missing required field '"} + field + "'");
  }
}

BOOST_AUTO_TEST_CASE(wrong_types_are_named_with_what_was_given) {
  auto body = valid();
  body["user_id"] = 42;
  BOOST_CHECK_EQUAL(error_of(body), "field 'user_id' must be a string, got a number");
  body = valid();
  body["variables"] = json::array();
  BOOST_CHECK_EQUAL(error_of(body), "field 'variables' must be an object, got an array");
  body = valid();
  body["priority"] = 2.5;
  BOOST_CHECK_NE(error_of(body).find("'priority'"), std::string::npos);
  body = valid();
  body["priority"] = 11;
  BOOST_CHECK_EQUAL(error_of(body), "field 'priority' must be from 1 to 10, got 11");
}

BOOST_AUTO_TEST_CASE(unknown_channel_and_unknown_fields_are_refused) {
  auto body = valid();
  body["notification_type"] = "fax";
  BOOST_CHECK_NE(error_of(body).find("\"email\" or \"push\""), std::string::npos);
  body = valid();
  body["user"] = "typo";
  BOOST_CHECK_EQUAL(error_of(body), "unknown field 'user'");
}

BOOST_AUTO_TEST_CASE(empty_strings_and_overlong_values_are_refused) {
  auto body = valid();
  body["template_code"] = "";
  BOOST_CHECK_EQUAL(error_of(body), "field 'template_code' must not be empty");
  body = valid();
  body["user_id"] = std::string(129, 'u');
  BOOST_CHECK_NE(error_of(body).find("longer than 128"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_nul_character_in_a_string_field_is_refused_naming_the_field) {
  auto body = valid();
  body["request_id"] = std::string{"abc\0def", 7};
  auto v = parse_notification_request(body);
  BOOST_CHECK(!v.value);
  BOOST_CHECK_EQUAL(v.status, 400);
  BOOST_CHECK_NE(v.error.find("'request_id' must not contain NUL"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(send_at_is_an_rfc3339_time_with_an_offset_at_most_30_days_ahead) {
  auto now = *herald::time::parse_rfc3339("2026-11-30T12:00:00Z");
  auto body = valid();
  auto parsed = [&](const json& b) { return parse_notification_request(b, now); };
  for (const char* bad : {"tomorrow", "2026-12-01T10:00:00", "2026-12-01 10:00:00Z",
                          "2026-02-30T10:00:00Z", "2026-12-01T10:00:00+0100"}) {
    body["send_at"] = bad;
    auto v = parsed(body);
    BOOST_REQUIRE(!v.value);
    BOOST_CHECK_EQUAL(v.status, 400);
    BOOST_CHECK_MESSAGE(v.error.find("field 'send_at' must be an RFC 3339 timestamp with an "
                                     "offset") != std::string::npos, v.error);
  }
  body["send_at"] = 1767268800;
  BOOST_CHECK_NE(parsed(body).error.find("'send_at'"), std::string::npos);
  body["send_at"] = "2026-12-30T12:00:00.001Z"; // 30 days and a millisecond
  BOOST_CHECK_NE(parsed(body).error.find("at most 30 days ahead"), std::string::npos);
  body["send_at"] = "2026-12-30T13:00:00+01:00"; // exactly 30 days
  auto v = parsed(body);
  BOOST_REQUIRE(v.value);
  BOOST_REQUIRE(v.value->send_at);
  BOOST_CHECK_EQUAL(herald::time::format_rfc3339(*v.value->send_at), "2026-12-30T12:00:00.000Z");
}

BOOST_AUTO_TEST_CASE(a_send_at_now_or_in_the_past_sends_at_once) {
  auto now = *herald::time::parse_rfc3339("2026-11-30T12:00:00Z");
  auto body = valid();
  for (const char* when : {"2026-11-30T12:00:00Z", "2020-01-01T00:00:00Z"}) {
    body["send_at"] = when;
    auto v = parse_notification_request(body, now);
    BOOST_REQUIRE(v.value);
    BOOST_CHECK(!v.value->send_at);
  }
  body["send_at"] = "2026-11-30T12:00:00.001Z";
  BOOST_CHECK(parse_notification_request(body, now).value->send_at);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(request_id_limits)

BOOST_AUTO_TEST_CASE(a_request_id_is_at_most_128_safe_characters) {
  auto body = valid();
  body["request_id"] = std::string(128, 'a');
  BOOST_CHECK(parse_notification_request(body).value);
  body["request_id"] = "order-42_v1.retry:3";
  BOOST_CHECK(parse_notification_request(body).value);
  body["request_id"] = std::string(129, 'a');
  BOOST_CHECK_NE(error_of(body).find("'request_id'"), std::string::npos);
  for (const char* bad : {"a b", "a/b", "é", "a\"b", "a|b", "a\tb"}) {
    BOOST_TEST_CONTEXT("request_id '" << bad << "'") {
      body["request_id"] = bad;
      auto e = error_of(body);
      BOOST_CHECK_NE(e.find("field 'request_id' may hold only letters, digits"),
                     std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_CASE(the_fingerprint_ignores_key_order_and_the_request_id_only) {
  auto a = valid();
  auto b = json::parse(R"({"metadata": {"campaign": "x"}, "priority": 7, "request_id": "other",
    "variables": {"name": "Ada"}, "template_code": "welcome", "user_id": "u-1",
    "notification_type": "email"})");
  BOOST_CHECK_EQUAL(herald::request_fingerprint(a), herald::request_fingerprint(b));
  b["variables"]["name"] = "Bob";
  BOOST_CHECK_NE(herald::request_fingerprint(a), herald::request_fingerprint(b));
}

BOOST_AUTO_TEST_SUITE_END()
