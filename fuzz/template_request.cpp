// The templates API's bodies: POST (parse_new_template) and PUT (parse_template_patch,
// then apply_template_patch onto a stored email and a stored push template), and the
// `version` field of a render request. Whatever a reader accepts must pass
// check_template (the channel rules and Mustache syntax the cache relies on); whatever it
// refuses must make a well-formed 400, 409 or 422.

#include "actors/template_cache/render.hpp"
#include "actors/template_cache/template_request.hpp"
#include "fuzz/support.hpp"

using namespace herald;
using fuzz::require;

namespace {

template_record stored(const std::string& channel) {
  template_record t;
  t.template_code = "welcome";
  t.language = "en";
  t.version = 4;
  t.name = "Welcome";
  t.channel = channel;
  t.variables = {"name"};
  if (channel == "email") {
    t.subject = "Welcome, {{name}}";
    t.body = "Hello {{name}}";
    t.html_body = "<p>Hello {{name}}</p>";
  } else {
    t.title = "Welcome";
    t.body = "Hello {{name}}";
    t.link = "https://example.com/u/{{name}}";
    t.data = R"({"screen":"home"})";
  }
  return t;
}

void check_refused(const template_validation& v) {
  require(v.status == 400 || v.status == 409 || v.status == 422,
          "a refused template is a 400, 409 or 422");
  fuzz::check_refusal(v.status, v.error);
}

void check_accepted(const template_record& t) {
  require(check_template(t).ok(), "an accepted template passes check_template");
  require(compiled_template{t}.error().empty(), "an accepted template compiles");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto body = fuzz::request_body(data, size);
  if (!body) {
    return 0;
  }

  if (auto created = parse_new_template(*body); created.value) {
    require(created.value->version == 1, "a new template is version 1");
    check_accepted(*created.value);
  } else {
    check_refused(created);
  }

  auto patch = parse_template_patch(*body, "welcome");
  if (!patch.value) {
    require(patch.status == 400, "a refused patch is a 400");
    fuzz::check_refusal(patch.status, patch.error);
  } else {
    // The cache hands the patch over as JSON text.
    auto handed_over = nlohmann::json::parse(patch.value->dump());
    for (const auto& latest : {stored("email"), stored("push")}) {
      auto next = apply_template_patch(latest, handed_over);
      if (!next.value) {
        check_refused(next);
        continue;
      }
      require(next.value->version == latest.version + 1, "a patch makes the next version");
      require(next.value->channel == latest.channel && next.value->template_code == "welcome",
              "a patch keeps the code and the channel");
      check_accepted(*next.value);
    }
  }

  if (auto version = parse_version_field(*body); version.error.empty()) {
    require(version.version >= 0 && version.version <= 1'000'000'000,
            "a pinned version is 0 (none) or 1..10^9");
  } else {
    fuzz::check_refusal(400, version.error);
  }
  return 0;
}
