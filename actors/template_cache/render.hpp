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
//   rendered value must be an http(s) URL (else the render fails, naming the field).
// Escaping happens on the variables' values, so {{x}} and {{{x}}} are equally safe in
// every part except the HTML body.

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "actors/messaging/messages.hpp"

namespace herald {

/// How deep sections may nest in a template part ({{#a}}{{#b}}...): far beyond any real
/// template, far below what would exhaust the renderer's stack.
inline constexpr int max_section_depth = 16;

/// "" when `text` is valid Mustache (sections nested at most max_section_depth deep), else
/// the parser's problem with its place, e.g.
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

/// One template version, parsed once. Not thread-safe: one owner renders it at a time
/// (the template cache renders only inside its actor).
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
  /// other value counts as no variables).
  render_result render(const nlohmann::json& variables);

private:
  struct parts;
  template_record record_;
  std::string error_;
  std::unique_ptr<parts> parts_;
};

/// Declared variables of `t` that `variables` does not provide. A dotted name
/// ("order.id") is looked up as a path, as Mustache does; a null value counts as absent.
std::vector<std::string> missing_variables(const template_record& t,
                                           const nlohmann::json& variables);

/// Renders subject, text body and HTML body of an email template (parses it first).
render_result render_email(const template_record& t, const nlohmann::json& variables);

/// Renders title, body, image_url, link and data of a push template (parses it first).
render_result render_push(const template_record& t, const nlohmann::json& variables);

} // namespace herald
