#include "actors/common/key_refresher.hpp"

#include <nlohmann/json.hpp>

#include "adapters/postgres/session.hpp"
#include "runtime/logging/log.hpp"

namespace herald {

namespace {

/// Every active key: digest (hex) -> id, name, scopes.
postgres::outcome read_active_keys(postgres::session& db, auth::key_set::keys& out) {
  return db.read([&](pqxx::work& tx) {
    out.clear();
    auto rows = tx.exec("SELECT id, name, key_sha256, to_json(scopes) AS scopes "
                        "FROM api_keys WHERE revoked_at IS NULL");
    for (const auto& row : rows) {
      auto digest = auth::from_hex(row["key_sha256"].c_str());
      if (!digest) {
        continue; // the table's CHECK makes this impossible
      }
      auth::api_key_info info{row["id"].c_str(), row["name"].c_str(), 0};
      for (auto& name : nlohmann::json::parse(row["scopes"].c_str())) {
        if (auto s = auth::scope_named(name.get<std::string>())) {
          info.scopes = info.scopes | *s; // a scope no longer known grants nothing
        }
      }
      out.emplace(std::move(*digest), std::make_shared<const auth::api_key_info>(std::move(info)));
    }
  });
}

} // namespace

key_refresher::key_refresher(const config::settings& s, runtime::registry& registry,
                             std::shared_ptr<auth::key_set> keys)
  : keys_(std::move(keys)), entry_(registry.enlist("api_keys/refresher", "auth", "io_thread")) {
  auto url = postgres::database_url(s.get("pg.url"), s.get("pg.user_db"), std::chrono::seconds{2});
  thread_ = std::thread{[this, url, interval = s.get_ms("auth.keys_refresh_ms")] {
    run(url, interval);
  }};
}

key_refresher::~key_refresher() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

std::string key_refresher::not_ready() const {
  if (keys_->loaded()) {
    return {};
  }
  std::lock_guard<std::mutex> guard{mtx_};
  return "API keys not loaded: " + last_error_;
}

void key_refresher::run(std::string db_url, std::chrono::milliseconds interval) {
  log::context who{"auth", "api_keys/refresher", {}};
  postgres::session db{db_url};
  auth::key_set::keys fresh;
  bool failing = false;
  std::unique_lock<std::mutex> lock{mtx_};
  while (!stopping_) {
    lock.unlock();
    auto read_at = keys_->generation();
    auto r = read_active_keys(db, fresh);
    if (r.ok()) {
      entry_->counter("active_keys") = fresh.size();
      keys_->replace(std::move(fresh), read_at);
      fresh = {};
      entry_->processed += 1;
      entry_->set_state("loaded");
      if (failing) {
        log::info(who, "API keys reloaded from the user database again");
      }
    } else {
      entry_->failed += 1;
      auto loaded = keys_->loaded();
      entry_->set_state(loaded ? "stale (keeps the last keys)" : "not loaded");
      if (!failing) {
        log::warn(who,
                  loaded ? "cannot reload the API keys; the last ones loaded stay in use"
                         : "cannot load the API keys; until they are, API keys answer 503",
                  {{"error", r.detail}});
      }
    }
    failing = !r.ok();
    lock.lock();
    if (!r.ok()) {
      last_error_ = r.detail;
    }
    wake_.wait_for(lock, interval, [this] { return stopping_; });
  }
}

} // namespace herald
