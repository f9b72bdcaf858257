#pragma once

// Compiled template versions by key, bounded by count and by estimated memory
// (compiled_template::bytes(): the record and its parsed trees); the least recently used
// go first. Versions are immutable, so an entry never goes stale and evicting one only
// costs a re-read and a re-parse. A version larger than the whole byte bound is not kept.
// An evicted version stays alive while someone still renders it (shared_ptr).
// Not thread-safe: one actor owns it.

#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>

#include "actors/template_cache/render.hpp"

namespace herald {

class compiled_cache {
public:
  using compiled_ptr = std::shared_ptr<const compiled_template>;

  compiled_cache(std::size_t max_entries, std::size_t max_bytes)
    : max_entries_(max_entries), max_bytes_(max_bytes) {}

  /// The version under `key`, now the most recently used; null when absent.
  compiled_ptr find(const std::string& key) {
    auto i = index_.find(key);
    if (i == index_.end()) {
      return nullptr;
    }
    order_.splice(order_.begin(), order_, i->second);
    return i->second->second;
  }

  /// Keeps `c` under `key` (replacing what was there), evicting the least recently used
  /// until both bounds hold.
  void put(const std::string& key, compiled_ptr c) {
    erase(key);
    if (c->bytes() > max_bytes_) {
      return;
    }
    while (!order_.empty() && (order_.size() >= max_entries_ || bytes_ + c->bytes() > max_bytes_)) {
      erase(order_.back().first);
    }
    bytes_ += c->bytes();
    order_.emplace_front(key, std::move(c));
    index_[key] = order_.begin();
  }

  std::size_t size() const { return order_.size(); }
  std::size_t bytes() const { return bytes_; }

private:
  void erase(const std::string& key) {
    auto i = index_.find(key);
    if (i == index_.end()) {
      return;
    }
    bytes_ -= i->second->second->bytes();
    order_.erase(i->second);
    index_.erase(i);
  }

  std::size_t max_entries_;
  std::size_t max_bytes_;
  std::size_t bytes_ = 0;
  std::list<std::pair<std::string, compiled_ptr>> order_; ///< most recently used first
  std::unordered_map<std::string, std::list<std::pair<std::string, compiled_ptr>>::iterator>
    index_;
};

} // namespace herald
