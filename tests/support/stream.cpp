#include "support/stream.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>

#include "support/herald_api.hpp"
#include "support/notification_db.hpp"

namespace herald::test {

using steady = std::chrono::steady_clock;

std::vector<std::string> make_users(const running_node& node, const std::string& domain,
                                    int count) {
  std::vector<std::string> ids;
  for (int i = 0; i < count; ++i) {
    ids.push_back(create_user(node, {{"email", "u" + std::to_string(i) + "@" + domain}}));
  }
  return ids;
}

poster::poster(const running_node& node, std::vector<std::string> users, std::string code,
               int count, std::chrono::milliseconds interval)
    : thread_([this, &node, users = std::move(users), code = std::move(code), count, interval] {
        auto start = steady::now();
        for (int k = 0; k < count && !stop_; ++k) {
          std::this_thread::sleep_until(start + k * interval); // the stream's pace
          auto r = post_json(node.url() + "/api/v1/notifications",
                             {{"notification_type", "email"},
                              {"user_id", users[static_cast<std::size_t>(k) % users.size()]},
                              {"template_code", code},
                              {"variables", {{"name", std::to_string(k)}}}});
          std::lock_guard lock{mutex_};
          if (r.status == 202) {
            accepted_.push_back(r.body["data"]["notification_id"].get<std::string>());
          } else {
            refused_.push_back(std::to_string(r.status) + " " + r.raw);
          }
        }
        done_ = true;
      }) {}

poster::~poster() {
  stop_ = true;
  thread_.join();
}

std::size_t poster::accepted_count() const {
  std::lock_guard lock{mutex_};
  return accepted_.size();
}

std::size_t poster::refused_count() const {
  std::lock_guard lock{mutex_};
  return refused_.size();
}

std::vector<std::string> poster::accepted() const {
  std::lock_guard lock{mutex_};
  return accepted_;
}

std::vector<std::string> poster::refused() const {
  std::lock_guard lock{mutex_};
  return refused_;
}

std::map<std::string, int> relay_mails_per_notification(const std::string& rcpt) {
  std::map<std::string, int> count;
  for (auto& m : mails_to(env("HERALD_TEST_RELAY_MAILDIR"), rcpt)) {
    count[m.header("X-Herald-Notification-ID")] += 1;
  }
  return count;
}

bool all_final(const std::vector<std::string>& ids) {
  auto statuses = read_statuses(ids);
  return statuses.size() == ids.size()
         && std::all_of(statuses.begin(), statuses.end(), [](auto& s) {
              return s.second == "sent" || s.second == "skipped" || s.second == "dead";
            });
}

accounting account(const std::string& name, const std::vector<std::string>& ids,
                   const std::map<std::string, int>& mailed) {
  accounting a;
  a.accepted = ids.size();
  auto statuses = read_statuses(ids);
  for (auto& id : ids) {
    auto s = statuses.find(id);
    auto status = s == statuses.end() ? std::string{} : s->second;
    a.sent += status == "sent";
    a.skipped += status == "skipped";
    a.dead += status == "dead";
    a.other += status != "sent" && status != "skipped" && status != "dead";
    auto m = mailed.find(id);
    if (m != mailed.end()) {
      a.duplicates += std::max(0, m->second - 1);
    }
  }
  a.lost = a.accepted - a.sent - a.skipped - a.dead;
  BOOST_TEST_MESSAGE(name << ": accepted " << a.accepted << ", sent " << a.sent << ", skipped "
                          << a.skipped << ", dead " << a.dead << ", duplicates at the sink "
                          << a.duplicates << ", lost " << a.lost);
  return a;
}

} // namespace herald::test
