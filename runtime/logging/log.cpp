#include "runtime/logging/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace herald::log {

namespace {

std::mutex mtx;
std::string node_name = "herald";
std::atomic<int> min_level{static_cast<int>(level::info)};

const char* name_of(level lv) {
  switch (lv) {
    case level::debug: return "debug";
    case level::info: return "info";
    case level::warn: return "warn";
    case level::error: return "error";
  }
  return "info";
}

std::string timestamp() {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto secs = system_clock::to_time_t(now);
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[80];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms));
  return buf;
}

} // namespace

void init(std::string node, level min) {
  std::lock_guard<std::mutex> guard{mtx};
  node_name = std::move(node);
  min_level = static_cast<int>(min);
}

level parse_level(std::string_view name) {
  if (name == "debug") return level::debug;
  if (name == "warn") return level::warn;
  if (name == "error") return level::error;
  return level::info;
}

void write(level lv, const context& who, std::string_view msg, const nlohmann::json& extra) {
  if (static_cast<int>(lv) < min_level.load(std::memory_order_relaxed)) {
    return;
  }
  nlohmann::json line = {{"ts", timestamp()}, {"level", name_of(lv)}};
  {
    std::lock_guard<std::mutex> guard{mtx};
    line["node"] = node_name;
  }
  if (!who.role.empty()) line["role"] = who.role;
  if (!who.actor.empty()) line["actor"] = who.actor;
  if (!who.correlation_id.empty()) line["correlation_id"] = who.correlation_id;
  line["msg"] = msg;
  if (extra.is_object()) {
    for (auto& [k, v] : extra.items()) {
      line[k] = v;
    }
  }
  auto text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::fwrite(text.data(), 1, text.size(), stderr);
}

} // namespace herald::log
