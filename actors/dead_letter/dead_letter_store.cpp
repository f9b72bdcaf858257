#include "actors/dead_letter/dead_letter_store.hpp"

#include <nlohmann/json.hpp>

#include "actors/common/ids.hpp"
#include "adapters/postgres/session.hpp"

namespace herald {

using json = nlohmann::json;

namespace {

constexpr const char* now_text =
  "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')";

/// The columns of a dead letter as JSON, in SQL (one text column `j`).
const std::string record_sql =
  std::string{"SELECT json_build_object("
              "'id', d.id, 'notification_id', d.notification_id, 'channel', d.channel, "
              "'reason', d.reason, 'detail', d.detail, 'attempts', d.attempts, "
              "'correlation_id', d.correlation_id, "
              "'created_at', to_char(d.created_at AT TIME ZONE 'UTC', "
              "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
              "'replayed_at', to_char(d.replayed_at AT TIME ZONE 'UTC', "
              "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
              "'replays', d.replays, "
              "'notification_status', (SELECT n.status FROM notifications n "
              "WHERE n.id = d.notification_id))::text AS j, d.message "
              "FROM dead_letters d "};

/// A timeline entry as a one-element jsonb array: $status, $detail, $node.
std::string timeline_entry(const std::string& status, const std::string& detail_param,
                           const std::string& node_param) {
  return "jsonb_build_array(jsonb_build_object('status', '" + status + "', 'detail', "
         + detail_param + "::text, 'node', " + node_param + "::text, 'at', " + now_text + "))";
}

outcome from(const postgres::outcome& r) {
  if (r.ok()) {
    return {200, {}};
  }
  return {r.code == postgres::status::unavailable ? 503 : 500, r.detail};
}

struct store_state {
  std::unique_ptr<postgres::session> db;
  static inline const char* name = "dead_letter_store";
};

/// Marks a claimed dead letter replayed and its notification queued again.
void mark_replayed(pqxx::work& tx, const replay_item& item, const std::string& node) {
  tx.exec_params("UPDATE dead_letters SET replayed_at = now(), replays = replays + 1 "
                 "WHERE id = $1::uuid",
                 item.id);
  tx.exec_params("UPDATE notifications SET status = 'queued', attempts = 0, last_error = NULL, "
                 "timeline = timeline || "
                   + timeline_entry("queued", "$2", "$3")
                   + ", updated_at = now() WHERE id = $1::uuid",
                 item.notification_id, "replayed from dead letter " + item.id, node);
}

replay_item item_of(const pqxx::row& row) {
  return {row["id"].c_str(), row["notification_id"].is_null() ? "" : row["notification_id"].c_str(),
          row["channel"].c_str(), row["correlation_id"].c_str(), row["message"].c_str()};
}

const char* claim_columns =
  "SELECT d.id::text AS id, d.notification_id::text AS notification_id, d.channel, "
  "d.correlation_id, d.message, d.replayed_at IS NOT NULL AS replayed, "
  "(SELECT n.status FROM notifications n WHERE n.id = d.notification_id) AS status "
  "FROM dead_letters d ";

caf::behavior dead_letter_store(caf::stateful_actor<store_state>* self, std::string db_url,
                                std::string node, runtime::entry_ptr entry) {
  self->state.db = std::make_unique<postgres::session>(db_url);
  entry->set_state("running");
  auto done = [entry](const outcome& o) {
    entry->processed += 1;
    if (!o.ok()) {
      entry->failed += 1;
    }
    return o;
  };
  return {
    [=](dl_store_atom, const std::vector<dead_letter_in>& letters) -> outcome {
      auto r = self->state.db->transact([&](pqxx::work& tx) {
        for (auto& d : letters) {
          auto stored = tx.exec_params(
            "INSERT INTO dead_letters (id, notification_id, channel, reason, detail, attempts, "
            "correlation_id, message) VALUES ($1::uuid, NULLIF($2, '')::uuid, $3, $4, $5, $6, "
            "$7, $8) ON CONFLICT (notification_id) WHERE replayed_at IS NULL DO NOTHING "
            "RETURNING id",
            d.id, d.notification_id, d.channel, d.reason, d.detail, d.attempts,
            d.correlation_id, d.message);
          if (stored.empty() || d.notification_id.empty()) {
            continue;
          }
          tx.exec_params(
            "INSERT INTO notifications (id, channel, correlation_id, status, attempts, "
            "last_error, timeline) VALUES ($1::uuid, $2, $3, 'dead', $4, $5, "
              + timeline_entry("dead", "$5", "$6")
              + ") ON CONFLICT (id) DO UPDATE SET "
                "status = CASE WHEN notifications.status IN ('sent', 'skipped') "
                "THEN notifications.status ELSE 'dead' END, "
                "attempts = GREATEST(notifications.attempts, EXCLUDED.attempts), "
                "last_error = EXCLUDED.last_error, "
                "timeline = notifications.timeline || EXCLUDED.timeline, updated_at = now()",
            d.notification_id, d.channel, d.correlation_id, d.attempts,
            d.reason + ": " + d.detail, node);
        }
      });
      return done(from(r));
    },
    [=](dl_list_atom, const std::string& reason, const std::string& channel, std::int64_t page,
        std::int64_t limit) -> std::tuple<outcome, std::string> {
      json out = {{"items", json::array()}, {"total", 0}};
      auto r = self->state.db->read([&](pqxx::work& tx) {
        const char* filter = "WHERE ($1 = '' OR d.reason = $1) AND ($2 = '' OR d.channel = $2) ";
        auto total = tx.exec_params(std::string{"SELECT count(*) FROM dead_letters d "} + filter,
                                    reason, channel);
        out["total"] = total[0][0].as<long long>();
        auto rows = tx.exec_params(record_sql + filter
                                     + "ORDER BY d.created_at DESC, d.id LIMIT $3 OFFSET $4",
                                   reason, channel, limit,
                                   static_cast<long long>(page - 1) * limit);
        for (const auto& row : rows) {
          out["items"].push_back(json::parse(row["j"].c_str()));
        }
      });
      return {done(from(r)), r.ok() ? out.dump() : std::string{}};
    },
    [=](dl_get_atom, const std::string& id) -> std::tuple<outcome, std::string> {
      if (!is_uuid(id)) {
        return {done({404, "no dead letter with id " + id}), {}};
      }
      json record;
      auto r = self->state.db->read([&](pqxx::work& tx) {
        auto rows = tx.exec_params(record_sql + "WHERE d.id = $1::uuid", id);
        if (rows.empty()) {
          return;
        }
        record = json::parse(rows[0]["j"].c_str());
        auto message = json::parse(rows[0]["message"].c_str(), nullptr, false);
        record["message"] = message.is_discarded() ? json(rows[0]["message"].c_str()) : message;
      });
      if (!r.ok()) {
        return {done(from(r)), {}};
      }
      if (record.is_null()) {
        return {done({404, "no dead letter with id " + id}), {}};
      }
      return {done({200, {}}), record.dump()};
    },
    [=](dl_claim_atom, const std::string& id) -> std::tuple<outcome, replay_item> {
      if (!is_uuid(id)) {
        return {done({404, "no dead letter with id " + id}), {}};
      }
      outcome verdict{200, {}};
      replay_item item;
      auto r = self->state.db->transact([&](pqxx::work& tx) {
        auto rows = tx.exec_params(std::string{claim_columns} + "WHERE d.id = $1::uuid FOR UPDATE",
                                   id);
        if (rows.empty()) {
          verdict = {404, "no dead letter with id " + id};
          return;
        }
        auto& row = rows[0];
        item = item_of(row);
        if (row["replayed"].as<bool>()) {
          verdict = {409, "dead letter " + id + " was replayed already"};
        } else if (item.notification_id.empty()) {
          verdict = {422, "dead letter " + id + " holds an unreadable message: nothing to replay"};
        } else if (row["status"].is_null() || std::string{row["status"].c_str()} != "dead") {
          verdict = {409, "notification " + item.notification_id + " is "
                            + (row["status"].is_null() ? std::string{"unknown"}
                                                       : std::string{row["status"].c_str()})
                            + ", not dead"};
        } else {
          mark_replayed(tx, item, node);
        }
      });
      if (!r.ok()) {
        return {done(from(r)), {}};
      }
      return {done(verdict), verdict.ok() ? item : replay_item{}};
    },
    [=](dl_claim_many_atom, const std::string& reason, const std::string& channel,
        int limit) -> std::tuple<outcome, std::vector<replay_item>> {
      std::vector<replay_item> items;
      auto r = self->state.db->transact([&](pqxx::work& tx) {
        auto rows = tx.exec_params(
          std::string{claim_columns}
            + "JOIN notifications n ON n.id = d.notification_id "
              "WHERE d.replayed_at IS NULL AND n.status = 'dead' "
              "AND ($1 = '' OR d.reason = $1) AND ($2 = '' OR d.channel = $2) "
              "ORDER BY d.created_at, d.id LIMIT $3 FOR UPDATE OF d SKIP LOCKED",
          reason, channel, limit);
        for (const auto& row : rows) {
          items.push_back(item_of(row));
          mark_replayed(tx, items.back(), node);
        }
      });
      if (!r.ok()) {
        items.clear();
      }
      return {done(from(r)), std::move(items)};
    },
    [=](dl_unclaim_atom, const std::vector<replay_item>& items, const std::string& why) -> outcome {
      auto r = self->state.db->transact([&](pqxx::work& tx) {
        for (auto& item : items) {
          tx.exec_params("UPDATE dead_letters SET replayed_at = NULL, replays = replays - 1 "
                         "WHERE id = $1::uuid AND replayed_at IS NOT NULL",
                         item.id);
          tx.exec_params("UPDATE notifications SET status = 'dead', timeline = timeline || "
                           + timeline_entry("dead", "$2", "$3")
                           + ", updated_at = now() WHERE id = $1::uuid AND status = 'queued'",
                         item.notification_id, "replay not published: " + why, node);
        }
      });
      return done(from(r));
    },
  };
}

} // namespace

runtime::supervised_pool spawn_dead_letter_store(node_context& ctx) {
  auto db_url = postgres::database_url(ctx.settings.get("pg.url"),
                                       ctx.settings.get("pg.notification_db"));
  auto node = ctx.settings.get("node.name");
  runtime::pool_spec spec;
  spec.name = "dead_letter_store";
  spec.role = "dlq";
  spec.size = static_cast<std::size_t>(ctx.settings.get_int("pg.pool_size"));
  spec.spawn_worker = [=](caf::actor_system& sys, runtime::entry_ptr entry) {
    return sys.spawn<caf::detached>(dead_letter_store, db_url, node, entry);
  };
  return runtime::spawn_supervised_pool(ctx.system, ctx.registry, std::move(spec));
}

} // namespace herald
