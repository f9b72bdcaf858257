#pragma once

// One PostgreSQL connection (libpqxx), opened lazily and reopened after it is lost.
// Blocking and not thread-safe: owned by one detached actor. `transact` runs a function
// in one transaction and returns the outcome as a value.
//
// A connection kept between calls can be dead without anyone knowing (the server was
// restarted): the first call to find that out reconnects and runs again once, so a
// server that is back answers at once. `transact` does so only when the failure came
// before `fn` started (at BEGIN, which is where a stale connection fails); `read`, for
// functions that may safely run twice, also when `fn` had started.

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

  /// As transact, for an idempotent `fn` (a read): a connection found lost during `fn`
  /// is also replaced and `fn` run again once.
  outcome read(const std::function<void(pqxx::work&)>& fn);

  /// Connects if needed and runs SELECT 1.
  outcome ping();

private:
  outcome connect();
  outcome run(const std::function<void(pqxx::work&)>& fn, bool idempotent);
  outcome attempt(const std::function<void(pqxx::work&)>& fn, bool& began);

  std::string url_;
  std::unique_ptr<pqxx::connection> conn_;
};

} // namespace herald::postgres
