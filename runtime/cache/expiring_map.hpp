#pragma once

// A small thread-safe map whose entries expire after a fixed time, for read-mostly
// lookups on hot paths (threads that are not actors read it directly: no message, no
// allocation on a hit). Bounded: when full, inserting drops the whole map, which is
// cheaper and simpler than LRU bookkeeping and only ever costs re-reads.
//
// It promises freshness only within `ttl` of an entry's insertion, unless the owner
// erases entries it learns are stale; it never promises that a missing key is absent
// elsewhere.

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace herald::runtime {

template <class Value>
class expiring_map {
public:
  using clock = std::chrono::steady_clock;

  expiring_map(std::chrono::milliseconds ttl, std::size_t capacity)
    : ttl_(ttl), capacity_(capacity) {}

  /// The value if present and younger than the ttl.
  std::optional<Value> find(const std::string& key, clock::time_point now = clock::now()) const {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = entries_.find(key);
    if (i == entries_.end() || now - i->second.stored >= ttl_) {
      return std::nullopt;
    }
    return i->second.value;
  }

  void put(const std::string& key, Value value, clock::time_point now = clock::now()) {
    std::lock_guard<std::mutex> guard{mtx_};
    if (entries_.size() >= capacity_ && entries_.find(key) == entries_.end()) {
      entries_.clear();
    }
    entries_.insert_or_assign(key, entry{std::move(value), now});
  }

  void erase(const std::string& key) {
    std::lock_guard<std::mutex> guard{mtx_};
    entries_.erase(key);
  }

  /// Erases every entry whose key satisfies `pred`.
  void erase_if(const std::function<bool(const std::string&)>& pred) {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto i = entries_.begin(); i != entries_.end();) {
      i = pred(i->first) ? entries_.erase(i) : std::next(i);
    }
  }

  std::size_t size() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return entries_.size();
  }

private:
  struct entry {
    Value value;
    clock::time_point stored;
  };

  std::chrono::milliseconds ttl_;
  std::size_t capacity_;
  mutable std::mutex mtx_;
  std::unordered_map<std::string, entry> entries_;
};

} // namespace herald::runtime
