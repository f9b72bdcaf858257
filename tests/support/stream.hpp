#pragma once

// A stream of notifications for fault tests: a poster that posts from a thread of its own
// while a test stops and starts servers, and the accounting every fault test prints
// (accepted = sent + skipped + dead, duplicates at the sink, lost).

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/test_env.hpp"

namespace herald::test {

/// `count` users with addresses u0@domain, u1@domain, ...
std::vector<std::string> make_users(const running_node& node, const std::string& domain,
                                    int count);

/// Posts `count` notifications from a thread of its own, one every `interval` (as fast as
/// the gateway answers when zero), and keeps the ids of the accepted ones. Notification k
/// goes to users[k % users.size()].
class poster {
public:
  poster(const running_node& node, std::vector<std::string> users, std::string code, int count,
         std::chrono::milliseconds interval);
  ~poster();
  poster(const poster&) = delete;
  poster& operator=(const poster&) = delete;

  std::size_t accepted_count() const;
  std::size_t refused_count() const;
  bool done() const { return done_; }
  /// Posts no more (the one under way is finished); done() soon after.
  void stop() { stop_ = true; }
  std::vector<std::string> accepted() const;
  /// "<status> <body>" of each POST that was not a 202 (status 0: no answer at all).
  std::vector<std::string> refused() const;

private:
  mutable std::mutex mutex_;
  std::vector<std::string> accepted_;
  std::vector<std::string> refused_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> done_{false};
  std::thread thread_;
};

/// How many mails the scriptable relay (HERALD_TEST_RELAY_MAILDIR) stored per notification
/// id, among those whose recipient contains `rcpt` (mails_per_notification for the sink).
std::map<std::string, int> relay_mails_per_notification(const std::string& rcpt);

/// Every one of `ids` is sent, skipped or dead in notification_db.
bool all_final(const std::vector<std::string>& ids);

struct accounting {
  std::size_t accepted = 0, sent = 0, skipped = 0, dead = 0, other = 0, lost = 0;
  int duplicates = 0;
};

/// Counts what became of `ids` (statuses in notification_db, mails in `mailed`: mails per
/// notification) and prints it under `name`.
accounting account(const std::string& name, const std::vector<std::string>& ids,
                   const std::map<std::string, int>& mailed);

} // namespace herald::test
