#pragma once

// The node's feed of changes: a service that changed a record announces it, after the
// change committed and before it answers, and whoever keeps copies of such records on this
// node drops them. Delivery is synchronous, in the announcer's thread, so a client that got
// the service's answer can never see a stale copy on this node afterwards. Subscribers
// must be quick and must not block (erase from a map). Other nodes are not told: their
// copies expire on their own.

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace herald::runtime {

class change_feed {
public:
  using subscriber = std::function<void(const std::string& key)>;

  /// Topics used by Herald's services.
  static constexpr const char* users = "users";         ///< key: user id
  static constexpr const char* templates = "templates"; ///< key: template code

  void subscribe(const std::string& topic, subscriber fn) {
    std::lock_guard<std::mutex> guard{mtx_};
    subscribers_[topic].push_back(std::move(fn));
  }

  void announce(const std::string& topic, const std::string& key) const {
    std::lock_guard<std::mutex> guard{mtx_};
    if (auto i = subscribers_.find(topic); i != subscribers_.end()) {
      for (auto& fn : i->second) {
        fn(key);
      }
    }
  }

private:
  mutable std::mutex mtx_;
  std::map<std::string, std::vector<subscriber>> subscribers_;
};

} // namespace herald::runtime
