#include "actors/scheduler/scheduler.hpp"

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <condition_variable>
#include <mutex>

#include "actors/messaging/topology.hpp"
#include "adapters/amqp/confirmed_publisher.hpp"
#include "adapters/postgres/session.hpp"
#include "runtime/logging/log.hpp"

namespace herald {

namespace {

using json = nlohmann::json;
using tick_atom = caf::atom_constant<caf::atom("tick")>;

const char* const claim_sql =
  "SELECT notification_id::text, routing_key, body, headers::text, correlation_id, priority,"
  "  to_char(send_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
  " FROM scheduled_sends WHERE state = 'pending' AND send_at <= now()"
  " ORDER BY send_at LIMIT $1 FOR UPDATE SKIP LOCKED";

const char* const lock_records_sql =
  "SELECT id FROM notifications WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE";

const char* const published_sql =
  "UPDATE scheduled_sends SET state = 'published', finished_at = now(),"
  "  publishes = publishes + 1 WHERE notification_id = ANY($1::uuid[])";

const char* const queued_sql =
  "UPDATE notifications SET status = CASE WHEN status = 'scheduled'"
  "  THEN 'queued' ELSE status END, updated_at = now(),"
  "  timeline = timeline || jsonb_build_array(jsonb_build_object('status', 'queued',"
  "    'detail', 'scheduled send published, due ' || to_char(send_at AT TIME ZONE 'UTC',"
  "      'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
  "    'node', $2::text,"
  "    'at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')))"
  " WHERE id = ANY($1::uuid[])";

std::string pg_array(const std::vector<std::string>& ids) {
  std::string out = "{";
  for (auto& id : ids) {
    out += (out.size() > 1 ? "," : "") + id; // UUIDs: nothing to quote
  }
  return out + "}";
}

/// The message as it was to be published, with the scheduled header.
amqp::message message_of(const pqxx::row& row) {
  amqp::message m;
  m.exchange = messaging::exchange;
  m.message_id = row[0].c_str();
  m.routing_key = row[1].c_str();
  m.body = row[2].c_str();
  m.correlation_id = row[4].c_str();
  auto headers = json::parse(row[3].c_str(), nullptr, false);
  if (headers.is_object()) {
    for (auto& [k, v] : headers.items()) {
      auto text = v.is_string() ? v.get<std::string>() : v.dump();
      bool integer = (k == messaging::attempt_header || k == messaging::attempts_header)
                     && !text.empty() && text.find_first_not_of("0123456789") == std::string::npos
                     && text.size() < 10;
      if (integer) {
        m.int_headers[k] = std::stoll(text);
      } else {
        m.headers[k] = text;
      }
    }
  }
  m.headers[messaging::scheduled_header] = row[6].c_str();
  m.priority = static_cast<std::uint8_t>(std::clamp(row[5].as<int>(), 1, 10));
  return m;
}

struct scheduler_state {
  std::unique_ptr<postgres::session> db;
  std::unique_ptr<amqp::confirmed_publisher> publisher;
  static inline const char* name = "scheduler";
};

caf::behavior scheduler(caf::stateful_actor<scheduler_state>* self, std::string db_url,
                        amqp::publisher_settings ps, std::string node_name,
                        std::chrono::milliseconds poll, std::int64_t batch_max,
                        runtime::entry_ptr entry) {
  self->state.db = std::make_unique<postgres::session>(db_url);
  auto confirm_timeout = ps.confirm_timeout;
  self->state.publisher = std::make_unique<amqp::confirmed_publisher>(std::move(ps));
  entry->set_state("running");
  log::context who{"", "scheduler", {}};
  auto& polls = entry->counter("polls");
  auto& claimed_total = entry->counter("claimed");
  // One transaction: claim, publish, wait for the confirms, mark; the rows claimed.
  auto poll_once = [=, &polls, &claimed_total]() -> std::size_t {
    polls += 1;
    std::size_t claimed = 0;
    std::size_t unconfirmed = 0;
    std::string publish_error;
    auto r = self->state.db->transact([&](pqxx::work& tx) {
      claimed = 0;
      unconfirmed = 0;
      tx.exec("SET LOCAL synchronous_commit TO ON");
      auto rows = tx.exec_params(claim_sql, batch_max);
      claimed = rows.size();
      if (rows.empty()) {
        return;
      }
      std::vector<std::string> ids;
      for (const auto& row : rows) {
        ids.push_back(row[0].c_str());
      }
      tx.exec_params(lock_records_sql, pg_array(ids));
      // Publish every claimed message; wait for all outcomes (each within the confirm
      // timeout of its publish: the publisher guarantees it).
      struct waiter {
        std::mutex mtx;
        std::condition_variable cv;
        std::size_t left = 0;
        std::vector<bool> confirmed;
        std::string error;
      };
      auto w = std::make_shared<waiter>();
      w->left = rows.size();
      w->confirmed.assign(rows.size(), false);
      for (std::size_t i = 0; i < rows.size(); ++i) {
        self->state.publisher->publish(message_of(rows[i]), [w, i](const amqp::publish_outcome& o) {
          std::lock_guard<std::mutex> lock{w->mtx};
          w->confirmed[i] = o.status == amqp::publish_status::confirmed;
          if (!w->confirmed[i] && w->error.empty()) {
            w->error = o.detail;
          }
          if (--w->left == 0) {
            w->cv.notify_one();
          }
        });
      }
      std::vector<std::string> done;
      {
        std::unique_lock<std::mutex> lock{w->mtx};
        w->cv.wait_for(lock, confirm_timeout + std::chrono::seconds{1}, [&] { return w->left == 0; });
        for (std::size_t i = 0; i < rows.size(); ++i) {
          if (w->confirmed[i]) {
            done.push_back(ids[i]);
          }
        }
        publish_error = w->error;
      }
      unconfirmed = rows.size() - done.size();
      if (done.empty()) {
        return;
      }
      tx.exec_params(published_sql, pg_array(done));
      tx.exec_params(queued_sql, pg_array(done), node_name);
    });
    if (!r.ok()) {
      entry->set_state(r.code == postgres::status::unavailable ? "waiting for database"
                                                               : "running");
      log::warn(who, "scheduled sends not published", {{"error", r.detail}});
      return 0;
    }
    claimed_total += claimed;
    entry->processed += claimed - unconfirmed;
    entry->failed += unconfirmed;
    if (unconfirmed > 0) {
      entry->set_state("waiting for broker");
      log::warn(who, "scheduled sends not confirmed, publishing them again at the next poll",
                {{"unconfirmed", unconfirmed}, {"error", publish_error}});
      return 0;
    }
    entry->set_state("running");
    if (claimed > 0) {
      log::info(who, "scheduled sends published", {{"messages", claimed}});
    }
    return claimed;
  };
  self->send(self, tick_atom::value);
  return {
    [=](tick_atom) {
      auto claimed = poll_once();
      if (claimed >= static_cast<std::size_t>(batch_max)) {
        self->send(self, tick_atom::value);
      } else {
        self->delayed_send(self, poll, tick_atom::value);
      }
    },
  };
}

} // namespace

runtime::supervised_pool spawn_scheduler(node_context& ctx) {
  auto db_url = postgres::database_url(ctx.settings.get("pg.url"),
                                       ctx.settings.get("pg.notification_db"));
  amqp::publisher_settings ps;
  ps.url = ctx.settings.get("amqp.url");
  ps.declare = messaging::topology();
  ps.confirm_timeout = ctx.settings.get_ms("amqp.confirm_timeout_ms");
  auto node_name = ctx.settings.get("node.name");
  auto poll = ctx.settings.get_ms("scheduler.poll_ms");
  auto batch_max = ctx.settings.get_int("scheduler.batch_max");
  runtime::pool_spec spec;
  spec.name = "scheduler";
  spec.role = "gateway";
  spec.size = 1;
  spec.spawn_worker = [=](caf::actor_system& sys, runtime::entry_ptr entry) {
    return sys.spawn<caf::detached>(scheduler, db_url, ps, node_name, poll, batch_max, entry);
  };
  return runtime::spawn_supervised_pool(ctx.system, ctx.registry, std::move(spec));
}

} // namespace herald
