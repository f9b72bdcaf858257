#include "actors/gateway/notification_request.hpp"

#include "actors/common/json_fields.hpp"
#include "actors/common/json_writer.hpp"
#include "actors/template_cache/render.hpp"
#include "runtime/auth/api_key.hpp"

#include <array>

namespace herald {

namespace {

using json = nlohmann::json;

validation problem(std::string error, int status = 400) {
  return {std::nullopt, status, std::move(error)};
}

} // namespace

std::string request_id_problem(const std::string& id, const std::string& what) {
  if (id.size() > max_request_id_length) {
    return what + " must be at most " + std::to_string(max_request_id_length)
           + " characters, got " + std::to_string(id.size());
  }
  for (std::size_t i = 0; i < id.size(); ++i) {
    char c = id[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '-' || c == '_' || c == '.' || c == ':';
    if (!ok) {
      return what + " may hold only letters, digits and - _ . : (character "
             + std::to_string(i + 1) + " is not one)";
    }
  }
  return {};
}

validation parse_notification_request(const json& body, time::instant now) {
  static const std::array<const char*, 11> known{
    "notification_type", "user_id",  "template_code", "variables", "request_id",
    "priority",          "metadata", "language",      "send_at",   "channel",
    "template_version"};
  for (auto& [key, value] : body.items()) {
    bool ok = false;
    for (auto* k : known) {
      ok = ok || key == k;
    }
    if (!ok) {
      return problem("unknown field '" + key + "'");
    }
  }
  notification_request r;
  if (auto e = read_string_field(body, "notification_type", true, 16, r.notification_type);
      !e.empty()) {
    return problem(e);
  }
  if (r.notification_type != "email" && r.notification_type != "push") {
    return problem("field 'notification_type' must be \"email\" or \"push\", got \""
                   + r.notification_type + "\"");
  }
  if (auto e = read_string_field(body, "user_id", true, 128, r.user_id); !e.empty()) {
    return problem(e);
  }
  if (auto e = read_string_field(body, "template_code", true, 100, r.template_code); !e.empty()) {
    return problem(e);
  }
  if (auto e = read_string_field(body, "request_id", false, max_request_id_length, r.request_id);
      !e.empty()) {
    return problem(e);
  }
  if (auto e = request_id_problem(r.request_id, "field 'request_id'"); !e.empty()) {
    return problem(e);
  }
  if (auto e = read_string_field(body, "language", false, 16, r.language); !e.empty()) {
    return problem(e);
  }
  if (auto i = body.find("variables"); i != body.end() && !i->is_null()) {
    if (!i->is_object()) {
      return problem(std::string{"field 'variables' must be an object, got "} + json_type_name(*i));
    }
    r.variables = *i;
  }
  if (auto i = body.find("metadata"); i != body.end() && !i->is_null()) {
    if (!i->is_object()) {
      return problem(std::string{"field 'metadata' must be an object, got "} + json_type_name(*i));
    }
    r.metadata = *i;
  }
  if (auto i = body.find("priority"); i != body.end() && !i->is_null()) {
    if (!i->is_number_integer()) {
      return problem(std::string{"field 'priority' must be an integer from 1 to 10, got "}
                     + (i->is_number() ? "a fraction" : json_type_name(*i)));
    }
    auto p = i->get<long long>();
    if (p < 1 || p > 10) {
      return problem("field 'priority' must be from 1 to 10, got " + std::to_string(p));
    }
    r.priority = static_cast<int>(p);
  }
  if (auto i = body.find("template_version"); i != body.end() && !i->is_null()) {
    if (!i->is_number_integer() || i->get<long long>() < 1 || i->get<long long>() > 1000000) {
      return problem("field 'template_version', when given, must be a version number (an "
                     "integer from 1)");
    }
    r.template_version = static_cast<int>(i->get<long long>());
  }
  if (auto i = body.find("channel"); i != body.end() && !i->is_null()) {
    if (!i->is_string() || i->get<std::string>() != r.notification_type) {
      return problem("field 'channel', when given, must equal 'notification_type'");
    }
  }
  std::string send_at;
  if (auto e = read_string_field(body, "send_at", false, 64, send_at); !e.empty()) {
    return problem(e);
  }
  if (!send_at.empty()) {
    auto when = time::parse_rfc3339(send_at);
    if (!when) {
      return problem("field 'send_at' must be an RFC 3339 timestamp with an offset (Z or "
                     "+HH:MM), like \"2026-12-01T09:30:00Z\", got \"" + send_at + "\"");
    }
    if (*when > now + max_schedule_ahead) {
      return problem("field 'send_at' may be at most 30 days ahead (until "
                     + time::format_rfc3339(now + max_schedule_ahead) + "), got \"" + send_at
                     + "\"");
    }
    if (*when > now) {
      r.send_at = *when;
    }
  }
  return {std::move(r), 0, {}};
}

std::string request_fingerprint(const json& body) {
  auto copy = body;
  copy.erase("request_id");
  return auth::to_hex(auth::sha256(copy.dump())).substr(0, 32);
}

std::string missing_variables_error(const template_record& t, const json& variables) {
  std::string names;
  for (auto& name : missing_variables(t, variables)) {
    names += (names.empty() ? "" : ", ") + name;
  }
  if (names.empty()) {
    return {};
  }
  return "template " + t.template_code + " (" + t.language + ", version "
         + std::to_string(t.version) + ") needs variables that 'variables' lacks: " + names;
}

outcome check_against_template(const template_record& t, const json& variables,
                               const render_limits& limits) {
  if (auto e = variables_size_problem(variables.dump().size(), limits); !e.empty()) {
    return {413, e};
  }
  if (auto e = missing_variables_error(t, variables); !e.empty()) {
    return {422, e};
  }
  if (auto e = render_limit_problem(t, variables, limits); !e.empty()) {
    return {422, e};
  }
  return {200, {}};
}

std::string notification_message(const notification_request& r, const template_record& tpl,
                                 const std::string& notification_id,
                                 const std::string& correlation_id) {
  return json_writer{}
    .field("notification_id", notification_id)
    .field("notification_type", r.notification_type)
    .field("user_id", r.user_id)
    .field("template_code", r.template_code)
    .field("variables", r.variables)
    .field("request_id", r.request_id)
    .field("priority", static_cast<long long>(r.priority))
    .field("metadata", r.metadata)
    .field("language", r.language)
    .field("template_language", tpl.language)
    .field("template_version", static_cast<long long>(tpl.version))
    .field("correlation_id", correlation_id)
    .field("attempt", 1LL)
    .finish();
}

scheduled_intake scheduled_intake_of(const notification_request& r, const template_record& tpl,
                                     const std::string& notification_id,
                                     const std::string& client_id,
                                     const std::string& fingerprint,
                                     const std::string& correlation_id) {
  scheduled_intake in;
  in.record = {notification_id, "scheduled", "", 0, r.request_id, r.user_id,
               r.notification_type, r.template_code, correlation_id, tpl.language,
               tpl.version, /*device_events=*/""};
  in.client_id = client_id;
  in.fingerprint = fingerprint;
  auto& s = in.send;
  s.notification_id = notification_id;
  s.send_at = time::format_rfc3339(*r.send_at);
  s.reason = "send_at";
  s.detail = "scheduled for " + s.send_at;
  s.routing_key = r.notification_type;
  s.body = notification_message(r, tpl, notification_id, correlation_id);
  s.correlation_id = correlation_id;
  s.priority = r.priority;
  return in;
}

} // namespace herald
