#pragma once

// JSON log lines on stderr, one object per line: ts, level, node, role, actor,
// correlation_id, msg, and any extra fields. Thread-safe; a line is written whole.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace herald::log {

enum class level { debug = 0, info = 1, warn = 2, error = 3 };

/// Sets the node name stamped on every line and the lowest level written.
void init(std::string node, level min);
level parse_level(std::string_view name);

/// Who is speaking: set once per actor, correlation id per notification.
struct context {
  std::string role;
  std::string actor;
  std::string correlation_id;
};

void write(level lv, const context& who, std::string_view msg,
           const nlohmann::json& extra = nullptr);

inline void debug(const context& c, std::string_view m, const nlohmann::json& x = nullptr) {
  write(level::debug, c, m, x);
}
inline void info(const context& c, std::string_view m, const nlohmann::json& x = nullptr) {
  write(level::info, c, m, x);
}
inline void warn(const context& c, std::string_view m, const nlohmann::json& x = nullptr) {
  write(level::warn, c, m, x);
}
inline void error(const context& c, std::string_view m, const nlohmann::json& x = nullptr) {
  write(level::error, c, m, x);
}

} // namespace herald::log
