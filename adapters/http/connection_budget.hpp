#pragma once

// How many connections the HTTP servers of a process hold open, and which one gives way
// when a new one arrives at the cap. Pure policy (no sockets): http::server asks it at
// every accept, and tells it when a connection turns idle, busy again, or closes.

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <optional>

namespace herald::http {

/// The most connections to hold when `configured` are asked for and the process may open
/// `open_files_limit` descriptors (RLIMIT_NOFILE): a reserve is kept for everything else
/// the process opens (database, broker and SMTP connections, logs, refusals in progress).
/// At least 1.
std::size_t connection_cap(std::size_t configured, std::size_t open_files_limit);
/// The same with this process's RLIMIT_NOFILE.
std::size_t connection_cap(std::size_t configured);

/// A connection the budget may close to make room: one with nothing in progress.
class evictable {
public:
  virtual ~evictable() = default;
  /// Called with the budget's lock held: close soon, without calling back into the budget
  /// from inside (post the closing to the connection's own thread).
  virtual void evict() = 0;

private:
  friend class connection_budget;
  // Guarded by the budget's lock.
  std::optional<std::list<std::weak_ptr<evictable>>::iterator> idle_at_;
  bool holds_slot_ = false;
};

/// Open connections, shared by every server given the same budget (Herald's servers share
/// one per process). Thread-safe.
class connection_budget {
public:
  /// `refusals`: connections past the cap that may be answered 503 at once (each holds a
  /// descriptor until its answer is out); past that they are closed unanswered.
  explicit connection_budget(std::size_t capacity, std::size_t refusals = 64);

  /// A slot for the new connection `c`: true when one was free, or was taken from the
  /// longest-idle connection (evicted: its evict() is called); false when every connection
  /// is busy: refuse `c`.
  bool admit(evictable& c);
  /// `c` has nothing in progress: it may be evicted, longest-idle first. Idempotent.
  void idle(const std::shared_ptr<evictable>& c);
  /// `c` has work again (a request's first byte arrived). Idempotent.
  void busy(evictable& c);
  /// `c` closed: its slot is free again (unless it was evicted: that slot went to the
  /// connection that evicted it). Idempotent.
  void release(evictable& c);

  /// Room to answer one more refused connection; end_refusal() once it is closed.
  bool begin_refusal();
  void end_refusal();

  std::size_t capacity() const { return capacity_; }
  std::size_t open() const; ///< connections holding a slot
  std::size_t idle_count() const;

private:
  const std::size_t capacity_;
  const std::size_t max_refusals_;
  mutable std::mutex mtx_;
  std::size_t open_ = 0;
  std::size_t refusing_ = 0;
  std::list<std::weak_ptr<evictable>> idle_; ///< longest idle first
};

} // namespace herald::http
