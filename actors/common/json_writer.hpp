#pragma once

// Writing JSON objects straight into a string, for the hot paths (the message the gateway
// publishes and its 202 answer): no intermediate nlohmann tree, a handful of appends.
// Values that are already JSON trees are embedded with one dump.

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace herald {

class json_writer {
public:
  json_writer() { out_.reserve(512); }

  json_writer& field(std::string_view key, std::string_view value);
  /// (Without it a string literal would choose the bool overload.)
  json_writer& field(std::string_view key, const char* value) {
    return field(key, std::string_view{value});
  }
  json_writer& field(std::string_view key, const std::string& value) {
    return field(key, std::string_view{value});
  }
  json_writer& field(std::string_view key, long long value);
  json_writer& field(std::string_view key, bool value);
  json_writer& null_field(std::string_view key);
  /// `value` embedded as it is (dumped once).
  json_writer& field(std::string_view key, const nlohmann::json& value);
  /// A nested object: `value` must be a finished json_writer's text.
  json_writer& raw_field(std::string_view key, std::string_view json_text);

  /// The object's text (closes it); the writer is spent afterwards.
  std::string finish();

private:
  void key(std::string_view k);
  std::string out_ = "{";
};

/// Appends `s` as a JSON string literal (quoted, escaped; UTF-8 passes through).
void append_json_string(std::string& out, std::string_view s);

} // namespace herald
