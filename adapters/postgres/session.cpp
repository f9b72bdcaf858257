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

namespace {

outcome lost(const std::exception& e) {
  return {status::unavailable, std::string{"database unavailable: "} + e.what()};
}

} // namespace

outcome session::attempt(const std::function<void(pqxx::work&)>& fn, bool& began) {
  began = false;
  try {
    pqxx::work tx{*conn_}; // BEGIN: a round trip, so a stale connection fails here
    began = true;
    fn(tx);
    tx.commit();
    return {};
  } catch (const pqxx::in_doubt_error& e) {
    // The commit's answer was lost: it may have happened. Never run it again.
    conn_.reset();
    began = true;
    return lost(e);
  } catch (const pqxx::broken_connection& e) {
    conn_.reset();
    return lost(e);
  } catch (const pqxx::unique_violation& e) {
    return {status::conflict, e.what()};
  } catch (const pqxx::data_exception& e) {
    return {status::invalid, e.what()};
  } catch (const std::exception& e) {
    // Admin shutdown and similar server-side terminations also end the connection.
    if (!conn_->is_open()) {
      conn_.reset();
      return lost(e);
    }
    return {status::error, e.what()};
  }
}

outcome session::run(const std::function<void(pqxx::work&)>& fn, bool idempotent) {
  bool reused = conn_ && conn_->is_open();
  if (auto c = connect(); !c.ok()) {
    return c;
  }
  bool began = false;
  auto r = attempt(fn, began);
  // A connection kept from an earlier call may have died meanwhile (a server restart):
  // once more on a fresh one, when nothing of `fn` ran or running it again is harmless.
  if (r.code == status::unavailable && reused && (!began || idempotent)) {
    if (auto c = connect(); !c.ok()) {
      return c;
    }
    r = attempt(fn, began);
  }
  return r;
}

outcome session::transact(const std::function<void(pqxx::work&)>& fn) {
  return run(fn, false);
}

outcome session::read(const std::function<void(pqxx::work&)>& fn) {
  return run(fn, true);
}

outcome session::ping() {
  return read([](pqxx::work& tx) { tx.exec("SELECT 1"); });
}

} // namespace herald::postgres
