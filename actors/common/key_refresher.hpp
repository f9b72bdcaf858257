#pragma once

// Keeps the node's copy of the active API keys (runtime/auth/key_set.hpp) in step with
// user_db: a dedicated thread (never CAF's scheduler, never an HTTP thread) owning one
// connection reads every active key each auth.keys_refresh_ms and replaces the copy. A key
// revoked on another node is therefore refused here within that interval (plus one
// query); through this node, at once (the api-keys store updates the copy itself).
//
// While PostgreSQL is unreachable the last copy stays in use: keys keep working, and a
// revocation made meanwhile elsewhere (it needs the database too) is seen once it is back.
// Before the first load no key can be checked (503); readiness names it.
//
// Listed in the registry as api_keys/refresher: processed (reloads), failed, state, and
// the counter active_keys.

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "runtime/auth/key_set.hpp"
#include "runtime/config/settings.hpp"
#include "runtime/registry/registry.hpp"

namespace herald {

class key_refresher {
public:
  key_refresher(const config::settings& s, runtime::registry& registry,
                std::shared_ptr<auth::key_set> keys);
  /// Stops the thread (after the query it may be running).
  ~key_refresher();
  key_refresher(const key_refresher&) = delete;
  key_refresher& operator=(const key_refresher&) = delete;

  /// For /health/ready: "" once the keys are loaded, else why they are not.
  std::string not_ready() const;

private:
  void run(std::string db_url, std::chrono::milliseconds interval);

  std::shared_ptr<auth::key_set> keys_;
  runtime::entry_ptr entry_;
  mutable std::mutex mtx_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::string last_error_ = "not loaded yet";
  std::thread thread_;
};

} // namespace herald
