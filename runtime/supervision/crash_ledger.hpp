#pragma once

// What a worker's crashes leave behind, kept by its tree (not by the worker, which a crash
// wipes): which messages were in flight when it crashed, how often each crashed it, with
// what error, and which were sent but not yet recorded when it died. A service creates one
// ledger per tree and gives it to each incarnation of its worker; it knows no service (ids
// are the messages' notification ids).
//
// Poison messages: a worker tells the ledger which messages it has started (started) and
// which have left it (finished; forget once settled for good). When it crashes (its
// exception handler calls crashed), every message in flight is blamed once. A message
// blamed once is a suspect: the worker processes it alone, so a crash then is its own; one
// blamed `poison_after` times is poison: the worker settles it as a permanent failure
// without touching it again.
//
// Sends that outlive their sender: the connection that sent a message notes it (sent);
// the worker forgets it once its outcome is recorded. A redelivery of a message still
// noted (its worker crashed between send and record) is recorded as sent, not sent again.
//
// Bounded: at most `max_entries` ids are remembered as blamed, and as sent; past that new
// ones are not remembered (a crash then blames fewer messages; a duplicate becomes
// possible again). Thread-safe: the worker, its exception handler and the connections may
// call it from different threads.

#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace herald::runtime {

class crash_ledger {
public:
  explicit crash_ledger(int poison_after = 2, std::size_t max_entries = 100000)
    : poison_after_(poison_after), max_entries_(max_entries) {}

  /// `id` is being worked on.
  void started(const std::string& id) {
    std::lock_guard<std::mutex> guard{mtx_};
    in_flight_.insert(id);
  }

  /// `id` is no longer worked on (settled, or handed back to the queue).
  void finished(const std::string& id) {
    std::lock_guard<std::mutex> guard{mtx_};
    in_flight_.erase(id);
  }

  /// `id` is settled for good: its crashes and its unrecorded send are forgotten.
  void forget(const std::string& id) {
    std::lock_guard<std::mutex> guard{mtx_};
    blamed_.erase(id);
    sent_.erase(id);
  }

  /// The worker crashed with `what`: every message in flight is blamed once. Answers how
  /// many were.
  std::size_t crashed(const std::string& what) {
    std::lock_guard<std::mutex> guard{mtx_};
    std::size_t n = 0;
    for (auto& id : in_flight_) {
      auto i = blamed_.find(id);
      if (i == blamed_.end()) {
        if (blamed_.size() >= max_entries_) {
          continue;
        }
        i = blamed_.emplace(id, blame{}).first;
      }
      i->second.crashes += 1;
      i->second.error = what;
      ++n;
    }
    in_flight_.clear();
    return n;
  }

  /// Crashes `id` was in flight for.
  int crashes(const std::string& id) const {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = blamed_.find(id);
    return i == blamed_.end() ? 0 : i->second.crashes;
  }

  /// The error of the last crash `id` was blamed for ("" when none).
  std::string last_error(const std::string& id) const {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = blamed_.find(id);
    return i == blamed_.end() ? std::string{} : i->second.error;
  }

  bool suspect(const std::string& id) const {
    auto n = crashes(id);
    return n > 0 && n < poison_after_;
  }
  bool poison(const std::string& id) const { return crashes(id) >= poison_after_; }

  /// A connection sent `id`; its outcome is not recorded yet.
  void sent(const std::string& id) {
    std::lock_guard<std::mutex> guard{mtx_};
    if (sent_.size() < max_entries_) {
      sent_.insert(id);
    }
  }

  /// `id` was sent and its outcome never recorded.
  bool was_sent(const std::string& id) const {
    std::lock_guard<std::mutex> guard{mtx_};
    return sent_.count(id) > 0;
  }

  std::size_t blamed_count() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return blamed_.size();
  }

private:
  struct blame {
    int crashes = 0;
    std::string error;
  };
  int poison_after_;
  std::size_t max_entries_;
  mutable std::mutex mtx_;
  std::unordered_set<std::string> in_flight_;
  std::unordered_map<std::string, blame> blamed_;
  std::unordered_set<std::string> sent_;
};

} // namespace herald::runtime
