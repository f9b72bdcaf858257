#pragma once

// notification_intake: the `queued` record of each notification the gateway accepts,
// written before the gateway publishes it, so that a GET right after the 202 finds it
// (read your own write), and so that notification_db's unique (client_id, request_id)
// decides, whatever Redis remembers, whether a request_id was seen before (the
// idempotency backstop; migration 0005).
//
// One dedicated I/O thread owns one connection (libpqxx blocks) and group-commits: every
// record and release submitted while a transaction was being written goes into the next
// one, up to `batch_max`, as one INSERT .. ON CONFLICT DO NOTHING over arrays, plus one
// SELECT for the request_ids that were already taken. Each caller's callback runs on that
// thread once its transaction committed (or failed):
//   inserted     the row is committed, status queued, the timeline's first event
//   existing     (client_id, request_id) was taken: `existing_id` and its fingerprint
//   unavailable  the database is down or failed; nothing was written (the caller decides;
//                the gateway then hands the record to the status writer, which retries)
// The transaction commits without waiting for its WAL flush (synchronous_commit off, for
// it only): visible to every reader at once, which is what the record is for; the durable
// copy is the broker's message. A PostgreSQL crash may lose the last records (the
// worker's status events recreate the row, as before issue 12).
// While the database is unavailable, records fail at once for `retry_interval` after
// each failure, so callers are not held up by a connect timeout per request.
// release(id) deletes a record still `queued` (its message was refused by the broker, or
// its outcome is unknown): fire and forget, in the next transaction.
//
// Not covered: a gateway that dies between the commit and its publish leaves a `queued`
// record with no message.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "actors/messaging/messages.hpp"
#include "runtime/registry/registry.hpp"

namespace herald {

struct intake_record {
  status_event queued;      ///< notification_id, request_id, user_id, channel, ...
  std::string client_id;    ///< who sent it; the scope of its request_id
  std::string fingerprint;  ///< of the request body ("" when there is no request_id)
};

struct intake_result {
  enum class kind { inserted, existing, unavailable };
  kind what = kind::unavailable;
  std::string existing_id;          ///< existing
  std::string existing_fingerprint; ///< existing
  std::string detail;               ///< unavailable: why
};

class notification_intake {
public:
  notification_intake(std::string db_url, std::string node_name, std::size_t batch_max,
                      runtime::entry_ptr entry);
  /// Fails what is queued and stops the thread: joins it, or lets it finish on its own
  /// when called from a callback on that very thread.
  ~notification_intake();
  notification_intake(const notification_intake&) = delete;
  notification_intake& operator=(const notification_intake&) = delete;

  /// Thread-safe, never blocks on the database; `done` runs exactly once.
  void record(intake_record r, std::function<void(const intake_result&)> done);

  /// Deletes the record of `notification_id` if it is still `queued`.
  void release(std::string notification_id);

private:
  struct state;
  std::shared_ptr<state> state_; ///< shared with the thread
  std::thread thread_;
};

} // namespace herald
