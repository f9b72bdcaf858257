#include "actors/template_cache/render.hpp"

#include <kainjow/mustache.hpp>

#include <cctype>
#include <optional>

namespace herald {

namespace mst = kainjow::mustache;
using json = nlohmann::json;

namespace {

// -- positions and syntax --------------------------------------------------------

/// kainjow ends each parse error with "at <byte offset>"; this turns that offset into a
/// line and a column (in UTF-8 characters), both from 1.
std::string with_line_and_column(const std::string& message, const std::string& text) {
  auto at = message.rfind(" at ");
  if (at == std::string::npos || at + 4 >= message.size()) {
    return message;
  }
  std::size_t offset = 0;
  for (auto i = at + 4; i < message.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(message[i]))) {
      return message;
    }
    offset = offset * 10 + static_cast<std::size_t>(message[i] - '0');
  }
  offset = std::min(offset, text.size());
  std::size_t line = 1;
  std::size_t column = 1;
  for (std::size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
      ++column; // a continuation byte is part of the character before it
    }
  }
  return message.substr(0, at) + " at line " + std::to_string(line) + ", column "
         + std::to_string(column);
}

/// What kainjow trims around a tag's contents (std::isspace in the C locale).
constexpr const char* tag_blanks = " \t\n\v\f\r";

std::string trimmed(const std::string& s) {
  auto first = s.find_first_not_of(tag_blanks);
  if (first == std::string::npos) {
    return {};
  }
  return s.substr(first, s.find_last_not_of(tag_blanks) + 1 - first);
}

/// "" when no section of `text` ({{#x}} or {{^x}}) is nested more than `limit` deep,
/// else the problem, ending "at <byte offset>" like kainjow's own messages. Reads tags
/// exactly as kainjow's parser does (trimming, set-delimiter tags, triple mustaches):
/// a tag read differently here would be a section it never counts. The renderer recurses
/// once per level, so a template of 20,000 nested sections would overflow its stack.
std::string section_depth_error(const std::string& text, int limit) {
  std::string open = "{{";
  std::string close = "}}";
  int depth = 0;
  std::size_t pos = 0;
  while ((pos = text.find(open, pos)) != std::string::npos) {
    auto start = pos + open.size();
    if (open == "{{" && close == "}}" && start < text.size() && text[start] == '{') {
      auto end = text.find("}}}", start);
      if (end == std::string::npos) {
        return {};
      }
      pos = end + 3;
      continue;
    }
    auto end = text.find(close, start);
    if (end == std::string::npos) {
      return {}; // unclosed: the parser reports it
    }
    auto after = end + close.size(); // past this tag's own delimiter, even one that sets new ones
    auto tag = trimmed(text.substr(start, end - start));
    char kind = tag.empty() ? ' ' : tag.front();
    if (kind == '#' || kind == '^') {
      if (++depth > limit) {
        return "Sections nested more than " + std::to_string(limit) + " deep at "
               + std::to_string(pos);
      }
    } else if (kind == '/') {
      --depth;
    } else if (kind == '=' && tag.size() >= 2 && tag.back() == '=') {
      // Split at the first space; delimiters holding other white space are a parse error.
      auto inner = trimmed(tag.substr(1, tag.size() - 2));
      if (auto space = inner.find(' '); space != std::string::npos) {
        open = inner.substr(0, space);
        close = inner.substr(inner.find_first_not_of(' ', space));
      }
    }
    pos = after;
  }
  return {};
}

/// Parses `text`; on a syntax error returns nullopt and sets `error`.
std::optional<mst::mustache> parse(const std::string& text, std::string& error) {
  if (auto deep = section_depth_error(text, max_section_depth); !deep.empty()) {
    error = with_line_and_column(deep, text);
    return std::nullopt;
  }
  try {
    mst::mustache tmpl{text};
    if (!tmpl.is_valid()) {
      error = with_line_and_column(tmpl.error_message(), text);
      return std::nullopt;
    }
    return tmpl;
  } catch (const std::exception& e) { // defensive: the parser indexes with at()
    error = std::string{"unreadable template: "} + e.what();
    return std::nullopt;
  }
}

// -- escaping --------------------------------------------------------------------

/// How a part treats the values of variables (see render.hpp).
enum class part_kind { html, one_line, text, multiline, url };

std::string one_line(const std::string& s) {
  std::string out = s;
  for (auto& c : out) {
    if (c == '\r' || c == '\n') {
      c = ' ';
    }
  }
  return out;
}

std::string without_cr(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r') {
      if (i + 1 < s.size() && s[i + 1] == '\n') {
        continue; // CR LF -> LF
      }
      out += '\n';
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string url_safe(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c != '\r' && c != '\n' && c != ' ' && c != '\t') {
      out += c;
    }
  }
  return out;
}

std::string sanitize(part_kind kind, const std::string& s) {
  switch (kind) {
    case part_kind::html: return s;
    case part_kind::one_line:
    case part_kind::text: return one_line(s);
    case part_kind::multiline: return without_cr(s);
    case part_kind::url: return url_safe(s);
  }
  return s;
}

/// The variables as Mustache data, every string value passed through `kind`'s sanitizer.
mst::data to_data(const json& j, part_kind kind) {
  switch (j.type()) {
    case json::value_t::object: {
      mst::data d{mst::data::type::object};
      for (auto& [k, v] : j.items()) {
        d.set(k, to_data(v, kind));
      }
      return d;
    }
    case json::value_t::array: {
      mst::data d{mst::data::type::list};
      for (auto& v : j) {
        d.push_back(to_data(v, kind));
      }
      return d;
    }
    case json::value_t::string:
      return mst::data{sanitize(kind, j.get<std::string>())};
    case json::value_t::boolean:
      return mst::data{j.get<bool>()};
    case json::value_t::null:
      return mst::data{false};
    default:
      return mst::data{j.dump()};
  }
}

bool is_http_url(const std::string& s) {
  auto starts = [&](const char* prefix) {
    std::string p{prefix};
    if (s.size() <= p.size()) {
      return false;
    }
    for (std::size_t i = 0; i < p.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(s[i])) != p[i]) {
        return false;
      }
    }
    return true;
  };
  return starts("https://") || starts("http://");
}

bool provided(const json& variables, const std::string& name) {
  if (!variables.is_object()) {
    return false;
  }
  if (auto i = variables.find(name); i != variables.end()) {
    return !i->is_null();
  }
  const json* at = &variables;
  std::size_t start = 0;
  for (;;) {
    auto dot = name.find('.', start);
    auto key = name.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!at->is_object()) {
      return false;
    }
    auto i = at->find(key);
    if (i == at->end()) {
      return false;
    }
    at = &*i;
    if (dot == std::string::npos) {
      return !at->is_null();
    }
    start = dot + 1;
  }
}

} // namespace

// -- compiled_template ---------------------------------------------------------------

struct compiled_template::parts {
  struct part {
    std::string field;
    part_kind kind;
    std::optional<mst::mustache> tmpl; ///< nullopt when the part is empty (absent)
  };
  std::vector<part> list;                             ///< in a fixed order per channel
  std::vector<std::pair<std::string, part>> data;     ///< push data values by key
};

compiled_template::compiled_template(template_record t)
  : record_(std::move(t)), parts_(std::make_unique<parts>()) {
  auto add = [&](std::vector<parts::part>& into, std::string field, part_kind kind,
                 const std::string& text, bool optional) {
    parts::part p{std::move(field), kind, std::nullopt};
    if (!text.empty() || !optional) {
      std::string problem;
      p.tmpl = parse(text, problem);
      if (!p.tmpl && error_.empty()) {
        error_ = "field '" + p.field + "' is not valid Mustache: " + problem;
      }
    }
    into.push_back(std::move(p));
  };
  auto& list = parts_->list;
  if (record_.channel == "push") {
    add(list, "title", part_kind::one_line, record_.title, false);
    add(list, "body", part_kind::multiline, record_.body, false);
    add(list, "image_url", part_kind::url, record_.image_url, true);
    add(list, "link", part_kind::url, record_.link, true);
    if (!record_.data.empty()) {
      auto data = json::parse(record_.data, nullptr, false);
      if (!data.is_object()) {
        if (error_.empty()) {
          error_ = "field 'data' is not a JSON object";
        }
      } else {
        for (auto& [key, value] : data.items()) {
          std::vector<parts::part> one;
          add(one, "data." + key, part_kind::multiline,
              value.is_string() ? value.get<std::string>() : value.dump(), false);
          parts_->data.emplace_back(key, std::move(one.front()));
        }
      }
    }
  } else {
    add(list, "subject", part_kind::one_line, record_.subject, false);
    add(list, "body", part_kind::text, record_.body, false);
    add(list, "html_body", part_kind::html, record_.html_body, true);
  }
  for (auto& p : list) {
    if (p.tmpl && p.kind != part_kind::html) {
      p.tmpl->set_custom_escape([](const std::string& s) { return s; });
    }
  }
  for (auto& [key, p] : parts_->data) {
    if (p.tmpl) {
      p.tmpl->set_custom_escape([](const std::string& s) { return s; });
    }
  }
}

compiled_template::~compiled_template() = default;

render_result compiled_template::render(const json& variables) {
  render_result r;
  r.missing = missing_variables(record_, variables);
  if (!error_.empty()) {
    r.error = "template " + record_.template_code + " does not render: " + error_;
    return r;
  }
  const auto& vars = variables.is_object() ? variables : json::object();
  std::optional<mst::data> by_kind[5];
  auto data_for = [&](part_kind kind) -> const mst::data& {
    auto& slot = by_kind[static_cast<int>(kind)];
    if (!slot) {
      slot = to_data(vars, kind);
    }
    return *slot;
  };
  auto render_part = [&](parts::part& p, std::string& out) {
    if (!p.tmpl) {
      out.clear();
      return true;
    }
    out = p.tmpl->render(data_for(p.kind));
    if (!p.tmpl->is_valid()) {
      r.error = "template " + record_.template_code + " does not render: field '" + p.field
                + "': " + p.tmpl->error_message();
      return false;
    }
    if (p.kind == part_kind::one_line) {
      // Literal line breaks in the text, or ones a section produced, end here too.
      out = one_line(out);
    } else if (p.kind == part_kind::multiline) {
      out = without_cr(out);
    } else if (p.kind == part_kind::url && !out.empty() && !is_http_url(out)) {
      r.error = "field '" + p.field + "' renders to '" + out.substr(0, 200)
                + "', which is not an http(s) URL";
      return false;
    }
    return true;
  };
  auto& list = parts_->list;
  if (record_.channel == "push") {
    if (!render_part(list[0], r.push.title) || !render_part(list[1], r.push.body)
        || !render_part(list[2], r.push.image_url) || !render_part(list[3], r.push.link)) {
      return r;
    }
    for (auto& [key, p] : parts_->data) {
      std::string value;
      if (!render_part(p, value)) {
        return r;
      }
      r.push.data[key] = value;
    }
  } else if (!render_part(list[0], r.email.subject) || !render_part(list[1], r.email.text_body)
             || !render_part(list[2], r.email.html_body)) {
    return r;
  }
  r.ok = true;
  return r;
}

// -- free functions ------------------------------------------------------------------

std::string mustache_syntax_error(const std::string& text) {
  std::string error;
  return parse(text, error) ? std::string{} : error;
}

std::vector<std::string> missing_variables(const template_record& t, const json& variables) {
  std::vector<std::string> out;
  for (auto& name : t.variables) {
    if (!provided(variables, name)) {
      out.push_back(name);
    }
  }
  return out;
}

render_result render_email(const template_record& t, const json& variables) {
  if (t.channel != "email") {
    render_result r;
    r.error = "template " + t.template_code + " is for " + t.channel + ", not email";
    return r;
  }
  return compiled_template{t}.render(variables);
}

render_result render_push(const template_record& t, const json& variables) {
  if (t.channel != "push") {
    render_result r;
    r.error = "template " + t.template_code + " is for " + t.channel + ", not push";
    return r;
  }
  return compiled_template{t}.render(variables);
}

} // namespace herald
