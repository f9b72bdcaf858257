#include "actors/notification_store/intake.hpp"

#include "actors/notification_store/status_batch.hpp"
#include "adapters/postgres/session.hpp"
#include "runtime/logging/log.hpp"

namespace herald {

namespace {

const char* const insert_sql = R"sql(
INSERT INTO notifications (id, request_id, user_id, channel, template_code, status, attempts,
                           correlation_id, language, template_version, client_id,
                           request_fingerprint, timeline)
SELECT v.id, NULLIF(v.request_id, ''), v.user_id, v.channel, v.template_code, 'queued', 0,
       v.correlation_id, v.language, v.template_version, v.client_id,
       NULLIF(v.fingerprint, ''),
       jsonb_build_array(jsonb_build_object(
         'status', 'queued', 'detail', '', 'node', $11::text,
         'at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::text[], $8::integer[], $9::text[], $10::text[])
  AS v(id, request_id, user_id, channel, template_code, correlation_id, language,
       template_version, client_id, fingerprint)
ON CONFLICT (client_id, request_id) WHERE client_id IS NOT NULL AND request_id IS NOT NULL
DO NOTHING
RETURNING id::text
)sql";

const char* const release_sql =
  "DELETE FROM notifications WHERE id = ANY($1::uuid[]) AND status = 'queued'";

} // namespace

struct notification_intake::state {
  struct job {
    intake_record rec;
    std::function<void(const intake_result&)> done;
  };

  state(std::string url, std::string node, std::size_t max, runtime::entry_ptr e)
    : db(std::move(url)), node_name(std::move(node)), batch_max(max), entry(std::move(e)) {}

  void loop();
  void write(std::vector<job>& batch, std::vector<std::string>& releases);

  postgres::session db;
  std::string node_name;
  std::size_t batch_max;
  runtime::entry_ptr entry;
  std::chrono::steady_clock::time_point retry_after{};

  std::mutex mtx;
  std::condition_variable cv;
  std::deque<job> queue;
  std::vector<std::string> releases;
  bool stopping = false;
};

notification_intake::notification_intake(std::string db_url, std::string node_name,
                                         std::size_t batch_max, runtime::entry_ptr entry)
  : state_(std::make_shared<state>(std::move(db_url), std::move(node_name), batch_max,
                                   std::move(entry))) {
  state_->entry->set_state("running");
  thread_ = std::thread([st = state_] { st->loop(); });
}

notification_intake::~notification_intake() {
  {
    std::lock_guard<std::mutex> lock{state_->mtx};
    state_->stopping = true;
  }
  state_->cv.notify_one();
  if (thread_.get_id() == std::this_thread::get_id()) {
    thread_.detach(); // the thread holds the state and ends after this callback
  } else {
    thread_.join();
  }
}

void notification_intake::record(intake_record r, std::function<void(const intake_result&)> done) {
  auto& st = *state_;
  {
    std::lock_guard<std::mutex> lock{st.mtx};
    if (!st.stopping) {
      st.queue.push_back({std::move(r), std::move(done)});
      st.entry->mailbox = static_cast<std::int64_t>(st.queue.size());
      st.cv.notify_one();
      return;
    }
  }
  intake_result out;
  out.detail = "notification intake stopping";
  done(out);
}

void notification_intake::release(std::string notification_id) {
  auto& st = *state_;
  std::lock_guard<std::mutex> lock{st.mtx};
  if (!st.stopping) {
    st.releases.push_back(std::move(notification_id));
    st.cv.notify_one();
  }
}

void notification_intake::state::loop() {
  std::vector<job> batch;
  std::vector<std::string> taken_releases;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock{mtx};
      cv.wait(lock, [&] { return stopping || !queue.empty() || !releases.empty(); });
      if (stopping) {
        while (!queue.empty()) {
          batch.push_back(std::move(queue.front()));
          queue.pop_front();
        }
        lock.unlock();
        intake_result out;
        out.detail = "notification intake stopping";
        for (auto& j : batch) {
          j.done(out);
        }
        return;
      }
      while (!queue.empty() && batch.size() < batch_max) {
        batch.push_back(std::move(queue.front()));
        queue.pop_front();
      }
      taken_releases.swap(releases);
      entry->mailbox = static_cast<std::int64_t>(queue.size());
    }
    write(batch, taken_releases);
    batch.clear();
    taken_releases.clear();
  }
}

void notification_intake::state::write(std::vector<job>& batch, std::vector<std::string>& releases) {
  static const log::context who{"", "notification_intake", {}};
  std::vector<intake_result> results(batch.size());
  auto fail_all = [&](const std::string& why) {
    for (auto& j : batch) {
      intake_result out;
      out.detail = why;
      j.done(out);
    }
    entry->failed += batch.size();
  };
  if (std::chrono::steady_clock::now() < retry_after) {
    fail_all("notification database unavailable");
    return;
  }
  std::vector<std::string> cols[10];
  std::vector<int> versions;
  for (auto& j : batch) {
    auto& e = j.rec.queued;
    cols[0].push_back(e.notification_id);
    cols[1].push_back(e.request_id);
    cols[2].push_back(e.user_id);
    cols[3].push_back(e.channel);
    cols[4].push_back(e.template_code);
    cols[5].push_back(e.correlation_id);
    cols[6].push_back(e.language);
    versions.push_back(e.template_version);
    cols[8].push_back(j.rec.client_id);
    cols[9].push_back(j.rec.fingerprint);
  }
  std::vector<request_id_backstop::row> keys;
  keys.reserve(batch.size());
  for (auto& j : batch) {
    keys.push_back({j.rec.queued.notification_id, j.rec.client_id, j.rec.queued.request_id});
  }
  request_id_backstop backstop;
  auto r = db.transact([&](pqxx::work& tx) {
    // The broker holds the message durably and the workers' statuses are synchronous;
    // this record only has to be visible at once, which a commit is before its flush.
    tx.exec("SET LOCAL synchronous_commit TO OFF");
    if (!releases.empty()) {
      tx.exec_params(release_sql, pg_text_array(releases));
    }
    if (batch.empty()) {
      return;
    }
    auto rows = tx.exec_params(insert_sql, pg_text_array(cols[0]), pg_text_array(cols[1]),
                               pg_text_array(cols[2]), pg_text_array(cols[3]),
                               pg_text_array(cols[4]), pg_text_array(cols[5]),
                               pg_text_array(cols[6]), pg_int_array(versions),
                               pg_text_array(cols[8]), pg_text_array(cols[9]), node_name);
    backstop.resolve(tx, rows, keys);
  });
  if (!r.ok()) {
    if (r.code == postgres::status::unavailable) {
      retry_after = std::chrono::steady_clock::now() + std::chrono::milliseconds{250};
      entry->set_state("waiting for database");
    }
    log::warn(who, "queued records not written", {{"error", r.detail}, {"records", batch.size()}});
    fail_all("notification database: " + r.detail);
    return;
  }
  entry->set_state("running");
  entry->processed += batch.size();
  for (std::size_t i = 0; i < batch.size(); ++i) {
    intake_result out;
    auto v = backstop.of(keys[i]);
    if (v.inserted) {
      out.what = intake_result::kind::inserted;
    } else if (!v.existing_id.empty()) {
      out.what = intake_result::kind::existing;
      out.existing_id = std::move(v.existing_id);
      out.existing_fingerprint = std::move(v.existing_fingerprint);
    } else {
      out.detail = "queued record neither written nor found"; // released meanwhile: retry
    }
    batch[i].done(out);
  }
}

} // namespace herald
