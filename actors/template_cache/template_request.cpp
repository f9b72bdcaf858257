#include "actors/template_cache/template_request.hpp"

#include <algorithm>
#include <charconv>
#include <cctype>
#include <regex>
#include <set>

#include "actors/common/json_fields.hpp"
#include "actors/common/rest.hpp"
#include "actors/template_cache/render.hpp"

namespace herald {

using json = nlohmann::json;

namespace {

constexpr std::size_t max_push_body = 4096;
constexpr std::size_t max_push_data = 4096; ///< FCM's limit for a message's data
constexpr std::size_t max_variables = 100;

/// The fields the API knows: type, which channel (nullptr: both), longest string.
struct field_spec {
  const char* name;
  json::value_t type;
  const char* channel;
  std::size_t max;
};

const field_spec known_fields[] = {
  {"template_code", json::value_t::string, nullptr, 100},
  {"name", json::value_t::string, nullptr, 200},
  {"channel", json::value_t::string, nullptr, 16},
  {"language", json::value_t::string, nullptr, 35},
  {"default_language", json::value_t::string, nullptr, 35},
  {"subject", json::value_t::string, "email", 998},
  {"body", json::value_t::string, nullptr, 256 * 1024},
  {"html_body", json::value_t::string, "email", 1024 * 1024},
  {"title", json::value_t::string, "push", 256},
  {"image_url", json::value_t::string, "push", 2048},
  {"link", json::value_t::string, "push", 2048},
  {"data", json::value_t::object, "push", 0},
  {"variables", json::value_t::array, nullptr, 0},
};

const field_spec* find_spec(const std::string& name) {
  for (auto& f : known_fields) {
    if (name == f.name) {
      return &f;
    }
  }
  return nullptr;
}

std::string in_quotes(const std::string& name) {
  return "'" + name + "'";
}

bool one_line(const std::string& s) {
  return s.find_first_of("\r\n") == std::string::npos;
}

bool starts_with_http(const std::string& s) {
  std::string head = s.substr(0, 8);
  std::transform(head.begin(), head.end(), head.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return head.rfind("https://", 0) == 0 || head.rfind("http://", 0) == 0;
}

/// FCM refuses these data keys; better a 400 now than a failed delivery later.
bool reserved_data_key(const std::string& key) {
  return key == "from" || key == "notification" || key == "message_type"
         || key.rfind("google", 0) == 0 || key.rfind("gcm", 0) == 0;
}

/// Checks names, types and shapes of every given field; returns the non-null ones,
/// languages in lower case.
patch_validation read_fields(const json& body) {
  patch_validation v;
  json out = json::object();
  for (auto& [name, value] : body.items()) {
    auto* spec = find_spec(name);
    if (spec == nullptr) {
      v.error = "unknown field " + in_quotes(name);
      return v;
    }
    if (value.is_null()) {
      continue;
    }
    if (spec->type == json::value_t::string) {
      std::string text;
      if (auto e = read_string_field(body, spec->name, false, spec->max, text); !e.empty()) {
        v.error = e;
        return v;
      }
      if (name == "language" || name == "default_language") {
        text = normalize_language(text);
        if (!valid_language(text)) {
          v.error = "field " + in_quotes(name) + " must be a language tag like \"en\" or \"pt-br\"";
          return v;
        }
      }
      out[name] = text;
    } else if (spec->type == json::value_t::object) {
      if (!value.is_object()) {
        v.error = "field " + in_quotes(name) + " must be an object, got " + json_type_name(value);
        return v;
      }
      for (auto& [key, item] : value.items()) {
        if (!item.is_string()) {
          v.error = "field " + in_quotes(name + "." + key) + " must be a string, got "
                    + json_type_name(item);
          return v;
        }
      }
      out[name] = value;
    } else {
      if (!value.is_array()) {
        v.error = "field " + in_quotes(name) + " must be an array of names, got "
                  + json_type_name(value);
        return v;
      }
      if (value.size() > max_variables) {
        v.error = "field " + in_quotes(name) + " has more than " + std::to_string(max_variables)
                  + " names";
        return v;
      }
      std::set<std::string> seen;
      for (auto& item : value) {
        if (!item.is_string() || item.get<std::string>().empty()) {
          v.error = "field " + in_quotes(name) + " must be an array of non-empty strings";
          return v;
        }
        auto n = item.get<std::string>();
        if (n.size() > 100 || n.find_first_of(" \t\r\n{}") != std::string::npos) {
          v.error = "field " + in_quotes(name) + " holds an invalid name '" + n.substr(0, 100)
                    + "' (no spaces or braces, at most 100 characters)";
          return v;
        }
        if (!seen.insert(n).second) {
          v.error = "field " + in_quotes(name) + " names '" + n + "' twice";
          return v;
        }
      }
      out[name] = value;
    }
  }
  v.value = std::move(out);
  return v;
}

/// A field of the other channel, or "".
std::string foreign_field(const json& fields, const std::string& channel) {
  for (auto& [name, value] : fields.items()) {
    auto* spec = find_spec(name);
    if (spec != nullptr && spec->channel != nullptr && channel != spec->channel) {
      return name;
    }
  }
  return {};
}

/// Copies the given fields of `fields` onto `t`.
void assign(template_record& t, const json& fields) {
  auto text = [&](const char* name, std::string& out) {
    if (auto i = fields.find(name); i != fields.end()) {
      out = i->get<std::string>();
    }
  };
  text("name", t.name);
  text("subject", t.subject);
  text("body", t.body);
  text("html_body", t.html_body);
  text("title", t.title);
  text("image_url", t.image_url);
  text("link", t.link);
  if (auto i = fields.find("data"); i != fields.end()) {
    t.data = i->empty() ? std::string{} : i->dump();
  }
  if (auto i = fields.find("variables"); i != fields.end()) {
    t.variables = i->get<std::vector<std::string>>();
  }
}

outcome bad(std::string error) {
  return {400, std::move(error)};
}

} // namespace

std::string normalize_language(const std::string& language) {
  std::string out = language;
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool valid_language(const std::string& language) {
  static const std::regex shape{R"([a-z]{2,8}(-[a-z0-9]{1,8})*)"};
  return language.size() <= 35 && std::regex_match(language, shape);
}

outcome check_template(const template_record& t) {
  auto required = [](const char* name, const std::string& value, const std::string& channel) {
    return value.empty() ? "missing required field '" + std::string{name} + "' (" + channel
                             + " templates need one)"
                         : std::string{};
  };
  if (t.channel == "email") {
    for (auto [name, value] : {std::pair{"subject", &t.subject}, {"body", &t.body}}) {
      if (auto e = required(name, *value, "email"); !e.empty()) {
        return bad(e);
      }
    }
    if (!one_line(t.subject)) {
      return bad("field 'subject' must be one line (no CR or LF)");
    }
  } else if (t.channel == "push") {
    for (auto [name, value] : {std::pair{"title", &t.title}, {"body", &t.body}}) {
      if (auto e = required(name, *value, "push"); !e.empty()) {
        return bad(e);
      }
    }
    if (!one_line(t.title)) {
      return bad("field 'title' must be one line (no CR or LF)");
    }
    if (t.body.size() > max_push_body) {
      return bad("field 'body' is longer than " + std::to_string(max_push_body)
                 + " characters (push bodies are short)");
    }
    for (auto [name, value] : {std::pair{"image_url", &t.image_url}, {"link", &t.link}}) {
      if (!value->empty() && !starts_with_http(*value)
          && value->find("{{") == std::string::npos) {
        return bad("field '" + std::string{name}
                   + "' must be an http:// or https:// URL, or Mustache that makes one");
      }
    }
    if (!t.data.empty()) {
      auto data = json::parse(t.data, nullptr, false);
      if (!data.is_object()) {
        return bad("field 'data' must be an object");
      }
      if (t.data.size() > max_push_data) {
        return bad("field 'data' is larger than " + std::to_string(max_push_data) + " bytes");
      }
      for (auto& [key, value] : data.items()) {
        if (key.empty() || reserved_data_key(key)) {
          return bad("field 'data." + key + "' uses a key push providers reserve"
                     + (key.empty() ? std::string{" (empty)"} : std::string{}));
        }
        if (!value.is_string()) {
          return bad("field 'data." + key + "' must be a string");
        }
      }
    }
  } else {
    return bad("field 'channel' must be \"email\" or \"push\"");
  }
  compiled_template compiled{t};
  if (!compiled.error().empty()) {
    return {422, compiled.error()};
  }
  return {200, {}};
}

std::string push_url_problem(const std::string& field, const std::string& value,
                             const net::outbound_policy& policy) {
  if (value.empty()) {
    return {}; // optional: no URL
  }
  auto tag = value.find("{{");
  auto literal = value.substr(0, tag);
  auto scheme_end = literal.find("://");
  if (tag != std::string::npos) {
    if (scheme_end == std::string::npos) {
      return {}; // the variables make the scheme: checked when it renders
    }
    // The host is whole when a path, query, fragment or port follows it literally.
    auto host_start = scheme_end + 3;
    auto bracket = literal.find(']', host_start);
    auto host_end = literal.find_first_of("/?#:", bracket == std::string::npos ? host_start
                                                                               : bracket);
    literal = host_end == std::string::npos
                ? literal.substr(0, host_start) + "host.example" // judge the scheme alone
                : literal.substr(0, host_end);
  }
  auto why = net::check_url(literal, policy);
  return why.empty() ? why : "field '" + field + "' " + why;
}

template_validation parse_new_template(const json& body) {
  static const std::regex code_shape{R"([A-Za-z0-9_.\-]{1,100})"};
  template_validation v;
  auto fields = read_fields(body);
  if (!fields.value) {
    v.error = fields.error;
    return v;
  }
  auto& f = *fields.value;
  for (auto name : {"template_code", "channel", "body"}) {
    if (!f.contains(name)) {
      v.error = std::string{"missing required field '"} + name + "'";
      return v;
    }
  }
  template_record t;
  t.template_code = f["template_code"].get<std::string>();
  t.channel = f["channel"].get<std::string>();
  if (!std::regex_match(t.template_code, code_shape)) {
    v.error = "field 'template_code' may hold only letters, digits, '_', '.' and '-'";
    return v;
  }
  if (t.channel != "email" && t.channel != "push") {
    v.error = "field 'channel' must be \"email\" or \"push\"";
    return v;
  }
  if (auto other = foreign_field(f, t.channel); !other.empty()) {
    v.error = "field " + in_quotes(other) + " is not allowed on a " + t.channel + " template";
    return v;
  }
  t.language = f.value("language", std::string{"en"});
  t.default_language = f.value("default_language", std::string{});
  if (!t.default_language.empty() && t.default_language != t.language) {
    v.error = "field 'default_language' may only name the language being created ('"
              + t.language + "'); PUT /api/v1/templates/" + t.template_code
              + " changes the default to another language";
    return v;
  }
  assign(t, f);
  if (t.name.empty()) {
    t.name = t.template_code;
  }
  t.version = 1;
  if (auto o = check_template(t); !o.ok()) {
    v.status = o.status;
    v.error = o.error;
    return v;
  }
  v.value = std::move(t);
  return v;
}

patch_validation parse_template_patch(const json& body, const std::string& code) {
  auto v = read_fields(body);
  if (!v.value) {
    return v;
  }
  if (auto i = v.value->find("template_code"); i != v.value->end() && *i != code) {
    patch_validation bad_code;
    bad_code.error = "field 'template_code' (" + i->get<std::string>()
                     + ") differs from the code in the path (" + code + ")";
    return bad_code;
  }
  if (auto i = v.value->find("channel"); i != v.value->end() && *i != "email" && *i != "push") {
    patch_validation bad_channel;
    bad_channel.error = "field 'channel' must be \"email\" or \"push\"";
    return bad_channel;
  }
  return v;
}

bool patch_changes_content(const json& patch) {
  for (auto& [name, value] : patch.items()) {
    if (name != "template_code" && name != "channel" && name != "language"
        && name != "default_language") {
      return true;
    }
  }
  return false;
}

template_validation apply_template_patch(const template_record& latest, const json& patch) {
  template_validation v;
  if (auto i = patch.find("channel"); i != patch.end() && *i != latest.channel) {
    v.status = 409;
    v.error = "template " + latest.template_code + " is for channel " + latest.channel
              + "; field 'channel' cannot make it " + i->get<std::string>();
    return v;
  }
  if (auto other = foreign_field(patch, latest.channel); !other.empty()) {
    v.error = "field " + in_quotes(other) + " is not allowed on a " + latest.channel + " template";
    return v;
  }
  auto t = latest;
  assign(t, patch);
  if (t.name.empty()) {
    t.name = t.template_code;
  }
  t.version = latest.version + 1;
  if (auto o = check_template(t); !o.ok()) {
    v.status = o.status;
    v.error = o.error;
    return v;
  }
  v.value = std::move(t);
  return v;
}

// -- query parameters ----------------------------------------------------------------

namespace {

std::optional<long long> to_number(const std::string& text) {
  long long v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc{} || p != text.data() + text.size()) {
    return std::nullopt;
  }
  return v;
}

} // namespace


version_request parse_version_param(const std::map<std::string, std::string>& query) {
  version_request v;
  auto i = query.find("version");
  if (i == query.end() || i->second.empty()) {
    return v;
  }
  auto n = to_number(i->second);
  if (!n || *n < 1 || *n > 1'000'000'000) {
    v.error = "query parameter 'version' must be a whole number from 1, got '"
              + i->second.substr(0, 40) + "'";
    return v;
  }
  v.version = static_cast<int>(*n);
  return v;
}

version_request parse_version_field(const json& body) {
  version_request v;
  auto i = body.find("version");
  if (i == body.end() || i->is_null()) {
    return v;
  }
  if (!i->is_number_integer() || i->get<long long>() < 1 || i->get<long long>() > 1'000'000'000) {
    v.error = std::string{"field 'version' must be a whole number from 1, got "}
              + (i->is_number() ? i->dump() : json_type_name(*i));
    return v;
  }
  v.version = static_cast<int>(i->get<long long>());
  return v;
}

} // namespace herald
