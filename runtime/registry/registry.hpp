#pragma once

// The node's registry of long-lived actors and I/O threads. Every one of them is listed
// with its name, role, kind and state and keeps its own counters here; introspection, the
// cluster view and /metrics read snapshots. An entry outlives the actor incarnation that
// fills it, so restarts accumulate on one row.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

namespace herald::runtime {

/// Counters and state of one actor or thread. Counters are written by their owner only.
class actor_entry {
public:
  actor_entry(std::string name, std::string role, std::string kind)
    : name_(std::move(name)), role_(std::move(role)), kind_(std::move(kind)) {}

  const std::string& name() const { return name_; }
  const std::string& role() const { return role_; }
  const std::string& kind() const { return kind_; }

  void set_state(std::string state) {
    std::lock_guard<std::mutex> guard{mtx_};
    state_ = std::move(state);
  }
  std::string state() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return state_;
  }

  std::atomic<std::uint64_t> processed{0}; ///< messages or requests completed
  std::atomic<std::uint64_t> failed{0};    ///< of those, ended in failure
  std::atomic<std::uint64_t> restarts{0};  ///< incarnations after the first
  std::atomic<std::int64_t> mailbox{0};    ///< queued work not yet taken (gauge)
  std::atomic<std::int64_t> in_flight{0};  ///< work taken, not finished (gauge)

  /// A named counter of this entry (created at zero on first use), for figures particular
  /// to one kind of actor, e.g. `entry->counter("cache_hits") += 1`. The reference stays
  /// valid as long as the entry, so an owner may look it up once and keep it.
  std::atomic<std::uint64_t>& counter(const std::string& name);

  /// The named counters' current values.
  std::map<std::string, std::uint64_t> counters() const;

  /// A descriptive field particular to one kind of entry (e.g. a circuit breaker's relay
  /// and the time of its last change), shown under "info"; set again to change it.
  void set_info(const std::string& key, nlohmann::json value);

  /// name, role, kind, state, the fixed counters, the named ones under "counters", and
  /// "info" when any was set.
  nlohmann::json to_json() const;

private:
  std::string name_;
  std::string role_;
  std::string kind_;
  mutable std::mutex mtx_;
  std::string state_ = "starting";
  std::map<std::string, std::atomic<std::uint64_t>> counters_; ///< nodes never move
  nlohmann::json info_ = nlohmann::json::object();             ///< guarded by mtx_
};

using entry_ptr = std::shared_ptr<actor_entry>;

class registry {
public:
  /// Returns the entry named `name`, creating it on first use.
  entry_ptr enlist(const std::string& name, const std::string& role, const std::string& kind);
  /// Returns the entry or nullptr.
  entry_ptr find(const std::string& name) const;
  /// All entries, ordered by name.
  nlohmann::json snapshot() const;

private:
  mutable std::mutex mtx_;
  std::map<std::string, entry_ptr> entries_;
};

} // namespace herald::runtime
