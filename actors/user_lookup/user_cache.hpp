#pragma once

// The Redis side of user lookups: cached profiles guarded by a per-user generation key, so
// a lookup that read PostgreSQL before a change can never leave its stale copy in the
// cache after that change's invalidation (the scheme is explained in user_lookup.hpp).
// Blocking (hiredis); owned by one store worker. Never throws for Redis errors.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "adapters/redis/client.hpp"

namespace herald {

class user_cache {
public:
  user_cache(std::string redis_url, std::chrono::seconds ttl);

  /// What one read found.
  struct probe {
    bool available = false;          ///< Redis answered
    std::optional<std::string> value; ///< the cached profile JSON, if cached
    std::string generation;          ///< the user's generation ("" before the first change)
    std::string error;               ///< why Redis did not answer
  };

  /// Reads the cached copy and the generation in one round trip (MGET).
  probe read(const std::string& user_id);

  /// The same for many users in one round trip (one MGET): a probe per id, in order.
  std::vector<probe> read_many(const std::vector<std::string>& user_ids);

  /// One fill of fill_many: the generation read before querying PostgreSQL, and the value.
  struct fill_entry {
    std::string user_id;
    std::string generation;
    std::string value;
  };

  /// fill() for many users in one atomic script (one round trip): each is cached unless
  /// its generation changed. Returns how many were stored, or nullopt on error (`error`).
  std::optional<std::size_t> fill_many(const std::vector<fill_entry>& entries,
                                       std::string& error);

  /// Caches `value` unless the user's generation changed since `generation` was read.
  /// Returns true when stored, false when refused (changed) or on error (`error` set).
  bool fill(const std::string& user_id, const std::string& generation, const std::string& value,
            std::string& error);

  /// After a committed change: bumps the generation and deletes the cached copy, in one
  /// atomic script. False on error (`error` set).
  bool invalidate(const std::string& user_id, std::string& error);

  /// Redis key of a user's cached profile.
  static std::string value_key(const std::string& user_id);
  /// Redis key of a user's generation.
  static std::string generation_key(const std::string& user_id);

private:
  redis::client redis_;
  std::chrono::seconds ttl_;
};

} // namespace herald
