#include <boost/test/unit_test.hpp>

#include "actors/template_cache/render.hpp"
#include "tests/support/process_memory.hpp"

#include <kainjow/mustache.hpp>

#include <chrono>

#include <string>
#include <vector>

using namespace herald;
using herald::test::peak_rss;
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

/// `depth` sections {{#s}} nested around "x", in the delimiters given.
std::string nested(int depth, const std::string& open, const std::string& close) {
  std::string s;
  for (int i = 0; i < depth; ++i) {
    s += open + "#s" + close;
  }
  s += "x";
  for (int i = 0; i < depth; ++i) {
    s += open + "/s" + close;
  }
  return s;
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

BOOST_AUTO_TEST_CASE(sections_nested_past_the_limit_are_a_syntax_error_naming_the_place) {
  BOOST_CHECK_EQUAL(mustache_syntax_error(nested(herald::max_section_depth, "{{", "}}")), "");
  auto deep = nested(herald::max_section_depth + 1, "{{", "}}");
  BOOST_CHECK_EQUAL(mustache_syntax_error(deep),
                    "Sections nested more than 16 deep at line 1, column "
                      + std::to_string(16 * 6 + 1));
  // Inverted sections count, other delimiters are followed, triple mustaches are not sections.
  BOOST_CHECK(!mustache_syntax_error("{{=<% %>=}}" + nested(17, "<%", "%>")).empty());
  BOOST_CHECK(mustache_syntax_error("{{=<% %>=}}" + nested(16, "<%", "%>")).empty());
  BOOST_CHECK(!mustache_syntax_error(nested(17, "{{", "}}").replace(2, 1, "^")).empty());
  BOOST_CHECK(mustache_syntax_error("{{{#a}}} {{#b}}{{/b}}").empty());
  // 20,000 levels once overflowed the renderer's stack; now they are refused at once.
  BOOST_CHECK(!mustache_syntax_error(nested(20000, "{{", "}}")).empty());
}

BOOST_AUTO_TEST_CASE(the_depth_check_reads_every_tag_as_the_parser_does) {
  // Each of these once hid one section from the depth check while kainjow parsed it
  // (each breaks fuzz/render's nesting check), so any depth passed with one more per level.
  auto hidden_one = [](int depth) {
    return std::vector<std::string>{
      // a vertical tab, which the parser trims from the tag
      "{{\v#s}}" + nested(depth - 1, "{{", "}}") + "{{/s}}",
      // "{{{" under other delimiters is no triple mustache
      "{{={{ }=}}{{{y}" + nested(depth, "{{", "}") + "}}}",
      // a blank before the set-delimiter tag's end
      "{{=<% %>= }}" + nested(depth, "<%", "%>"),
      // a longer new end delimiter: the parser goes on after the tag's own "}}"
      "{{=<% %%%%>=}}" + nested(depth, "<%", "%%%%>"),
    };
  };
  for (auto& text : hidden_one(herald::max_section_depth)) {
    BOOST_CHECK_MESSAGE(mustache_syntax_error(text).empty(), text);
  }
  for (auto& text : hidden_one(herald::max_section_depth + 1)) {
    BOOST_CHECK_MESSAGE(!mustache_syntax_error(text).empty(), text);
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(render_positions)

BOOST_AUTO_TEST_CASE(an_unclosed_tag_is_reported_at_its_line_and_column) {
  BOOST_CHECK_EQUAL(mustache_syntax_error("Hello\n  {{name"), "Unclosed tag at line 2, column 3");
}

BOOST_AUTO_TEST_CASE(an_unclosed_section_is_reported_where_it_opens) {
  BOOST_CHECK_EQUAL(mustache_syntax_error("Dear {{name}},\n\n{{#items}}open"),
                    "Unclosed section \"items\" at line 3, column 1");
}

BOOST_AUTO_TEST_CASE(a_closing_tag_without_its_section_is_reported_where_it_stands) {
  BOOST_CHECK_EQUAL(mustache_syntax_error("a\nb {{/items}}"),
                    "Unopened section \"items\" at line 2, column 3");
}

BOOST_AUTO_TEST_CASE(columns_count_characters_not_bytes) {
  BOOST_CHECK_EQUAL(mustache_syntax_error("\xC3\xA9t\xC3\xA9 {{x"),
                    "Unclosed tag at line 1, column 5");
}

BOOST_AUTO_TEST_CASE(an_invalid_part_is_named_by_its_field_with_line_and_column) {
  auto t = email_template();
  t.html_body = "<p>\n  {{#items}}</p>";
  compiled_template c{t};
  BOOST_CHECK_EQUAL(c.error(), "field 'html_body' is not valid Mustache: Unclosed section "
                               "\"items\" at line 2, column 3");
  auto r = c.render({{"name", "Ada"}});
  BOOST_CHECK(!r.ok);
  BOOST_CHECK_NE(r.error.find("html_body"), std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(render_compiled)

BOOST_AUTO_TEST_CASE(a_compiled_template_renders_many_times_with_different_variables) {
  compiled_template c{email_template()};
  BOOST_REQUIRE(c.error().empty());
  auto first = c.render({{"name", "Ada"}});
  auto second = c.render({{"name", "Grace"}, {"items", {"x"}}});
  BOOST_REQUIRE(first.ok && second.ok);
  BOOST_CHECK_EQUAL(first.email.subject, "Hi Ada");
  BOOST_CHECK_EQUAL(second.email.subject, "Hi Grace");
  BOOST_CHECK_EQUAL(second.email.text_body, "Hello Grace, [x]");
}

BOOST_AUTO_TEST_CASE(unescaped_tags_in_a_text_body_bring_no_line_breaks_either) {
  auto t = email_template();
  t.body = "Hello {{{name}}} and {{&name}}\nbye";
  auto r = render_email(t, {{"name", "a\r\nb"}});
  BOOST_REQUIRE(r.ok);
  BOOST_CHECK_EQUAL(r.email.text_body, "Hello a  b and a  b\nbye");
}

BOOST_AUTO_TEST_CASE(a_subject_is_one_line_even_when_a_section_spans_lines) {
  auto t = email_template();
  t.subject = "Hi {{#items}}{{.}}\n{{/items}}";
  auto r = render_email(t, {{"name", "A"}, {"items", {"a", "b"}}});
  BOOST_REQUIRE(r.ok);
  BOOST_CHECK_EQUAL(r.email.subject.find_first_of("\r\n"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(numbers_and_booleans_render_as_text_and_sections) {
  auto t = email_template();
  t.body = "{{count}} {{#vip}}VIP{{/vip}}{{^vip}}regular{{/vip}}";
  auto r = render_email(t, {{"name", "A"}, {"count", 3}, {"vip", false}});
  BOOST_REQUIRE(r.ok);
  BOOST_CHECK_EQUAL(r.email.text_body, "3 regular");
}

BOOST_AUTO_TEST_CASE(render_email_refuses_a_push_template) {
  auto t = email_template();
  t.channel = "push";
  auto r = render_email(t, json::object());
  BOOST_CHECK(!r.ok);
  BOOST_CHECK_NE(r.error.find("push"), std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

template_record push_template() {
  template_record t;
  t.template_code = "order_update";
  t.channel = "push";
  t.title = "Order {{order}}";
  t.body = "Hello {{name}},\n{{message}}";
  t.image_url = "https://cdn.example.com/{{image}}.png";
  t.link = "https://shop.example.com/orders/{{order}}";
  t.data = R"({"order_id": "{{order}}", "kind": "update"})";
  t.variables = {"name", "order"};
  return t;
}

} // namespace

BOOST_AUTO_TEST_SUITE(render_push_parts)

BOOST_AUTO_TEST_CASE(title_body_urls_and_data_are_rendered) {
  auto r = render_push(push_template(), {{"name", "Ada"}, {"order", "A-1"}, {"image", "box"},
                                         {"message", "on its way"}});
  BOOST_REQUIRE_MESSAGE(r.ok, r.error);
  BOOST_CHECK_EQUAL(r.push.title, "Order A-1");
  BOOST_CHECK_EQUAL(r.push.body, "Hello Ada,\non its way");
  BOOST_CHECK_EQUAL(r.push.image_url, "https://cdn.example.com/box.png");
  BOOST_CHECK_EQUAL(r.push.link, "https://shop.example.com/orders/A-1");
  BOOST_CHECK_EQUAL(r.push.data, json({{"order_id", "A-1"}, {"kind", "update"}}));
  BOOST_CHECK(r.missing.empty());
}

BOOST_AUTO_TEST_CASE(a_push_title_never_takes_a_line_break_from_a_variable) {
  auto r = render_push(push_template(), {{"name", "A"}, {"order", "1\r\n2\n3"}});
  BOOST_REQUIRE_MESSAGE(r.ok, r.error);
  BOOST_CHECK_EQUAL(r.push.title.find_first_of("\r\n"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_push_body_keeps_line_breaks_but_never_a_raw_cr) {
  auto r = render_push(push_template(), {{"name", "A"}, {"order", "1"},
                                         {"message", "one\r\ntwo\rthree\nfour"}});
  BOOST_REQUIRE_MESSAGE(r.ok, r.error);
  BOOST_CHECK_EQUAL(r.push.body, "Hello A,\none\ntwo\nthree\nfour");
  BOOST_CHECK_EQUAL(r.push.data["order_id"], "1");
}

BOOST_AUTO_TEST_CASE(a_link_that_does_not_render_to_an_http_url_fails_naming_the_field) {
  auto t = push_template();
  t.link = "{{target}}";
  auto r = render_push(t, {{"name", "A"}, {"order", "1"}, {"target", "javascript:alert(1)"}});
  BOOST_CHECK(!r.ok);
  BOOST_CHECK_NE(r.error.find("'link'"), std::string::npos);
  auto fine = render_push(t, {{"name", "A"}, {"order", "1"}, {"target", "https://x.example"}});
  BOOST_CHECK_MESSAGE(fine.ok, fine.error);
}

BOOST_AUTO_TEST_CASE(variables_in_urls_lose_whitespace_and_line_breaks) {
  auto r = render_push(push_template(), {{"name", "A"}, {"order", "A 1\r\n"}});
  BOOST_REQUIRE_MESSAGE(r.ok, r.error);
  BOOST_CHECK_EQUAL(r.push.link, "https://shop.example.com/orders/A1");
}

BOOST_AUTO_TEST_CASE(optional_push_parts_left_empty_render_empty) {
  auto t = push_template();
  t.image_url.clear();
  t.link.clear();
  t.data.clear();
  auto r = render_push(t, {{"name", "A"}, {"order", "1"}});
  BOOST_REQUIRE_MESSAGE(r.ok, r.error);
  BOOST_CHECK(r.push.image_url.empty());
  BOOST_CHECK(r.push.link.empty());
  BOOST_CHECK(r.push.data.empty());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(render_missing_variables)

BOOST_AUTO_TEST_CASE(dotted_names_are_looked_up_as_paths) {
  auto t = email_template();
  t.variables = {"user.name", "order.id"};
  auto missing = missing_variables(t, {{"user", {{"name", "Ada"}}}, {"order", json::object()}});
  BOOST_REQUIRE_EQUAL(missing.size(), 1u);
  BOOST_CHECK_EQUAL(missing[0], "order.id");
}

BOOST_AUTO_TEST_CASE(a_null_value_counts_as_missing_and_a_non_object_provides_nothing) {
  auto t = email_template();
  t.variables = {"name", "code"};
  BOOST_CHECK_EQUAL(missing_variables(t, {{"name", nullptr}, {"code", ""}}).size(), 1u);
  BOOST_CHECK_EQUAL(missing_variables(t, json::array()).size(), 2u);
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

/// Six sections around `inner`, each over the list `a`.
std::string six_deep(const std::string& inner) {
  return "{{#a}}{{#a}}{{#a}}{{#a}}{{#a}}{{#a}}" + inner + "{{/a}}{{/a}}{{/a}}{{/a}}{{/a}}{{/a}}";
}

json forty_items() {
  return {{"a", json(std::vector<int>(40, 1))}};
}

} // namespace

BOOST_AUTO_TEST_SUITE(render_budgets)

BOOST_AUTO_TEST_CASE(a_section_bomb_stops_at_the_output_budget_without_growing_memory) {
  auto t = email_template();
  t.variables.clear();
  t.body = six_deep("0123456789"); // 40^6 x 10 bytes: 41 GB unbounded
  auto started = std::chrono::steady_clock::now();
  auto r = render_email(t, forty_items());
  auto took = std::chrono::steady_clock::now() - started;
  BOOST_CHECK(!r.ok);
  BOOST_CHECK_MESSAGE(r.error.find("field 'body' renders to more than 1048576 bytes")
                        != std::string::npos,
                      r.error);
  BOOST_CHECK(r.email.text_body.empty());
  BOOST_CHECK(took < std::chrono::milliseconds{250});
  BOOST_CHECK_LT(peak_rss(), 200u << 20);
}

BOOST_AUTO_TEST_CASE(a_bomb_that_renders_nothing_stops_at_the_time_budget) {
  auto t = email_template();
  t.variables.clear();
  t.body = six_deep(""); // 40^6 iterations, no output
  render_limits limits;
  limits.time_budget = std::chrono::milliseconds{50};
  auto started = std::chrono::steady_clock::now();
  auto r = render_email(t, forty_items(), limits);
  auto took = std::chrono::steady_clock::now() - started;
  BOOST_CHECK(!r.ok);
  BOOST_CHECK_MESSAGE(r.error.find("longer than 50 ms") != std::string::npos, r.error);
  BOOST_CHECK(took >= std::chrono::milliseconds{50});
  BOOST_CHECK(took < std::chrono::milliseconds{500});
}

BOOST_AUTO_TEST_CASE(the_output_budget_counts_each_part_and_html_escapes) {
  auto t = email_template();
  t.subject = "{{name}}";
  t.body = "{{name}}";
  t.html_body = "{{name}}";
  render_limits limits;
  limits.max_part_bytes = 600;
  // 100 quotes: 100 bytes of text, 600 bytes of HTML (&quot;).
  auto fits = render_email(t, {{"name", std::string(100, '"')}}, limits);
  BOOST_CHECK_MESSAGE(fits.ok, fits.error);
  auto over = render_email(t, {{"name", std::string(101, '"')}}, limits);
  BOOST_CHECK(!over.ok);
  BOOST_CHECK_MESSAGE(over.error.find("'html_body'") != std::string::npos, over.error);
}

BOOST_AUTO_TEST_CASE(variables_past_their_size_limit_are_refused_before_rendering) {
  render_limits limits;
  limits.max_variables_bytes = 1000;
  auto small = json{{"name", std::string(900, 'x')}};
  auto large = json{{"name", std::string(1000, 'x')}};
  BOOST_CHECK(render_email(email_template(), small, limits).ok);
  auto r = render_email(email_template(), large, limits);
  BOOST_CHECK(!r.ok);
  BOOST_CHECK_MESSAGE(r.error.find("field 'variables' is 1011 bytes of JSON, more than the 1000")
                        != std::string::npos,
                      r.error);
  BOOST_CHECK_EQUAL(variables_size_problem(1000, limits), "");
}

BOOST_AUTO_TEST_CASE(partials_are_refused_so_variables_never_become_template_code) {
  // kainjow takes a partial's text from the variables: {"x": "{{>x}}"} recursed until
  // the stack overflowed.
  BOOST_CHECK_EQUAL(mustache_syntax_error("a\n {{> x}}"),
                    "Partials ({{>name}}) are not supported at line 2, column 2");
  auto t = email_template();
  t.body = "{{#items}}{{>x}}{{/items}}";
  auto r = render_email(t, {{"name", "A"}, {"x", "{{>x}}"}, {"items", {1}}});
  BOOST_CHECK(!r.ok);
  BOOST_CHECK_MESSAGE(r.error.find("Partials") != std::string::npos, r.error);
}

BOOST_AUTO_TEST_CASE(the_request_time_check_decides_small_cases_and_renders_doubtful_ones) {
  auto t = email_template();
  t.variables.clear();
  BOOST_CHECK_EQUAL(render_limit_problem(t, {{"name", "Ada"}, {"items", {"a", "b"}}}, {}), "");
  t.body = six_deep("0123456789");
  BOOST_CHECK_NE(render_limit_problem(t, forty_items(), {}).find("more than 1048576 bytes"),
                 std::string::npos);
  render_limits quick;
  quick.time_budget = std::chrono::milliseconds{20};
  t.body = six_deep("");
  BOOST_CHECK_NE(render_limit_problem(t, forty_items(), quick).find("longer than"),
                 std::string::npos);
  // A bound that does not fit is only a doubt: here the sections never render.
  t.body = six_deep("0123456789");
  BOOST_CHECK_EQUAL(render_limit_problem(t, {{"a", json::array()}, {"b", std::vector<int>(40, 1)}}, {}), "");
}

BOOST_AUTO_TEST_CASE(a_part_that_would_parse_into_too_many_nodes_is_refused_before_parsing) {
  // 300,000 spaces would be 300,000 nodes of 136 bytes each.
  auto spaces = mustache_syntax_error(std::string(300000, ' '));
  BOOST_CHECK_MESSAGE(spaces.find("Too many separate pieces") != std::string::npos, spaces);
  std::string prose;
  while (prose.size() < (1 << 20) - 6) {
    prose += "lorem ";
  }
  BOOST_CHECK_EQUAL(mustache_syntax_error(prose), ""); // 1 MB of ordinary text is fine
}

BOOST_AUTO_TEST_CASE(a_compiled_template_knows_roughly_what_it_holds) {
  auto t = email_template();
  compiled_template small{t};
  t.body = std::string(100000, 'x') + "{{#a}}" + std::string(100000, 'y') + "{{/a}}";
  compiled_template large{t};
  BOOST_CHECK_GT(small.bytes(), t.subject.size());
  // The text, and kainjow's copy of the section's text.
  BOOST_CHECK_GT(large.bytes(), 300000u);
  BOOST_CHECK_LT(large.bytes(), 1000000u);
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

kainjow::mustache::data as_data(const json& j) {
  namespace mst = kainjow::mustache;
  if (j.is_object()) {
    mst::data d{mst::data::type::object};
    for (auto& [k, v] : j.items()) {
      d.set(k, as_data(v));
    }
    return d;
  }
  if (j.is_array()) {
    mst::data d{mst::data::type::list};
    for (auto& v : j) {
      d.push_back(as_data(v));
    }
    return d;
  }
  if (j.is_string()) {
    return mst::data{j.get<std::string>()};
  }
  if (j.is_boolean()) {
    return mst::data{j.get<bool>()};
  }
  return j.is_null() ? mst::data{false} : mst::data{j.dump()};
}

} // namespace

BOOST_AUTO_TEST_SUITE(render_parity)

// Herald walks kainjow's parse tree itself (to bound it): its output must be kainjow's.
BOOST_AUTO_TEST_CASE(the_bounded_renderer_renders_what_kainjow_renders) {
  const json vars = {{"name", "Ada <&\"'>"},
                     {"items", {"a", "b", "c"}},
                     {"people", {{{"name", "x"}, {"tag", "1"}}, {{"name", "y"}}}},
                     {"obj", {{"k", "v"}, {"deep", {{"er", "z"}}}}},
                     {"flag", true},
                     {"off", false},
                     {"none", nullptr},
                     {"empty", json::array()},
                     {"n", 42},
                     {"grid", {{1, 2}, {3}}},
                     {"title", "T"}};
  const char* templates[] = {
    "Hello {{name}}! {{{name}}} {{&name}}",
    "{{#items}}\n- {{.}}\n{{/items}}\n",
    "  {{#items}}\n  x\n  {{/items}}\nend",
    "|\t{{#flag}}\t|\n{{/flag}}done\r\n",
    "{{^missing}}none{{/missing}}{{^off}}off{{/off}}{{^empty}}empty{{/empty}}{{^none}}null{{/none}}",
    "{{#obj}}{{k}}/{{deep.er}}/{{title}}{{/obj}} {{obj.deep.er}} {{a.b.c}}",
    "{{#people}}{{name}}:{{tag}}:{{title}};{{/people}}",
    "{{! comment }}x\r\n{{=<% %>=}}<% name %>\r\n<%={{ }}=%>{{n}}",
    "{{#grid}}[{{#.}}{{.}}{{/.}}]{{/grid}}",
    "{{#items}}{{#items}}{{.}}{{/items}}|{{/items}}",
    "a\n\n  {{! standalone }}\n{{#off}}\n{{/off}}\nb\n  ",
    "{{#flag}}{{#obj}}{{#deep}}{{er}}{{name}}{{/deep}}{{/obj}}{{/flag}}",
    "{{}}{{ name }}{{#n}}{{.}}{{/n}}",
  };
  for (auto* text : templates) {
    auto t = email_template();
    t.html_body = text;
    auto r = render_email(t, vars);
    BOOST_REQUIRE_MESSAGE(r.ok, r.error);
    kainjow::mustache::mustache reference{text};
    BOOST_REQUIRE(reference.is_valid());
    BOOST_CHECK_EQUAL(r.email.html_body, reference.render(as_data(vars)));
  }
}

BOOST_AUTO_TEST_SUITE_END()
