#pragma once

// Rendering templates with Mustache (kainjow). A `compiled_template` parses every part of
// one template version once and renders it any number of times without parsing again;
// the template cache keeps these. The free functions compile and render in one go, for
// callers that hold only a record.
//
// Escaping, by part:
// - email `html_body`: every {{variable}} is HTML-escaped ({{{x}}} and {{&x}} are the
//   author's explicit opt-out, as Mustache defines them);
// - email `subject`, push `title`: one line. A variable's CR or LF becomes a space, and
//   the rendered line has no CR or LF whatever the tags (no header injection);
// - email text `body`: not HTML-escaped; a variable's CR or LF becomes a space;
// - push `body` and `data` values: a variable may bring line breaks, but never a raw CR
//   (CR LF and lone CR become LF);
// - push `image_url`, `link`: a variable's CR, LF, space or tab is dropped, and the
//   rendered value must be a URL Herald may send to (adapters/net/outbound.hpp: https,
//   a public host) else the render fails, naming the field and why.
// Escaping happens on the variables' values, so {{x}} and {{{x}}} are equally safe in
// every part except the HTML body.
//
// Limits (render_limits, from the templates.* settings). A few bytes of template and
// variables can ask for gigabytes of output ({{#a}} six deep around ten characters with a
// 40-item list is 40^6 x 10 bytes), or for billions of steps that output nothing. So the
// renderer itself stops the work, not just the answer: kainjow's parser builds the tree,
// and Herald walks it with kainjow's rendering rules into a bounded output, giving up as
// soon as one part outgrows `max_part_bytes` or the whole render passes `time_budget`.
// The variables are refused beyond `max_variables_bytes` of JSON before anything is
// rendered. Partials ({{>name}}) are refused when a template is written: kainjow would
// take their text from the variables, so a value could bring template code (and a
// partial that names itself recursed until the stack overflowed).

#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "actors/messaging/messages.hpp"
#include "adapters/net/outbound.hpp"
#include "runtime/config/settings.hpp"

namespace herald {

/// How deep sections may nest in a template part ({{#a}}{{#b}}...): far beyond any real
/// template, far below what would exhaust the renderer's stack.
inline constexpr int max_section_depth = 16;

/// How much memory one part may take once parsed. kainjow's parser makes every space, tab,
/// line break and tag a node of its own (136 bytes here), so 1 MB of spaces would parse
/// into 138 MB; this refuses such a part before parsing it, and leaves room for a 1 MB
/// HTML body of ordinary text.
inline constexpr std::size_t max_parsed_bytes = 32 << 20;

/// What one render may cost. The defaults are the settings' defaults.
struct render_limits {
  std::size_t max_part_bytes = 1 << 20;        ///< templates.max_rendered_bytes, each part
  std::chrono::milliseconds time_budget{250};  ///< templates.render_budget_ms, whole render
  std::size_t max_variables_bytes = 64 << 10;  ///< templates.max_variables_bytes, as JSON
  net::outbound_policy urls;                   ///< push.allow_insecure_endpoints
};

render_limits render_limits_from(const config::settings& s);

/// "" when variables of `bytes` bytes of JSON are within `limits`, else the problem,
/// naming the field 'variables' and the limit.
std::string variables_size_problem(std::size_t bytes, const render_limits& limits);

/// "" when `text` is valid Mustache (sections nested at most max_section_depth deep, no
/// partials, at most max_parsed_bytes once parsed), else the parser's problem with its place, e.g.
/// "Unclosed tag at line 2, column 7" (lines and columns count from 1, columns in
/// characters).
std::string mustache_syntax_error(const std::string& text);

struct rendered_email {
  std::string subject;
  std::string text_body;
  std::string html_body;
};

struct rendered_push {
  std::string title;
  std::string body;
  std::string image_url;
  std::string link;
  nlohmann::json data = nlohmann::json::object(); ///< string values
};

struct render_result {
  bool ok = false;
  std::string error;                 ///< set when !ok
  std::vector<std::string> missing;  ///< declared variables absent (or null) in the input
  rendered_email email;              ///< filled for email templates
  rendered_push push;                ///< filled for push templates
};

/// One template version, parsed once. Rendering never changes it, so several threads may
/// render one at the same time.
class compiled_template {
public:
  explicit compiled_template(template_record t);
  ~compiled_template();
  compiled_template(const compiled_template&) = delete;
  compiled_template& operator=(const compiled_template&) = delete;

  const template_record& record() const { return record_; }

  /// "" when every part is valid Mustache; else the first invalid part, named as its
  /// field ("subject", "data.url", ...), with the line and column of the problem.
  const std::string& error() const { return error_; }

  /// Renders the parts of the template's channel with `variables` (a JSON object; any
  /// other value counts as no variables), within `limits`: past one, !ok with an error
  /// naming the limit (and the part, for the output budget).
  render_result render(const nlohmann::json& variables, const render_limits& limits = {}) const;

  /// What this compiled version holds in memory, estimated (the record and the parsed
  /// trees): the template cache's byte bound counts this.
  std::size_t bytes() const { return bytes_; }

private:
  struct parts;
  template_record record_;
  std::string error_;
  std::unique_ptr<parts> parts_;
  std::size_t bytes_ = 0;
};

/// "" when `t` renders with `variables` within `limits`, else the render's problem. Cheap
/// for what is plainly small: an upper bound of every part's output and of the steps a
/// render takes, from the parts' length, tags and section depth and the variables' longest
/// string and longest list, decides without rendering; only when that bound does not fit
/// is the template compiled and rendered (within the limits) to find out.
std::string render_limit_problem(const template_record& t, const nlohmann::json& variables,
                                 const render_limits& limits);

/// Declared variables of `t` that `variables` does not provide. A dotted name
/// ("order.id") is looked up as a path, as Mustache does; a null value counts as absent.
std::vector<std::string> missing_variables(const template_record& t,
                                           const nlohmann::json& variables);

/// Renders subject, text body and HTML body of an email template (parses it first).
render_result render_email(const template_record& t, const nlohmann::json& variables,
                           const render_limits& limits = {});

/// Renders title, body, image_url, link and data of a push template (parses it first).
render_result render_push(const template_record& t, const nlohmann::json& variables,
                          const render_limits& limits = {});

} // namespace herald
