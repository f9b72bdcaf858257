#include "actors/template_cache/render.hpp"

#include <kainjow/mustache.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <optional>

namespace herald {

namespace mst = kainjow::mustache;
using json = nlohmann::json;
using component = mst::component<std::string>;
using clock_type = std::chrono::steady_clock;

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

/// What a part's text says about its cost, read from its tags without parsing: per depth
/// of section nesting, the literal bytes, the tags, and the sections that open there.
struct part_shape {
  static constexpr std::size_t levels = max_section_depth + 2; ///< the last: any deeper
  int depth = 0; ///< deepest section nesting
  std::array<std::size_t, levels> bytes{};
  std::array<std::size_t, levels> tags{};
  std::array<std::size_t, levels> sections{};
  std::size_t tag_count = 0;
  std::size_t too_deep_at = std::string::npos; ///< byte offset of the first section past the limit
};

/// Reads tags exactly as kainjow's parser does (trimming, set-delimiter tags, triple
/// mustaches): a tag read differently here would be a section it never counts, and the
/// renderer recurses once per level, so a template of 20,000 nested sections would
/// overflow its stack.
part_shape shape_of(const std::string& text, int depth_limit) {
  part_shape shape;
  std::string open = "{{";
  std::string close = "}}";
  int depth = 0;
  auto level = [&] { return std::min<std::size_t>(depth < 0 ? 0 : depth, part_shape::levels - 1); };
  std::size_t pos = 0;
  std::size_t literal_from = 0;
  while ((pos = text.find(open, pos)) != std::string::npos) {
    shape.bytes[level()] += pos - literal_from;
    shape.tags[level()] += 1;
    shape.tag_count += 1;
    auto start = pos + open.size();
    if (open == "{{" && close == "}}" && start < text.size() && text[start] == '{') {
      auto end = text.find("}}}", start);
      if (end == std::string::npos) {
        break;
      }
      pos = literal_from = end + 3;
      continue;
    }
    auto end = text.find(close, start);
    if (end == std::string::npos) {
      break; // unclosed: the parser reports it
    }
    auto after = end + close.size(); // past this tag's own delimiter, even one that sets new ones
    auto tag = trimmed(text.substr(start, end - start));
    char kind = tag.empty() ? ' ' : tag.front();
    if (kind == '#' || kind == '^') {
      shape.sections[level()] += 1;
      shape.depth = std::max(shape.depth, ++depth);
      if (depth > depth_limit && shape.too_deep_at == std::string::npos) {
        shape.too_deep_at = pos;
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
    pos = literal_from = after;
  }
  shape.bytes[level()] += text.size() - std::min(literal_from, text.size());
  return shape;
}

/// The byte offset of the first partial tag ({{>name}}) in the tree, if any.
std::optional<std::size_t> first_partial(const component& c) {
  for (const auto& child : c.children) {
    if (child.tag.type == mst::tag_type::partial) {
      return child.position;
    }
    if (auto inner = first_partial(child)) {
      return inner;
    }
  }
  return std::nullopt;
}

/// Estimated heap and object bytes of a parsed tree.
std::size_t tree_bytes(const component& c) {
  auto n = sizeof(component) + c.text.size() + c.tag.name.size();
  if (c.tag.section_text) {
    n += sizeof(std::string) + c.tag.section_text->size();
  }
  for (const auto& child : c.children) {
    n += tree_bytes(child);
  }
  return n;
}

/// Parses `text` with kainjow's parser; on a syntax error returns nullopt and sets `error`.
std::optional<component> parse(const std::string& text, std::string& error) {
  auto shape = shape_of(text, max_section_depth);
  if (shape.too_deep_at != std::string::npos) {
    error = with_line_and_column("Sections nested more than " + std::to_string(max_section_depth)
                                   + " deep at " + std::to_string(shape.too_deep_at),
                                 text);
    return std::nullopt;
  }
  // Each whitespace character and each tag becomes a node, and so may the text between.
  auto nodes = static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
                 return c == ' ' || c == '\t' || c == '\r' || c == '\n';
               }))
               + 2 * shape.tag_count + 1;
  if (nodes * sizeof(component) > max_parsed_bytes) {
    error = "Too many separate pieces: " + std::to_string(nodes)
            + " spaces, tabs, line breaks, tags and words between them would take "
            + std::to_string(nodes * sizeof(component) >> 20) + " MB once parsed (at most "
            + std::to_string(max_parsed_bytes >> 20) + " MB)";
    return std::nullopt;
  }
  try {
    mst::context<std::string> ctx;
    mst::context_internal<std::string> internal{ctx};
    component root;
    std::string message;
    mst::parser<std::string>{text, internal, root, message};
    if (message.empty()) {
      if (auto at = first_partial(root)) {
        message = "Partials ({{>name}}) are not supported at " + std::to_string(*at);
      }
    }
    if (!message.empty()) {
      error = with_line_and_column(message, text);
      return std::nullopt;
    }
    return root;
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

// -- bounded rendering -------------------------------------------------------------

/// Renders one parsed part by kainjow's rules (basic_mustache::render_component,
/// render_section and render_current_line: the same line buffer, so a line holding only
/// section tags and whitespace vanishes the same way) into an output it bounds. Lambdas
/// and partials are left out: Herald's data has no lambdas and its templates no partials.
class bounded_render {
public:
  enum class stop { none, too_large, too_slow };

  bounded_render(const mst::data& data, bool html, std::size_t max_bytes,
                 clock_type::time_point deadline)
    : ctx_(&data), html_(html), max_bytes_(max_bytes), deadline_(deadline) {}

  /// `out` is the rendered part, or empty when the render stopped.
  stop run(const component& root, std::string& out) {
    walk(root);
    end_line(nullptr);
    out = stop_ == stop::none ? std::move(out_) : std::string{};
    return stop_;
  }

private:
  void walk(const component& c) {
    for (const auto& child : c.children) {
      if (stop_ != stop::none) {
        return;
      }
      visit(child);
    }
  }

  void visit(const component& c) {
    if (++steps_ % 256 == 0 && clock_type::now() > deadline_) {
      stop_ = stop::too_slow;
      return;
    }
    if (c.is_text()) {
      if (c.is_newline()) {
        end_line(&c);
      } else {
        append(c.text);
      }
      return;
    }
    const auto& tag = c.tag;
    switch (tag.type) {
      case mst::tag_type::variable:
      case mst::tag_type::unescaped_variable:
        if (auto* var = ctx_.get(tag.name); var != nullptr && var->is_string()) {
          bool escape = html_ && tag.type == mst::tag_type::variable;
          append(escape ? mst::html_escape(var->string_value()) : var->string_value());
        }
        break;
      case mst::tag_type::section_begin:
        if (auto* var = ctx_.get(tag.name);
            var != nullptr && !var->is_false() && !var->is_empty_list()) {
          section(c, var);
        }
        break;
      case mst::tag_type::section_begin_inverted:
        if (auto* var = ctx_.get(tag.name);
            var == nullptr || var->is_false() || var->is_empty_list()) {
          section(c, var);
        }
        break;
      default:
        break; // comments and delimiter changes render nothing
    }
  }

  void section(const component& c, const mst::data* var) {
    if (var != nullptr && var->is_non_empty_list()) {
      for (const auto& item : var->list_value()) {
        if (stop_ != stop::none) {
          return;
        }
        line_.contained_section_tag = true;
        ctx_.push(&item);
        walk(c);
        ctx_.pop();
        line_.contained_section_tag = true;
      }
      return;
    }
    line_.contained_section_tag = true;
    if (var != nullptr) {
      ctx_.push(var);
    }
    walk(c);
    if (var != nullptr) {
      ctx_.pop();
    }
    line_.contained_section_tag = true;
  }

  /// The end of a line (at a newline, or the end): kept unless it held section tags and
  /// nothing but spaces and tabs.
  void end_line(const component* newline) {
    if (!(line_.contained_section_tag && line_.is_empty_or_contains_only_whitespace())) {
      out_ += line_.data;
      if (newline != nullptr) {
        out_ += newline->text;
      }
    }
    line_.clear();
  }

  void append(const std::string& text) {
    if (out_.size() + line_.data.size() + text.size() > max_bytes_) {
      stop_ = stop::too_large;
      return;
    }
    line_.data += text;
  }

  mst::context<std::string> ctx_;
  bool html_;
  std::size_t max_bytes_;
  clock_type::time_point deadline_;
  std::string out_;
  mst::line_buffer_state<std::string> line_;
  std::uint64_t steps_ = 0;
  stop stop_ = stop::none;
};

// -- bounds without rendering --------------------------------------------------------

/// The longest string (numbers count as their text) and the longest list in `j`.
void measure(const json& j, std::size_t& longest_string, std::size_t& longest_list) {
  switch (j.type()) {
    case json::value_t::object:
      for (const auto& [key, value] : j.items()) {
        measure(value, longest_string, longest_list);
      }
      break;
    case json::value_t::array:
      longest_list = std::max(longest_list, j.size());
      for (const auto& value : j) {
        measure(value, longest_string, longest_list);
      }
      break;
    case json::value_t::string:
      longest_string = std::max(longest_string, j.get_ref<const std::string&>().size());
      break;
    case json::value_t::boolean:
    case json::value_t::null:
      break;
    default:
      longest_string = std::max(longest_string, j.dump().size());
  }
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
    std::optional<component> tree; ///< nullopt when the part is empty (absent)
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
      p.tree = parse(text, problem);
      if (!p.tree && error_.empty()) {
        error_ = "field '" + p.field + "' is not valid Mustache: " + problem;
      }
    }
    bytes_ += sizeof(p) + p.field.size() + text.size() + (p.tree ? tree_bytes(*p.tree) : 0);
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
  bytes_ += sizeof(*this) + sizeof(parts) + record_.template_code.size() + record_.name.size()
            + record_.language.size() + record_.data.size();
  for (const auto& v : record_.variables) {
    bytes_ += sizeof(v) + v.size();
  }
}

compiled_template::~compiled_template() = default;

render_result compiled_template::render(const json& variables, const render_limits& limits) const {
  render_result r;
  r.missing = missing_variables(record_, variables);
  auto fail = [&](const std::string& why) {
    r.error = "template " + record_.template_code + " does not render: " + why;
  };
  if (!error_.empty()) {
    fail(error_);
    return r;
  }
  const auto& vars = variables.is_object() ? variables : json::object();
  if (auto p = variables_size_problem(vars.dump().size(), limits); !p.empty()) {
    fail(p);
    return r;
  }
  auto deadline = clock_type::now() + limits.time_budget;
  std::optional<mst::data> by_kind[5];
  auto data_for = [&](part_kind kind) -> const mst::data& {
    auto& slot = by_kind[static_cast<int>(kind)];
    if (!slot) {
      slot = to_data(vars, kind);
    }
    return *slot;
  };
  auto render_part = [&](const parts::part& p, std::string& out) {
    if (!p.tree) {
      out.clear();
      return true;
    }
    bounded_render walk{data_for(p.kind), p.kind == part_kind::html, limits.max_part_bytes,
                        deadline};
    switch (walk.run(*p.tree, out)) {
      case bounded_render::stop::too_large:
        fail("field '" + p.field + "' renders to more than "
             + std::to_string(limits.max_part_bytes)
             + " bytes (templates.max_rendered_bytes)");
        return false;
      case bounded_render::stop::too_slow:
        fail("rendering takes longer than " + std::to_string(limits.time_budget.count())
             + " ms (templates.render_budget_ms); stopped in field '" + p.field + "'");
        return false;
      case bounded_render::stop::none:
        break;
    }
    if (p.kind == part_kind::one_line) {
      // Literal line breaks in the text, or ones a section produced, end here too.
      out = one_line(out);
    } else if (p.kind == part_kind::multiline) {
      out = without_cr(out);
    } else if (p.kind == part_kind::url && !out.empty()) {
      if (auto why = net::check_url(out, limits.urls); !why.empty()) {
        r.error = "field '" + p.field + "' renders to '" + out.substr(0, 200) + "', which "
                  + why;
        return false;
      }
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

render_limits render_limits_from(const config::settings& s) {
  render_limits l;
  l.max_part_bytes = static_cast<std::size_t>(s.get_int("templates.max_rendered_bytes"));
  l.time_budget = s.get_ms("templates.render_budget_ms");
  l.max_variables_bytes = static_cast<std::size_t>(s.get_int("templates.max_variables_bytes"));
  l.urls.allow_insecure = s.get_bool("push.allow_insecure_endpoints");
  return l;
}

std::string variables_size_problem(std::size_t bytes, const render_limits& limits) {
  if (bytes <= limits.max_variables_bytes) {
    return {};
  }
  return "field 'variables' is " + std::to_string(bytes) + " bytes of JSON, more than the "
         + std::to_string(limits.max_variables_bytes)
         + " allowed (templates.max_variables_bytes)";
}

std::string render_limit_problem(const template_record& t, const json& variables,
                                 const render_limits& limits) {
  std::size_t longest_string = 0;
  std::size_t longest_list = 1;
  measure(variables, longest_string, longest_list);
  // What sits at section depth d renders at most longest_list^d times (a list repeats a
  // section, anything else renders it once); a tag outputs at most one value, 6 bytes a
  // byte once HTML-escaped ('"' is &quot;); a section's own iterations are steps too.
  constexpr double steps_without_rendering = 1e6; // well inside any sensible time budget
  const auto n = static_cast<double>(longest_list);
  const auto value = 6.0 * static_cast<double>(longest_string);
  bool fits = true;
  double steps = 0;
  auto bound = [&](const std::string& text) {
    auto shape = shape_of(text, max_section_depth);
    double bytes = 0;
    for (std::size_t d = 0; d < part_shape::levels; ++d) {
      auto repeats = std::pow(n, static_cast<double>(d));
      bytes += (static_cast<double>(shape.bytes[d]) + value * static_cast<double>(shape.tags[d]))
               * repeats;
      steps += (static_cast<double>(shape.bytes[d] + shape.tags[d])
                + n * static_cast<double>(shape.sections[d]))
               * repeats;
    }
    fits = fits && bytes <= static_cast<double>(limits.max_part_bytes);
  };
  for (const auto* part : {&t.subject, &t.body, &t.html_body, &t.title, &t.image_url, &t.link,
                           &t.data}) {
    bound(*part); // data: its values' tags are in its JSON text, so this bounds each value
  }
  if (fits && steps <= steps_without_rendering) {
    return {};
  }
  auto r = compiled_template{t}.render(variables, limits);
  return r.ok ? std::string{} : r.error;
}

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

render_result render_email(const template_record& t, const json& variables,
                           const render_limits& limits) {
  if (t.channel != "email") {
    render_result r;
    r.error = "template " + t.template_code + " is for " + t.channel + ", not email";
    return r;
  }
  return compiled_template{t}.render(variables, limits);
}

render_result render_push(const template_record& t, const json& variables,
                          const render_limits& limits) {
  if (t.channel != "push") {
    render_result r;
    r.error = "template " + t.template_code + " is for " + t.channel + ", not push";
    return r;
  }
  return compiled_template{t}.render(variables, limits);
}

} // namespace herald
