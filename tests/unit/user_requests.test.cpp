#include "actors/user_lookup/user_requests.hpp"
#include "runtime/auth/base64.hpp"

#include <boost/test/unit_test.hpp>

using namespace herald;
using json = nlohmann::json;

namespace {

const net::outbound_policy strict{};

bool mentions(const std::string& error, const std::string& what) {
  return error.find(what) != std::string::npos;
}

std::string p256dh_key(unsigned char first = 0x04, std::size_t size = 65) {
  std::string bytes(size, '\x11');
  bytes[0] = static_cast<char>(first);
  return auth::base64url_encode(bytes);
}

json webpush(json keys = {{"p256dh", p256dh_key()},
                          {"auth", auth::base64url_encode(std::string(16, '\x22'))}}) {
  return {{"type", "webpush"},
          {"subscription",
           {{"endpoint", "https://updates.push.services.mozilla.com/wpush/v2/gAAAA"},
            {"expirationTime", nullptr},
            {"keys", std::move(keys)}}}};
}

} // namespace

BOOST_AUTO_TEST_SUITE(user_requests)

BOOST_AUTO_TEST_CASE(a_full_create_body_is_read_with_a_fresh_uuid) {
  std::string error;
  auto u = parse_new_user({{"email", "Ada@Example.com"},
                           {"name", "Ada"},
                           {"password", "correct horse"},
                           {"language", "en"},
                           {"preferences",
                            {{"email", false},
                             {"push", true},
                             {"language", "pt-BR"},
                             {"quiet_hours",
                              {{"start", "22:00"}, {"end", "07:00"}, {"timezone", "Europe/Berlin"}}}}}},
                          error);
  BOOST_TEST_REQUIRE(u.has_value(), error);
  BOOST_TEST(u->profile.user.id.size() == 36u);
  BOOST_TEST(u->profile.user.email == "Ada@Example.com");
  BOOST_TEST(u->password == "correct horse");
  BOOST_TEST(!u->profile.user.email_enabled);
  BOOST_TEST(u->profile.user.language == "pt-BR");
  BOOST_TEST(u->profile.user.quiet.timezone == "Europe/Berlin");
}

BOOST_AUTO_TEST_CASE(create_refuses_unknown_fields_naming_them) {
  std::string error;
  BOOST_TEST(!parse_new_user({{"email", "a@b.co"}, {"name", "A"}, {"admin", true}}, error));
  BOOST_TEST(mentions(error, "unknown field 'admin'"), error);
  BOOST_TEST(!parse_new_user({{"email", "a@b.co"}, {"name", "A"}, {"preferences", {{"sms", true}}}},
                             error));
  BOOST_TEST(mentions(error, "'preferences.sms'"), error);
}

BOOST_AUTO_TEST_CASE(only_mailboxes_every_relay_takes_are_accepted) {
  std::string error;
  for (std::string ok : std::vector<std::string>{"a@b.co", "first.last+tag@example.co.uk", "o'brien@example.ie",
                         "x@a-b.example", "Ada@Example.com", "jos\xC3\xA9@ex\xC3\xA4mple.de"}) {
    BOOST_TEST(parse_new_user({{"email", ok}, {"name", "A"}}, error).has_value(), ok << ": " << error);
  }
  for (std::string bad : std::vector<std::string>{"a,b@example.com", "a;b@example.com", "a@example.com>", "a@[127.0.0.1]",
                          "\"quoted\"@example.com", ".a@example.com", "a.@example.com",
                          "a..b@example.com", "a@localhost", "a@example.123", "a@-x.com",
                          "a@x-.com", "a b@example.com", "a@exa_mple.com", "a@example..com",
                          "@example.com", "a@", "a(comment)@example.com",
                          std::string(65, 'l') + "@example.com", "bad\xC3@example.com"}) {
    BOOST_TEST_CONTEXT("address " << bad) {
      BOOST_TEST(!parse_new_user({{"email", bad}, {"name", "A"}}, error));
      BOOST_TEST(mentions(error, "not a valid email address"), error);
    }
  }
  BOOST_TEST(!parse_user_patch("id-1", {{"email", "a,b@example.com"}}, error));
  BOOST_TEST(mentions(error, "'email'"), error);
}

BOOST_AUTO_TEST_CASE(an_address_is_taken_in_nfc_whichever_way_it_was_typed) {
  const std::string nfc = "jos\xC3\xA9@caf\xC3\xA9.example";   // é precomposed (U+00E9)
  const std::string nfd = "jose\xCC\x81@cafe\xCC\x81.example"; // e + U+0301
  std::string error;
  auto created = parse_new_user({{"email", nfd}, {"name", "J"}}, error);
  BOOST_TEST_REQUIRE(created.has_value(), error);
  BOOST_TEST(created->profile.user.email == nfc);
  auto patch = parse_user_patch("id-1", {{"email", nfd}}, error);
  BOOST_TEST_REQUIRE(patch.has_value(), error);
  BOOST_TEST(patch->change.email.value_or("") == nfc);
  auto login = parse_login({{"email", nfd}, {"password", "x"}}, error);
  BOOST_TEST_REQUIRE(login.has_value(), error);
  BOOST_TEST(login->email == nfc);
  BOOST_TEST(to_nfc(nfc).value_or("") == nfc);
  BOOST_TEST(!to_nfc("bad\xC3"));
}

BOOST_AUTO_TEST_CASE(create_limits_name_email_and_password) {
  std::string error;
  BOOST_TEST(!parse_new_user({{"email", "a@b.co"}, {"name", std::string(201, 'n')}}, error));
  BOOST_TEST(mentions(error, "'name'"), error);
  BOOST_TEST(!parse_new_user({{"email", "a@b.co"}, {"name", ""}}, error));
  BOOST_TEST(mentions(error, "'name'"), error);
  BOOST_TEST(!parse_new_user({{"email", std::string(250, 'a') + "@b.co"}, {"name", "A"}}, error));
  BOOST_TEST(mentions(error, "'email'"), error);
  BOOST_TEST(!parse_new_user({{"email", "a@b.co"}, {"name", "A"}, {"password", "short"}}, error));
  BOOST_TEST(mentions(error, "at least 8"), error);
  BOOST_TEST(!parse_new_user({{"email", "a@b.co"}, {"name", "A"}, {"password", std::string(1025, 'p')}},
                             error));
  BOOST_TEST(mentions(error, "1024"), error);
  BOOST_TEST(parse_new_user({{"email", "a@b.co"}, {"name", "A"}, {"password", std::string(1024, 'p')}},
                            error)
               .has_value());
}

BOOST_AUTO_TEST_CASE(password_length_counts_characters_not_bytes) {
  BOOST_TEST(check_password("\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4").find("at least 8")
             != std::string::npos); // four characters, eight bytes
  BOOST_TEST(check_password("\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4")
               .empty());
}

BOOST_AUTO_TEST_CASE(language_tags_are_bcp47_like) {
  for (auto good : {"en", "de", "pt-BR", "zh-Hant-TW", "gsw", "es-419"}) {
    BOOST_TEST(is_language_tag(good), good);
  }
  for (auto bad : {"", "e", "english", "en_US", "en-", "-en", "en-toolongsubtag", "de-DE-1996-x-abcdefgh"}) {
    BOOST_TEST(!is_language_tag(bad), bad);
  }
}

BOOST_AUTO_TEST_CASE(a_patch_takes_any_subset_but_not_nothing_or_nulls) {
  std::string error;
  auto p = parse_user_patch("id-1", {{"name", "New"}, {"preferences", {{"push", false}}}}, error);
  BOOST_TEST_REQUIRE(p.has_value(), error);
  BOOST_TEST(*p->change.name == "New");
  BOOST_TEST(!p->change.email);
  BOOST_TEST(*p->change.push_enabled == false);
  BOOST_TEST(!p->change.email_enabled);
  BOOST_TEST(!parse_user_patch("id-1", json::object(), error));
  BOOST_TEST(mentions(error, "nothing to change"), error);
  BOOST_TEST(!parse_user_patch("id-1", {{"name", nullptr}}, error));
  BOOST_TEST(mentions(error, "'name' must not be null"), error);
  BOOST_TEST(!parse_user_patch("id-1", {{"id", "other"}}, error));
  BOOST_TEST(mentions(error, "unknown field 'id'"), error);
  BOOST_TEST(!parse_user_patch("id-1", {{"email", "not-an-address"}}, error));
  BOOST_TEST(mentions(error, "'email'"), error);
}

BOOST_AUTO_TEST_CASE(preferences_validate_quiet_hours_shape_and_null_clears_them) {
  std::string error;
  auto c = parse_preferences("id-1", {{"quiet_hours", nullptr}}, error);
  BOOST_TEST_REQUIRE(c.has_value(), error);
  BOOST_TEST_REQUIRE(static_cast<bool>(c->quiet));
  BOOST_TEST(c->quiet->empty());
  auto bad = [&](json q) {
    std::string e;
    BOOST_TEST(!parse_preferences("id-1", {{"quiet_hours", q}}, e));
    BOOST_TEST(mentions(e, "quiet_hours"), e);
  };
  bad({{"start", "24:00"}, {"end", "07:00"}, {"timezone", "UTC"}});
  bad({{"start", "7:00"}, {"end", "07:30"}, {"timezone", "UTC"}});
  bad({{"start", "22:00"}, {"end", "07:60"}, {"timezone", "UTC"}});
  bad({{"start", "22:00"}, {"end", "22:00"}, {"timezone", "UTC"}});
  bad({{"start", "22:00"}, {"end", "07:00"}, {"timezone", ""}});
  // Shaped like a zone but unknown to the tz database: refused, never stored and ignored.
  std::string e;
  BOOST_TEST(!parse_preferences("id-1", {{"quiet_hours", {{"start", "22:00"}, {"end", "07:00"},
                                                         {"timezone", "Mars/Olympus_Mons"}}}}, e));
  BOOST_TEST(mentions(e, "unknown time zone 'Mars/Olympus_Mons'"), e);
  BOOST_TEST(parse_preferences("id-1", {{"quiet_hours", {{"start", "22:00"}, {"end", "07:00"},
                                                        {"timezone", "America/Argentina/Buenos_Aires"}}}}, e)
               .has_value(),
             e);
  bad({{"start", "22:00"}, {"end", "07:00"}});
  bad({{"start", "22:00"}, {"end", "07:00"}, {"timezone", "UTC"}, {"days", "weekdays"}});
  bad("22:00-07:00");
  BOOST_TEST(!parse_preferences("id-1", json::object(), error));
  BOOST_TEST(!parse_preferences("id-1", {{"email", "yes"}}, error));
  BOOST_TEST(mentions(error, "'email' must be a boolean"), error);
  BOOST_TEST(!parse_preferences("id-1", {{"language", "klingon!"}}, error));
  BOOST_TEST(mentions(error, "'language'"), error);
}

BOOST_AUTO_TEST_CASE(fcm_tokens_must_have_the_registration_token_shape) {
  std::string error;
  std::string token = "dQw4w9WgXcQ:APA91bH" + std::string(40, 'x');
  auto t = parse_push_token({{"type", "fcm"}, {"token", token}}, strict, error);
  BOOST_TEST_REQUIRE(t.has_value(), error);
  BOOST_TEST(t->kind == "fcm");
  BOOST_TEST(t->token == token);
  BOOST_TEST(!parse_push_token({{"type", "fcm"}, {"token", "short"}}, strict, error));
  BOOST_TEST(mentions(error, "'token'"), error);
  BOOST_TEST(!parse_push_token({{"type", "fcm"}, {"token", std::string(31, 'a')}}, strict, error));
  BOOST_TEST(parse_push_token({{"type", "fcm"}, {"token", std::string(4096, 'a')}}, strict, error).has_value());
  BOOST_TEST(!parse_push_token({{"type", "fcm"}, {"token", std::string(4097, 'a')}}, strict, error));
  BOOST_TEST(!parse_push_token({{"type", "fcm"}, {"token", std::string(40, 'a') + " x"}}, strict, error));
  BOOST_TEST(!parse_push_token({{"type", "sms"}, {"token", token}}, strict, error));
  BOOST_TEST(mentions(error, "'type'"), error);
}

BOOST_AUTO_TEST_CASE(a_browser_push_subscription_is_accepted) {
  std::string error;
  auto t = parse_push_token(webpush(), strict, error);
  BOOST_TEST_REQUIRE(t.has_value(), error);
  BOOST_TEST(t->kind == "webpush");
  BOOST_TEST(t->token == "https://updates.push.services.mozilla.com/wpush/v2/gAAAA");
  BOOST_TEST(auth::base64url_decode(t->p256dh)->size() == 65u);
  BOOST_TEST(auth::base64url_decode(t->auth)->size() == 16u);
}

BOOST_AUTO_TEST_CASE(web_push_endpoint_and_keys_are_checked) {
  std::string error;
  auto with_endpoint = [](std::string endpoint) {
    auto body = webpush();
    body["subscription"]["endpoint"] = endpoint;
    return body;
  };
  for (auto bad : {"http://push.example.com/x", "https:///nohost", "https://", "ftp://x.y/z",
                   "push.example.com/x", "https://127.0.0.1/push", "https://0177.0.0.1/push",
                   "https://[::ffff:10.0.0.1]/push", "https://localhost/push",
                   "https://169.254.169.254/latest", "https://user@push.example.com/x"}) {
    BOOST_TEST(!parse_push_token(with_endpoint(bad), strict, error), bad);
    BOOST_TEST(mentions(error, "'subscription.endpoint'"), error);
  }
  BOOST_TEST(!parse_push_token(with_endpoint("https://10.9.8.7/push"), strict, error));
  BOOST_TEST(error == "field 'subscription.endpoint' points at 10.9.8.7, a private address");
  const net::outbound_policy insecure{true};
  BOOST_TEST(parse_push_token(with_endpoint("http://127.0.0.1:9/push"), insecure, error).has_value(),
             error);
  BOOST_TEST(!parse_push_token(with_endpoint("http://192.168.0.2/push"), insecure, error));
  auto auth16 = auth::base64url_encode(std::string(16, '\x22'));
  BOOST_TEST(!parse_push_token(webpush({{"p256dh", p256dh_key(0x02)}, {"auth", auth16}}), strict, error));
  BOOST_TEST(mentions(error, "0x04"), error);
  BOOST_TEST(!parse_push_token(webpush({{"p256dh", p256dh_key(0x04, 33)}, {"auth", auth16}}), strict, error));
  BOOST_TEST(mentions(error, "65 bytes"), error);
  BOOST_TEST(!parse_push_token(
    webpush({{"p256dh", p256dh_key()}, {"auth", auth::base64url_encode("short")}}), strict,
    error));
  BOOST_TEST(mentions(error, "'subscription.keys.auth'"), error);
  BOOST_TEST(!parse_push_token(webpush({{"p256dh", "not base64!"}, {"auth", auth16}}), strict, error));
  BOOST_TEST(mentions(error, "'subscription.keys.p256dh'"), error);
  BOOST_TEST(!parse_push_token({{"type", "webpush"}, {"token", "x"}}, strict, error));
  BOOST_TEST(mentions(error, "'subscription'"), error);
}

BOOST_AUTO_TEST_CASE(a_token_selector_names_exactly_one_device) {
  std::string error;
  auto s = parse_token_selector({{"endpoint", "https://push.example.com/1"}}, error);
  BOOST_TEST_REQUIRE(s.has_value(), error);
  BOOST_TEST(s->first == "webpush");
  BOOST_TEST(!parse_token_selector(json::object(), error));
  BOOST_TEST(!parse_token_selector({{"token", "a"}, {"endpoint", "b"}}, error));
  BOOST_TEST(mentions(error, "exactly one"), error);
}

BOOST_AUTO_TEST_CASE(login_needs_email_and_password_only) {
  std::string error;
  BOOST_TEST(parse_login({{"email", "a@b.co"}, {"password", "x"}}, error).has_value());
  BOOST_TEST(!parse_login({{"email", "a@b.co"}}, error));
  BOOST_TEST(mentions(error, "'password'"), error);
  BOOST_TEST(!parse_login({{"email", "a@b.co"}, {"password", "x"}, {"remember", true}}, error));
  BOOST_TEST(mentions(error, "'remember'"), error);
}

BOOST_AUTO_TEST_CASE(profiles_survive_the_cache_format) {
  user_profile p;
  p.user.id = "00000000-0000-4000-8000-000000000001";
  p.user.email = "a@b.co";
  p.user.name = "A";
  p.user.language = "de";
  p.user.push_enabled = false;
  p.user.push_tokens = {{"t1", "fcm", std::string(40, 'f'), "", ""},
                        {"t2", "webpush", "https://push.example.com/1", p256dh_key(), "YXV0aA"}};
  p.user.quiet = {"22:00", "07:00", "Europe/Berlin"};
  p.has_password = true;
  p.created_at = "2024-01-01T00:00:00.000Z";
  p.updated_at = "2024-01-02T00:00:00.000Z";
  auto back = profile_from_json(json::parse(to_json(p).dump()));
  BOOST_TEST_REQUIRE(back.has_value());
  BOOST_TEST(to_json(*back) == to_json(p));
  BOOST_TEST(back->user.push_tokens.at(1).p256dh == p256dh_key());
  BOOST_TEST(back->user.quiet.timezone == "Europe/Berlin");
  BOOST_TEST(back->has_password);
  // The comparison above sees every field: a profile differing in one is not equal.
  auto other = *back;
  other.user.push_tokens.at(0).token = std::string(40, 'e');
  BOOST_TEST(to_json(other) != to_json(p));
  BOOST_TEST(!profile_from_json({{"id", "x"}}));
}

BOOST_AUTO_TEST_SUITE_END()
