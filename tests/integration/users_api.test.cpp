// The users REST API (:base+1) against the real PostgreSQL and Redis: CRUD, paging, login
// and its JWT, preferences, push tokens, and the Redis cache in front of PostgreSQL
// (counted hits and queries, invalidation on every change, the generation guard).

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cctype>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "actors/common/ids.hpp"
#include "actors/user_lookup/user_cache.hpp"
#include "runtime/auth/base64.hpp"
#include "runtime/auth/jwt.hpp"
#include "support/herald_api.hpp"

using namespace herald::test;
using json = nlohmann::json;

namespace {


std::string p256dh_key() {
  std::string point(65, '\x5a');
  point[0] = '\x04';
  return herald::auth::base64url_encode(point);
}

std::string auth_secret() {
  return herald::auth::base64url_encode(std::string(16, '\x33'));
}

json fcm(const std::string& token) {
  return {{"type", "fcm"}, {"token", token}};
}

json webpush(const std::string& endpoint) {
  return {{"type", "webpush"},
          {"subscription",
           {{"endpoint", endpoint}, {"keys", {{"p256dh", p256dh_key()}, {"auth", auth_secret()}}}}}};
}

std::string fcm_token() {
  return unique("fcm-") + ":APA91b" + std::string(40, 'k');
}

/// The push_tokens URL of a user created on `node` for the purpose.
std::string tokens_of_new_user(const running_node& node) {
  auto users = node.url(1) + "/api/v1/users";
  auto created = post_json(users, {{"email", unique("devices-") + "@example.com"}, {"name", "D"}});
  BOOST_TEST_REQUIRE(created.status == 201, created.raw);
  return users + "/" + created.body["data"]["id"].get<std::string>() + "/push_tokens";
}


struct users_fixture {
  running_node node;
  std::string users = node.url(1) + "/api/v1/users";

  http_reply call(const std::string& method, const std::string& path, const json& body = nullptr) {
    return http_call(method, users + path, body.is_null() ? std::string{} : body.dump());
  }

  /// Creates a user (the body's fields over a fresh email and a name); returns its data.
  json create(json body = json::object()) {
    if (!body.contains("email")) {
      body["email"] = unique("user-") + "@example.com";
    }
    if (!body.contains("name")) {
      body["name"] = "Test User";
    }
    auto r = call("POST", "", body);
    BOOST_TEST_REQUIRE(r.status == 201, r.raw);
    return r.body["data"];
  }

  /// The summed counters of the user_lookup workers.
  json totals() {
    auto r = call("GET", "/stats");
    BOOST_TEST_REQUIRE(r.status == 200, r.raw);
    return r.body["data"]["user_lookup"]["totals"];
  }

  http_reply login(const std::string& email, const std::string& password) {
    return call("POST", "/login", {{"email", email}, {"password", password}});
  }
};

std::uint64_t counter(const json& totals, const char* name) {
  return totals.value(name, std::uint64_t{0});
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(users_api, users_fixture)

// -- create, read, update, delete ------------------------------------------------------

BOOST_AUTO_TEST_CASE(create_answers_201_with_a_uuid_and_never_shows_the_password) {
  auto r = call("POST", "", {{"email", unique("grace-") + "@example.com"},
                             {"name", "Grace Hopper"},
                             {"password", "a very secret phrase"},
                             {"preferences", {{"push", false}, {"language", "de"}}}});
  BOOST_TEST_REQUIRE(r.status == 201, r.raw);
  auto& u = r.body["data"];
  BOOST_TEST(herald::is_uuid(u["id"].get<std::string>()));
  BOOST_TEST(u["has_password"] == true);
  BOOST_TEST(u["preferences"]["push"] == false);
  BOOST_TEST(u["preferences"]["email"] == true);
  BOOST_TEST(u["preferences"]["language"] == "de");
  BOOST_TEST(u["preferences"]["quiet_hours"].is_null());
  BOOST_TEST(u["push_tokens"] == json::array());
  BOOST_TEST(!u["created_at"].get<std::string>().empty());
  BOOST_TEST(r.raw.find("a very secret phrase") == std::string::npos);
  BOOST_TEST(r.raw.find("pbkdf2") == std::string::npos);
  auto got = call("GET", "/" + u["id"].get<std::string>());
  BOOST_TEST_REQUIRE(got.status == 200, got.raw);
  BOOST_TEST(got.body["data"] == u);
  BOOST_TEST(got.raw.find("pbkdf2") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(create_refuses_bad_bodies_with_a_400_naming_the_field) {
  auto email = unique("bad-") + "@example.com";
  check_error(call("POST", "", {{"email", email}, {"name", "A"}, {"role", "admin"}}), 400,
              "unknown field 'role'");
  check_error(call("POST", "", {{"email", email}, {"name", "A"}, {"password", "short"}}), 400,
              "'password'");
  check_error(call("POST", "", {{"email", email}, {"name", "A"}, {"language", "english"}}), 400,
              "'language'");
  check_error(call("POST", "", {{"email", email}, {"name", std::string(201, 'n')}}), 400,
              "'name'");
  check_error(call("POST", "", {{"email", "no-at-sign"}, {"name", "A"}}), 400, "'email'");
  check_error(http_call("POST", users, "{\"email\": "), 400, "not valid JSON");
}

BOOST_AUTO_TEST_CASE(an_email_taken_in_any_letter_case_is_a_409_on_create_and_patch) {
  auto email = unique("Case-") + "@Example.com";
  create({{"email", email}});
  auto lower = email;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  check_error(call("POST", "", {{"email", lower}, {"name", "Twin"}}), 409, "already exists");
  auto other = create();
  check_error(call("PATCH", "/" + other["id"].get<std::string>(), {{"email", lower}}), 409,
              "already exists");
}

BOOST_AUTO_TEST_CASE(nfc_and_nfd_spellings_of_an_address_are_one_account) {
  auto local = unique("jos");
  auto nfc = local + "\xC3\xA9@caf\xC3\xA9.example";   // é precomposed (U+00E9)
  auto nfd = local + "e\xCC\x81@cafe\xCC\x81.example"; // e + combining U+0301
  auto user = create({{"email", nfc}, {"password", "correct horse"}});
  check_error(call("POST", "", {{"email", nfd}, {"name", "Twin"}}), 409, "already exists");
  auto other = create();
  check_error(call("PATCH", "/" + other["id"].get<std::string>(), {{"email", nfd}}), 409,
              "already exists");
  for (const auto& spelling : {nfc, nfd}) {
    auto r = login(spelling, "correct horse");
    BOOST_TEST_REQUIRE(r.status == 200, r.raw);
    BOOST_TEST(r.body["data"]["user_id"] == user["id"]);
  }
  // Created with the NFD spelling, an address is stored in NFC.
  auto second = create({{"email", unique("zo") + "e\xCC\x88@example.com"}});
  BOOST_TEST(second["email"].get<std::string>().find("\xC3\xAB") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(unknown_and_malformed_ids_are_a_404_naming_the_id) {
  auto missing = herald::make_uuid();
  for (auto id : {missing, std::string{"not-a-uuid"}}) {
    check_error(call("GET", "/" + id), 404, "no user with id " + id);
    check_error(call("PATCH", "/" + id, {{"name", "X"}}), 404, "no user with id");
    check_error(call("DELETE", "/" + id), 404, "no user with id");
    check_error(call("PUT", "/" + id + "/preferences", {{"push", false}}), 404, "no user with id");
    check_error(call("GET", "/" + id + "/push_tokens"), 404, "no user with id");
    check_error(call("POST", "/" + id + "/push_tokens", fcm(fcm_token())), 404, "no user with id");
  }
}

BOOST_AUTO_TEST_CASE(patch_changes_only_the_given_fields_and_the_next_get_shows_them) {
  auto u = create({{"language", "fr"}});
  auto id = u["id"].get<std::string>();
  BOOST_TEST_REQUIRE(call("GET", "/" + id).status == 200); // now cached
  auto new_email = unique("renamed-") + "@example.com";
  auto r = call("PATCH", "/" + id, {{"email", new_email}, {"name", "Renamed"}});
  BOOST_TEST_REQUIRE(r.status == 200, r.raw);
  BOOST_TEST(r.body["data"]["email"] == new_email);
  BOOST_TEST(r.body["data"]["preferences"]["language"] == "fr");
  auto got = call("GET", "/" + id);
  BOOST_TEST(got.body["data"]["email"] == new_email);
  BOOST_TEST(got.body["data"]["name"] == "Renamed");
  BOOST_TEST(got.body["data"]["preferences"]["language"] == "fr");
  check_error(call("PATCH", "/" + id, json::object()), 400, "nothing to change");
  check_error(call("PATCH", "/" + id, {{"name", nullptr}}), 400, "'name'");
  check_error(call("PATCH", "/" + id, {{"nickname", "x"}}), 400, "unknown field 'nickname'");
}

BOOST_AUTO_TEST_CASE(delete_answers_200_and_then_404_even_though_the_user_was_cached) {
  auto id = create()["id"].get<std::string>();
  BOOST_TEST_REQUIRE(call("GET", "/" + id).status == 200);
  BOOST_TEST_REQUIRE(call("GET", "/" + id).status == 200); // served from the cache
  auto r = call("DELETE", "/" + id);
  BOOST_TEST_REQUIRE(r.status == 200, r.raw);
  BOOST_TEST(r.body["data"] == json({{"id", id}, {"deleted", true}}));
  check_error(call("GET", "/" + id), 404, "no user with id");
  check_error(call("DELETE", "/" + id), 404, "no user with id");
}

// -- listing ---------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(the_list_pages_in_creation_order_with_the_envelope_meta) {
  create();
  create();
  auto last = create();
  auto first_page = call("GET", "?page=1&limit=2");
  BOOST_TEST_REQUIRE(first_page.status == 200, first_page.raw);
  auto meta = first_page.body["meta"];
  auto total = meta["total"].get<std::int64_t>();
  BOOST_TEST(total >= 3);
  auto pages = (total + 1) / 2;
  BOOST_TEST(meta["limit"] == 2);
  BOOST_TEST(meta["page"] == 1);
  BOOST_TEST(meta["total_pages"] == pages);
  BOOST_TEST(meta["has_next"] == true);
  BOOST_TEST(meta["has_previous"] == false);
  BOOST_TEST(first_page.body["data"].size() == 2u);

  auto newest = call("GET", "?limit=1&page=" + std::to_string(total));
  BOOST_TEST_REQUIRE(newest.status == 200, newest.raw);
  BOOST_TEST(newest.body["data"].at(0)["id"] == last["id"]);
  BOOST_TEST(newest.body["meta"]["has_next"] == false);
  BOOST_TEST(newest.body["meta"]["has_previous"] == true);

  auto beyond = call("GET", "?limit=100&page=" + std::to_string(total + 1));
  BOOST_TEST(beyond.status == 200);
  BOOST_TEST(beyond.body["data"] == json::array());

  auto defaults = call("GET", "");
  BOOST_TEST(defaults.body["meta"]["limit"] == 20);
  BOOST_TEST(defaults.body["meta"]["page"] == 1);

  check_error(call("GET", "?page=0"), 400, "'page'");
  check_error(call("GET", "?page=abc"), 400, "'page'");
  check_error(call("GET", "?limit=101"), 400, "'limit'");
  check_error(call("GET", "?limit=-5"), 400, "'limit'");
}

// -- login -----------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(login_answers_a_bearer_token_that_jwt_verify_accepts) {
  auto email = unique("Login-") + "@example.com";
  auto id = create({{"email", email}, {"password", "open sesame 123"}})["id"].get<std::string>();
  auto r = login(email, "open sesame 123");
  BOOST_TEST_REQUIRE(r.status == 200, r.raw);
  auto& d = r.body["data"];
  BOOST_TEST(d["token_type"] == "Bearer");
  BOOST_TEST(d["expires_in"] == 3600);
  BOOST_TEST(d["user_id"] == id);
  auto verified = herald::auth::jwt::verify(d["token"].get<std::string>(), herald::test::jwt_secret,
                                            std::chrono::system_clock::now());
  BOOST_TEST_REQUIRE(verified.ok(), verified.error);
  auto& claims = *verified.claims;
  BOOST_TEST(claims["sub"] == id);
  BOOST_TEST(claims["email"] == email);
  BOOST_TEST(claims["iss"] == "herald");
  BOOST_TEST(claims["exp"].get<std::int64_t>() - claims["iat"].get<std::int64_t>() == 3600);
  BOOST_TEST(!herald::auth::jwt::verify(d["token"].get<std::string>(), "another secret",
                                        std::chrono::system_clock::now())
                .ok());
  auto upper = email;
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  BOOST_TEST(login(upper, "open sesame 123").status == 200);
}

BOOST_AUTO_TEST_CASE(wrong_password_unknown_email_and_no_password_get_the_same_401) {
  auto email = unique("locked-") + "@example.com";
  create({{"email", email}, {"password", "right password"}});
  auto no_password = unique("nopw-") + "@example.com";
  create({{"email", no_password}});
  auto wrong = login(email, "wrong password");
  check_error(wrong, 401, "invalid email or password");
  auto unknown = login(unique("nobody-") + "@example.com", "right password");
  check_error(unknown, 401, "invalid email or password");
  BOOST_TEST(unknown.body["error"] == wrong.body["error"]);
  check_error(login(no_password, "any password"), 401, "invalid email or password");
  check_error(call("POST", "/login", {{"email", email}}), 400, "'password'");
}

BOOST_AUTO_TEST_CASE(a_changed_password_replaces_the_old_one) {
  auto email = unique("rotate-") + "@example.com";
  auto id = create({{"email", email}, {"password", "first password"}})["id"].get<std::string>();
  auto r = call("PATCH", "/" + id, {{"password", "second password"}});
  BOOST_TEST_REQUIRE(r.status == 200, r.raw);
  BOOST_TEST(r.raw.find("second password") == std::string::npos);
  check_error(login(email, "first password"), 401, "invalid email or password");
  BOOST_TEST(login(email, "second password").status == 200);
  check_error(call("PATCH", "/" + id, {{"password", "2short"}}), 400, "'password'");
}

// -- preferences -----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(preferences_round_trip_with_quiet_hours) {
  auto id = create()["id"].get<std::string>();
  json quiet = {{"start", "22:00"}, {"end", "07:00"}, {"timezone", "Europe/Berlin"}};
  auto r = call("PUT", "/" + id + "/preferences",
                {{"email", false}, {"push", false}, {"language", "pt-BR"}, {"quiet_hours", quiet}});
  BOOST_TEST_REQUIRE(r.status == 200, r.raw);
  json expected = {{"email", false}, {"push", false}, {"language", "pt-BR"}, {"quiet_hours", quiet}};
  BOOST_TEST(r.body["data"] == expected);
  BOOST_TEST(call("GET", "/" + id).body["data"]["preferences"] == expected);

  auto cleared = call("PUT", "/" + id + "/preferences", {{"quiet_hours", nullptr}, {"push", true}});
  BOOST_TEST_REQUIRE(cleared.status == 200, cleared.raw);
  expected["quiet_hours"] = nullptr;
  expected["push"] = true;
  BOOST_TEST(cleared.body["data"] == expected);
  BOOST_TEST(call("GET", "/" + id).body["data"]["preferences"] == expected);

  auto path = "/" + id + "/preferences";
  check_error(call("PUT", path, {{"quiet_hours", {{"start", "25:00"}, {"end", "07:00"},
                                                  {"timezone", "UTC"}}}}),
              400, "'quiet_hours.start'");
  check_error(call("PUT", path, {{"quiet_hours", {{"start", "22:00"}, {"end", "07:00"}}}}), 400,
              "'quiet_hours.timezone'");
  check_error(call("PUT", path, {{"language", "not a tag"}}), 400, "'language'");
  check_error(call("PUT", path, {{"sms", true}}), 400, "unknown field 'sms'");
  check_error(call("PUT", path, json::object()), 400, "no preference given");
}

// -- push tokens -----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(push_tokens_register_idempotently_list_and_delete) {
  auto id = create()["id"].get<std::string>();
  auto tokens = "/" + id + "/push_tokens";
  auto token = fcm_token();
  auto first = call("POST", tokens, fcm(token));
  BOOST_TEST_REQUIRE(first.status == 201, first.raw);
  auto fcm_id = first.body["data"]["id"].get<std::string>();
  BOOST_TEST(first.body["data"] == json({{"id", fcm_id}, {"type", "fcm"}, {"token", token}}));

  auto again = call("POST", tokens, fcm(token));
  BOOST_TEST(again.status == 200);
  BOOST_TEST(again.body["data"]["id"] == fcm_id);

  auto endpoint = "https://fcm.googleapis.com/fcm/send/" + unique("sub-");
  auto web = call("POST", tokens, webpush(endpoint));
  BOOST_TEST_REQUIRE(web.status == 201, web.raw);
  BOOST_TEST(web.body["data"]["subscription"]["endpoint"] == endpoint);
  BOOST_TEST(web.body["data"]["subscription"]["keys"]["p256dh"] == p256dh_key());

  auto list = call("GET", tokens);
  BOOST_TEST_REQUIRE(list.status == 200, list.raw);
  BOOST_TEST(list.body["data"].size() == 2u);
  BOOST_TEST(list.body["meta"]["total"] == 2);
  BOOST_TEST(call("GET", "/" + id).body["data"]["push_tokens"] == list.body["data"]);

  auto removed = call("DELETE", tokens + "/" + fcm_id);
  BOOST_TEST_REQUIRE(removed.status == 200, removed.raw);
  BOOST_TEST(removed.body["data"]["deleted"] == true);
  BOOST_TEST(call("GET", tokens).body["data"].size() == 1u);
  check_error(call("DELETE", tokens + "/" + fcm_id), 404, "no push token with id");

  auto by_endpoint = call("DELETE", tokens, {{"endpoint", endpoint}});
  BOOST_TEST_REQUIRE(by_endpoint.status == 200, by_endpoint.raw);
  BOOST_TEST(call("GET", tokens).body["data"] == json::array());
  check_error(call("DELETE", tokens, {{"endpoint", endpoint}}), 404, "no such");

  BOOST_TEST_REQUIRE(call("POST", tokens, fcm(token)).status == 201);
  BOOST_TEST(call("DELETE", tokens, {{"token", token}}).status == 200);
}

BOOST_AUTO_TEST_CASE(malformed_push_tokens_are_a_400_naming_the_problem) {
  auto tokens = "/" + create()["id"].get<std::string>() + "/push_tokens";
  check_error(call("POST", tokens, fcm("too-short")), 400, "'token'");
  check_error(call("POST", tokens, {{"type", "apns"}, {"token", fcm_token()}}), 400, "'type'");
  check_error(call("POST", tokens, webpush("http://push.example.com/insecure")), 400,
              "field 'subscription.endpoint' must be an https:// URL");
  check_error(call("POST", tokens, webpush("https://127.1/push")), 400,
              "field 'subscription.endpoint' points at 127.0.0.1, a loopback address");
  check_error(call("POST", tokens, webpush("https://[::ffff:192.168.0.1]/push")), 400,
              "a private address");
  check_error(call("POST", tokens, webpush("https://169.254.169.254/latest/meta-data")), 400,
              "a link-local address");
  check_error(call("POST", tokens, webpush("https://localhost/push")), 400, "a loopback name");
  auto bad_key = webpush("https://push.example.com/" + unique("k"));
  bad_key["subscription"]["keys"]["p256dh"] = herald::auth::base64url_encode(std::string(33, '\x02'));
  check_error(call("POST", tokens, bad_key), 400, "'subscription.keys.p256dh'");
  auto bad_auth = webpush("https://push.example.com/" + unique("a"));
  bad_auth["subscription"]["keys"]["auth"] = "c2hvcnQ";
  check_error(call("POST", tokens, bad_auth), 400, "'subscription.keys.auth'");
  check_error(call("DELETE", tokens, {{"token", "a"}, {"endpoint", "b"}}), 400, "exactly one");
  check_error(call("DELETE", tokens + "/not-a-uuid"), 404, "no push token with id");
}

BOOST_AUTO_TEST_CASE(a_device_registered_by_another_user_moves_to_that_user) {
  auto alice = "/" + create()["id"].get<std::string>() + "/push_tokens";
  auto bob = "/" + create()["id"].get<std::string>() + "/push_tokens";
  auto token = fcm_token();
  BOOST_TEST_REQUIRE(call("POST", alice, fcm(token)).status == 201);
  BOOST_TEST_REQUIRE(call("GET", alice).body["data"].size() == 1u); // alice now cached
  auto moved = call("POST", bob, fcm(token));
  BOOST_TEST_REQUIRE(moved.status == 201, moved.raw);
  BOOST_TEST(call("GET", alice).body["data"] == json::array());
  BOOST_TEST(call("GET", bob).body["data"].at(0)["token"] == token);
}

// -- the cache -------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_lookup_served_from_the_cache_costs_no_postgres_query) {
  auto id = create()["id"].get<std::string>();
  auto before = totals();
  BOOST_TEST_REQUIRE(call("GET", "/" + id).status == 200);
  auto after_first = totals();
  BOOST_TEST(counter(after_first, "pg_queries") == counter(before, "pg_queries") + 1);
  BOOST_TEST(counter(after_first, "cache_misses") == counter(before, "cache_misses") + 1);

  BOOST_TEST_REQUIRE(call("GET", "/" + id).status == 200);
  auto after_second = totals();
  BOOST_TEST(counter(after_second, "cache_hits") == counter(after_first, "cache_hits") + 1);
  BOOST_TEST(counter(after_second, "pg_queries") == counter(after_first, "pg_queries"));

  auto new_email = unique("moved-") + "@example.com";
  BOOST_TEST_REQUIRE(call("PATCH", "/" + id, {{"email", new_email}}).status == 200);
  BOOST_TEST(call("GET", "/" + id).body["data"]["email"] == new_email);
}

BOOST_AUTO_TEST_CASE(a_fill_based_on_a_read_from_before_a_change_is_refused) {
  herald::user_cache cache{env("HERALD_TEST_REDIS_URL"), std::chrono::seconds{60}};
  auto id = herald::make_uuid();
  std::string error;
  // A lookup reads the generation, then (while it queries PostgreSQL) a change lands.
  auto probe = cache.read(id);
  BOOST_TEST_REQUIRE(probe.available, probe.error);
  BOOST_TEST(!probe.value);
  BOOST_TEST_REQUIRE(cache.invalidate(id, error), error);
  BOOST_TEST(!cache.fill(id, probe.generation, "{\"stale\": true}", error));
  BOOST_TEST(error.empty(), error);
  BOOST_TEST(!cache.read(id).value);
  // A lookup that starts after the change fills normally.
  auto fresh = cache.read(id);
  BOOST_TEST(cache.fill(id, fresh.generation, "{\"fresh\": true}", error));
  BOOST_TEST((cache.read(id).value == std::optional<std::string>{"{\"fresh\": true}"}));
}

BOOST_AUTO_TEST_CASE(lookups_and_changes_work_while_redis_is_down) {
  auto id = create()["id"].get<std::string>();
  BOOST_TEST_REQUIRE(call("GET", "/" + id).status == 200);
  stopped_server redis{"redis"};
  auto got = call("GET", "/" + id);
  BOOST_TEST(got.status == 200, got.raw);
  auto patched = call("PATCH", "/" + id, {{"name", "No Cache"}});
  BOOST_TEST(patched.status == 200, patched.raw);
  BOOST_TEST(call("GET", "/" + id).body["data"]["name"] == "No Cache");
  BOOST_TEST(counter(totals(), "cache_errors") > 0u);
}

BOOST_AUTO_TEST_SUITE_END()

// -- settings other than the test node's defaults ----------------------------------------

BOOST_AUTO_TEST_SUITE(users_api_settings)

BOOST_AUTO_TEST_CASE(login_without_a_jwt_secret_is_a_503_naming_the_option) {
  running_node node{{{"HERALD_JWT_SECRET", ""}}};
  auto r = http_call("POST", node.url(1) + "/api/v1/users/login",
                     json({{"email", "a@example.com"}, {"password", "whatever1"}}).dump());
  check_error(r, 503, "jwt.secret");
}

namespace {

/// POST /api/v1/users/login from the local address `from` (127.x.y.z), written by hand: the
/// HTTP client cannot choose its source address. Answers the status code (0: no answer).
int login_from(const std::string& from, int port, const json& body) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in src{};
  src.sin_family = AF_INET;
  ::inet_pton(AF_INET, from.c_str(), &src.sin_addr);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0
      || ::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) {
    ::close(fd);
    return 0;
  }
  auto text = body.dump();
  auto request = "POST /api/v1/users/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 "Content-Type: application/json\r\nConnection: close\r\nContent-Length: "
                 + std::to_string(text.size()) + "\r\n\r\n" + text;
  [[maybe_unused]] auto sent = ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  char buf[64] = {};
  auto n = ::recv(fd, buf, sizeof buf - 1, 0);
  ::close(fd);
  return n > 12 ? std::atoi(buf + 9) : 0; // "HTTP/1.1 200 OK"
}

} // namespace

BOOST_AUTO_TEST_CASE(development_mode_accepts_http_and_loopback_web_push_endpoints_only) {
  running_node node{{{"HERALD_PUSH_ALLOW_INSECURE_ENDPOINTS", "true"}}};
  auto tokens = tokens_of_new_user(node);
  auto local = post_json(tokens, webpush("http://127.0.0.1:9/push/" + unique("dev")));
  BOOST_TEST(local.status == 201, local.raw);
  check_error(post_json(tokens, webpush("http://10.0.0.5/push")), 400, "a private address");
}

BOOST_AUTO_TEST_CASE(logins_past_the_limit_for_one_address_are_429s_with_retry_after) {
  running_node node{{{"HERALD_USERS_LOGIN_ATTEMPTS_PER_ADDRESS", "3"},
                     {"HERALD_USERS_LOGIN_ATTEMPTS_PER_CLIENT", "100"}}};
  auto users = node.url(1) + "/api/v1/users";
  auto target = unique("target-") + "@example.com";
  auto other = unique("other-") + "@example.com";
  for (auto& email : {target, other}) {
    BOOST_TEST_REQUIRE(post_json(users, {{"email", email}, {"name", "L"}, {"password", "right one"}}).status == 201);
  }
  for (int i = 0; i < 3; ++i) {
    check_error(post_json(users + "/login", {{"email", target}, {"password", "wrong one"}}), 401,
                "invalid email or password");
  }
  // The right password too: the limit is on attempts, before any hashing.
  auto limited = post_json(users + "/login", {{"email", target}, {"password", "right one"}});
  check_error(limited, 429, "for this email address");
  auto retry = std::atoi(limited.headers["Retry-After"].c_str());
  BOOST_TEST((retry >= 1 && retry <= 60), "Retry-After " << retry);
  std::string upper = target;
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  check_error(post_json(users + "/login", {{"email", upper}, {"password", "right one"}}), 429,
              "for this email address");
  // Another account from the same client is not affected.
  BOOST_TEST(post_json(users + "/login", {{"email", other}, {"password", "right one"}}).status == 200);
}

BOOST_AUTO_TEST_CASE(a_burst_from_one_client_is_refused_and_other_clients_still_log_in) {
  running_node node{{{"HERALD_USERS_LOGIN_ATTEMPTS_PER_ADDRESS", "100"},
                     {"HERALD_USERS_LOGIN_ATTEMPTS_PER_CLIENT", "4"}}};
  auto users = node.url(1) + "/api/v1/users";
  auto email = unique("burst-") + "@example.com";
  BOOST_TEST_REQUIRE(post_json(users, {{"email", email}, {"name", "B"}, {"password", "right one"}}).status == 201);
  for (int i = 0; i < 4; ++i) {
    auto r = post_json(users + "/login", {{"email", unique("x-") + "@example.com"}, {"password", "guess"}});
    BOOST_TEST(r.status == 401, r.raw);
  }
  check_error(post_json(users + "/login", {{"email", email}, {"password", "right one"}}), 429,
              "from this client");
  // The same account from another client address is served.
  auto port = std::stoi(node.url(1).substr(node.url(1).rfind(':') + 1));
  BOOST_TEST(login_from("127.0.0.2", port, {{"email", email}, {"password", "right one"}}) == 200);
}

BOOST_AUTO_TEST_CASE(a_user_past_the_push_token_cap_gets_a_409) {
  running_node node{{{"HERALD_USERS_MAX_PUSH_TOKENS", "2"}}};
  auto tokens = tokens_of_new_user(node);
  BOOST_TEST(post_json(tokens, fcm(fcm_token())).status == 201);
  BOOST_TEST(post_json(tokens, fcm(fcm_token())).status == 201);
  check_error(post_json(tokens, fcm(fcm_token())), 409, "maximum of 2 push tokens");
}

BOOST_AUTO_TEST_SUITE_END()
