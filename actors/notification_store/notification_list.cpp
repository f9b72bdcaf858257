#include "actors/notification_store/notification_list.hpp"

#include <nlohmann/json.hpp>

namespace herald {

namespace {

/// " WHERE a = $1 AND b = $2 ..." for the filter's present conditions ("" when none).
std::string where_clause(const notification_filter& f) {
  std::vector<std::string> conditions;
  // The casts keep each comparison on the indexed column's own type.
  auto add = [&](const std::string& value, const char* column_op, const char* cast) {
    if (!value.empty()) {
      conditions.push_back(std::string{column_op} + "$" + std::to_string(conditions.size() + 1)
                           + cast);
    }
  };
  add(f.user_id, "user_id = ", "");
  add(f.status, "status = ", "");
  add(f.channel, "channel = ", "");
  add(f.since, "created_at >= ", "::timestamptz");
  add(f.until, "created_at < ", "::timestamptz");
  std::string out;
  for (auto& c : conditions) {
    out += (out.empty() ? " WHERE " : " AND ") + c;
  }
  return out;
}

} // namespace

std::vector<std::string> filter_params(const notification_filter& f) {
  std::vector<std::string> out;
  for (auto* v : {&f.user_id, &f.status, &f.channel, &f.since, &f.until}) {
    if (!v->empty()) {
      out.push_back(*v);
    }
  }
  return out;
}

std::string list_sql(const notification_filter& f) {
  auto n = filter_params(f).size();
  return "SELECT id, request_id, user_id, channel, template_code, status, attempts, last_error, "
         "correlation_id, language, template_version, "
         "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS "
         "created_at, to_char(updated_at AT TIME ZONE 'UTC', "
         "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS updated_at FROM notifications"
         + where_clause(f) + " ORDER BY notifications.created_at DESC, notifications.id DESC LIMIT $"
         + std::to_string(n + 1) + " OFFSET $" + std::to_string(n + 2);
}

std::string count_sql(const notification_filter& f) {
  // Ordered as the page is, so that it walks the same index (unordered, the planner would
  // pick a sequential scan that stops at the LIMIT: cheap for common matches, the whole
  // table for rare ones).
  return "SELECT count(*) FROM (SELECT 1 FROM notifications" + where_clause(f)
         + " ORDER BY created_at DESC, id DESC LIMIT " + std::to_string(count_cap + 1)
         + ") AS matches";
}

notification_page list_notifications(pqxx::work& tx, const notification_filter& f,
                                     std::int64_t offset, std::int64_t limit) {
  using json = nlohmann::json;
  auto params = filter_params(f);
  notification_page page;
  auto counted = tx.exec_params(count_sql(f), pqxx::prepare::make_dynamic_params(params))[0][0]
                   .as<std::int64_t>();
  page.capped = counted > count_cap;
  page.total = page.capped ? count_cap : counted;
  params.push_back(std::to_string(limit));
  params.push_back(std::to_string(offset));
  auto rows = tx.exec_params(list_sql(f), pqxx::prepare::make_dynamic_params(params));
  json items = json::array();
  for (const auto& row : rows) {
    auto text = [&](const char* col) -> json {
      return row[col].is_null() ? json(nullptr) : json(row[col].c_str());
    };
    auto version = row["template_version"].as<int>();
    items.push_back({{"notification_id", text("id")},
                     {"request_id", text("request_id")},
                     {"user_id", text("user_id")},
                     {"channel", text("channel")},
                     {"template_code", text("template_code")},
                     {"status", text("status")},
                     {"attempts", row["attempts"].as<int>()},
                     {"last_error", text("last_error")},
                     {"correlation_id", text("correlation_id")},
                     {"language", row["language"].size() == 0 ? json(nullptr) : text("language")},
                     {"template_version", version == 0 ? json(nullptr) : json(version)},
                     {"created_at", text("created_at")},
                     {"updated_at", text("updated_at")}});
  }
  page.items_json = items.dump();
  return page;
}

} // namespace herald
