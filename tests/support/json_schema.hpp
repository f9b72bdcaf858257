#pragma once

// A JSON Schema (2020-12, as OpenAPI 3.1 uses it) validator for the subset Herald's
// OpenAPI document uses: type (a name or a list; "integer" is a number without a
// fraction), enum, const, properties, required, additionalProperties (false or a schema),
// items, allOf, anyOf, oneOf, not, minimum, maximum, minLength, maxLength (in code
// points), pattern (ECMAScript, searched), minItems, maxItems, format "uuid" and
// "date-time" (RFC 3339), and local references ("#/components/schemas/X", resolved in
// `root`). Keywords it does not know are ignored, as the specification says of unknown
// keywords: so an unsupported keyword never fails a value, but a test of this file shows
// each supported one refusing what it should. Header-only: unit tests use it too.

#include <nlohmann/json.hpp>

#include <regex>
#include <string>
#include <vector>

namespace herald::test {

class json_schema_validator {
public:
  /// `root` holds every schema that references point into (the OpenAPI document).
  explicit json_schema_validator(nlohmann::json root) : root_(std::move(root)) {}

  /// Every way `value` breaks `schema`, each with the JSON pointer of the part at fault;
  /// empty when it is valid.
  std::vector<std::string> errors(const nlohmann::json& value, const nlohmann::json& schema) const {
    std::vector<std::string> out;
    check(value, schema, "", out, 0);
    return out;
  }

  /// The schema a local reference names (throws when it names nothing).
  const nlohmann::json& resolve(const std::string& ref) const {
    if (ref.rfind("#", 0) != 0) {
      throw std::runtime_error("only local references are supported: " + ref);
    }
    return root_.at(nlohmann::json::json_pointer{ref.substr(1)});
  }

private:
  static bool is_type(const nlohmann::json& v, const std::string& t) {
    if (t == "null") return v.is_null();
    if (t == "boolean") return v.is_boolean();
    if (t == "object") return v.is_object();
    if (t == "array") return v.is_array();
    if (t == "string") return v.is_string();
    if (t == "number") return v.is_number();
    if (t == "integer") {
      return v.is_number_integer()
             || (v.is_number_float() && v.get<double>() == static_cast<double>(static_cast<long long>(v.get<double>())));
    }
    return false;
  }

  static std::size_t code_points(const std::string& s) {
    std::size_t n = 0;
    for (unsigned char c : s) {
      n += (c & 0xC0) != 0x80;
    }
    return n;
  }

  static bool is_uuid(const std::string& s) {
    static const std::regex re{"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"};
    return std::regex_match(s, re);
  }

  static bool is_date_time(const std::string& s) {
    static const std::regex re{
      "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:"
      "[0-5][0-9](\\.[0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"};
    return std::regex_match(s, re);
  }

  void check(const nlohmann::json& v, const nlohmann::json& s, const std::string& at,
             std::vector<std::string>& out, int depth) const {
    auto fail = [&](const std::string& why) { out.push_back((at.empty() ? "/" : at) + ": " + why); };
    if (depth > 64) {
      fail("schema nesting too deep (a reference cycle?)");
      return;
    }
    if (s.is_boolean()) {
      if (!s.get<bool>()) fail("no value is allowed here");
      return;
    }
    if (!s.is_object()) {
      fail("not a schema: " + s.dump());
      return;
    }
    if (auto r = s.find("$ref"); r != s.end()) {
      check(v, resolve(r->get<std::string>()), at, out, depth + 1);
    }
    if (auto t = s.find("type"); t != s.end()) {
      bool ok = false;
      if (t->is_string()) {
        ok = is_type(v, t->get<std::string>());
      } else {
        for (auto& one : *t) ok = ok || is_type(v, one.get<std::string>());
      }
      if (!ok) {
        fail("expected type " + t->dump() + ", got " + v.dump().substr(0, 80));
        return;
      }
    }
    if (auto e = s.find("enum"); e != s.end()) {
      bool ok = false;
      for (auto& one : *e) ok = ok || one == v;
      if (!ok) fail("not one of " + e->dump() + ": " + v.dump().substr(0, 80));
    }
    if (auto c = s.find("const"); c != s.end() && *c != v) {
      fail("expected " + c->dump() + ", got " + v.dump().substr(0, 80));
    }
    for (auto* key : {"allOf", "anyOf", "oneOf"}) {
      auto list = s.find(key);
      if (list == s.end()) continue;
      std::size_t passed = 0;
      std::vector<std::string> first;
      for (auto& sub : *list) {
        std::vector<std::string> e;
        check(v, sub, at, e, depth + 1);
        passed += e.empty();
        if (std::string{key} == "allOf") out.insert(out.end(), e.begin(), e.end());
        else if (first.empty()) first = e;
      }
      if (std::string{key} == "anyOf" && passed == 0) fail("matches none of anyOf: " + (first.empty() ? "" : first[0]));
      if (std::string{key} == "oneOf" && passed != 1) fail("matches " + std::to_string(passed) + " of oneOf, not exactly one");
    }
    if (auto n = s.find("not"); n != s.end()) {
      std::vector<std::string> e;
      check(v, *n, at, e, depth + 1);
      if (e.empty()) fail("matches the schema under 'not'");
    }
    if (v.is_number()) {
      if (auto m = s.find("minimum"); m != s.end() && v.get<double>() < m->get<double>()) fail("below the minimum " + m->dump());
      if (auto m = s.find("maximum"); m != s.end() && v.get<double>() > m->get<double>()) fail("above the maximum " + m->dump());
    }
    if (v.is_string()) {
      auto& text = v.get_ref<const std::string&>();
      if (auto m = s.find("minLength"); m != s.end() && code_points(text) < m->get<std::size_t>()) fail("shorter than " + m->dump());
      if (auto m = s.find("maxLength"); m != s.end() && code_points(text) > m->get<std::size_t>()) fail("longer than " + m->dump());
      if (auto p = s.find("pattern"); p != s.end() && !std::regex_search(text, std::regex{p->get<std::string>()})) {
        fail("does not match " + p->dump());
      }
      if (auto f = s.find("format"); f != s.end()) {
        if (*f == "uuid" && !is_uuid(text)) fail("not a uuid: " + text.substr(0, 80));
        if (*f == "date-time" && !is_date_time(text)) fail("not an RFC 3339 date-time: " + text.substr(0, 80));
      }
    }
    if (v.is_array()) {
      if (auto m = s.find("minItems"); m != s.end() && v.size() < m->get<std::size_t>()) fail("fewer items than " + m->dump());
      if (auto m = s.find("maxItems"); m != s.end() && v.size() > m->get<std::size_t>()) fail("more items than " + m->dump());
      if (auto items = s.find("items"); items != s.end()) {
        for (std::size_t i = 0; i < v.size(); ++i) check(v[i], *items, at + "/" + std::to_string(i), out, depth + 1);
      }
    }
    if (v.is_object()) {
      if (auto req = s.find("required"); req != s.end()) {
        for (auto& name : *req) {
          if (!v.contains(name.get<std::string>())) fail("missing required member '" + name.get<std::string>() + "'");
        }
      }
      auto props = s.find("properties");
      for (auto& [name, member] : v.items()) {
        if (props != s.end() && props->contains(name)) {
          check(member, (*props)[name], at + "/" + name, out, depth + 1);
        } else if (auto extra = s.find("additionalProperties"); extra != s.end()) {
          if (extra->is_boolean() && !extra->get<bool>()) fail("member '" + name + "' is not allowed");
          else if (extra->is_object()) check(member, *extra, at + "/" + name, out, depth + 1);
        }
      }
    }
  }

  nlohmann::json root_;
};

} // namespace herald::test
