#include "support/notification_db.hpp"

#include <pqxx/pqxx>

#include "adapters/postgres/session.hpp"
#include "support/test_env.hpp"

namespace herald::test {

std::string notification_db_url() {
  return postgres::database_url(env("HERALD_TEST_PG_URL"), "notification_db");
}

std::vector<std::string> notification_row::timeline_statuses() const {
  std::vector<std::string> out;
  for (auto& e : timeline) {
    out.push_back(e.value("status", ""));
  }
  return out;
}

notification_row read_notification_row(const std::string& id) {
  pqxx::connection c{notification_db_url()};
  pqxx::work tx{c};
  auto rows = tx.exec_params(
    "SELECT status, attempts, timeline::text FROM notifications WHERE id = $1::uuid", id);
  notification_row out;
  if (rows.empty()) {
    return out;
  }
  out.found = true;
  out.status = rows[0][0].c_str();
  out.attempts = rows[0][1].as<int>();
  out.timeline = nlohmann::json::parse(rows[0][2].c_str());
  return out;
}

std::vector<nlohmann::json> device_entries(const std::string& id) {
  std::vector<nlohmann::json> out;
  for (auto& ev : read_notification_row(id).timeline) {
    if (ev.value("status", "") == "device") {
      out.push_back(ev);
    }
  }
  return out;
}

std::map<std::string, std::string> read_statuses(const std::vector<std::string>& ids) {
  std::string array = "{";
  for (auto& id : ids) {
    array += (array.size() > 1 ? "," : "") + id;
  }
  array += "}";
  pqxx::connection c{notification_db_url()};
  pqxx::work tx{c};
  std::map<std::string, std::string> out;
  for (const auto& row :
       tx.exec_params("SELECT id::text, status FROM notifications WHERE id = ANY($1::uuid[])",
                      array)) {
    out[row[0].c_str()] = row[1].c_str();
  }
  return out;
}

} // namespace herald::test
