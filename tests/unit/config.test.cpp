#include <boost/test/unit_test.hpp>

#include "runtime/config/settings.hpp"

using namespace herald::config;

BOOST_AUTO_TEST_SUITE(configuration)

BOOST_AUTO_TEST_CASE(defaults_apply_when_nothing_is_given) {
  auto r = load({});
  BOOST_REQUIRE(r.value);
  BOOST_CHECK_EQUAL(r.value->get("http.port_base"), "8000");
  BOOST_CHECK_EQUAL(r.value->get("roles"), "all");
  BOOST_CHECK_EQUAL(r.value->roles().size(), known_roles().size());
  BOOST_CHECK(!r.value->get("node.name").empty());
}

BOOST_AUTO_TEST_CASE(environment_overrides_file_and_flags_override_environment) {
  std::string file = "/tmp/herald-config-test.conf";
  FILE* f = std::fopen(file.c_str(), "w");
  std::fputs("# comment\nsmtp.from = file@example.com\nhttp.port_base = 9000\n", f);
  std::fclose(f);
  sources in;
  in.file_path = file;
  in.environment = {{"HERALD_HTTP_PORT_BASE", "9100"}, {"UNRELATED", "x"}};
  in.flags = {"--http.port_base=9200"};
  auto r = load(in);
  BOOST_REQUIRE_MESSAGE(r.value, r.error);
  BOOST_CHECK_EQUAL(r.value->get("smtp.from"), "file@example.com");
  BOOST_CHECK_EQUAL(r.value->get_int("http.port_base"), 9200);
  BOOST_CHECK_EQUAL(r.value->source("http.port_base"), "flag");
  in.flags.clear();
  BOOST_CHECK_EQUAL(load(in).value->get_int("http.port_base"), 9100);
}

BOOST_AUTO_TEST_CASE(smtp_url_comes_from_the_environment) {
  auto r = load({std::nullopt, {{"HERALD_SMTP_URL", "smtps://u:p@mail.example.com:465"}}, {}});
  BOOST_REQUIRE(r.value);
  BOOST_CHECK_EQUAL(r.value->get("smtp.url"), "smtps://u:p@mail.example.com:465");
}

BOOST_AUTO_TEST_CASE(the_smtp_fallback_url_is_optional_and_checked_when_given) {
  auto none = load({std::nullopt, {}, {}});
  BOOST_REQUIRE(none.value);
  BOOST_CHECK_EQUAL(none.value->get("smtp.fallback_url"), "");
  auto given = load({std::nullopt, {{"HERALD_SMTP_FALLBACK_URL", "smtps://backup.example.com"}}, {}});
  BOOST_REQUIRE(given.value);
  BOOST_CHECK_EQUAL(given.value->get("smtp.fallback_url"), "smtps://backup.example.com");
  auto bad = load({std::nullopt, {{"HERALD_SMTP_FALLBACK_URL", "http://backup"}}, {}});
  BOOST_CHECK(!bad.value);
  BOOST_CHECK_NE(bad.error.find("'smtp.fallback_url'"), std::string::npos);
  // A URL with a default stays required.
  auto no_amqp = load({std::nullopt, {}, {"--amqp.url="}});
  BOOST_CHECK(!no_amqp.value);
}

BOOST_AUTO_TEST_CASE(invalid_values_stop_loading_with_the_key_named) {
  auto bad_port = load({std::nullopt, {{"HERALD_HTTP_PORT_BASE", "eighty"}}, {}});
  BOOST_CHECK(!bad_port.value);
  BOOST_CHECK_NE(bad_port.error.find("'http.port_base'"), std::string::npos);
  BOOST_CHECK_NE(bad_port.error.find("HERALD_HTTP_PORT_BASE"), std::string::npos);

  auto out_of_range = load({std::nullopt, {}, {"--http.port_base=70000"}});
  BOOST_CHECK_NE(out_of_range.error.find("between 1 and 65535"), std::string::npos);

  auto bad_url = load({std::nullopt, {{"HERALD_AMQP_URL", "http://broker"}}, {}});
  BOOST_CHECK_NE(bad_url.error.find("'amqp.url'"), std::string::npos);

  auto bad_role = load({std::nullopt, {{"HERALD_ROLES", "gateway,fax"}}, {}});
  BOOST_CHECK_NE(bad_role.error.find("unknown role 'fax'"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_login_token_secret_shorter_than_the_hash_is_refused) {
  // RFC 7518 3.2: an HS256 key at least as long as SHA-256's output.
  auto short_one = load({std::nullopt, {{"HERALD_JWT_SECRET", std::string(31, 'k')}}, {}});
  BOOST_REQUIRE(!short_one.value);
  BOOST_CHECK_NE(short_one.error.find("jwt.secret"), std::string::npos);
  BOOST_CHECK_NE(short_one.error.find("at least 32 characters"), std::string::npos);
  auto long_one = load({std::nullopt, {{"HERALD_JWT_SECRET", std::string(32, 'k')}}, {}});
  BOOST_REQUIRE_MESSAGE(long_one.value, long_one.error);
  BOOST_CHECK_EQUAL(long_one.value->get("jwt.secret"), std::string(32, 'k'));
}

BOOST_AUTO_TEST_CASE(unknown_keys_in_flags_and_files_are_errors) {
  auto r = load({std::nullopt, {}, {"--http.prot_base=8000"}});
  BOOST_CHECK(!r.value);
  BOOST_CHECK_NE(r.error.find("unknown configuration key 'http.prot_base'"), std::string::npos);
  std::map<std::string, std::string> kv;
  BOOST_CHECK_NE(parse_file_text("just words\n", kv).find("line 1"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(roles_list_selects_roles) {
  auto r = load({std::nullopt, {{"HERALD_ROLES", "gateway, email"}}, {}});
  BOOST_REQUIRE(r.value);
  BOOST_CHECK(r.value->has_role("gateway"));
  BOOST_CHECK(r.value->has_role("email"));
  BOOST_CHECK(!r.value->has_role("users"));
}

BOOST_AUTO_TEST_CASE(every_option_has_an_environment_variable_and_documentation) {
  for (auto& o : declared_options()) {
    BOOST_TEST_CONTEXT(o.key) {
      BOOST_CHECK_EQUAL(o.env.rfind("HERALD_", 0), 0u);
      BOOST_CHECK(!o.doc.empty());
    }
  }
  BOOST_CHECK_NE(options_markdown().find("`HERALD_SMTP_URL`"), std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
