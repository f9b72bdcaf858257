#include <boost/test/unit_test.hpp>

#include "actors/template_cache/render.hpp"

using namespace herald;
using json = nlohmann::json;

namespace {

template_record email_template() {
  template_record t;
  t.template_code = "welcome";
  t.subject = "Hi {{name}}";
  t.body = "Hello {{name}}, {{#items}}[{{.}}]{{/items}}";
  t.html_body = "<p>Hello {{name}}</p>";
  t.variables = {"name"};
  return t;
}

} // namespace

BOOST_AUTO_TEST_SUITE(render)

BOOST_AUTO_TEST_CASE(variables_fill_subject_text_and_html) {
  auto r = render_email(email_template(), {{"name", "Ada"}, {"items", {"a", "b"}}});
  BOOST_REQUIRE_MESSAGE(r.ok, r.error);
  BOOST_CHECK_EQUAL(r.email.subject, "Hi Ada");
  BOOST_CHECK_EQUAL(r.email.text_body, "Hello Ada, [a][b]");
  BOOST_CHECK_EQUAL(r.email.html_body, "<p>Hello Ada</p>");
  BOOST_CHECK(r.missing.empty());
}

BOOST_AUTO_TEST_CASE(html_escapes_variables_but_text_does_not) {
  auto r = render_email(email_template(), {{"name", "<b>&"}});
  BOOST_REQUIRE(r.ok);
  BOOST_CHECK_EQUAL(r.email.html_body, "<p>Hello &lt;b&gt;&amp;</p>");
  BOOST_CHECK_EQUAL(r.email.text_body, "Hello <b>&, ");
}

BOOST_AUTO_TEST_CASE(line_breaks_in_variables_never_reach_the_subject) {
  auto t = email_template();
  t.subject = "Hi {{name}} / {{{name}}}";
  auto r = render_email(t, {{"name", "x\r\nBcc: victim@example.com"}});
  BOOST_REQUIRE(r.ok);
  BOOST_CHECK_EQUAL(r.email.subject.find_first_of("\r\n"), std::string::npos);
  BOOST_CHECK_EQUAL(r.email.text_body.find_first_of("\r\n"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(declared_variables_not_given_are_reported_missing) {
  auto r = render_email(email_template(), json::object());
  BOOST_REQUIRE(r.ok);
  BOOST_REQUIRE_EQUAL(r.missing.size(), 1u);
  BOOST_CHECK_EQUAL(r.missing[0], "name");
}

BOOST_AUTO_TEST_CASE(syntax_errors_are_reported_with_a_message) {
  BOOST_CHECK(mustache_syntax_error("Hello {{name}}").empty());
  BOOST_CHECK(!mustache_syntax_error("Hello {{name").empty());
  BOOST_CHECK(!mustache_syntax_error("{{#list}}open").empty());
}

BOOST_AUTO_TEST_SUITE_END()
