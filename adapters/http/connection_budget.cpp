#include "adapters/http/connection_budget.hpp"

#include <sys/resource.h>

#include <algorithm>

namespace herald::http {

std::size_t connection_cap(std::size_t configured, std::size_t open_files_limit) {
  // 256 descriptors cover the process's own connections (a few per pool), its files and the
  // refusals answered past the cap; a small limit keeps half for them.
  auto reserve = std::min<std::size_t>(256, open_files_limit / 2);
  return std::max<std::size_t>(1, std::min(configured, open_files_limit - reserve));
}

std::size_t connection_cap(std::size_t configured) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) {
    return configured;
  }
  return connection_cap(configured, static_cast<std::size_t>(limit.rlim_cur));
}

connection_budget::connection_budget(std::size_t capacity, std::size_t refusals)
  : capacity_(std::max<std::size_t>(1, capacity)), max_refusals_(refusals) {}

bool connection_budget::admit(evictable& c) {
  std::shared_ptr<evictable> victim; // released after the lock: it may be the last owner
  std::lock_guard<std::mutex> guard{mtx_};
  if (open_ < capacity_) {
    ++open_;
    c.holds_slot_ = true;
    return true;
  }
  for (auto it = idle_.begin(); it != idle_.end(); ++it) {
    victim = it->lock();
    if (!victim) {
      continue; // being destroyed: its release() (waiting for the lock) removes it
    }
    idle_.erase(it);
    victim->idle_at_.reset();
    victim->holds_slot_ = false;
    c.holds_slot_ = true;
    victim->evict();
    return true;
  }
  return false;
}

void connection_budget::idle(const std::shared_ptr<evictable>& c) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (c->holds_slot_ && !c->idle_at_) {
    c->idle_at_ = idle_.insert(idle_.end(), c);
  }
}

void connection_budget::busy(evictable& c) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (c.idle_at_) {
    idle_.erase(*c.idle_at_);
    c.idle_at_.reset();
  }
}

void connection_budget::release(evictable& c) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (c.idle_at_) {
    idle_.erase(*c.idle_at_);
    c.idle_at_.reset();
  }
  if (c.holds_slot_) {
    c.holds_slot_ = false;
    --open_;
  }
}

bool connection_budget::begin_refusal() {
  std::lock_guard<std::mutex> guard{mtx_};
  if (refusing_ >= max_refusals_) {
    return false;
  }
  ++refusing_;
  return true;
}

void connection_budget::end_refusal() {
  std::lock_guard<std::mutex> guard{mtx_};
  --refusing_;
}

std::size_t connection_budget::open() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return open_;
}

std::size_t connection_budget::idle_count() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return idle_.size();
}

} // namespace herald::http
