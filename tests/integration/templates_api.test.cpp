// The templates service (:8002) against real PostgreSQL: every endpoint, its 4xx answers,
// versions, languages, previews, push templates, pages, and how fresh the node's cache is.

#include <boost/test/unit_test.hpp>

#include <future>

#include "actors/common/ids.hpp"
#include "adapters/postgres/session.hpp"
#include "support/herald_api.hpp"
#include "support/process_memory.hpp"

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

// -- limits: template bombs, variables, outbound URLs, the cache's bytes -------------------

namespace {

/// Six sections around `inner`, each over the list `a`: 40 items make 40^6 repeats.
json bomb_template(const std::string& code, const std::string& inner) {
  return {{"template_code", code},
          {"channel", "email"},
          {"subject", "Hi"},
          {"body", "{{#a}}{{#a}}{{#a}}{{#a}}{{#a}}{{#a}}" + inner
                     + "{{/a}}{{/a}}{{/a}}{{/a}}{{/a}}{{/a}}"}};
}

const json forty_items = {{"a", std::vector<int>(40, 1)}};

std::chrono::milliseconds since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now()
                                                               - start);
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(templates_limits, templates_fixture)

BOOST_AUTO_TEST_CASE(a_section_bomb_preview_is_a_422_at_once_and_memory_stays_small) {
  auto code = unique("bomb-");
  BOOST_REQUIRE_EQUAL(create(bomb_template(code, "0123456789")).status, 201);
  auto start = std::chrono::steady_clock::now();
  auto r = render(code, {{"variables", forty_items}});
  auto took = since(start);
  check_error(r, 422, "field 'body' renders to more than 1048576 bytes");
  BOOST_TEST_MESSAGE("bomb preview answered in " << took.count() << " ms, peak RSS "
                                                 << (peak_rss() >> 20) << " MB");
  BOOST_CHECK_LT(took.count(), 250); // the time budget: the output budget stops it first
  BOOST_CHECK_LT(peak_rss(), 200u << 20);
}

BOOST_AUTO_TEST_CASE(a_bomb_that_outputs_nothing_is_stopped_by_the_time_budget) {
  auto code = unique("slowbomb-");
  BOOST_REQUIRE_EQUAL(create(bomb_template(code, "")).status, 201);
  auto start = std::chrono::steady_clock::now();
  auto r = render(code, {{"variables", forty_items}});
  auto took = since(start);
  check_error(r, 422, "longer than 250 ms (templates.render_budget_ms)");
  BOOST_TEST_MESSAGE("time bomb preview answered in " << took.count() << " ms");
  BOOST_CHECK_GE(took.count(), 250);
  BOOST_CHECK_LT(took.count(), 2000);
}

BOOST_AUTO_TEST_CASE(the_gateway_refuses_a_bomb_and_oversized_variables_before_publishing) {
  auto code = unique("gwbomb-");
  BOOST_REQUIRE_EQUAL(create(bomb_template(code, "0123456789")).status, 201);
  auto user_id = create_user(node);
  auto send = [&](const json& variables) {
    return post_json(node.url(0) + "/api/v1/notifications/",
                     {{"notification_type", "email"},
                      {"user_id", user_id},
                      {"template_code", code},
                      {"variables", variables}});
  };
  check_error(send(forty_items), 422, "field 'body' renders to more than 1048576 bytes");
  check_error(send({{"a", {1}}, {"padding", std::string(70000, 'x')}}), 413,
              "field 'variables' is 70");
  BOOST_CHECK_EQUAL(send({{"a", {1, 2}}}).status, 202);
  check_error(render(code, {{"variables", {{"padding", std::string(70000, 'x')}}}}), 413,
              "templates.max_variables_bytes");
}

BOOST_AUTO_TEST_CASE(a_bomb_that_reaches_the_worker_is_dead_lettered_without_a_mail) {
  auto code = unique("workerbomb-");
  BOOST_REQUIRE_EQUAL(create(bomb_template(code, "0123456789")).status, 201);
  auto email = unique("bombed-") + "@example.com";
  auto user_id = create_user(node, {{"email", email}});
  auto id = herald::make_uuid();
  // Published straight to the queue, as a message that skipped the gateway's check.
  publish_direct({{"notification_id", id},
                  {"notification_type", "email"},
                  {"user_id", user_id},
                  {"template_code", code},
                  {"variables", forty_items},
                  {"correlation_id", "bomb"},
                  {"attempt", 1}});
  BOOST_REQUIRE(eventually([&] { return status_of(node, id) == "dead"; }));
  auto last_error = notification(node, id)["last_error"].get<std::string>();
  BOOST_CHECK_MESSAGE(last_error.find("renders to more than") != std::string::npos, last_error);
  BOOST_CHECK(mails_to(env("HERALD_TEST_MAILDIR"), email).empty());
  BOOST_CHECK_LT(peak_rss(), 200u << 20);
}

BOOST_AUTO_TEST_CASE(partials_are_refused_when_written) {
  auto body = email_template(unique("partial-"));
  body["body"] = "Hello {{> greeting}}";
  check_error(create(body), 422, "Partials ({{>name}}) are not supported");
}

BOOST_AUTO_TEST_CASE(push_urls_must_be_https_and_public_when_written_and_when_rendered) {
  auto body = push_template(unique("pushurl-"));
  body["image_url"] = "https://127.0.0.1/a.png";
  check_error(create(body), 400, "field 'image_url' points at 127.0.0.1, a loopback address");
  body["image_url"] = "http://cdn.example.com/{{order}}.png";
  check_error(create(body), 400, "field 'image_url' must be an https:// URL");
  body["image_url"] = "https://[::ffff:169.254.169.254]/{{order}}.png";
  check_error(create(body), 400, "link-local");
  body["image_url"] = "https://cdn.example.com/{{order}}.png";
  body["link"] = "{{target}}";
  BOOST_REQUIRE_EQUAL(create(body).status, 201);
  auto code = body["template_code"].get<std::string>();
  check_error(put(code, {{"link", "https://10.1.2.3/{{order}}"}}), 400,
              "field 'link' points at 10.1.2.3, a private address");
  check_error(render(code, {{"variables", {{"name", "A"}, {"order", "1"},
                                           {"target", "https://2130706433/x"}}}}),
              422, "field 'link' renders to 'https://2130706433/x', which points at 127.0.0.1");
  auto fine = render(code, {{"variables", {{"name", "A"}, {"order", "1"},
                                           {"target", "https://shop.example.com/x"}}}});
  BOOST_CHECK_EQUAL(fine.status, 200);
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

/// Development mode: http:// and loopback push URLs are accepted.
struct insecure_urls_fixture : templates_fixture {
  insecure_urls_fixture()
    : templates_fixture(std::map<std::string, std::string>{
        {"HERALD_PUSH_ALLOW_INSECURE_ENDPOINTS", "true"}}) {}
};

/// A template cache of 1 MB (the least allowed).
struct small_cache_fixture : templates_fixture {
  small_cache_fixture()
    : templates_fixture(std::map<std::string, std::string>{
        {"HERALD_TEMPLATES_CACHE_BYTES", "1048576"}}) {}
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(templates_insecure_urls, insecure_urls_fixture)

BOOST_AUTO_TEST_CASE(development_mode_accepts_http_and_loopback_but_not_private_addresses) {
  auto body = push_template(unique("devurl-"));
  body["image_url"] = "http://127.0.0.1:8080/{{order}}.png";
  body["link"] = "http://localhost/orders/{{order}}";
  BOOST_CHECK_EQUAL(create(body).status, 201);
  body["template_code"] = unique("devurl-");
  body["link"] = "http://192.168.1.10/orders";
  check_error(create(body), 400, "a private address");
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

/// Renders may take two seconds: long enough to see whether anything waits behind one.
struct slow_render_fixture : templates_fixture {
  slow_render_fixture()
    : templates_fixture(std::map<std::string, std::string>{
        {"HERALD_TEMPLATES_RENDER_BUDGET_MS", "2000"}}) {}
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(templates_render_off_the_cache, slow_render_fixture)

BOOST_AUTO_TEST_CASE(lookups_never_wait_behind_a_long_preview) {
  auto plain = unique("plain-");
  BOOST_REQUIRE_EQUAL(create(email_template(plain)).status, 201);
  BOOST_REQUIRE_EQUAL(get("/" + plain).status, 200); // compiled and cached
  auto bomb = unique("longbomb-");
  BOOST_REQUIRE_EQUAL(create(bomb_template(bomb, "")).status, 201);
  BOOST_REQUIRE_EQUAL(get("/" + bomb).status, 200);
  auto renders = cache_counter("renders");
  auto preview = std::async(std::launch::async, [&] {
    return render(bomb, {{"variables", forty_items}}).status;
  });
  BOOST_REQUIRE(eventually([&] { return cache_counter("renders") > renders; },
                           std::chrono::seconds{5}));
  auto start = std::chrono::steady_clock::now();
  BOOST_CHECK_EQUAL(get("/" + plain).status, 200);
  auto took = since(start);
  BOOST_TEST_MESSAGE("a lookup during a 2 s preview answered in " << took.count() << " ms");
  BOOST_CHECK_LT(took.count(), 500);
  BOOST_CHECK_EQUAL(preview.get(), 422);
}

BOOST_AUTO_TEST_CASE(past_four_previews_rendering_at_once_more_are_a_503) {
  auto bomb = unique("manybombs-");
  BOOST_REQUIRE_EQUAL(create(bomb_template(bomb, "")).status, 201);
  std::vector<std::future<http_reply>> previews;
  for (int i = 0; i < 6; ++i) {
    previews.push_back(std::async(std::launch::async, [&] {
      return render(bomb, {{"variables", forty_items}});
    }));
  }
  int refused = 0;
  for (auto& p : previews) {
    auto r = p.get();
    if (r.status == 503) {
      check_error(r, 503, "too many previews rendering at once (4)");
      ++refused;
    } else {
      BOOST_CHECK_EQUAL(r.status, 422);
    }
  }
  BOOST_CHECK_GE(refused, 2);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(templates_cache_bytes, small_cache_fixture)

BOOST_AUTO_TEST_CASE(the_compiled_versions_stay_under_the_byte_bound) {
  // Each version holds its 200 KB body about twice (the text and its parsed tree).
  std::vector<std::string> codes;
  for (int i = 0; i < 6; ++i) {
    auto body = email_template(unique("big-"));
    body["body"] = std::string(200000, 'x') + " {{name}}";
    BOOST_REQUIRE_EQUAL(create(body).status, 201);
    codes.push_back(body["template_code"]);
    BOOST_REQUIRE_EQUAL(get("/" + codes.back()).status, 200);
    BOOST_CHECK_LE(cache_counter("cached_bytes"), 1048576u);
  }
  BOOST_CHECK_GT(cache_counter("cached_bytes"), 400000u);
  BOOST_CHECK_LT(cache_counter("cached_versions"), 6u);
  // The latest is kept, the first was dropped: reading it again is a miss.
  auto misses = cache_counter("misses");
  BOOST_REQUIRE_EQUAL(get("/" + codes.back()).status, 200);
  BOOST_CHECK_EQUAL(cache_counter("misses"), misses);
  BOOST_REQUIRE_EQUAL(get("/" + codes.front()).status, 200);
  BOOST_CHECK_EQUAL(cache_counter("misses"), misses + 1);
}

BOOST_AUTO_TEST_SUITE_END()
