#include <boost/test/unit_test.hpp>

#include "actors/template_cache/template_cache.hpp"
#include "actors/template_cache/template_request.hpp"

using namespace herald;
using json = nlohmann::json;

namespace {

json email_body() {
  return {{"template_code", "welcome"},
          {"channel", "email"},
          {"subject", "Hi {{name}}"},
          {"body", "Hello {{name}}"},
          {"variables", {"name"}}};
}

json push_body() {
  return {{"template_code", "order_update"},
          {"channel", "push"},
          {"title", "Order {{order}}"},
          {"body", "It is on its way"},
          {"image_url", "https://cdn.example.com/{{order}}.png"},
          {"link", "{{order_url}}"},
          {"data", {{"order_id", "{{order}}"}}}};
}

void check_refused(const template_validation& v, int status, const std::string& mentions) {
  BOOST_TEST_CONTEXT("error: " << v.error) {
    BOOST_CHECK(!v.value);
    BOOST_CHECK_EQUAL(v.status, status);
    BOOST_CHECK_NE(v.error.find(mentions), std::string::npos);
  }
}

template_validation with(json body, const std::string& field, json value) {
  body[field] = std::move(value);
  return parse_new_template(body);
}

} // namespace

BOOST_AUTO_TEST_SUITE(template_create)

BOOST_AUTO_TEST_CASE(a_valid_email_template_is_version_1_in_english_named_after_its_code) {
  auto v = parse_new_template(email_body());
  BOOST_REQUIRE_MESSAGE(v.value, v.error);
  BOOST_CHECK_EQUAL(v.value->language, "en");
  BOOST_CHECK_EQUAL(v.value->version, 1);
  BOOST_CHECK_EQUAL(v.value->name, "welcome");
  BOOST_CHECK_EQUAL(v.value->subject, "Hi {{name}}");
  BOOST_CHECK(v.value->default_language.empty());
}

BOOST_AUTO_TEST_CASE(a_valid_push_template_keeps_its_data_as_json_text) {
  auto v = parse_new_template(push_body());
  BOOST_REQUIRE_MESSAGE(v.value, v.error);
  BOOST_CHECK_EQUAL(json::parse(v.value->data), json({{"order_id", "{{order}}"}}));
  BOOST_CHECK_EQUAL(v.value->title, "Order {{order}}");
}

BOOST_AUTO_TEST_CASE(an_unknown_field_is_a_400_naming_it) {
  check_refused(with(email_body(), "sbuject", "x"), 400, "'sbuject'");
}

BOOST_AUTO_TEST_CASE(fields_of_the_other_channel_are_refused_by_name) {
  check_refused(with(email_body(), "title", "x"), 400, "'title'");
  check_refused(with(email_body(), "data", json::object()), 400, "'data'");
  check_refused(with(push_body(), "subject", "x"), 400, "'subject'");
  check_refused(with(push_body(), "html_body", "<p>"), 400, "'html_body'");
}

BOOST_AUTO_TEST_CASE(required_fields_are_named_when_missing) {
  auto body = email_body();
  body.erase("subject");
  check_refused(parse_new_template(body), 400, "'subject'");
  body = push_body();
  body.erase("title");
  check_refused(parse_new_template(body), 400, "'title'");
  body = email_body();
  body.erase("template_code");
  check_refused(parse_new_template(body), 400, "'template_code'");
}

BOOST_AUTO_TEST_CASE(a_subject_is_one_line_of_at_most_998_characters) {
  check_refused(with(email_body(), "subject", "Hi\r\nBcc: x@example.com"), 400, "'subject'");
  check_refused(with(email_body(), "subject", std::string(999, 'x')), 400, "'subject'");
  BOOST_CHECK(with(email_body(), "subject", std::string(998, 'x')).value);
}

BOOST_AUTO_TEST_CASE(push_urls_must_be_http_or_mustache) {
  check_refused(with(push_body(), "image_url", "ftp://cdn.example.com/a.png"), 400,
                "'image_url'");
  check_refused(with(push_body(), "link", "javascript:alert(1)"), 400, "'link'");
  BOOST_CHECK(with(push_body(), "link", "http://example.com").value);
  BOOST_CHECK(with(push_body(), "link", "HTTPS://example.com/{{id}}").value);
}

BOOST_AUTO_TEST_CASE(push_urls_are_checked_as_far_as_their_literal_text_goes) {
  const herald::net::outbound_policy strict{};
  auto problem = [&](const std::string& value) {
    return herald::push_url_problem("link", value, strict);
  };
  for (auto fine : {"", "https://shop.example.com/a", "https://shop.example.com/{{id}}",
                    "https://{{host}}/x", "{{url}}", "https://cdn.example.com:{{port}}/x"}) {
    BOOST_CHECK_MESSAGE(problem(fine).empty(), fine << ": " << problem(fine));
  }
  BOOST_CHECK_EQUAL(problem("https://127.0.0.1/a"),
                    "field 'link' points at 127.0.0.1, a loopback address");
  BOOST_CHECK_EQUAL(problem("https://10.0.0.1/{{id}}"),
                    "field 'link' points at 10.0.0.1, a private address");
  BOOST_CHECK_EQUAL(problem("https://[fe80::1]:{{port}}/x"),
                    "field 'link' points at fe80::1, a link-local address");
  BOOST_CHECK_EQUAL(problem("http://{{host}}/x"), "field 'link' must be an https:// URL");
  BOOST_CHECK_EQUAL(herald::push_url_problem("link", "http://{{host}}/x", {true}), "");
}

BOOST_AUTO_TEST_CASE(push_data_must_be_an_object_of_strings_with_allowed_keys) {
  check_refused(with(push_body(), "data", "x=1"), 400, "'data'");
  check_refused(with(push_body(), "data", {{"count", 3}}), 400, "'data.count'");
  check_refused(with(push_body(), "data", {{"from", "me"}}), 400, "'data.from'");
  check_refused(with(push_body(), "data", {{"google.x", "y"}}), 400, "'data.google.x'");
}

BOOST_AUTO_TEST_CASE(a_push_body_is_at_most_4096_characters) {
  check_refused(with(push_body(), "body", std::string(4097, 'x')), 400, "'body'");
}

BOOST_AUTO_TEST_CASE(invalid_mustache_is_a_422_naming_field_line_and_column) {
  auto v = with(email_body(), "body", "Hello\n{{#items}}\n{{.}}");
  check_refused(v, 422, "'body'");
  BOOST_CHECK_NE(v.error.find("line 2, column 1"), std::string::npos);
  auto d = with(push_body(), "data", {{"url", "x {{id"}});
  check_refused(d, 422, "'data.url'");
  BOOST_CHECK_NE(d.error.find("line 1, column 3"), std::string::npos);
  check_refused(with(push_body(), "link", "https://x/{{id"), 422, "'link'");
}

BOOST_AUTO_TEST_CASE(languages_are_lower_case_tags) {
  auto v = with(email_body(), "language", "PT-BR");
  BOOST_REQUIRE(v.value);
  BOOST_CHECK_EQUAL(v.value->language, "pt-br");
  check_refused(with(email_body(), "language", "english please"), 400, "'language'");
  check_refused(with(email_body(), "language", 7), 400, "'language'");
}

BOOST_AUTO_TEST_CASE(default_language_may_only_name_the_language_being_created) {
  auto body = email_body();
  body["language"] = "fr";
  body["default_language"] = "fr";
  auto v = parse_new_template(body);
  BOOST_REQUIRE(v.value);
  BOOST_CHECK_EQUAL(v.value->default_language, "fr");
  body["default_language"] = "de";
  check_refused(parse_new_template(body), 400, "'default_language'");
}

BOOST_AUTO_TEST_CASE(variables_are_distinct_names) {
  check_refused(with(email_body(), "variables", "name"), 400, "'variables'");
  check_refused(with(email_body(), "variables", {"name", "name"}), 400, "twice");
  check_refused(with(email_body(), "variables", {"first name"}), 400, "'variables'");
  check_refused(with(email_body(), "variables", {1}), 400, "'variables'");
}

BOOST_AUTO_TEST_CASE(channel_is_email_or_push) {
  check_refused(with(email_body(), "channel", "sms"), 400, "'channel'");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(template_update)

template_record latest_email() {
  auto v = parse_new_template(email_body());
  auto t = *v.value;
  t.version = 3;
  return t;
}

BOOST_AUTO_TEST_CASE(a_patch_changes_only_what_it_names_and_bumps_the_version) {
  auto patch = parse_template_patch({{"subject", "Welcome back, {{name}}"}}, "welcome");
  BOOST_REQUIRE_MESSAGE(patch.value, patch.error);
  BOOST_CHECK(patch_changes_content(*patch.value));
  auto next = apply_template_patch(latest_email(), *patch.value);
  BOOST_REQUIRE_MESSAGE(next.value, next.error);
  BOOST_CHECK_EQUAL(next.value->version, 4);
  BOOST_CHECK_EQUAL(next.value->subject, "Welcome back, {{name}}");
  BOOST_CHECK_EQUAL(next.value->body, "Hello {{name}}");
  BOOST_CHECK(next.value->variables == std::vector<std::string>{"name"});
}

BOOST_AUTO_TEST_CASE(a_patch_naming_only_languages_changes_no_content) {
  auto patch = parse_template_patch({{"language", "en"}, {"default_language", "fr"}}, "welcome");
  BOOST_REQUIRE(patch.value);
  BOOST_CHECK(!patch_changes_content(*patch.value));
}

BOOST_AUTO_TEST_CASE(a_patch_for_another_code_is_a_400) {
  auto patch = parse_template_patch({{"template_code", "other"}, {"body", "x"}}, "welcome");
  BOOST_CHECK(!patch.value);
  BOOST_CHECK_NE(patch.error.find("'template_code'"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_patch_cannot_change_the_channel) {
  auto patch = parse_template_patch({{"channel", "push"}, {"title", "x"}}, "welcome");
  BOOST_REQUIRE(patch.value);
  auto next = apply_template_patch(latest_email(), *patch.value);
  check_refused(next, 409, "channel");
}

BOOST_AUTO_TEST_CASE(a_patch_with_fields_of_the_other_channel_is_a_400) {
  auto patch = parse_template_patch({{"title", "x"}}, "welcome");
  BOOST_REQUIRE(patch.value);
  check_refused(apply_template_patch(latest_email(), *patch.value), 400, "'title'");
}

BOOST_AUTO_TEST_CASE(a_patch_is_checked_as_a_whole_template) {
  auto patch = parse_template_patch({{"subject", "{{#x}}"}}, "welcome");
  BOOST_REQUIRE(patch.value);
  check_refused(apply_template_patch(latest_email(), *patch.value), 422, "'subject'");
  auto empty = parse_template_patch({{"body", ""}}, "welcome");
  BOOST_REQUIRE(empty.value);
  check_refused(apply_template_patch(latest_email(), *empty.value), 400, "'body'");
}

BOOST_AUTO_TEST_CASE(unknown_fields_in_a_patch_are_named) {
  auto patch = parse_template_patch({{"subjekt", "x"}}, "welcome");
  BOOST_CHECK(!patch.value);
  BOOST_CHECK_NE(patch.error.find("'subjekt'"), std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(template_queries)

BOOST_AUTO_TEST_CASE(versions_are_positive_whole_numbers) {
  BOOST_CHECK_EQUAL(parse_version_param({}).version, 0);
  BOOST_CHECK_EQUAL(parse_version_param({{"version", "3"}}).version, 3);
  BOOST_CHECK_NE(parse_version_param({{"version", "0"}}).error.find("'version'"),
                 std::string::npos);
  BOOST_CHECK_NE(parse_version_param({{"version", "v2"}}).error.find("'version'"),
                 std::string::npos);
  BOOST_CHECK_EQUAL(parse_version_field({{"version", 2}}).version, 2);
  BOOST_CHECK_NE(parse_version_field({{"version", "2"}}).error.find("'version'"),
                 std::string::npos);
  BOOST_CHECK_NE(parse_version_field({{"version", 1.5}}).error.find("'version'"),
                 std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(template_language_choice)

code_index en_fr_pt() {
  return {"welcome", "email", "en", {"en", "fr", "pt"}, {3, 1, 2}};
}

BOOST_AUTO_TEST_CASE(the_first_language_the_code_has_wins) {
  BOOST_CHECK_EQUAL(choose_language(en_fr_pt(), {"de", "fr", "en"}), "fr");
}

BOOST_AUTO_TEST_CASE(empty_names_are_skipped_and_case_does_not_matter) {
  BOOST_CHECK_EQUAL(choose_language(en_fr_pt(), {"", "FR"}), "fr");
}

BOOST_AUTO_TEST_CASE(a_regional_tag_falls_back_to_its_primary_language) {
  BOOST_CHECK_EQUAL(choose_language(en_fr_pt(), {"pt-BR", "fr"}), "pt");
}

BOOST_AUTO_TEST_CASE(an_unknown_language_falls_back_to_the_default) {
  BOOST_CHECK_EQUAL(choose_language(en_fr_pt(), {"de"}), "en");
  BOOST_CHECK_EQUAL(choose_language(en_fr_pt(), {}), "en");
}

BOOST_AUTO_TEST_SUITE_END()
