#pragma once

// One PostgreSQL connection (libpqxx), opened lazily and reopened after it is lost.
// Blocking and not thread-safe: owned by one detached actor. `transact` runs a function
// in one transaction and returns the outcome as a value.

#include <pqxx/pqxx>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace herald::postgres {

/// libpq URI for database `db` on the server named by `server_url` (any path in it is
/// replaced), with a connect timeout.
std::string database_url(const std::string& server_url, const std::string& db,
                         std::chrono::seconds connect_timeout = std::chrono::seconds{3});

enum class status { ok, unavailable, conflict, invalid, error };

struct outcome {
  status code = status::ok;
  std::string detail;
  bool ok() const { return code == status::ok; }
};

class session {
public:
  explicit session(std::string url) : url_(std::move(url)) {}

  /// Runs `fn` in one transaction and commits. A lost connection is `unavailable` (the next
  /// call reconnects); a unique violation is `conflict`; bad data is `invalid`.
  outcome transact(const std::function<void(pqxx::work&)>& fn);

  /// Connects if needed and runs SELECT 1.
  outcome ping();

private:
  outcome connect();

  std::string url_;
  std::unique_ptr<pqxx::connection> conn_;
};

} // namespace herald::postgres
