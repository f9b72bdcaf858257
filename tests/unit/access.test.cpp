// API keys, the node's key set, identifying a caller and the route rules: the pure parts
// of authorization (the HTTP side is tests/integration/authorization.test.cpp).

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <set>

#include "actors/gateway/api_keys.hpp"
#include "runtime/auth/access_rule.hpp"
#include "runtime/auth/api_key.hpp"
#include "runtime/auth/authenticator.hpp"
#include "runtime/auth/base64.hpp"
#include "runtime/auth/key_set.hpp"

namespace auth = herald::auth;
using json = nlohmann::json;
using state = auth::identification::state;
using kind = auth::principal::kind;

namespace {

const std::string admin_token = "unit-test-admin-token";
const std::string jwt_secret = "unit-test-jwt-secret";
const auto now = std::chrono::system_clock::now();

std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
}

std::string login_token(const std::string& user) {
  return auth::jwt::sign({{"sub", user}, {"exp", now_s() + 600}, {"iss", "herald"}}, jwt_secret);
}

auth::key_set::keys one_key(const std::string& digest, const std::string& id) {
  return {{digest, std::make_shared<const auth::api_key_info>(
                     auth::api_key_info{id, "k", static_cast<auth::scope_set>(
                                                   auth::scope::users_read)})}};
}

struct identify_fixture {
  identify_fixture() {
    keys->replace(one_key(key.digest, "key-1"), keys->generation());
  }
  auth::identification bearer(const std::string& token) const {
    return authn.identify("Bearer " + token, "", now);
  }
  std::shared_ptr<auth::key_set> keys = std::make_shared<auth::key_set>();
  auth::new_api_key key = auth::generate_api_key();
  auth::authenticator authn{admin_token, jwt_secret, {"herald", std::chrono::seconds{3600}}, keys};
};

auth::principal user(const std::string& id) {
  return {kind::user, id, {}, 0};
}

auth::principal api_key(auth::scope_set scopes) {
  return {kind::api_key, "key-1", "k", scopes};
}

} // namespace

BOOST_AUTO_TEST_SUITE(api_keys)

BOOST_AUTO_TEST_CASE(a_key_is_hk_and_256_random_bits_stored_as_its_sha256) {
  auto k = auth::generate_api_key();
  BOOST_TEST(k.key.substr(0, 3) == "hk_");
  auto random = auth::base64url_decode(k.key.substr(3));
  BOOST_REQUIRE(random);
  BOOST_TEST(random->size() == 32u);
  BOOST_TEST(k.prefix == k.key.substr(0, 11));
  BOOST_TEST(k.digest == auth::sha256(k.key));
  BOOST_TEST(auth::generate_api_key().key != k.key);
}

BOOST_AUTO_TEST_CASE(sha256_and_hex_match_the_fips_180_example) {
  BOOST_TEST(auth::to_hex(auth::sha256("abc"))
             == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  BOOST_TEST(*auth::from_hex(auth::to_hex(auth::sha256("abc"))) == auth::sha256("abc"));
  BOOST_TEST(!auth::from_hex("abc"));
  BOOST_TEST(!auth::from_hex("zz"));
}

BOOST_AUTO_TEST_CASE(scopes_have_names_both_ways) {
  std::set<std::string> names;
  for (auto& s : auth::known_scopes()) {
    BOOST_TEST((auth::scope_named(s.name) == s.value));
    names.emplace(s.name);
  }
  BOOST_TEST(names.count("notifications:write") == 1u);
  BOOST_TEST(!auth::scope_named("users:admin"));
  auto set = auth::scope_set{0} | auth::scope::templates_read | auth::scope::users_write;
  BOOST_TEST(auth::scope_names(set) == (std::vector<std::string>{"users:write", "templates:read"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_create_request_names_an_unknown_scope_or_field) {
  std::string error;
  auto ok = herald::parse_api_key_request(
    {{"name", "billing"}, {"scopes", {"users:read", "notifications:write"}}}, error);
  BOOST_REQUIRE_MESSAGE(ok, error);
  BOOST_TEST(ok->name == "billing");
  BOOST_TEST(auth::scope_names(ok->scopes)
               == (std::vector<std::string>{"notifications:write", "users:read"}),
             boost::test_tools::per_element());
  BOOST_TEST(!herald::parse_api_key_request({{"name", "x"}, {"scopes", {"users:read", "root"}}},
                                            error));
  BOOST_TEST(error.find("unknown scope 'root'") != std::string::npos, error);
  BOOST_TEST(!herald::parse_api_key_request({{"name", "x"}, {"scopes", json::array()}}, error));
  BOOST_TEST(error.find("'scopes'") != std::string::npos, error);
  BOOST_TEST(!herald::parse_api_key_request({{"scopes", {"users:read"}}}, error));
  BOOST_TEST(error.find("'name'") != std::string::npos, error);
  BOOST_TEST(!herald::parse_api_key_request(
    {{"name", "x"}, {"scopes", {"users:read"}}, {"key", "hk_mine"}}, error));
  BOOST_TEST(error.find("unknown field 'key'") != std::string::npos, error);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(key_set)

BOOST_AUTO_TEST_CASE(nothing_is_known_before_the_first_load) {
  auth::key_set keys;
  BOOST_TEST(!keys.loaded());
  keys.add("d1", {"id-1", "a", 0});
  BOOST_TEST(!keys.find("d1"));
  keys.replace({}, 0); // the load began before the add: the add is applied to it
  BOOST_TEST(keys.loaded());
  BOOST_TEST(keys.find("d1"));
}

BOOST_AUTO_TEST_CASE(a_local_revocation_survives_a_refresh_that_read_before_it) {
  auth::key_set keys;
  keys.replace(one_key("d1", "id-1"), keys.generation());
  auto read_at = keys.generation(); // a refresh starts reading: the key is still active
  keys.revoke("id-1");              // committed and applied on this node
  BOOST_TEST(!keys.find("d1"));
  keys.replace(one_key("d1", "id-1"), read_at); // the refresh lands with what it read
  BOOST_TEST(!keys.find("d1"));
  keys.replace(one_key("d1", "id-1"), keys.generation()); // a later read showing it active
  BOOST_TEST(keys.find("d1"));                            // is the store's word
}

BOOST_AUTO_TEST_CASE(a_local_creation_survives_a_refresh_that_read_before_it) {
  auth::key_set keys;
  keys.replace({}, keys.generation());
  auto read_at = keys.generation();
  keys.add("d2", {"id-2", "b", 0});
  keys.replace({}, read_at);
  BOOST_TEST(keys.find("d2"));
  BOOST_TEST(keys.find("d2")->id == "id-2");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(identify_caller, identify_fixture)

BOOST_AUTO_TEST_CASE(no_header_is_no_credential) {
  BOOST_TEST((authn.identify("", "", now).result == state::none));
}

BOOST_AUTO_TEST_CASE(the_admin_token_in_either_header_is_the_admin) {
  BOOST_TEST((bearer(admin_token).who.what == kind::admin));
  BOOST_TEST((authn.identify("", admin_token, now).who.what == kind::admin));
  BOOST_TEST((authn.identify("bEaReR " + admin_token, "", now).who.what == kind::admin));
  // One character short, or one more: not the admin.
  BOOST_TEST((bearer(admin_token.substr(1)).result == state::invalid));
  BOOST_TEST((bearer(admin_token + "x").result == state::invalid));
}

BOOST_AUTO_TEST_CASE(an_api_key_in_either_header_is_that_key_with_its_scopes) {
  for (auto id : {bearer(key.key), authn.identify("", key.key, now)}) {
    BOOST_TEST_REQUIRE((id.result == state::valid), id.error);
    BOOST_TEST((id.who.what == kind::api_key));
    BOOST_TEST(id.who.id == "key-1");
    BOOST_TEST(auth::has(id.who.scopes, auth::scope::users_read));
    BOOST_TEST(!auth::has(id.who.scopes, auth::scope::users_write));
  }
  auto unknown = bearer(auth::generate_api_key().key);
  BOOST_TEST((unknown.result == state::invalid));
  BOOST_TEST(unknown.error == "unknown or revoked API key");
}

BOOST_AUTO_TEST_CASE(a_key_before_the_keys_are_loaded_cannot_be_checked) {
  auth::authenticator fresh{admin_token, jwt_secret, {}, std::make_shared<auth::key_set>()};
  auto id = fresh.identify("Bearer " + key.key, "", now);
  BOOST_TEST((id.result == state::unavailable));
  BOOST_TEST(id.error.find("cannot be checked") != std::string::npos, id.error);
  // The admin token and login tokens need no keys.
  BOOST_TEST((fresh.identify("", admin_token, now).result == state::valid));
  BOOST_TEST((fresh.identify("Bearer " + login_token("u1"), "", now).result == state::valid));
}

BOOST_AUTO_TEST_CASE(a_login_token_is_its_user) {
  auto id = bearer(login_token("user-7"));
  BOOST_TEST_REQUIRE((id.result == state::valid), id.error);
  BOOST_TEST((id.who.what == kind::user));
  BOOST_TEST(id.who.id == "user-7");
  auto forged = auth::jwt::sign({{"sub", "user-7"}, {"exp", now_s() + 600}, {"iss", "herald"}},
                                "another-secret");
  BOOST_TEST(bearer(forged).error.find("signature") != std::string::npos, bearer(forged).error);
  auto no_sub = auth::jwt::sign({{"exp", now_s() + 600}, {"iss", "herald"}}, jwt_secret);
  BOOST_TEST(bearer(no_sub).error.find("'sub'") != std::string::npos, bearer(no_sub).error);
  // A login token is no API key.
  BOOST_TEST(authn.identify("", login_token("user-7"), now).error.find("X-API-Key")
             != std::string::npos);
}

BOOST_AUTO_TEST_CASE(two_headers_must_agree_and_the_scheme_must_be_bearer) {
  BOOST_TEST((authn.identify("Bearer " + key.key, key.key, now).result == state::valid));
  BOOST_TEST(authn.identify("Bearer " + key.key, admin_token, now).error.find("different")
             != std::string::npos);
  BOOST_TEST(authn.identify("Basic dXNlcjpwYXNz", "", now).error.find("Bearer")
             != std::string::npos);
}

BOOST_AUTO_TEST_CASE(without_an_admin_token_nothing_is_the_admin) {
  auth::authenticator none{"", jwt_secret, {}, keys};
  BOOST_TEST(!none.has_admin_token());
  BOOST_TEST((none.identify("", "", now).result == state::none));
  BOOST_TEST((none.identify("Bearer x", "", now).result == state::invalid));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(access_rules)

BOOST_AUTO_TEST_CASE(the_admin_passes_everything_and_only_the_admin_passes_admin) {
  auth::principal admin{kind::admin, {}, "admin", 0};
  for (auto& r : {auth::admin(), auth::key(auth::scope::users_write),
                  auth::key_or_self(auth::scope::users_write, "id")}) {
    BOOST_TEST(auth::forbidden(admin, r, {}) == "");
  }
  auto all = ~auth::scope_set{0};
  BOOST_TEST(auth::forbidden(api_key(all), auth::admin(), {}) == "this route needs the admin token");
  BOOST_TEST(auth::forbidden(user("u1"), auth::admin(), {}) != "");
  BOOST_TEST(auth::forbidden(auth::principal{}, auth::admin(), {}) != "");
}

BOOST_AUTO_TEST_CASE(a_key_needs_the_scope_of_the_route) {
  auto reader = api_key(auth::scope_set{0} | auth::scope::users_read);
  BOOST_TEST(auth::forbidden(reader, auth::key(auth::scope::users_read), {}) == "");
  BOOST_TEST(auth::forbidden(reader, auth::key_or_self(auth::scope::users_read, "id"),
                             {{"id", "anyone"}})
             == "");
  BOOST_TEST(auth::forbidden(reader, auth::key(auth::scope::users_write), {})
             == "this API key lacks the scope 'users:write'");
}

BOOST_AUTO_TEST_CASE(a_login_token_reaches_its_own_user_only) {
  auto self = auth::key_or_self(auth::scope::users_write, "id");
  BOOST_TEST(auth::forbidden(user("u1"), self, {{"id", "u1"}}) == "");
  BOOST_TEST(auth::forbidden(user("u1"), self, {{"id", "u2"}})
             == "a login token reaches only its own user");
  BOOST_TEST(auth::forbidden(user("u1"), auth::key(auth::scope::users_read), {}).find(
               "needs an API key with the scope 'users:read'")
             != std::string::npos);
  BOOST_TEST(auth::forbidden(user("u1"), auth::registration(auth::scope::users_write), {}) != "");
  // The handler keeps it to its own user (its own notifications).
  BOOST_TEST(auth::forbidden(user("u1"), auth::key_or_user(auth::scope::notifications_write), {})
             == "");
}

BOOST_AUTO_TEST_CASE(no_credential_passes_every_rule_but_admin) {
  auth::principal anonymous;
  BOOST_TEST(auth::forbidden(anonymous, auth::key(auth::scope::users_write), {}) == "");
  BOOST_TEST(auth::forbidden(anonymous, auth::key_or_self(auth::scope::users_read, "id"),
                             {{"id", "u1"}})
             == "");
}

BOOST_AUTO_TEST_SUITE_END()
