#include "adapters/url.hpp"

#include <boost/test/unit_test.hpp>

using herald::parse_url;

BOOST_AUTO_TEST_SUITE(url)

BOOST_AUTO_TEST_CASE(full_url_yields_every_part) {
  auto u = parse_url("smtp://herald:secret@mail.example.org:2525/relay?starttls=required&insecure=1");
  BOOST_REQUIRE(u);
  BOOST_TEST(u->scheme == "smtp");
  BOOST_TEST(u->user == "herald");
  BOOST_TEST(u->password == "secret");
  BOOST_TEST(u->host == "mail.example.org");
  BOOST_TEST(u->port == 2525);
  BOOST_TEST(u->path == "relay");
  BOOST_TEST(u->query.size() == 2u);
  BOOST_TEST(u->query.at("starttls") == "required");
  BOOST_TEST(u->query.at("insecure") == "1");
}

BOOST_AUTO_TEST_CASE(absent_parts_are_empty_and_port_is_zero) {
  auto u = parse_url("redis://localhost");
  BOOST_REQUIRE(u);
  BOOST_TEST(u->scheme == "redis");
  BOOST_TEST(u->user.empty());
  BOOST_TEST(u->password.empty());
  BOOST_TEST(u->host == "localhost");
  BOOST_TEST(u->port == 0);
  BOOST_TEST(u->path.empty());
  BOOST_TEST(u->query.empty());
}

BOOST_AUTO_TEST_CASE(scheme_is_lower_cased) {
  auto u = parse_url("SMTPS://relay:465");
  BOOST_REQUIRE(u);
  BOOST_TEST(u->scheme == "smtps");
}

BOOST_AUTO_TEST_CASE(password_without_user_is_accepted) {
  auto u = parse_url("redis://:s3cret@127.0.0.1:6379/2");
  BOOST_REQUIRE(u);
  BOOST_TEST(u->user.empty());
  BOOST_TEST(u->password == "s3cret");
  BOOST_TEST(u->host == "127.0.0.1");
  BOOST_TEST(u->port == 6379);
  BOOST_TEST(u->path == "2");
}

BOOST_AUTO_TEST_CASE(user_without_password_is_accepted) {
  auto u = parse_url("amqp://guest@localhost:5672/");
  BOOST_REQUIRE(u);
  BOOST_TEST(u->user == "guest");
  BOOST_TEST(u->password.empty());
  BOOST_TEST(u->path.empty());
}

BOOST_AUTO_TEST_CASE(user_information_is_percent_decoded) {
  auto u = parse_url("smtp://me%40example.org:p%3Ass%2Fw%25rd@relay:25");
  BOOST_REQUIRE(u);
  BOOST_TEST(u->user == "me@example.org");
  BOOST_TEST(u->password == "p:ss/w%rd");
}

BOOST_AUTO_TEST_CASE(last_at_sign_ends_user_information) {
  auto u = parse_url("smtp://user:p@ss@relay:25");
  BOOST_REQUIRE(u);
  BOOST_TEST(u->user == "user");
  BOOST_TEST(u->password == "p@ss");
  BOOST_TEST(u->host == "relay");
}

BOOST_AUTO_TEST_CASE(bracketed_ipv6_host_is_given_without_brackets) {
  auto u = parse_url("redis://[::1]:6390");
  BOOST_REQUIRE(u);
  BOOST_TEST(u->host == "::1");
  BOOST_TEST(u->port == 6390);
  auto no_port = parse_url("redis://[fe80::1]");
  BOOST_REQUIRE(no_port);
  BOOST_TEST(no_port->host == "fe80::1");
  BOOST_TEST(no_port->port == 0);
}

BOOST_AUTO_TEST_CASE(path_is_percent_decoded_without_leading_slash) {
  auto u = parse_url("postgresql://herald@db:5432/notification%5Fdb");
  BOOST_REQUIRE(u);
  BOOST_TEST(u->path == "notification_db");
  auto vhost = parse_url("amqp://guest:guest@localhost:5672/%2F");
  BOOST_REQUIRE(vhost);
  BOOST_TEST(vhost->path == "/");
}

BOOST_AUTO_TEST_CASE(query_without_path_is_parsed) {
  auto u = parse_url("smtp://localhost:1025?insecure=1");
  BOOST_REQUIRE(u);
  BOOST_TEST(u->port == 1025);
  BOOST_TEST(u->path.empty());
  BOOST_TEST(u->query.at("insecure") == "1");
}

BOOST_AUTO_TEST_CASE(query_values_are_decoded_and_keys_without_value_are_empty) {
  auto u = parse_url("http://h/p?a=x%20y&flag&&b=1+2");
  BOOST_REQUIRE(u);
  BOOST_TEST(u->query.size() == 3u);
  BOOST_TEST(u->query.at("a") == "x y");
  BOOST_TEST(u->query.at("flag").empty());
  BOOST_TEST(u->query.at("b") == "1+2");
}

BOOST_AUTO_TEST_CASE(fragment_is_ignored) {
  auto u = parse_url("http://h:80/p?a=1#top");
  BOOST_REQUIRE(u);
  BOOST_TEST(u->path == "p");
  BOOST_TEST(u->query.at("a") == "1");
}

BOOST_AUTO_TEST_CASE(malformed_urls_are_refused_with_a_reason) {
  for (const char* text : {
         "",
         "localhost:6379",             // no scheme
         "://localhost",               // empty scheme
         "1redis://localhost",         // scheme must start with a letter
         "redis://",                   // no host
         "redis://:pw@:6379",          // no host
         "redis://localhost:",         // empty port
         "redis://localhost:0",        // port out of range
         "redis://localhost:65536",    // port out of range
         "redis://localhost:63x9",     // port not a number
         "redis://::1:6379",           // IPv6 without brackets
         "redis://[::1",               // unterminated bracket
         "redis://[::1]x",             // junk after bracket
         "redis://local host",         // whitespace
         "smtp://u:p%zz@relay",        // bad percent-encoding
         "smtp://relay/a%2",           // truncated percent-encoding
         "smtp://relay?=1",            // empty query name
       }) {
    std::string error;
    BOOST_TEST_CONTEXT("url: '" << text << "'") {
      BOOST_TEST(!parse_url(text, &error));
      BOOST_TEST(!error.empty());
    }
  }
}

BOOST_AUTO_TEST_CASE(error_argument_is_optional_and_untouched_on_success) {
  BOOST_TEST(!parse_url("nonsense"));
  std::string error = "unchanged";
  BOOST_TEST(parse_url("redis://localhost", &error).has_value());
  BOOST_TEST(error == "unchanged");
}

BOOST_AUTO_TEST_SUITE_END()
