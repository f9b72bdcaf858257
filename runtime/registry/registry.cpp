#include "runtime/registry/registry.hpp"

namespace herald::runtime {

std::atomic<std::uint64_t>& actor_entry::counter(const std::string& name) {
  std::lock_guard<std::mutex> guard{mtx_};
  return counters_[name];
}

nlohmann::json actor_entry::to_json() const {
  auto counters = nlohmann::json::object();
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto& [name, value] : counters_) {
      counters[name] = value.load();
    }
  }
  return {{"name", name_},
          {"role", role_},
          {"kind", kind_},
          {"state", state()},
          {"processed", processed.load()},
          {"failed", failed.load()},
          {"restarts", restarts.load()},
          {"mailbox", mailbox.load()},
          {"in_flight", in_flight.load()},
          {"counters", std::move(counters)}};
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
