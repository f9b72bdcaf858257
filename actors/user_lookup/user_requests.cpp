#include "actors/user_lookup/user_requests.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <initializer_list>
#include <regex>
#include <string_view>

#include <utf8proc.h>

#include "actors/common/ids.hpp"
#include "actors/common/json_fields.hpp"
#include "runtime/auth/base64.hpp"
#include "runtime/time/quiet_hours.hpp"

namespace herald {

using json = nlohmann::json;

namespace {

constexpr std::size_t max_email = 254;
constexpr std::size_t max_name = 200;
constexpr std::size_t max_password_bytes = 1024;
constexpr std::size_t min_password_chars = 8;
constexpr std::size_t max_language = 16;
constexpr std::size_t max_timezone = 64;
constexpr std::size_t max_endpoint = 2048;

/// "" when every key of `object` is in `known`, else the error naming the first other one.
std::string unknown_field(const json& object, std::initializer_list<const char*> known,
                          const std::string& prefix = {}) {
  for (auto& [key, value] : object.items()) {
    bool ok = false;
    for (auto* k : known) {
      ok = ok || key == k;
    }
    if (!ok) {
      return "unknown field '" + prefix + key + "'";
    }
  }
  return {};
}

/// RFC 5321's atext: what a dot-atom local part is made of, besides dots. Bytes of
/// UTF-8 characters pass too (RFC 6531), once the whole address is valid UTF-8.
bool is_atext(unsigned char c) {
  return std::isalnum(c) != 0 || std::string_view{"!#$%&'*+-/=?^_`{|}~"}.find(static_cast<char>(c))
                                    != std::string_view::npos
         || c >= 0x80;
}

bool is_valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size() || (n == 2 && c < 0xC2)) {
      return false;
    }
    for (std::size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) {
        return false;
      }
    }
    i += n;
  }
  return true;
}

/// "" when `email` is a mailbox every relay takes: a dot-atom local part (RFC 5321: no
/// quoted strings, comments, commas or semicolons, no leading, trailing or double dots; at
/// most 64 bytes) and a domain of at least two dot-separated labels (letters, digits,
/// hyphens not at either end, or UTF-8 characters; at most 63 bytes each; no address
/// literal like [127.0.0.1]; the last label not all digits). Anything else could break or
/// be refused at RCPT TO, or reach an address the user did not mean.
std::string mailbox_problem(std::string_view email) {
  if (!is_valid_utf8(email)) {
    return "is not valid UTF-8";
  }
  auto at = email.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == email.size()) {
    return "needs a local part, an @ and a domain";
  }
  auto local = email.substr(0, at);
  auto domain = email.substr(at + 1);
  if (local.size() > 64) {
    return "has a local part longer than 64 bytes";
  }
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) {
    return "has a local part that starts or ends with a dot, or has two in a row";
  }
  for (unsigned char c : local) {
    if (c != '.' && !is_atext(c)) {
      return "has a character its local part may not contain ('" + std::string(1, static_cast<char>(c))
             + "')";
    }
  }
  std::size_t labels = 0;
  std::string_view last;
  for (std::size_t start = 0;;) {
    auto dot = domain.find('.', start);
    auto label = domain.substr(start, dot == std::string_view::npos ? std::string_view::npos
                                                                    : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return "has a domain that is not a host name";
    }
    for (unsigned char c : label) {
      if (std::isalnum(c) == 0 && c != '-' && c < 0x80) {
        return "has a domain that is not a host name";
      }
    }
    ++labels;
    last = label;
    if (dot == std::string_view::npos) {
      break;
    }
    start = dot + 1;
  }
  if (labels < 2 || std::all_of(last.begin(), last.end(), [](unsigned char c) {
        return std::isdigit(c) != 0;
      })) {
    return "has a domain that is not a host name";
  }
  return {};
}

/// Reads the `email` field in NFC and checks it: "" when fine, else the error.
std::string read_email(const json& body, std::string& email) {
  if (auto e = read_string_field(body, "email", true, max_email, email); !e.empty()) {
    return e;
  }
  if (auto nfc = to_nfc(email)) {
    email = std::move(*nfc);
  }
  if (auto problem = mailbox_problem(email); !problem.empty()) {
    return "field 'email' is not a valid email address: it " + problem;
  }
  return {};
}

std::string check_language(const std::string& field, const std::string& value) {
  if (!is_language_tag(value)) {
    return "field '" + field + "' must be a language tag like \"en\" or \"pt-BR\", got \""
           + value.substr(0, 32) + "\"";
  }
  return {};
}

/// A quiet_hours object into `out`; "" or the error.
std::string read_quiet_hours(const json& j, quiet_hours& out, const std::string& prefix) {
  auto field = prefix + "quiet_hours";
  if (!j.is_object()) {
    return "field '" + field + "' must be an object {\"start\": \"22:00\", \"end\": \"07:00\", "
           "\"timezone\": \"Europe/Berlin\"} or null, got "
           + std::string{json_type_name(j)};
  }
  if (auto e = unknown_field(j, {"start", "end", "timezone"}, field + "."); !e.empty()) {
    return e;
  }
  quiet_hours q;
  for (auto [name, target] : {std::pair{"start", &q.start}, {"end", &q.end}}) {
    auto e = read_string_field(j, name, true, 5, *target);
    if (!e.empty() || !is_clock_time(*target)) {
      return "field '" + field + "." + name + "' must be a time HH:MM from 00:00 to 23:59";
    }
  }
  if (q.start == q.end) {
    return "field '" + field + "': start and end must differ";
  }
  if (auto e = read_string_field(j, "timezone", true, max_timezone, q.timezone); !e.empty()) {
    return "field '" + field + ".timezone' must be a time zone name like \"Europe/Berlin\" ("
           + e + ")";
  }
  static const std::regex tz_shape{"[A-Za-z0-9/_+-]+"};
  if (!std::regex_match(q.timezone, tz_shape)) {
    return "field '" + field + ".timezone' must be a time zone name like \"Europe/Berlin\"";
  }
  // Stored only when it can be applied: an unknown zone would be ignored at send time.
  if (!time::known_time_zone(q.timezone)) {
    return "field '" + field + ".timezone': unknown time zone '" + q.timezone
           + "' (an IANA name like \"Europe/Berlin\" or \"UTC\")";
  }
  out = std::move(q);
  return {};
}

/// The preferences object of a create or patch (all fields optional), into `change`.
std::string read_preferences(const json& p, user_change& change, const std::string& prefix) {
  if (auto e = unknown_field(p, {"email", "push", "language", "quiet_hours"}, prefix);
      !e.empty()) {
    return e;
  }
  for (auto [key, flag] : {std::pair{"email", &change.email_enabled},
                           {"push", &change.push_enabled}}) {
    if (auto i = p.find(key); i != p.end()) {
      if (!i->is_boolean()) {
        return "field '" + prefix + key + "' must be a boolean, got " + json_type_name(*i);
      }
      *flag = i->get<bool>();
    }
  }
  if (auto i = p.find("language"); i != p.end()) {
    if (!i->is_string()) {
      return "field '" + prefix + "language' must be a string, got " + json_type_name(*i);
    }
    if (auto e = check_language(prefix + "language", i->get<std::string>()); !e.empty()) {
      return e;
    }
    change.language = i->get<std::string>();
  }
  if (auto i = p.find("quiet_hours"); i != p.end()) {
    quiet_hours q;
    if (!i->is_null()) {
      if (auto e = read_quiet_hours(*i, q, prefix); !e.empty()) {
        return e;
      }
    }
    change.quiet = q;
  }
  return {};
}

std::string refuse_nulls(const json& body, const std::string& prefix = {}) {
  for (auto& [key, value] : body.items()) {
    if (value.is_null() && key != "quiet_hours") {
      return "field '" + prefix + key + "' must not be null";
    }
  }
  return {};
}

std::optional<std::string> decode_key(const json& keys, const char* name, std::size_t bytes,
                                      std::string& error) {
  std::string text;
  auto field = std::string{"subscription.keys."} + name;
  if (auto e = read_string_field(keys, name, true, 512, text); !e.empty()) {
    error = "field '" + field + "' is required (base64url)";
    return std::nullopt;
  }
  while (!text.empty() && text.back() == '=') {
    text.pop_back(); // some libraries pad; base64url proper does not
  }
  auto decoded = auth::base64url_decode(text);
  if (!decoded || decoded->size() != bytes) {
    error = "field '" + field + "' must be base64url of " + std::to_string(bytes) + " bytes";
    return std::nullopt;
  }
  return decoded;
}

std::optional<push_token> parse_webpush(const json& body, const net::outbound_policy& endpoints,
                                        std::string& error) {
  auto s = body.find("subscription");
  if (s == body.end() || !s->is_object()) {
    error = "field 'subscription' must be an object {\"endpoint\", \"keys\": {\"p256dh\", "
            "\"auth\"}} for type webpush";
    return std::nullopt;
  }
  if (body.contains("token")) {
    error = "field 'token' is for type fcm; a webpush subscription has 'subscription'";
    return std::nullopt;
  }
  if (error = unknown_field(*s, {"endpoint", "keys", "expirationTime"}, "subscription.");
      !error.empty()) {
    return std::nullopt;
  }
  // PushSubscription.toJSON() gives null, or the time (ms since the epoch) the
  // subscription expires; it is not kept: a lapsed subscription answers 404/410 and is
  // removed then.
  if (auto x = s->find("expirationTime");
      x != s->end() && !x->is_null() && !(x->is_number() && x->get<double>() >= 0)) {
    error = "field 'subscription.expirationTime' must be null or a time in milliseconds since "
            "the epoch";
    return std::nullopt;
  }
  push_token t;
  t.kind = "webpush";
  if (auto e = read_string_field(*s, "endpoint", true, max_endpoint, t.token); !e.empty()) {
    error = "field 'subscription.endpoint' is required: an https:// URL of at most "
            + std::to_string(max_endpoint) + " characters";
    return std::nullopt;
  }
  if (auto why = net::check_url(t.token, endpoints); !why.empty()) {
    error = "field 'subscription.endpoint' " + why;
    return std::nullopt;
  }
  // A scheme is case-insensitive (RFC 3986 3.1): keep it in its canonical lower case, so
  // one endpoint is one device whatever case a client sent.
  auto scheme_end = t.token.begin() + static_cast<std::ptrdiff_t>(t.token.find(':'));
  std::transform(t.token.begin(), scheme_end, t.token.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  auto keys = s->find("keys");
  if (keys == s->end() || !keys->is_object()) {
    error = "field 'subscription.keys' must be an object {\"p256dh\", \"auth\"}";
    return std::nullopt;
  }
  if (error = unknown_field(*keys, {"p256dh", "auth"}, "subscription.keys."); !error.empty()) {
    return std::nullopt;
  }
  auto p256dh = decode_key(*keys, "p256dh", 65, error);
  if (!p256dh) {
    return std::nullopt;
  }
  if (static_cast<unsigned char>((*p256dh)[0]) != 0x04) {
    error = "field 'subscription.keys.p256dh' must be an uncompressed P-256 point (first byte "
            "0x04)";
    return std::nullopt;
  }
  auto auth_secret = decode_key(*keys, "auth", 16, error);
  if (!auth_secret) {
    return std::nullopt;
  }
  t.p256dh = auth::base64url_encode(*p256dh);
  t.auth = auth::base64url_encode(*auth_secret);
  return t;
}

} // namespace

// -- single values ---------------------------------------------------------------------

std::optional<std::string> to_nfc(std::string_view s) {
  utf8proc_uint8_t* out = nullptr;
  auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                        static_cast<utf8proc_ssize_t>(s.size()), &out,
                        static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0) {
    return std::nullopt;
  }
  std::string nfc{reinterpret_cast<const char*>(out), static_cast<std::size_t>(n)};
  std::free(out);
  return nfc;
}

bool is_language_tag(std::string_view s) {
  static const std::regex shape{"[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*"};
  return s.size() <= max_language && std::regex_match(s.begin(), s.end(), shape);
}

bool is_clock_time(std::string_view s) {
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (s.size() != 5 || s[2] != ':' || !digit(s[0]) || !digit(s[1]) || !digit(s[3])
      || !digit(s[4])) {
    return false;
  }
  return (s[0] - '0') * 10 + (s[1] - '0') < 24 && s[3] < '6';
}

bool is_fcm_token(std::string_view s) {
  static const std::regex shape{"[A-Za-z0-9_:-]{32,4096}"};
  return std::regex_match(s.begin(), s.end(), shape);
}

std::string check_password(std::string_view password) {
  if (password.size() > max_password_bytes) {
    return "field 'password' is longer than " + std::to_string(max_password_bytes) + " bytes";
  }
  std::size_t chars = 0;
  for (unsigned char c : password) {
    chars += (c & 0xC0) != 0x80; // count code points, not UTF-8 continuation bytes
  }
  if (chars < min_password_chars) {
    return "field 'password' must have at least " + std::to_string(min_password_chars)
           + " characters";
  }
  return {};
}

// -- bodies ----------------------------------------------------------------------------

std::optional<new_user> parse_new_user(const json& body, std::string& error) {
  if (error = unknown_field(body, {"email", "name", "password", "language", "preferences"});
      !error.empty()) {
    return std::nullopt;
  }
  new_user out;
  auto& u = out.profile.user;
  u.id = make_uuid();
  if (error = read_email(body, u.email); !error.empty()) {
    return std::nullopt;
  }
  if (error = read_string_field(body, "name", true, max_name, u.name); !error.empty()) {
    return std::nullopt;
  }
  if (error = read_string_field(body, "password", false, std::string::npos, out.password);
      !error.empty()) {
    return std::nullopt;
  }
  if (body.contains("password") && !body["password"].is_null()) {
    if (error = check_password(out.password); !error.empty()) {
      return std::nullopt;
    }
  }
  if (error = read_string_field(body, "language", false, std::string::npos, u.language);
      !error.empty()) {
    return std::nullopt;
  }
  if (error = check_language("language", u.language); !error.empty()) {
    return std::nullopt;
  }
  if (auto p = body.find("preferences"); p != body.end() && !p->is_null()) {
    if (!p->is_object()) {
      error = std::string{"field 'preferences' must be an object, got "} + json_type_name(*p);
      return std::nullopt;
    }
    user_change prefs;
    if (error = read_preferences(*p, prefs, "preferences."); !error.empty()) {
      return std::nullopt;
    }
    u.email_enabled = prefs.email_enabled.value_or(u.email_enabled);
    u.push_enabled = prefs.push_enabled.value_or(u.push_enabled);
    u.language = prefs.language.value_or(u.language);
    if (prefs.quiet) {
      out.profile.user.quiet = *prefs.quiet;
    }
  }
  return out;
}

std::optional<user_patch> parse_user_patch(const std::string& id, const json& body,
                                           std::string& error) {
  if (error = unknown_field(body, {"email", "name", "password", "language", "preferences"});
      !error.empty()) {
    return std::nullopt;
  }
  if (error = refuse_nulls(body); !error.empty()) {
    return std::nullopt;
  }
  if (body.empty()) {
    error = "nothing to change: give at least one of 'email', 'name', 'password', 'language', "
            "'preferences'";
    return std::nullopt;
  }
  user_patch out;
  out.change.id = id;
  std::string value;
  if (body.contains("email")) {
    if (error = read_email(body, value); !error.empty()) {
      return std::nullopt;
    }
    out.change.email = value;
  }
  if (body.contains("name")) {
    if (error = read_string_field(body, "name", true, max_name, value); !error.empty()) {
      return std::nullopt;
    }
    out.change.name = value;
  }
  if (body.contains("password")) {
    if (error = read_string_field(body, "password", true, std::string::npos, out.password);
        !error.empty()) {
      return std::nullopt;
    }
    if (error = check_password(out.password); !error.empty()) {
      return std::nullopt;
    }
  }
  if (body.contains("language")) {
    if (error = read_string_field(body, "language", true, std::string::npos, value);
        !error.empty()) {
      return std::nullopt;
    }
    if (error = check_language("language", value); !error.empty()) {
      return std::nullopt;
    }
    out.change.language = value;
  }
  if (auto p = body.find("preferences"); p != body.end()) {
    if (!p->is_object()) {
      error = std::string{"field 'preferences' must be an object, got "} + json_type_name(*p);
      return std::nullopt;
    }
    if (error = refuse_nulls(*p, "preferences."); !error.empty()) {
      return std::nullopt;
    }
    if (error = read_preferences(*p, out.change, "preferences."); !error.empty()) {
      return std::nullopt;
    }
  }
  return out;
}

std::optional<user_change> parse_preferences(const std::string& id, const json& body,
                                             std::string& error) {
  if (error = refuse_nulls(body); !error.empty()) {
    return std::nullopt;
  }
  user_change change;
  change.id = id;
  if (error = read_preferences(body, change, ""); !error.empty()) {
    return std::nullopt;
  }
  if (body.empty()) {
    error = "no preference given: set at least one of 'email', 'push', 'language', "
            "'quiet_hours'";
    return std::nullopt;
  }
  return change;
}

std::optional<push_token> parse_push_token(const json& body,
                                           const net::outbound_policy& endpoints,
                                           std::string& error) {
  if (error = unknown_field(body, {"type", "token", "subscription"}); !error.empty()) {
    return std::nullopt;
  }
  std::string type;
  if (error = read_string_field(body, "type", true, 16, type); !error.empty()) {
    return std::nullopt;
  }
  if (type == "webpush") {
    return parse_webpush(body, endpoints, error);
  }
  if (type != "fcm") {
    error = "field 'type' must be \"fcm\" or \"webpush\", got \"" + type + "\"";
    return std::nullopt;
  }
  if (body.contains("subscription")) {
    error = "field 'subscription' is for type webpush; an fcm device has 'token'";
    return std::nullopt;
  }
  push_token t;
  t.kind = "fcm";
  if (error = read_string_field(body, "token", true, std::string::npos, t.token); !error.empty()) {
    return std::nullopt;
  }
  if (!is_fcm_token(t.token)) {
    error = "field 'token' must be an FCM registration token: 32 to 4096 characters of "
            "A-Z a-z 0-9 _ : -";
    return std::nullopt;
  }
  return t;
}

std::optional<std::pair<std::string, std::string>>
parse_token_selector(const json& body, std::string& error) {
  if (error = unknown_field(body, {"token", "endpoint"}); !error.empty()) {
    return std::nullopt;
  }
  if (body.contains("token") == body.contains("endpoint")) {
    error = "give exactly one of 'token' (an FCM token) or 'endpoint' (a Web Push endpoint)";
    return std::nullopt;
  }
  auto key = body.contains("token") ? "token" : "endpoint";
  std::string value;
  if (error = read_string_field(body, key, true, max_endpoint + 4096, value); !error.empty()) {
    return std::nullopt;
  }
  return std::pair{std::string{body.contains("token") ? "fcm" : "webpush"}, value};
}

std::optional<login_request> parse_login(const json& body, std::string& error) {
  if (error = unknown_field(body, {"email", "password"}); !error.empty()) {
    return std::nullopt;
  }
  login_request r;
  if (error = read_string_field(body, "email", true, max_email, r.email); !error.empty()) {
    return std::nullopt;
  }
  if (auto nfc = to_nfc(r.email)) {
    r.email = std::move(*nfc);
  }
  if (error = read_string_field(body, "password", true, max_password_bytes, r.password);
      !error.empty()) {
    return std::nullopt;
  }
  return r;
}

} // namespace herald
