#include "actors/scheduler/schedule_store.hpp"

#include <nlohmann/json.hpp>

#include "actors/common/ids.hpp"
#include "actors/notification_store/status_batch.hpp"
#include "adapters/postgres/session.hpp"
#include "runtime/logging/log.hpp"

namespace herald {

namespace {

using json = nlohmann::json;

/// A timeline entry {status, detail, node, at} for $status, $detail, $node.
#define HERALD_TIMELINE_ENTRY(status, detail, node)                                          \
  "jsonb_build_array(jsonb_build_object('status', " status ", 'detail', " detail             \
  ", 'node', " node ", 'at', to_char(now() AT TIME ZONE 'UTC', "                             \
  "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')))"

const char* const schedule_sql =
  "WITH n AS ("
  " INSERT INTO notifications (id, request_id, user_id, channel, template_code, status,"
  "   attempts, correlation_id, language, template_version, client_id, request_fingerprint,"
  "   send_at, timeline)"
  " VALUES ($1::uuid, NULLIF($2, ''), $3, $4, $5, 'scheduled', 0, $6, $7, $8::integer, $9,"
  "   NULLIF($10, ''), $11::timestamptz, "
  HERALD_TIMELINE_ENTRY("'scheduled'", "$12::text", "$13::text") ")"
  " ON CONFLICT (client_id, request_id) WHERE client_id IS NOT NULL AND request_id IS NOT NULL"
  " DO NOTHING RETURNING id)"
  " INSERT INTO scheduled_sends (notification_id, send_at, reason, routing_key, body, headers,"
  "   correlation_id, priority)"
  " SELECT id, $11::timestamptz, 'send_at', $14, $15, $16::jsonb, $6, $17::integer FROM n"
  " RETURNING notification_id::text";

const char* const existing_sql =
  "SELECT id::text, COALESCE(request_fingerprint, '') FROM notifications"
  " WHERE client_id = $1 AND request_id = $2";

/// A bulk request's scheduled items: every notification row and every scheduled send of
/// the request in one statement over arrays (a request_id already taken inserts neither).
const char* const schedule_many_sql = R"sql(
WITH v AS (
  SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                       $7::text[], $8::integer[], $9::text[], $10::text[], $11::timestamptz[],
                       $12::text[], $13::text[], $14::text[], $15::integer[])
    AS v(id, request_id, user_id, channel, template_code, correlation_id, language,
         template_version, client_id, fingerprint, send_at, detail, body, headers, priority)
), n AS (
  INSERT INTO notifications (id, request_id, user_id, channel, template_code, status,
                             attempts, correlation_id, language, template_version, client_id,
                             request_fingerprint, send_at, timeline)
  SELECT v.id, NULLIF(v.request_id, ''), v.user_id, v.channel, v.template_code, 'scheduled', 0,
         v.correlation_id, v.language, v.template_version, v.client_id,
         NULLIF(v.fingerprint, ''), v.send_at,
         jsonb_build_array(jsonb_build_object(
           'status', 'scheduled', 'detail', v.detail, 'node', $16::text,
           'at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))
  FROM v
  ON CONFLICT (client_id, request_id) WHERE client_id IS NOT NULL AND request_id IS NOT NULL
  DO NOTHING
  RETURNING id
)
INSERT INTO scheduled_sends (notification_id, send_at, reason, routing_key, body, headers,
                             correlation_id, priority)
SELECT v.id, v.send_at, 'send_at', v.channel, v.body, v.headers::jsonb, v.correlation_id,
       v.priority
FROM v JOIN n ON n.id = v.id
RETURNING notification_id::text
)sql";

const char* const defer_send_sql =
  "INSERT INTO scheduled_sends (notification_id, send_at, reason, routing_key, body, headers,"
  "   correlation_id, priority)"
  " VALUES ($1::uuid, $2::timestamptz, $3, $4, $5, $6::jsonb, $7, $8::integer)"
  " ON CONFLICT (notification_id) DO UPDATE SET send_at = EXCLUDED.send_at, state = 'pending',"
  "   reason = EXCLUDED.reason, routing_key = EXCLUDED.routing_key, body = EXCLUDED.body,"
  "   headers = EXCLUDED.headers, correlation_id = EXCLUDED.correlation_id,"
  "   priority = EXCLUDED.priority, finished_at = NULL"
  " WHERE scheduled_sends.state <> 'cancelled'";

const char* const defer_record_sql =
  "INSERT INTO notifications (id, request_id, user_id, channel, template_code, status,"
  "   correlation_id, send_at, timeline)"
  " VALUES ($1::uuid, NULLIF($2, ''), $3, $4, $5, 'scheduled', $6, $7::timestamptz, "
  HERALD_TIMELINE_ENTRY("'scheduled'", "$8::text", "$9::text") ")"
  " ON CONFLICT (id) DO UPDATE SET status = 'scheduled', send_at = EXCLUDED.send_at,"
  "   timeline = notifications.timeline || EXCLUDED.timeline, updated_at = now()";

const char* const cancel_send_sql =
  "UPDATE scheduled_sends SET state = 'cancelled', finished_at = now()"
  " WHERE notification_id = $1::uuid AND state = 'pending'"
  " RETURNING to_char(send_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')";

const char* const cancel_record_sql =
  "UPDATE notifications SET status = 'cancelled', updated_at = now(), timeline = timeline || "
  HERALD_TIMELINE_ENTRY("'cancelled'", "$2::text", "$3::text")
  " WHERE id = $1::uuid";

#undef HERALD_TIMELINE_ENTRY

std::string headers_json(const std::map<std::string, std::string>& headers) {
  json h = json::object();
  for (auto& [k, v] : headers) {
    h[k] = v;
  }
  return h.dump();
}

struct store_state {
  std::unique_ptr<postgres::session> db;
  static inline const char* name = "schedule_store";
};

caf::behavior schedule_store(caf::stateful_actor<store_state>* self, std::string db_url,
                             std::string node_name, runtime::entry_ptr entry) {
  self->state.db = std::make_unique<postgres::session>(db_url);
  entry->set_state("running");
  log::context who{"", "schedule_store", {}};
  auto done = [entry](const postgres::outcome& r) {
    entry->processed += 1;
    if (!r.ok()) {
      entry->failed += 1;
      entry->set_state(r.code == postgres::status::unavailable ? "waiting for database"
                                                               : "running");
    } else {
      entry->set_state("running");
    }
  };
  return {
    [=](schedule_atom,
        const scheduled_intake& in) -> std::tuple<outcome, std::string, std::string> {
      auto& e = in.record;
      auto& s = in.send;
      bool inserted = false;
      std::string existing_id;
      std::string existing_fingerprint;
      auto r = self->state.db->transact([&](pqxx::work& tx) {
        inserted = false;
        existing_id.clear();
        tx.exec("SET LOCAL synchronous_commit TO ON");
        auto rows = tx.exec_params(schedule_sql, e.notification_id, e.request_id, e.user_id,
                                   e.channel, e.template_code, e.correlation_id, e.language,
                                   e.template_version, in.client_id, in.fingerprint, s.send_at,
                                   s.detail, node_name, s.routing_key, s.body,
                                   headers_json(s.headers), s.priority);
        if (!rows.empty()) {
          inserted = true;
          return;
        }
        auto found = tx.exec_params(existing_sql, in.client_id, e.request_id);
        if (!found.empty()) {
          existing_id = found[0][0].c_str();
          existing_fingerprint = found[0][1].c_str();
        }
      });
      done(r);
      if (!r.ok()) {
        log::warn(who, "scheduled send not written", {{"error", r.detail}});
        return {outcome{503, "notification database: " + r.detail}, {}, {}};
      }
      if (inserted) {
        return {outcome{201, {}}, e.notification_id, in.fingerprint};
      }
      if (existing_id.empty()) {
        return {outcome{503, "scheduled send neither written nor found; retry"}, {}, {}};
      }
      return {outcome{200, {}}, existing_id, existing_fingerprint};
    },
    [=](schedule_many_atom, const std::vector<scheduled_intake>& ins)
      -> std::tuple<outcome, std::vector<std::string>, std::vector<std::string>> {
      std::vector<std::string> cols[14];
      std::vector<int> versions;
      std::vector<int> priorities;
      for (auto& in : ins) {
        auto& e = in.record;
        auto& s = in.send;
        if (!is_uuid(e.notification_id)) {
          return {outcome{400, "not a notification id: " + e.notification_id}, {}, {}};
        }
        cols[0].push_back(e.notification_id);
        cols[1].push_back(e.request_id);
        cols[2].push_back(e.user_id);
        cols[3].push_back(e.channel);
        cols[4].push_back(e.template_code);
        cols[5].push_back(e.correlation_id);
        cols[6].push_back(e.language);
        versions.push_back(e.template_version);
        cols[8].push_back(in.client_id);
        cols[9].push_back(in.fingerprint);
        cols[10].push_back(s.send_at);
        cols[11].push_back(s.detail);
        cols[12].push_back(s.body);
        cols[13].push_back(headers_json(s.headers));
        priorities.push_back(s.priority);
      }
      std::vector<request_id_backstop::row> keys;
      keys.reserve(ins.size());
      for (auto& in : ins) {
        keys.push_back({in.record.notification_id, in.client_id, in.record.request_id});
      }
      request_id_backstop backstop;
      auto r = self->state.db->transact([&](pqxx::work& tx) {
        tx.exec("SET LOCAL synchronous_commit TO ON");
        if (ins.empty()) {
          return;
        }
        auto rows = tx.exec_params(
          schedule_many_sql, pg_text_array(cols[0]), pg_text_array(cols[1]),
          pg_text_array(cols[2]), pg_text_array(cols[3]), pg_text_array(cols[4]),
          pg_text_array(cols[5]), pg_text_array(cols[6]), pg_int_array(versions),
          pg_text_array(cols[8]), pg_text_array(cols[9]), pg_text_array(cols[10]),
          pg_text_array(cols[11]), pg_text_array(cols[12]), pg_text_array(cols[13]),
          pg_int_array(priorities), node_name);
        backstop.resolve(tx, rows, keys);
      });
      done(r);
      if (!r.ok()) {
        log::warn(who, "scheduled sends not written",
                  {{"error", r.detail}, {"sends", ins.size()}});
        return {outcome{503, "notification database: " + r.detail}, {}, {}};
      }
      std::vector<std::string> ids;
      std::vector<std::string> fingerprints;
      ids.reserve(ins.size());
      fingerprints.reserve(ins.size());
      for (std::size_t i = 0; i < ins.size(); ++i) {
        auto v = backstop.of(keys[i]);
        ids.push_back(v.inserted ? ins[i].record.notification_id : v.existing_id);
        fingerprints.push_back(v.inserted ? ins[i].fingerprint : v.existing_fingerprint);
      }
      return {outcome{201, {}}, std::move(ids), std::move(fingerprints)};
    },
    [=](defer_atom, const std::vector<scheduled_send>& sends) -> bool {
      for (auto& s : sends) {
        if (!is_uuid(s.notification_id)) {
          return false;
        }
      }
      auto r = self->state.db->transact([&](pqxx::work& tx) {
        tx.exec("SET LOCAL synchronous_commit TO ON");
        for (auto& s : sends) {
          tx.exec_params(defer_send_sql, s.notification_id, s.send_at, s.reason,
                         s.routing_key, s.body, headers_json(s.headers), s.correlation_id,
                         s.priority);
          tx.exec_params(defer_record_sql, s.notification_id, s.request_id, s.user_id,
                         s.routing_key, s.template_code, s.correlation_id, s.send_at,
                         s.detail, node_name);
        }
      });
      done(r);
      if (!r.ok()) {
        log::warn(who, "deferrals not written", {{"error", r.detail}, {"messages", sends.size()}});
      }
      return r.ok();
    },
    [=](cancel_atom, const std::string& id, const std::string& user_id) -> outcome {
      if (!is_uuid(id)) {
        return {404, "no notification with id " + id};
      }
      outcome out;
      auto r = self->state.db->transact([&](pqxx::work& tx) {
        tx.exec("SET LOCAL synchronous_commit TO ON");
        auto row = tx.exec_params("SELECT user_id FROM notifications WHERE id = $1::uuid", id);
        if (row.empty()) {
          out = {404, "no notification with id " + id};
          return;
        }
        if (!user_id.empty() && user_id != row[0][0].c_str()) {
          out = {403, "a login token cancels only its own user's notifications"};
          return;
        }
        // Waits for a scheduler that claimed the row, then sees its state after that.
        auto cancelled = tx.exec_params(cancel_send_sql, id);
        if (cancelled.empty()) {
          auto now = tx.exec_params("SELECT status FROM notifications WHERE id = $1::uuid", id);
          std::string status = now.empty() ? "gone" : now[0][0].c_str();
          out = {409, "notification " + id + " is " + status
                        + ": only a scheduled notification can be cancelled"};
          return;
        }
        tx.exec_params(cancel_record_sql, id,
                       std::string{"cancelled before it was due (send_at "}
                         + cancelled[0][0].c_str() + ")",
                       node_name);
        out = {200, {}};
      });
      done(r);
      if (!r.ok()) {
        return {503, "notification database: " + r.detail};
      }
      return out;
    },
  };
}

} // namespace

runtime::supervised_pool spawn_schedule_store(node_context& ctx) {
  auto db_url = postgres::database_url(ctx.settings.get("pg.url"),
                                       ctx.settings.get("pg.notification_db"));
  auto node_name = ctx.settings.get("node.name");
  runtime::pool_spec spec;
  spec.name = "schedule_store";
  spec.role = "notifications";
  spec.size = std::max<std::size_t>(1, static_cast<std::size_t>(ctx.settings.get_int("pg.pool_size")));
  spec.spawn_worker = [=](caf::actor_system& sys, runtime::entry_ptr entry) {
    return sys.spawn<caf::detached>(schedule_store, db_url, node_name, entry);
  };
  auto pool = runtime::spawn_supervised_pool(ctx.system, ctx.registry, std::move(spec));
  // put() keeps an existing name: another node of this process (tests) may have left one.
  ctx.system.registry().erase(schedules_name);
  ctx.system.registry().put(schedules_name, pool.pool);
  return pool;
}

} // namespace herald
