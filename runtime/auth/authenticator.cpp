#include "runtime/auth/authenticator.hpp"

#include <algorithm>
#include <cctype>

namespace herald::auth {

namespace {

/// Clock skew tolerated on a login token's exp and nbf.
constexpr std::chrono::seconds jwt_leeway{30};

identification refuse(std::string why) {
  return {identification::state::invalid, {}, std::move(why)};
}

/// The token of "Bearer <token>" (scheme in any case), or "" when the header is not one.
std::string_view bearer_token(std::string_view header) {
  constexpr std::string_view scheme = "bearer ";
  if (header.size() <= scheme.size()
      || !std::equal(scheme.begin(), scheme.end(), header.begin(), [](char a, char b) {
           return a == std::tolower(static_cast<unsigned char>(b));
         })) {
    return {};
  }
  auto token = header.substr(scheme.size());
  auto first = token.find_first_not_of(' ');
  return first == std::string_view::npos ? std::string_view{} : token.substr(first);
}

} // namespace

authenticator::authenticator(std::string_view admin_token, std::string jwt_secret,
                             jwt::expectations jwt_expect, std::shared_ptr<const key_set> keys)
  : admin_digest_(admin_token.empty() ? std::string{} : sha256(admin_token)),
    jwt_secret_(std::move(jwt_secret)), jwt_expect_(std::move(jwt_expect)),
    keys_(std::move(keys)) {}

identification authenticator::identify(std::string_view authorization, std::string_view api_key,
                                       std::chrono::system_clock::time_point now) const {
  if (authorization.empty() && api_key.empty()) {
    return {};
  }
  std::string_view bearer;
  if (!authorization.empty()) {
    bearer = bearer_token(authorization);
    if (bearer.empty()) {
      return refuse("Authorization must be 'Bearer <token>'");
    }
  }
  if (!api_key.empty() && !bearer.empty() && api_key != bearer) {
    return refuse("Authorization and X-API-Key carry different credentials: send one");
  }
  return bearer.empty() ? credential(api_key, false, now) : credential(bearer, true, now);
}

identification authenticator::credential(std::string_view token, bool bearer,
                                         std::chrono::system_clock::time_point now) const {
  bool is_key = token.substr(0, api_key_marker.size()) == api_key_marker;
  if (!admin_digest_.empty() || is_key) {
    auto digest = sha256(token);
    if (!admin_digest_.empty() && equal_in_constant_time(digest, admin_digest_)) {
      return {identification::state::valid, {principal::kind::admin, {}, "admin", 0}, {}};
    }
    if (is_key) {
      if (!keys_->loaded()) {
        return {identification::state::unavailable, {},
                "credentials cannot be checked: the API keys have not been loaded from the "
                "user database yet"};
      }
      auto key = keys_->find(digest);
      if (!key) {
        return refuse("unknown or revoked API key");
      }
      return {identification::state::valid,
              {principal::kind::api_key, key->id, key->name, key->scopes},
              {}};
    }
  }
  if (!bearer) {
    return refuse("X-API-Key must carry an API key (hk_...)");
  }
  if (jwt_secret_.empty()) {
    return refuse("bearer tokens cannot be checked: jwt.secret is not configured");
  }
  auto v = jwt::verify(token, jwt_secret_, now, jwt_leeway, jwt_expect_);
  if (!v.ok()) {
    return refuse("invalid bearer token: " + v.error);
  }
  auto sub = v.claims->find("sub");
  if (sub == v.claims->end() || !sub->is_string() || sub->get<std::string>().empty()) {
    return refuse("invalid bearer token: no 'sub' (user id)");
  }
  return {identification::state::valid, {principal::kind::user, sub->get<std::string>(), {}, 0},
          {}};
}

} // namespace herald::auth
