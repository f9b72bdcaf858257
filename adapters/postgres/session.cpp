#include "adapters/postgres/session.hpp"

namespace herald::postgres {

std::string database_url(const std::string& server_url, const std::string& db,
                         std::chrono::seconds connect_timeout) {
  auto scheme_end = server_url.find("://");
  auto authority_start = scheme_end == std::string::npos ? 0 : scheme_end + 3;
  auto path_start = server_url.find_first_of("/?", authority_start);
  auto base = server_url.substr(0, path_start);
  return base + "/" + db + "?connect_timeout=" + std::to_string(connect_timeout.count());
}

outcome session::connect() {
  if (conn_ && conn_->is_open()) {
    return {};
  }
  try {
    conn_ = std::make_unique<pqxx::connection>(url_);
    return {};
  } catch (const std::exception& e) {
    conn_.reset();
    return {status::unavailable, std::string{"database unavailable: "} + e.what()};
  }
}

outcome session::transact(const std::function<void(pqxx::work&)>& fn) {
  if (auto c = connect(); !c.ok()) {
    return c;
  }
  try {
    pqxx::work tx{*conn_};
    fn(tx);
    tx.commit();
    return {};
  } catch (const pqxx::broken_connection& e) {
    conn_.reset();
    return {status::unavailable, std::string{"database unavailable: "} + e.what()};
  } catch (const pqxx::unique_violation& e) {
    return {status::conflict, e.what()};
  } catch (const pqxx::data_exception& e) {
    return {status::invalid, e.what()};
  } catch (const pqxx::sql_error& e) {
    // Admin shutdown and similar server-side terminations also end the connection.
    if (!conn_->is_open()) {
      conn_.reset();
      return {status::unavailable, std::string{"database unavailable: "} + e.what()};
    }
    return {status::error, e.what()};
  } catch (const std::exception& e) {
    if (conn_ && !conn_->is_open()) {
      conn_.reset();
      return {status::unavailable, std::string{"database unavailable: "} + e.what()};
    }
    return {status::error, e.what()};
  }
}

outcome session::ping() {
  return transact([](pqxx::work& tx) { tx.exec("SELECT 1"); });
}

} // namespace herald::postgres
