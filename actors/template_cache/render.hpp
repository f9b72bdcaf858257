#pragma once

// Rendering templates with Mustache. Subjects and text bodies are never HTML-escaped but
// never take a raw CR or LF from a variable (no header injection); HTML bodies escape
// every variable.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "actors/messaging/messages.hpp"

namespace herald {

/// "" when `text` is valid Mustache, else the parser's message (with its position).
std::string mustache_syntax_error(const std::string& text);

struct rendered_email {
  std::string subject;
  std::string text_body;
  std::string html_body;
};

struct render_result {
  bool ok = false;
  std::string error;                 ///< set when !ok
  std::vector<std::string> missing;  ///< declared variables absent from the input
  rendered_email email;
};

/// Declared variables of `t` that `variables` does not provide.
std::vector<std::string> missing_variables(const template_record& t,
                                           const nlohmann::json& variables);

/// Renders subject, text body and HTML body of an email template.
render_result render_email(const template_record& t, const nlohmann::json& variables);

} // namespace herald
