#include "runtime/auth/key_set.hpp"

#include <algorithm>

namespace herald::auth {

std::shared_ptr<const api_key_info> key_set::find(const std::string& digest) const {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!keys_) {
    return nullptr;
  }
  auto i = keys_->find(digest);
  return i == keys_->end() ? nullptr : i->second;
}

bool key_set::loaded() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return keys_.has_value();
}

std::size_t key_set::size() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return keys_ ? keys_->size() : 0;
}

std::uint64_t key_set::generation() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return generation_;
}

void key_set::apply(keys& to, const change& c) {
  if (!c.digest.empty()) {
    to[c.digest] = std::make_shared<const api_key_info>(c.info);
    return;
  }
  for (auto i = to.begin(); i != to.end(); ++i) {
    if (i->second->id == c.info.id) {
      to.erase(i);
      return;
    }
  }
}

void key_set::replace(keys fresh, std::uint64_t read_at) {
  std::lock_guard<std::mutex> guard{mtx_};
  std::erase_if(journal_, [read_at](const change& c) { return c.generation <= read_at; });
  for (auto& c : journal_) {
    apply(fresh, c);
  }
  keys_ = std::move(fresh);
}

void key_set::add(const std::string& digest, api_key_info info) {
  std::lock_guard<std::mutex> guard{mtx_};
  journal_.push_back({++generation_, digest, std::move(info)});
  if (keys_) {
    apply(*keys_, journal_.back());
  }
}

void key_set::revoke(const std::string& id) {
  std::lock_guard<std::mutex> guard{mtx_};
  journal_.push_back({++generation_, {}, {id, {}, 0}});
  if (keys_) {
    apply(*keys_, journal_.back());
  }
}

} // namespace herald::auth
