// The templates service (:8002) against real PostgreSQL: every endpoint, its 4xx answers,
// versions, languages, previews, push templates, pages, and how fresh the node's cache is.

#include <boost/test/unit_test.hpp>

#include "adapters/postgres/session.hpp"
#include "support/herald_api.hpp"

using namespace herald::test;
using json = nlohmann::json;

namespace {


json email_template(const std::string& code, const std::string& language = "en") {
  return {{"template_code", code},
          {"channel", "email"},
          {"language", language},
          {"name", "Order shipped"},
          {"subject", "[" + language + "] Order {{order}} shipped"},
          {"body", "Hello {{name}},\norder {{order}} is on its way."},
          {"html_body", "<p>Hello {{name}}</p>"},
          {"variables", {"name", "order"}}};
}

json push_template(const std::string& code) {
  return {{"template_code", code},
          {"channel", "push"},
          {"title", "Order {{order}}"},
          {"body", "Hello {{name}},\nit shipped."},
          {"image_url", "https://cdn.example.com/{{order}}.png"},
          {"link", "https://shop.example.com/orders/{{order}}"},
          {"data", {{"order_id", "{{order}}"}, {"screen", "orders"}}},
          {"variables", {"name", "order"}}};
}

/// Writes a version straight into template_db, as another node's PUT would.
void insert_version_elsewhere(const std::string& code, const std::string& language, int version,
                              const std::string& subject) {
  herald::postgres::session db{
    herald::postgres::database_url(env("HERALD_TEST_PG_URL"), "template_db")};
  auto r = db.transact([&](pqxx::work& tx) {
    tx.exec_params("INSERT INTO templates (template_code, language, version, name, channel, "
                   "subject, body) VALUES ($1, $2, $3, 'elsewhere', 'email', $4, 'body')",
                   code, language, version, subject);
  });
  BOOST_REQUIRE_MESSAGE(r.ok(), r.detail);
}

struct templates_fixture {
  explicit templates_fixture(const std::map<std::string, std::string>& overrides = {})
    : node(overrides) {}

  running_node node;

  std::string api(const std::string& path = {}) {
    return node.url(2) + "/api/v1/templates" + path;
  }
  http_reply create(const json& body) { return post_json(api(), body); }
  http_reply put(const std::string& code, const json& body) {
    return http_call("PUT", api("/" + code), body.dump());
  }
  http_reply get(const std::string& path) { return http_call("GET", api(path)); }
  http_reply render(const std::string& code, const json& body) {
    return post_json(api("/" + code + "/render"), body);
  }

  /// A counter of the node's template cache, from the introspection endpoint.
  std::uint64_t cache_counter(const std::string& name) {
    BOOST_REQUIRE_MESSAGE(registry_entry(node, "template_cache").is_object(),
                          "no template_cache entry in the registry");
    return actor_counter(node, "template_cache", name);
  }
};

} // namespace

// -- create ------------------------------------------------------------------------

BOOST_FIXTURE_TEST_SUITE(templates_create, templates_fixture)

BOOST_AUTO_TEST_CASE(a_new_code_is_version_1_and_its_language_becomes_the_default) {
  auto code = unique("shipped-");
  auto r = create(email_template(code));
  BOOST_REQUIRE_EQUAL(r.status, 201);
  BOOST_CHECK_EQUAL(r.body["success"], true);
  auto& d = r.body["data"];
  BOOST_CHECK_EQUAL(d["template_code"], code);
  BOOST_CHECK_EQUAL(d["version"], 1);
  BOOST_CHECK_EQUAL(d["language"], "en");
  BOOST_CHECK_EQUAL(d["default_language"], "en");
  BOOST_CHECK_EQUAL(d["subject"], "[en] Order {{order}} shipped");
  BOOST_CHECK_EQUAL(d["html_body"], "<p>Hello {{name}}</p>");
  BOOST_CHECK_EQUAL(d["variables"], json({"name", "order"}));
  BOOST_CHECK(!d.contains("title"));
}

BOOST_AUTO_TEST_CASE(language_defaults_to_en) {
  auto body = email_template(unique("nolang-"));
  body.erase("language");
  auto r = create(body);
  BOOST_REQUIRE_EQUAL(r.status, 201);
  BOOST_CHECK_EQUAL(r.body["data"]["language"], "en");
}

BOOST_AUTO_TEST_CASE(the_same_code_and_language_again_is_a_409) {
  auto code = unique("twice-");
  BOOST_REQUIRE_EQUAL(create(email_template(code)).status, 201);
  check_error(create(email_template(code)), 409, "already exists in language 'en'");
}

BOOST_AUTO_TEST_CASE(a_new_language_of_a_code_is_its_version_1_and_keeps_the_default) {
  auto code = unique("bilingual-");
  BOOST_REQUIRE_EQUAL(create(email_template(code, "en")).status, 201);
  auto fr = create(email_template(code, "fr"));
  BOOST_REQUIRE_EQUAL(fr.status, 201);
  BOOST_CHECK_EQUAL(fr.body["data"]["language"], "fr");
  BOOST_CHECK_EQUAL(fr.body["data"]["version"], 1);
  BOOST_CHECK_EQUAL(fr.body["data"]["default_language"], "en");
}

BOOST_AUTO_TEST_CASE(a_new_language_can_become_the_default_when_created) {
  auto code = unique("newdefault-");
  BOOST_REQUIRE_EQUAL(create(email_template(code, "en")).status, 201);
  auto body = email_template(code, "de");
  body["default_language"] = "de";
  auto de = create(body);
  BOOST_REQUIRE_EQUAL(de.status, 201);
  BOOST_CHECK_EQUAL(de.body["data"]["default_language"], "de");
  auto fallback = get("/" + code + "?language=ja");
  BOOST_CHECK_EQUAL(fallback.body["data"]["language"], "de");
}

BOOST_AUTO_TEST_CASE(a_language_of_another_channel_is_a_409_naming_the_channel) {
  auto code = unique("mixed-");
  BOOST_REQUIRE_EQUAL(create(email_template(code)).status, 201);
  auto push = push_template(code);
  push["language"] = "fr";
  check_error(create(push), 409, "is for channel email; field 'channel' (push)");
}

BOOST_AUTO_TEST_CASE(bad_bodies_are_400s_naming_the_field) {
  auto code = unique("bad-");
  auto unknown = email_template(code);
  unknown["colour"] = "blue";
  check_error(create(unknown), 400, "'colour'");
  auto foreign = email_template(code);
  foreign["title"] = "x";
  check_error(create(foreign), 400, "'title'");
  auto missing = email_template(code);
  missing.erase("body");
  check_error(create(missing), 400, "'body'");
  check_error(http_call("POST", api(), "{\"template_code\": "), 400, "not valid JSON");
  auto long_subject = email_template(code);
  long_subject["subject"] = std::string(999, 's');
  check_error(create(long_subject), 400, "'subject'");
  check_error(get("/" + code), 404, code); // nothing was stored
}

BOOST_AUTO_TEST_CASE(invalid_mustache_is_a_422_naming_field_line_and_column) {
  auto body = email_template(unique("broken-"));
  body["body"] = "Hello {{name}},\n\n{{#items}} unclosed";
  check_error(create(body), 422, "field 'body' is not valid Mustache: Unclosed section "
                                 "\"items\" at line 3, column 1");
  body["body"] = "ok";
  body["subject"] = "Order {{order";
  check_error(create(body), 422, "'subject'");
  check_error(create(body), 422, "line 1, column 7");
}

BOOST_AUTO_TEST_SUITE_END()

// -- versions and languages ----------------------------------------------------------

BOOST_FIXTURE_TEST_SUITE(templates_versions, templates_fixture)

BOOST_AUTO_TEST_CASE(put_makes_the_next_version_from_the_latest_and_keeps_the_old_one) {
  auto code = unique("versioned-");
  BOOST_REQUIRE_EQUAL(create(email_template(code)).status, 201);
  auto v2 = put(code, {{"subject", "Order {{order}} left the warehouse"}});
  BOOST_REQUIRE_EQUAL(v2.status, 201);
  BOOST_CHECK_EQUAL(v2.body["data"]["version"], 2);
  BOOST_CHECK_EQUAL(v2.body["data"]["subject"], "Order {{order}} left the warehouse");
  BOOST_CHECK_EQUAL(v2.body["data"]["body"], "Hello {{name}},\norder {{order}} is on its way.");

  auto latest = get("/" + code);
  BOOST_REQUIRE_EQUAL(latest.status, 200);
  BOOST_CHECK_EQUAL(latest.body["data"]["version"], 2);
  BOOST_CHECK_EQUAL(latest.body["data"]["subject"], "Order {{order}} left the warehouse");

  auto v1 = get("/" + code + "?version=1");
  BOOST_REQUIRE_EQUAL(v1.status, 200);
  BOOST_CHECK_EQUAL(v1.body["data"]["version"], 1);
  BOOST_CHECK_EQUAL(v1.body["data"]["subject"], "[en] Order {{order}} shipped");
}

BOOST_AUTO_TEST_CASE(versions_are_listed_newest_first_with_their_creation_time) {
  auto code = unique("history-");
  BOOST_REQUIRE_EQUAL(create(email_template(code)).status, 201);
  BOOST_REQUIRE_EQUAL(put(code, {{"name", "second"}}).status, 201);
  BOOST_REQUIRE_EQUAL(put(code, {{"name", "third"}}).status, 201);
  auto r = get("/" + code + "/versions");
  BOOST_REQUIRE_EQUAL(r.status, 200);
  auto& items = r.body["data"];
  BOOST_REQUIRE_EQUAL(items.size(), 3u);
  BOOST_CHECK_EQUAL(items[0]["version"], 3);
  BOOST_CHECK_EQUAL(items[0]["name"], "third");
  BOOST_CHECK_EQUAL(items[2]["version"], 1);
  BOOST_CHECK(items[0]["created_at"].is_string());
  BOOST_CHECK_EQUAL(r.body["meta"]["total"], 3);
  BOOST_CHECK_EQUAL(r.body["meta"]["language"], "en");

  auto paged = get("/" + code + "/versions?limit=2&page=2");
  BOOST_REQUIRE_EQUAL(paged.status, 200);
  BOOST_REQUIRE_EQUAL(paged.body["data"].size(), 1u);
  BOOST_CHECK_EQUAL(paged.body["data"][0]["version"], 1);
  BOOST_CHECK_EQUAL(paged.body["meta"]["has_previous"], true);
  BOOST_CHECK_EQUAL(paged.body["meta"]["has_next"], false);
}

BOOST_AUTO_TEST_CASE(versions_of_unknown_codes_or_languages_are_404s) {
  check_error(get("/" + unique("none-") + "/versions"), 404, "no template with code");
  auto code = unique("onelang-");
  BOOST_REQUIRE_EQUAL(create(email_template(code)).status, 201);
  check_error(get("/" + code + "/versions?language=fr"), 404, "no language 'fr'");
  check_error(get("/" + code + "/versions?limit=0"), 400, "'limit'");
}

BOOST_AUTO_TEST_CASE(put_updates_the_language_it_names_and_only_that_one) {
  auto code = unique("perlang-");
  BOOST_REQUIRE_EQUAL(create(email_template(code, "en")).status, 201);
  BOOST_REQUIRE_EQUAL(create(email_template(code, "fr")).status, 201);
  auto fr2 = put(code, {{"language", "fr"}, {"subject", "Commande {{order}} expédiée"}});
  BOOST_REQUIRE_EQUAL(fr2.status, 201);
  BOOST_CHECK_EQUAL(fr2.body["data"]["language"], "fr");
  BOOST_CHECK_EQUAL(fr2.body["data"]["version"], 2);
  BOOST_CHECK_EQUAL(get("/" + code + "?language=en").body["data"]["version"], 1);
  BOOST_CHECK_EQUAL(get("/" + code + "?language=fr").body["data"]["subject"],
                    "Commande {{order}} expédiée");
}

BOOST_AUTO_TEST_CASE(put_mistakes_get_404_409_422_and_400) {
  check_error(put(unique("ghost-"), {{"subject", "x"}}), 404, "no template with code");
  auto code = unique("strict-");
  BOOST_REQUIRE_EQUAL(create(email_template(code)).status, 201);
  check_error(put(code, {{"language", "fr"}, {"subject", "x"}}), 404, "no language 'fr'");
  check_error(put(code, {{"channel", "push"}, {"body", "x"}}), 409, "is for channel email");
  check_error(put(code, {{"title", "x"}}), 400, "'title'");
  check_error(put(code, {{"subject", "{{#open}}"}}), 422, "line 1, column 1");
  check_error(put(code, {{"unknown", 1}}), 400, "'unknown'");
  check_error(put(code, json::object()), 400, "changes nothing");
  check_error(put(code, {{"default_language", "fr"}}), 422, "no language 'fr'");
  BOOST_CHECK_EQUAL(get("/" + code).body["data"]["version"], 1); // nothing was written
}

BOOST_AUTO_TEST_CASE(put_can_move_the_default_to_an_existing_language) {
  auto code = unique("moveddefault-");
  BOOST_REQUIRE_EQUAL(create(email_template(code, "en")).status, 201);
  BOOST_REQUIRE_EQUAL(create(email_template(code, "fr")).status, 201);
  auto r = put(code, {{"default_language", "fr"}});
  BOOST_REQUIRE_EQUAL(r.status, 200);
  BOOST_CHECK_EQUAL(r.body["data"]["default_language"], "fr");
  auto fallback = get("/" + code + "?language=es");
  BOOST_REQUIRE_EQUAL(fallback.status, 200);
  BOOST_CHECK_EQUAL(fallback.body["data"]["language"], "fr");
  BOOST_CHECK_EQUAL(fallback.body["data"]["default_language"], "fr");
  BOOST_CHECK_EQUAL(get("/" + code + "/versions?language=fr").body["data"].size(), 1u);
}

BOOST_AUTO_TEST_CASE(an_unknown_language_falls_back_to_the_default_and_says_which_was_served) {
  auto code = unique("fallback-");
  BOOST_REQUIRE_EQUAL(create(email_template(code, "en")).status, 201);
  BOOST_REQUIRE_EQUAL(create(email_template(code, "fr")).status, 201);
  auto de = get("/" + code + "?language=de");
  BOOST_REQUIRE_EQUAL(de.status, 200);
  BOOST_CHECK_EQUAL(de.body["data"]["language"], "en");
  BOOST_CHECK_NE(de.body["message"].get<std::string>().find("served 'en'"), std::string::npos);
  auto fr = get("/" + code + "?language=FR-ca");
  BOOST_CHECK_EQUAL(fr.body["data"]["language"], "fr");
}

BOOST_AUTO_TEST_CASE(a_missing_version_is_a_404_naming_it_and_a_bad_one_a_400) {
  auto code = unique("pinned-");
  BOOST_REQUIRE_EQUAL(create(email_template(code)).status, 201);
  check_error(get("/" + code + "?version=7"), 404, "no version 7 in language 'en'");
  check_error(get("/" + code + "?version=first"), 400, "'version'");
  check_error(get("/" + code + "?language=e_n"), 400, "'language'");
  check_error(get("/" + unique("absent-")), 404, "no template with code");
}

BOOST_AUTO_TEST_SUITE_END()

// -- render preview --------------------------------------------------------------------

BOOST_FIXTURE_TEST_SUITE(templates_render, templates_fixture)

BOOST_AUTO_TEST_CASE(a_preview_renders_every_part_and_reports_missing_variables) {
  auto code = unique("preview-");
  BOOST_REQUIRE_EQUAL(create(email_template(code)).status, 201);
  auto r = render(code, {{"variables", {{"order", "A-1"}}}});
  BOOST_REQUIRE_EQUAL(r.status, 200);
  auto& d = r.body["data"];
  BOOST_CHECK_EQUAL(d["subject"], "[en] Order A-1 shipped");
  BOOST_CHECK_EQUAL(d["body"], "Hello ,\norder A-1 is on its way.");
  BOOST_CHECK_EQUAL(d["missing_variables"], json({"name"}));
  BOOST_CHECK_EQUAL(d["language"], "en");
  BOOST_CHECK_EQUAL(d["version"], 1);
}

BOOST_AUTO_TEST_CASE(a_preview_escapes_html_and_keeps_line_breaks_out_of_the_subject) {
  auto code = unique("escape-");
  BOOST_REQUIRE_EQUAL(create(email_template(code)).status, 201);
  auto r = render(code, {{"variables",
                          {{"name", "<script>x</script>"}, {"order", "A\r\nBcc: x@example.com"}}}});
  BOOST_REQUIRE_EQUAL(r.status, 200);
  auto& d = r.body["data"];
  BOOST_CHECK_EQUAL(d["html_body"], "<p>Hello &lt;script&gt;x&lt;/script&gt;</p>");
  auto subject = d["subject"].get<std::string>();
  BOOST_CHECK_EQUAL(subject.find_first_of("\r\n"), std::string::npos);
  BOOST_CHECK_NE(subject.find("Bcc"), std::string::npos); // kept, but on the same line
  BOOST_CHECK(d["missing_variables"].empty());
}

BOOST_AUTO_TEST_CASE(a_preview_can_pin_a_version_and_a_language) {
  auto code = unique("previewpin-");
  BOOST_REQUIRE_EQUAL(create(email_template(code, "en")).status, 201);
  BOOST_REQUIRE_EQUAL(create(email_template(code, "fr")).status, 201);
  BOOST_REQUIRE_EQUAL(put(code, {{"language", "fr"}, {"subject", "v2 {{order}}"}}).status, 201);
  auto v1 = render(code, {{"variables", {{"order", "7"}}}, {"language", "fr"}, {"version", 1}});
  BOOST_REQUIRE_EQUAL(v1.status, 200);
  BOOST_CHECK_EQUAL(v1.body["data"]["subject"], "[fr] Order 7 shipped");
  auto latest = render(code, {{"variables", {{"order", "7"}}}, {"language", "fr"}});
  BOOST_CHECK_EQUAL(latest.body["data"]["subject"], "v2 7");
  BOOST_CHECK_EQUAL(latest.body["data"]["version"], 2);
}

BOOST_AUTO_TEST_CASE(preview_mistakes_are_404s_and_400s) {
  auto code = unique("previewbad-");
  BOOST_REQUIRE_EQUAL(create(email_template(code)).status, 201);
  check_error(render(unique("nothing-"), {{"variables", json::object()}}), 404,
              "no template with code");
  check_error(render(code, {{"version", 9}}), 404, "no version 9");
  check_error(render(code, {{"variables", {"name"}}}), 400, "'variables'");
  check_error(render(code, {{"variables", json::object()}, {"locale", "en"}}), 400, "'locale'");
  check_error(render(code, {{"version", "2"}}), 400, "'version'");
}

BOOST_AUTO_TEST_SUITE_END()

// -- push templates ---------------------------------------------------------------------

BOOST_FIXTURE_TEST_SUITE(templates_push, templates_fixture)

BOOST_AUTO_TEST_CASE(a_push_template_keeps_title_urls_and_data) {
  auto code = unique("push-");
  auto r = create(push_template(code));
  BOOST_REQUIRE_EQUAL(r.status, 201);
  auto got = get("/" + code);
  BOOST_REQUIRE_EQUAL(got.status, 200);
  auto& d = got.body["data"];
  BOOST_CHECK_EQUAL(d["channel"], "push");
  BOOST_CHECK_EQUAL(d["title"], "Order {{order}}");
  BOOST_CHECK_EQUAL(d["link"], "https://shop.example.com/orders/{{order}}");
  BOOST_CHECK_EQUAL(d["data"], json({{"order_id", "{{order}}"}, {"screen", "orders"}}));
  BOOST_CHECK(!d.contains("subject"));
}

BOOST_AUTO_TEST_CASE(a_push_preview_renders_title_body_urls_and_data) {
  auto code = unique("pushpreview-");
  BOOST_REQUIRE_EQUAL(create(push_template(code)).status, 201);
  auto r = render(code, {{"variables", {{"name", "Ada"}, {"order", "A\r\n1"}}}});
  BOOST_REQUIRE_EQUAL(r.status, 200);
  auto& d = r.body["data"];
  BOOST_CHECK_EQUAL(d["title"], "Order A  1");
  BOOST_CHECK_EQUAL(d["body"], "Hello Ada,\nit shipped.");
  BOOST_CHECK_EQUAL(d["link"], "https://shop.example.com/orders/A1");
  BOOST_CHECK_EQUAL(d["image_url"], "https://cdn.example.com/A1.png");
  BOOST_CHECK_EQUAL(d["data"], json({{"order_id", "A\n1"}, {"screen", "orders"}}));
}

BOOST_AUTO_TEST_CASE(a_push_put_changes_only_the_title) {
  auto code = unique("pushput-");
  BOOST_REQUIRE_EQUAL(create(push_template(code)).status, 201);
  auto r = put(code, {{"title", "Shipped: {{order}}"}});
  BOOST_REQUIRE_EQUAL(r.status, 201);
  BOOST_CHECK_EQUAL(r.body["data"]["title"], "Shipped: {{order}}");
  BOOST_CHECK_EQUAL(r.body["data"]["data"]["screen"], "orders");
  check_error(put(code, {{"subject", "x"}}), 400, "'subject'");
  check_error(put(code, {{"link", "mailto:x@example.com"}}), 400, "'link'");
}

BOOST_AUTO_TEST_CASE(push_mistakes_are_named) {
  auto body = push_template(unique("pushbad-"));
  body["subject"] = "x";
  check_error(create(body), 400, "'subject'");
  body.erase("subject");
  body["image_url"] = "cdn.example.com/a.png";
  check_error(create(body), 400, "'image_url'");
  body["image_url"] = "https://cdn.example.com/a.png";
  body["data"] = {{"count", 3}};
  check_error(create(body), 400, "'data.count'");
  body["data"] = {{"order", "{{#x}}"}};
  check_error(create(body), 422, "'data.order'");
}

BOOST_AUTO_TEST_SUITE_END()

// -- list -------------------------------------------------------------------------------

BOOST_FIXTURE_TEST_SUITE(templates_list, templates_fixture)

BOOST_AUTO_TEST_CASE(the_list_pages_codes_with_their_languages_and_the_envelope_meta) {
  auto prefix = unique("listed-");
  for (auto suffix : {"a", "b", "c"}) {
    BOOST_REQUIRE_EQUAL(create(email_template(prefix + suffix)).status, 201);
  }
  BOOST_REQUIRE_EQUAL(create(email_template(prefix + "a", "fr")).status, 201);

  auto first = get("?limit=2");
  BOOST_REQUIRE_EQUAL(first.status, 200);
  auto& meta = first.body["meta"];
  auto total = meta["total"].get<long long>();
  BOOST_CHECK_GE(total, 3);
  BOOST_CHECK_EQUAL(meta["limit"], 2);
  BOOST_CHECK_EQUAL(meta["page"], 1);
  BOOST_CHECK_EQUAL(meta["total_pages"], (total + 1) / 2);
  BOOST_CHECK_EQUAL(meta["has_next"], total > 2);
  BOOST_CHECK_EQUAL(meta["has_previous"], false);
  BOOST_CHECK_EQUAL(first.body["data"].size(), 2u);

  auto defaults = get("");
  BOOST_CHECK_EQUAL(defaults.body["meta"]["limit"], 20);
  BOOST_CHECK_EQUAL(defaults.body["meta"]["page"], 1);

  // Walk every page to find the codes: each listed once, with its languages.
  json found = json::object();
  auto pages = meta["total_pages"].get<int>();
  for (int page = 1; page <= pages; ++page) {
    auto r = get("?limit=100&page=" + std::to_string(page));
    BOOST_REQUIRE_EQUAL(r.status, 200);
    for (auto& item : r.body["data"]) {
      auto code = item["template_code"].get<std::string>();
      if (code.rfind(prefix, 0) == 0) {
        found[code] = item;
      }
    }
  }
  BOOST_REQUIRE_EQUAL(found.size(), 3u);
  auto& a = found[prefix + "a"];
  BOOST_CHECK_EQUAL(a["default_language"], "en");
  BOOST_CHECK_EQUAL(a["channel"], "email");
  BOOST_REQUIRE_EQUAL(a["languages"].size(), 2u);
  BOOST_CHECK_EQUAL(a["languages"][0]["language"], "en");
  BOOST_CHECK_EQUAL(a["languages"][1]["language"], "fr");
  BOOST_CHECK_EQUAL(a["languages"][1]["latest_version"], 1);

  auto beyond = get("?limit=100&page=" + std::to_string(pages + 1));
  BOOST_REQUIRE_EQUAL(beyond.status, 200);
  BOOST_CHECK(beyond.body["data"].empty());
  BOOST_CHECK_EQUAL(beyond.body["meta"]["has_next"], false);
  BOOST_CHECK_EQUAL(beyond.body["meta"]["has_previous"], true);
}

BOOST_AUTO_TEST_CASE(the_list_filters_by_channel) {
  BOOST_REQUIRE_EQUAL(create(push_template(unique("pushlisted-"))).status, 201);
  auto r = get("?channel=push&limit=100");
  BOOST_REQUIRE_EQUAL(r.status, 200);
  BOOST_REQUIRE(!r.body["data"].empty());
  for (auto& item : r.body["data"]) {
    BOOST_CHECK_EQUAL(item["channel"], "push");
  }
}

BOOST_AUTO_TEST_CASE(bad_list_parameters_are_400s_naming_them) {
  check_error(get("?limit=101"), 400, "'limit'");
  check_error(get("?limit=ten"), 400, "'limit'");
  check_error(get("?page=0"), 400, "'page'");
  check_error(get("?channel=sms"), 400, "'channel'");
}

BOOST_AUTO_TEST_SUITE_END()

// -- cache freshness --------------------------------------------------------------------

namespace {

/// A node that trusts its template index for a minute: what it serves from memory cannot
/// change underneath a test.
struct long_index_fixture : templates_fixture {
  long_index_fixture()
    : templates_fixture(std::map<std::string, std::string>{
        {"HERALD_TEMPLATES_INDEX_TTL_MS", "60000"}}) {}
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(templates_cache, long_index_fixture)

BOOST_AUTO_TEST_CASE(repeated_lookups_are_served_from_memory_without_queries) {
  auto code = unique("cached-");
  BOOST_REQUIRE_EQUAL(create(email_template(code)).status, 201);
  BOOST_REQUIRE_EQUAL(get("/" + code).status, 200); // loads index and version 1
  auto queries = cache_counter("store_queries");
  auto hits = cache_counter("hits");
  auto index_hits = cache_counter("index_hits");
  BOOST_REQUIRE_EQUAL(get("/" + code).status, 200);
  BOOST_REQUIRE_EQUAL(render(code, {{"variables", {{"name", "A"}, {"order", "1"}}}}).status, 200);
  BOOST_CHECK_EQUAL(cache_counter("store_queries"), queries);
  BOOST_CHECK_EQUAL(cache_counter("hits"), hits + 2);
  BOOST_CHECK_EQUAL(cache_counter("index_hits"), index_hits + 2);
}

BOOST_AUTO_TEST_CASE(a_put_through_this_node_is_seen_by_the_next_lookup_at_once) {
  auto code = unique("fresh-");
  BOOST_REQUIRE_EQUAL(create(email_template(code)).status, 201);
  BOOST_REQUIRE_EQUAL(get("/" + code).body["data"]["version"], 1);
  // Another node writes version 2: this node's index is trusted for a minute.
  insert_version_elsewhere(code, "en", 2, "from elsewhere");
  BOOST_CHECK_EQUAL(get("/" + code).body["data"]["version"], 1);
  BOOST_CHECK_EQUAL(get("/" + code + "?version=2").body["data"]["subject"], "from elsewhere");
  // A write through this node drops its index: the next lookup sees version 3.
  BOOST_REQUIRE_EQUAL(put(code, {{"subject", "third"}}).status, 201);
  auto latest = get("/" + code);
  BOOST_CHECK_EQUAL(latest.body["data"]["version"], 3);
  BOOST_CHECK_EQUAL(latest.body["data"]["subject"], "third");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(templates_cache_default, templates_fixture)

BOOST_AUTO_TEST_CASE(a_version_written_by_another_node_is_served_within_the_index_ttl) {
  auto code = unique("elsewhere-");
  BOOST_REQUIRE_EQUAL(create(email_template(code)).status, 201);
  BOOST_REQUIRE_EQUAL(get("/" + code).body["data"]["version"], 1);
  insert_version_elsewhere(code, "en", 2, "written elsewhere");
  auto reloads = cache_counter("index_reloads");
  BOOST_CHECK(eventually([&] { return get("/" + code).body["data"]["version"] == 2; },
                         std::chrono::seconds{5}));
  BOOST_CHECK_GT(cache_counter("index_reloads"), reloads);
}

BOOST_AUTO_TEST_SUITE_END()

// -- delivery -----------------------------------------------------------------------------

BOOST_FIXTURE_TEST_SUITE(templates_delivery, templates_fixture)

BOOST_AUTO_TEST_CASE(an_email_uses_the_users_language_else_the_templates_default) {
  auto code = unique("greeting-");
  BOOST_REQUIRE_EQUAL(create(email_template(code, "en")).status, 201);
  BOOST_REQUIRE_EQUAL(create(email_template(code, "fr")).status, 201);
  auto send_to = [&](const std::string& language) {
    auto email = unique("lang-" + language + "-") + "@example.com";
    auto user_id = create_user(node, {{"email", email}, {"name", "Lang"}, {"language", language}});
    post_notification(node, user_id, code, {{"name", "N"}, {"order", "O-1"}});
    return email;
  };
  auto french = send_to("fr");
  auto german = send_to("de");
  auto maildir = env("HERALD_TEST_MAILDIR");
  BOOST_REQUIRE(eventually([&] {
    return mails_to(maildir, french).size() == 1 && mails_to(maildir, german).size() == 1;
  }));
  BOOST_CHECK_EQUAL(mails_to(maildir, french).front().header("Subject"), "[fr] Order O-1 shipped");
  BOOST_CHECK_EQUAL(mails_to(maildir, german).front().header("Subject"), "[en] Order O-1 shipped");
}

BOOST_AUTO_TEST_SUITE_END()
