// The Mustache renderer: input = template text, NUL, variables (JSON, read like a request
// body: depth check, then parse). The text becomes every part of an email template and of
// a push template, so each escaping rule meets it; render.hpp's promises are checked on
// every render: one-line subjects and titles, no CR in push bodies and data, http(s) URLs,
// and sections of a valid template nested at most max_section_depth deep, as kainjow's own
// parser nests them (the check before parsing is a second reading of the syntax).

#include "actors/common/rest.hpp"
#include "actors/template_cache/render.hpp"
#include "fuzz/support.hpp"

#include <kainjow/mustache.hpp>

#include <algorithm>
#include <cctype>

using namespace herald;
using fuzz::require;

namespace {

bool one_line(const std::string& s) {
  return s.find_first_of("\r\n") == std::string::npos;
}

bool http_url_or_empty(const std::string& s) {
  auto head = s.substr(0, 8);
  for (auto& c : head) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return s.empty() || head.rfind("http://", 0) == 0 || head.rfind("https://", 0) == 0;
}

/// A context in which every name is true, so kainjow enters every {{#section}}: the
/// deepest push is how deep those sections nest.
class nesting_probe : public kainjow::mustache::basic_context<std::string> {
public:
  void push(const kainjow::mustache::data*) override { deepest = std::max(deepest, ++depth_); }
  void pop() override { --depth_; }
  const kainjow::mustache::data* get(const std::string&) const override { return &true_; }
  const kainjow::mustache::data* get_partial(const std::string&) const override {
    return nullptr;
  }
  int deepest = 0;

private:
  int depth_ = 0;
  kainjow::mustache::data true_{true};
};

template_record with_every_part(const std::string& channel, const std::string& text) {
  template_record t;
  t.template_code = "fuzzed";
  t.channel = channel;
  t.variables = {"name", "order.id"};
  if (channel == "email") {
    t.subject = t.body = t.html_body = text;
  } else {
    t.title = t.body = t.image_url = t.link = text;
    t.data = nlohmann::json{{"screen", text}}.dump(-1, ' ', false,
                                                   nlohmann::json::error_handler_t::replace);
  }
  return t;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto input = fuzz::fields(data, size, 2);
  const auto& text = input[0];
  if (rest::nested_deeper_than(input[1], rest::max_json_depth)) {
    return 0;
  }
  auto variables = nlohmann::json::parse(input[1], nullptr, false);
  if (variables.is_discarded()) {
    return 0;
  }
  bool valid = mustache_syntax_error(text).empty();
  if (valid) {
    kainjow::mustache::mustache parsed{text};
    nesting_probe probe;
    parsed.render(probe);
    require(probe.deepest <= max_section_depth, "valid sections nest at most max_section_depth");
  }

  compiled_template email{with_every_part("email", text)};
  require(email.error().empty() == valid, "a template compiles exactly when its text is valid");
  auto e = email.render(variables);
  require(e.ok == valid, "a valid email template renders");
  require(one_line(e.email.subject), "an email subject is one line");

  compiled_template push{with_every_part("push", text)};
  auto p = push.render(variables);
  if (p.ok) {
    require(one_line(p.push.title), "a push title is one line");
    require(p.push.body.find('\r') == std::string::npos, "a push body has no CR");
    require(http_url_or_empty(p.push.image_url) && http_url_or_empty(p.push.link),
            "push image_url and link are http(s) URLs");
    for (auto& [key, value] : p.push.data.items()) {
      require(value.is_string() && value.get<std::string>().find('\r') == std::string::npos,
              "push data values are strings without CR");
    }
  }
  return 0;
}
