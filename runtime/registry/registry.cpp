#include "runtime/registry/registry.hpp"

namespace herald::runtime {

std::atomic<std::uint64_t>& actor_entry::counter(const std::string& name) {
  std::lock_guard<std::mutex> guard{mtx_};
  return counters_.try_emplace(name, 0).first->second;
}

std::map<std::string, std::uint64_t> actor_entry::counters() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::map<std::string, std::uint64_t> out;
  for (auto& [name, value] : counters_) {
    out.emplace(name, value.load());
  }
  return out;
}

void actor_entry::set_info(const std::string& key, nlohmann::json value) {
  std::lock_guard<std::mutex> guard{mtx_};
  info_[key] = std::move(value);
}

nlohmann::json actor_entry::to_json() const {
  nlohmann::json out = {{"name", name_},
                        {"role", role_},
                        {"kind", kind_},
                        {"state", state()},
                        {"processed", processed.load()},
                        {"failed", failed.load()},
                        {"restarts", restarts.load()},
                        {"mailbox", mailbox.load()},
                        {"in_flight", in_flight.load()},
                        {"counters", counters()}};
  std::lock_guard<std::mutex> guard{mtx_};
  if (!info_.empty()) {
    out["info"] = info_;
  }
  return out;
}

entry_ptr registry::enlist(const std::string& name, const std::string& role,
                           const std::string& kind) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& slot = entries_[name];
  if (!slot) {
    slot = std::make_shared<actor_entry>(name, role, kind);
  }
  return slot;
}

entry_ptr registry::find(const std::string& name) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = entries_.find(name);
  return i == entries_.end() ? nullptr : i->second;
}

nlohmann::json registry::snapshot() const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto out = nlohmann::json::array();
  for (auto& [name, entry] : entries_) {
    out.push_back(entry->to_json());
  }
  return out;
}

} // namespace herald::runtime
