#include "actors/notification_store/notification_store.hpp"

#include <nlohmann/json.hpp>

#include <deque>
#include <unordered_map>
#include <vector>

#include "actors/common/ids.hpp"
#include "actors/notification_store/notification_list.hpp"
#include "actors/notification_store/status_batch.hpp"
#include "adapters/postgres/session.hpp"
#include "runtime/logging/log.hpp"

namespace herald {

using json = nlohmann::json;

namespace {

using retry_atom = caf::atom_constant<caf::atom("retry")>;

/// One request's events and its requester, answered once they are committed.
struct pending_request {
  std::vector<status_event> events;
  caf::response_promise promise;
};

struct writer_state {
  std::unique_ptr<postgres::session> db;
  std::deque<pending_request> pending;
  std::size_t pending_events = 0;
  bool flush_scheduled = false;
  bool retry_scheduled = false;
  static inline const char* name = "status_writer";
};

caf::behavior status_writer(caf::stateful_actor<writer_state>* self, std::string db_url,
                            std::string node_name, std::size_t batch_max,
                            runtime::entry_ptr entry) {
  self->state.db = std::make_unique<postgres::session>(db_url);
  entry->set_state("running");
  log::context who{"", "status_writer", {}};
  auto schedule_flush = [=] {
    if (!self->state.flush_scheduled && !self->state.retry_scheduled) {
      self->state.flush_scheduled = true;
      self->send(self, flush_atom::value);
    }
  };
  // Writes one transaction of pending requests; false when the database is unavailable
  // (then a retry is scheduled and everything stays pending).
  auto flush = [=]() -> bool {
    auto& st = self->state;
    st.flush_scheduled = false;
    if (st.pending.empty()) {
      return true;
    }
    std::size_t requests = 0;
    std::vector<const status_event*> events;
    while (requests < st.pending.size() && (requests == 0 || events.size() < batch_max)) {
      for (auto& e : st.pending[requests].events) {
        events.push_back(&e);
      }
      ++requests;
    }
    auto rounds = status_batch_rounds(events);
    auto r = st.db->transact([&](pqxx::work& tx) {
      // Defined once per connection (a no-op after that); parsed and planned once.
      tx.conn().prepare(status_upsert_name, status_upsert_sql);
      for (auto& round : rounds) {
        auto& c = round.columns;
        tx.exec_prepared(status_upsert_name, c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
                         c[8], c[9], c[10], node_name, c[11]);
      }
    });
    if (r.code == postgres::status::unavailable) {
      entry->set_state("waiting for database");
      log::warn(who, "status batch not written, retrying",
                {{"error", r.detail}, {"pending", st.pending_events}});
      st.retry_scheduled = true;
      self->delayed_send(self, std::chrono::milliseconds{500}, retry_atom::value);
      return false;
    }
    if (!r.ok()) {
      // A batch the database refuses as data would be refused forever: answer false.
      log::error(who, "status batch refused", {{"error", r.detail}});
    }
    entry->set_state("running");
    for (std::size_t i = 0; i < requests; ++i) {
      st.pending.front().promise.deliver(r.ok());
      st.pending.pop_front();
    }
    st.pending_events -= events.size();
    entry->processed += events.size();
    if (!r.ok()) {
      entry->failed += events.size();
    }
    entry->mailbox = static_cast<std::int64_t>(st.pending_events);
    if (!st.pending.empty()) {
      schedule_flush();
    }
    return true;
  };
  auto enqueue = [=](std::vector<status_event>&& events) -> caf::result<bool> {
    for (auto& e : events) {
      if (!is_uuid(e.notification_id)) {
        return false;
      }
    }
    if (events.empty()) {
      return true;
    }
    auto rp = self->make_response_promise<bool>();
    self->state.pending_events += events.size();
    self->state.pending.push_back({std::move(events), rp});
    entry->mailbox = static_cast<std::int64_t>(self->state.pending_events);
    schedule_flush();
    return rp;
  };
  return {
    [=](record_atom, status_event& e) -> caf::result<bool> {
      std::vector<status_event> events;
      events.push_back(std::move(e));
      return enqueue(std::move(events));
    },
    [=](record_many_atom, std::vector<status_event>& events) -> caf::result<bool> {
      return enqueue(std::move(events));
    },
    [=](statuses_atom,
        const std::vector<std::string>& ids) -> std::tuple<outcome, std::vector<std::string>> {
      auto& st = self->state;
      // What was received before the question is committed first.
      while (!st.pending.empty()) {
        if (st.retry_scheduled || !flush()) {
          return {outcome{503, "notification database unavailable"}, {}};
        }
      }
      std::string array = "{";
      for (auto& id : ids) {
        if (is_uuid(id)) {
          array += (array.size() > 1 ? "," : "") + id;
        }
      }
      array += "}";
      std::unordered_map<std::string, std::string> found;
      auto r = st.db->transact([&](pqxx::work& tx) {
        auto rows = tx.exec_params(
          "SELECT id::text, status FROM notifications WHERE id = ANY($1::uuid[])", array);
        for (const auto& row : rows) {
          found[row[0].c_str()] = row[1].c_str();
        }
      });
      if (!r.ok()) {
        return {outcome{503, r.detail}, {}};
      }
      std::vector<std::string> statuses;
      statuses.reserve(ids.size());
      for (auto& id : ids) {
        auto i = found.find(id);
        statuses.push_back(i == found.end() ? std::string{} : i->second);
      }
      return {outcome{200, {}}, std::move(statuses)};
    },
    [=](flush_atom) { flush(); },
    [=](retry_atom) {
      self->state.retry_scheduled = false;
      flush();
    },
  };
}

struct reader_state {
  std::unique_ptr<postgres::session> db;
  static inline const char* name = "notification_reader";
};

caf::behavior notification_reader(caf::stateful_actor<reader_state>* self, std::string db_url,
                                  runtime::entry_ptr entry) {
  self->state.db = std::make_unique<postgres::session>(db_url);
  entry->set_state("running");
  return {
    [=](read_atom, const std::string& id) -> std::tuple<outcome, std::string> {
      entry->processed += 1;
      if (!is_uuid(id)) {
        return {outcome{404, "no notification with id " + id}, std::string{}};
      }
      json record;
      auto r = self->state.db->read([&](pqxx::work& tx) {
        auto rows = tx.exec_params(
          "SELECT id, request_id, user_id, channel, template_code, status, attempts, "
          "last_error, correlation_id, language, template_version, timeline, "
          "to_char(send_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS send_at, "
          "to_char(created_at AT TIME ZONE 'UTC', "
          "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS created_at, to_char(updated_at AT TIME "
          "ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS updated_at "
          "FROM notifications WHERE id = $1",
          id);
        if (rows.empty()) {
          return;
        }
        auto& row = rows[0];
        auto text = [&](const char* col) -> json {
          return row[col].is_null() ? json(nullptr) : json(row[col].c_str());
        };
        record = {{"notification_id", text("id")},   {"request_id", text("request_id")},
                  {"user_id", text("user_id")},       {"channel", text("channel")},
                  {"template_code", text("template_code")}, {"status", text("status")},
                  {"attempts", row["attempts"].as<int>()},  {"last_error", text("last_error")},
                  {"correlation_id", text("correlation_id")},
                  {"language", row["language"].is_null() || row["language"].size() == 0
                                 ? json(nullptr) : text("language")},
                  {"template_version", row["template_version"].as<int>() == 0
                                         ? json(nullptr)
                                         : json(row["template_version"].as<int>())},
                  {"send_at", text("send_at")},
                  {"created_at", text("created_at")}, {"updated_at", text("updated_at")}};
        auto timeline = json::parse(row["timeline"].c_str(), nullptr, false);
        record["timeline"] = std::move(timeline);
      });
      if (!r.ok()) {
        entry->failed += 1;
        return {outcome{503, r.detail}, std::string{}};
      }
      if (record.is_null()) {
        return {outcome{404, "no notification with id " + id}, std::string{}};
      }
      return {outcome{200, {}}, record.dump()};
    },
    [=](list_notifications_atom, std::string& user_id, std::string& status,
        std::string& channel, std::string& since, std::string& until, std::int64_t offset,
        std::int64_t limit) -> std::tuple<outcome, std::string, std::int64_t, bool> {
      entry->processed += 1;
      notification_filter f{std::move(user_id), std::move(status), std::move(channel),
                             std::move(since), std::move(until)};
      notification_page page;
      auto r = self->state.db->read(
        [&](pqxx::work& tx) { page = list_notifications(tx, f, offset, limit); });
      if (!r.ok()) {
        entry->failed += 1;
        return {outcome{503, r.detail}, std::string{}, 0, false};
      }
      return {outcome{200, {}}, std::move(page.items_json), page.total, page.capped};
    },
  };
}

} // namespace

notification_store spawn_notification_store(node_context& ctx) {
  auto db_url = postgres::database_url(ctx.settings.get("pg.url"),
                                       ctx.settings.get("pg.notification_db"));
  auto batch_max = static_cast<std::size_t>(ctx.settings.get_int("status.batch_max"));
  auto node_name = ctx.settings.get("node.name");
  runtime::pool_spec writer_spec;
  writer_spec.name = "status_writer";
  writer_spec.role = "notifications";
  writer_spec.size = 1;
  writer_spec.spawn_worker = [=](caf::actor_system& sys, runtime::entry_ptr entry) {
    return sys.spawn<caf::detached>(status_writer, db_url, node_name, batch_max, entry);
  };
  auto writer = runtime::spawn_supervised_pool(ctx.system, ctx.registry, std::move(writer_spec));
  runtime::pool_spec spec;
  spec.name = "notification_reader";
  spec.role = "gateway";
  spec.size = static_cast<std::size_t>(ctx.settings.get_int("pg.pool_size"));
  spec.spawn_worker = [=](caf::actor_system& sys, runtime::entry_ptr entry) {
    return sys.spawn<caf::detached>(notification_reader, db_url, entry);
  };
  return {writer, runtime::spawn_supervised_pool(ctx.system, ctx.registry, std::move(spec))};
}

} // namespace herald
