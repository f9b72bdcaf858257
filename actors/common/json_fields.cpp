#include "actors/common/json_fields.hpp"

namespace herald {

using json = nlohmann::json;

const char* json_type_name(const json& j) {
  switch (j.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "an array";
    case json::value_t::object: return "an object";
    default: return "a number";
  }
}

std::string read_string_field(const json& body, const char* name, bool required,
                              std::size_t max_len, std::string& out) {
  auto i = body.find(name);
  if (i == body.end() || i->is_null()) {
    return required ? std::string{"missing required field '"} + name + "'" : std::string{};
  }
  if (!i->is_string()) {
    return std::string{"field '"} + name + "' must be a string, got " + json_type_name(*i);
  }
  auto value = i->get<std::string>();
  if (required && value.empty()) {
    return std::string{"field '"} + name + "' must not be empty";
  }
  if (value.size() > max_len) {
    return std::string{"field '"} + name + "' is longer than " + std::to_string(max_len)
           + " characters";
  }
  // JSON may spell one ("\u0000"); no text column can store it.
  if (value.find('\0') != std::string::npos) {
    return std::string{"field '"} + name + "' must not contain NUL characters";
  }
  out = std::move(value);
  return {};
}

} // namespace herald
