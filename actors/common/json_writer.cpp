#include "actors/common/json_writer.hpp"

namespace herald {

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (u < 0x20) {
          out += "\\u00";
          out += hex[u >> 4];
          out += hex[u & 0xF];
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

void json_writer::key(std::string_view k) {
  if (out_.size() > 1) {
    out_ += ',';
  }
  append_json_string(out_, k);
  out_ += ':';
}

json_writer& json_writer::field(std::string_view k, std::string_view value) {
  key(k);
  append_json_string(out_, value);
  return *this;
}

json_writer& json_writer::field(std::string_view k, long long value) {
  key(k);
  out_ += std::to_string(value);
  return *this;
}

json_writer& json_writer::field(std::string_view k, bool value) {
  key(k);
  out_ += value ? "true" : "false";
  return *this;
}

json_writer& json_writer::null_field(std::string_view k) {
  key(k);
  out_ += "null";
  return *this;
}

json_writer& json_writer::field(std::string_view k, const nlohmann::json& value) {
  key(k);
  out_ += value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return *this;
}

json_writer& json_writer::raw_field(std::string_view k, std::string_view json_text) {
  key(k);
  out_ += json_text;
  return *this;
}

std::string json_writer::finish() {
  out_ += '}';
  return std::move(out_);
}

} // namespace herald
