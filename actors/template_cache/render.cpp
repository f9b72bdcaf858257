#include "actors/template_cache/render.hpp"

#include <kainjow/mustache.hpp>

namespace herald {

namespace mst = kainjow::mustache;

namespace {

mst::data to_data(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::object: {
      mst::data d{mst::data::type::object};
      for (auto& [k, v] : j.items()) {
        d.set(k, to_data(v));
      }
      return d;
    }
    case nlohmann::json::value_t::array: {
      mst::data d{mst::data::type::list};
      for (auto& v : j) {
        d.push_back(to_data(v));
      }
      return d;
    }
    case nlohmann::json::value_t::string:
      return mst::data{j.get<std::string>()};
    case nlohmann::json::value_t::boolean:
      return mst::data{j.get<bool>()};
    case nlohmann::json::value_t::null:
      return mst::data{false};
    default:
      return mst::data{j.dump()};
  }
}

std::string no_line_breaks(const std::string& s) {
  std::string out = s;
  for (auto& c : out) {
    if (c == '\r' || c == '\n') {
      c = ' ';
    }
  }
  return out;
}

/// Renders `text`; returns false with `error` set when the template is invalid.
bool render_one(const std::string& text, const mst::data& data, bool html, std::string& out,
                std::string& error) {
  mst::mustache tmpl{text};
  if (!tmpl.is_valid()) {
    error = tmpl.error_message();
    return false;
  }
  if (!html) {
    tmpl.set_custom_escape(no_line_breaks);
  }
  out = tmpl.render(data);
  if (!tmpl.is_valid()) {
    error = tmpl.error_message();
    return false;
  }
  return true;
}

} // namespace

std::string mustache_syntax_error(const std::string& text) {
  mst::mustache tmpl{text};
  return tmpl.is_valid() ? std::string{} : tmpl.error_message();
}

std::vector<std::string> missing_variables(const template_record& t,
                                           const nlohmann::json& variables) {
  std::vector<std::string> out;
  for (auto& name : t.variables) {
    if (!variables.is_object() || !variables.contains(name)) {
      out.push_back(name);
    }
  }
  return out;
}

render_result render_email(const template_record& t, const nlohmann::json& variables) {
  render_result r;
  r.missing = missing_variables(t, variables);
  auto data = to_data(variables.is_object() ? variables : nlohmann::json::object());
  std::string error;
  if (!render_one(t.subject, data, false, r.email.subject, error)
      || !render_one(t.body, data, false, r.email.text_body, error)
      || (!t.html_body.empty() && !render_one(t.html_body, data, true, r.email.html_body, error))) {
    r.error = "template " + t.template_code + " does not render: " + error;
    return r;
  }
  // Unescaped tags ({{{x}}}, {{&x}}) bypass the escape: a subject is one line regardless.
  r.email.subject = no_line_breaks(r.email.subject);
  r.ok = true;
  return r;
}

} // namespace herald
