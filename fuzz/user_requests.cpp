// The users API's bodies (create, patch, preferences, push token, token selector, login):
// the raw body through parse_object and every reader, as each route would take it. What a
// reader accepts must keep the limits user_requests.hpp promises; what it refuses must
// make a well-formed 400.

#include "actors/user_lookup/user_requests.hpp"
#include "adapters/net/outbound.hpp"
#include "fuzz/support.hpp"
#include "runtime/auth/base64.hpp"

using namespace herald;
using fuzz::require;

namespace {

/// A PostgreSQL text column cannot store NUL.
bool storable(const std::string& s) {
  return s.find('\0') == std::string::npos;
}

bool valid_email(const std::string& s) {
  return !s.empty() && s.size() <= 254 && s.find('@') != std::string::npos && storable(s);
}

void check_quiet_hours(const quiet_hours& q) {
  if (q.empty()) {
    return;
  }
  require(is_clock_time(q.start) && is_clock_time(q.end) && q.start != q.end,
          "quiet hours are two different HH:MM times");
  require(!q.timezone.empty() && q.timezone.size() <= 64 && storable(q.timezone),
          "a quiet hours time zone is 1-64 characters");
}

void check_change(const user_change& c) {
  if (c.email) {
    require(valid_email(*c.email), "a changed email is an address of at most 254 bytes");
  }
  if (c.name) {
    require(!c.name->empty() && c.name->size() <= 200 && storable(*c.name),
            "a changed name is 1-200 bytes");
  }
  if (c.language) {
    require(is_language_tag(*c.language), "a changed language is a language tag");
  }
  if (c.quiet) {
    check_quiet_hours(*c.quiet);
  }
}

template <class T>
bool accepted(const std::optional<T>& value, const std::string& error) {
  if (!value) {
    fuzz::check_refusal(400, error);
  }
  return value.has_value();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto body = fuzz::request_body(data, size);
  if (!body) {
    return 0;
  }
  const std::string id = "0b8f4a52-4a6e-4c1e-9d55-1f2a3b4c5d6e";
  std::string error;

  if (auto u = parse_new_user(*body, error); accepted(u, error)) {
    auto& user = u->profile.user;
    require(valid_email(user.email), "a new user's email is an address of at most 254 bytes");
    require(!user.name.empty() && user.name.size() <= 200 && storable(user.name),
            "a new user's name is 1-200 bytes");
    require(u->password.empty() || check_password(u->password).empty(),
            "a new user's password is none or an acceptable one");
    require(is_language_tag(user.language), "a new user's language is a language tag");
    check_quiet_hours(u->profile.user.quiet);
  }

  if (auto p = parse_user_patch(id, *body, error); accepted(p, error)) {
    auto& c = p->change;
    require(c.id == id, "a patch changes the user of the path");
    require(c.email || c.name || c.language || c.email_enabled || c.push_enabled || c.quiet
              || !p->password.empty(),
            "a patch changes something");
    require(p->password.empty() || check_password(p->password).empty(),
            "a changed password is an acceptable one");
    check_change(c);
  }

  if (auto c = parse_preferences(id, *body, error); accepted(c, error)) {
    require(!c->email && !c->name && !c->password_hash, "preferences change only preferences");
    check_change(*c);
  }

  if (auto t = parse_push_token(*body, net::outbound_policy{}, error); accepted(t, error)) {
    if (t->kind == "fcm") {
      require(is_fcm_token(t->token), "an FCM token has the FCM shape");
    } else {
      require(t->kind == "webpush", "a device is fcm or webpush");
      require(t->token.rfind("https://", 0) == 0 && t->token.size() <= 2048,
              "a Web Push endpoint is an https:// URL of at most 2048 bytes");
      require(net::check_url(t->token, net::outbound_policy{}).empty(),
              "a Web Push endpoint passes the outbound rule");
      auto p256dh = auth::base64url_decode(t->p256dh);
      auto secret = auth::base64url_decode(t->auth);
      require(p256dh && p256dh->size() == 65 && (*p256dh)[0] == '\x04',
              "p256dh is an uncompressed P-256 point, in base64url");
      require(secret && secret->size() == 16, "auth is 16 bytes, in base64url");
    }
  }

  if (auto s = parse_token_selector(*body, error); accepted(s, error)) {
    require((s->first == "fcm" || s->first == "webpush") && !s->second.empty(),
            "a selector names a kind and a value");
  }

  if (auto l = parse_login(*body, error); accepted(l, error)) {
    require(!l->email.empty() && l->email.size() <= 254 && l->password.size() <= 1024,
            "a login's address and password are within their limits");
  }
  return 0;
}
