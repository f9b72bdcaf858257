#include "actors/user_lookup/user_lookup.hpp"

#include <unordered_map>

#include "actors/common/ids.hpp"
#include "actors/user_lookup/user_cache.hpp"
#include "adapters/postgres/session.hpp"
#include "runtime/logging/log.hpp"

namespace herald {

using json = nlohmann::json;

// -- JSON ------------------------------------------------------------------------------

json to_json(const push_token& t) {
  if (t.kind == "webpush") {
    return {{"id", t.id},
            {"type", "webpush"},
            {"subscription",
             {{"endpoint", t.token}, {"keys", {{"p256dh", t.p256dh}, {"auth", t.auth}}}}}};
  }
  return {{"id", t.id}, {"type", t.kind}, {"token", t.token}};
}

json to_json(const user_record& u) {
  auto tokens = json::array();
  for (auto& t : u.push_tokens) {
    tokens.push_back(to_json(t));
  }
  json quiet = nullptr;
  if (!u.quiet.empty()) {
    quiet = {{"start", u.quiet.start}, {"end", u.quiet.end}, {"timezone", u.quiet.timezone}};
  }
  return {{"id", u.id},
          {"email", u.email},
          {"name", u.name},
          {"preferences",
           {{"email", u.email_enabled},
            {"push", u.push_enabled},
            {"language", u.language},
            {"quiet_hours", std::move(quiet)}}},
          {"push_tokens", std::move(tokens)}};
}

json to_json(const user_profile& p) {
  auto j = to_json(p.user);
  j["has_password"] = p.has_password;
  j["created_at"] = p.created_at;
  j["updated_at"] = p.updated_at;
  return j;
}

std::optional<user_profile> profile_from_json(const json& j) {
  try {
    user_profile p;
    auto& u = p.user;
    u.id = j.at("id").get<std::string>();
    u.email = j.at("email").get<std::string>();
    u.name = j.at("name").get<std::string>();
    auto& prefs = j.at("preferences");
    u.email_enabled = prefs.at("email").get<bool>();
    u.push_enabled = prefs.at("push").get<bool>();
    u.language = prefs.at("language").get<std::string>();
    if (auto& q = prefs.at("quiet_hours"); !q.is_null()) {
      p.user.quiet = {q.at("start").get<std::string>(), q.at("end").get<std::string>(),
                 q.at("timezone").get<std::string>()};
    }
    for (auto& t : j.at("push_tokens")) {
      push_token token;
      token.id = t.at("id").get<std::string>();
      token.kind = t.at("type").get<std::string>();
      if (token.kind == "webpush") {
        auto& s = t.at("subscription");
        token.token = s.at("endpoint").get<std::string>();
        token.p256dh = s.at("keys").at("p256dh").get<std::string>();
        token.auth = s.at("keys").at("auth").get<std::string>();
      } else {
        token.token = t.at("token").get<std::string>();
      }
      u.push_tokens.push_back(std::move(token));
    }
    p.has_password = j.at("has_password").get<bool>();
    p.created_at = j.at("created_at").get<std::string>();
    p.updated_at = j.at("updated_at").get<std::string>();
    return p;
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

namespace {

// -- SQL -------------------------------------------------------------------------------

/// A user with its devices in one row (one round trip); FROM users u.
constexpr const char* profile_select = R"(
SELECT u.id, u.email, u.name, u.language, u.email_enabled, u.push_enabled,
       u.password_hash IS NOT NULL AS has_password,
       COALESCE(u.quiet_start, '') AS quiet_start, COALESCE(u.quiet_end, '') AS quiet_end,
       COALESCE(u.quiet_timezone, '') AS quiet_timezone,
       to_char(u.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_at,
       to_char(u.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS updated_at,
       COALESCE((SELECT json_agg(json_build_object(
                          'id', t.id, 'kind', t.kind, 'token', t.token,
                          'p256dh', COALESCE(t.p256dh, ''), 'auth', COALESCE(t.auth, ''))
                        ORDER BY t.created_at, t.id)
                 FROM push_tokens t WHERE t.user_id = u.id), '[]') AS push_tokens
FROM users u
)";

constexpr const char* token_columns =
  "id, kind, token, COALESCE(p256dh, '') AS p256dh, COALESCE(auth, '') AS auth";

user_profile read_profile(const pqxx::row& row) {
  user_profile p;
  auto& u = p.user;
  u.id = row["id"].c_str();
  u.email = row["email"].c_str();
  u.name = row["name"].c_str();
  u.language = row["language"].c_str();
  u.email_enabled = row["email_enabled"].as<bool>();
  u.push_enabled = row["push_enabled"].as<bool>();
  p.has_password = row["has_password"].as<bool>();
  p.user.quiet = {row["quiet_start"].c_str(), row["quiet_end"].c_str(),
             row["quiet_timezone"].c_str()};
  p.created_at = row["created_at"].c_str();
  p.updated_at = row["updated_at"].c_str();
  for (auto& t : json::parse(row["push_tokens"].c_str())) {
    u.push_tokens.push_back({t.at("id").get<std::string>(), t.at("kind").get<std::string>(),
                             t.at("token").get<std::string>(), t.at("p256dh").get<std::string>(),
                             t.at("auth").get<std::string>()});
  }
  return p;
}

push_token read_token(const pqxx::row& row) {
  return {row["id"].c_str(), row["kind"].c_str(), row["token"].c_str(), row["p256dh"].c_str(),
          row["auth"].c_str()};
}

std::optional<user_profile> select_profile(pqxx::work& tx, const std::string& id) {
  auto rows = tx.exec_params(std::string{profile_select} + "WHERE u.id = $1", id);
  if (rows.empty()) {
    return std::nullopt;
  }
  return read_profile(rows[0]);
}

outcome no_user(const std::string& id) {
  return {404, "no user with id " + id};
}

outcome unavailable(const postgres::outcome& r) {
  return {503, "user database: " + r.detail};
}

// -- the store worker ------------------------------------------------------------------

struct worker_counters {
  std::atomic<std::uint64_t>* cache_hits;
  std::atomic<std::uint64_t>* cache_misses;
  std::atomic<std::uint64_t>* cache_errors;
  std::atomic<std::uint64_t>* cache_fills_refused;
  std::atomic<std::uint64_t>* pg_queries;
};

struct store_state {
  std::unique_ptr<postgres::session> db;
  std::unique_ptr<user_cache> cache;
  std::size_t max_tokens = 50;
  runtime::entry_ptr entry;
  worker_counters count{};
  std::shared_ptr<runtime::change_feed> changes;
  log::context who{"users", "user_lookup", {}};
  static inline const char* name = "user_store";

  /// Runs one transaction, counted; `idempotent`: a read that may run twice (see
  /// postgres::session::read).
  postgres::outcome transact(const std::function<void(pqxx::work&)>& fn,
                             bool idempotent = false) {
    *count.pg_queries += 1;
    auto r = idempotent ? db->read(fn) : db->transact(fn);
    entry->processed += 1;
    if (!r.ok() && r.code != postgres::status::conflict) {
      entry->failed += 1;
      log::warn(who, "user database call failed", {{"error", r.detail}});
    }
    return r;
  }

  /// After a committed change: drop the cached copy (see user_lookup.hpp).
  /// Then the node's other copies (the gateway's), which refill from Redis or PostgreSQL.
  void invalidate(const std::string& id) {
    std::string error;
    if (!cache->invalidate(id, error)) {
      *count.cache_errors += 1;
      log::warn(who, "could not invalidate a cached user; it may be stale until its TTL",
                {{"user_id", id}, {"error", error}});
    }
    changes->announce(runtime::change_feed::users, id);
  }

  /// A profile from the cache, else from PostgreSQL (then cached if still current).
  std::tuple<outcome, user_profile> load(const std::string& id) {
    if (!is_uuid(id)) {
      return {no_user(id), user_profile{}};
    }
    auto probe = cache->read(id);
    if (!probe.available) {
      *count.cache_errors += 1;
    } else if (probe.value) {
      auto j = json::parse(*probe.value, nullptr, false);
      if (auto p = j.is_discarded() ? std::nullopt : profile_from_json(j)) {
        *count.cache_hits += 1;
        entry->processed += 1;
        return {outcome{200, {}}, std::move(*p)};
      }
    }
    *count.cache_misses += 1;
    std::optional<user_profile> found;
    auto r = transact([&](pqxx::work& tx) { found = select_profile(tx, id); }, true);
    if (!r.ok()) {
      return {unavailable(r), user_profile{}};
    }
    if (!found) {
      return {no_user(id), user_profile{}};
    }
    if (probe.available) {
      std::string error;
      if (!cache->fill(id, probe.generation, to_json(*found).dump(), error)) {
        *(error.empty() ? count.cache_fills_refused : count.cache_errors) += 1;
      }
    }
    return {outcome{200, {}}, std::move(*found)};
  }

  /// load() for many users at once: one MGET for all of them, one PostgreSQL query for
  /// the misses, one generation-guarded fill script for what it found. A result per id,
  /// in order (an id asked twice is answered twice).
  std::vector<user_lookup_result> load_many(const std::vector<std::string>& ids) {
    std::vector<user_lookup_result> out(ids.size());
    std::vector<std::string> distinct;
    std::unordered_map<std::string, std::size_t> slot; // id -> index in `distinct`
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (!is_uuid(ids[i])) {
        out[i].result = no_user(ids[i]);
      } else if (slot.emplace(ids[i], distinct.size()).second) {
        distinct.push_back(ids[i]);
      }
    }
    entry->processed += 1;
    std::vector<user_lookup_result> results(distinct.size());
    std::vector<std::size_t> misses;
    auto probes = cache->read_many(distinct);
    for (std::size_t k = 0; k < distinct.size(); ++k) {
      auto& probe = probes[k];
      if (!probe.available) {
        *count.cache_errors += 1;
      } else if (probe.value) {
        auto j = json::parse(*probe.value, nullptr, false);
        if (auto p = j.is_discarded() ? std::nullopt : profile_from_json(j)) {
          *count.cache_hits += 1;
          results[k] = {outcome{200, {}}, std::move(p->user)};
          continue;
        }
      }
      *count.cache_misses += 1;
      misses.push_back(k);
    }
    if (!misses.empty()) {
      std::string array = "{";
      for (auto k : misses) {
        array += (array.size() > 1 ? "," : "") + distinct[k];
      }
      array += "}";
      std::unordered_map<std::string, user_profile> found;
      auto r = transact([&](pqxx::work& tx) {
        auto rows = tx.exec_params(std::string{profile_select} + "WHERE u.id = ANY($1::uuid[])",
                                   array);
        for (const auto& row : rows) {
          auto p = read_profile(row);
          auto id = p.user.id;
          found.emplace(std::move(id), std::move(p));
        }
      });
      std::vector<user_cache::fill_entry> fills;
      for (auto k : misses) {
        auto& id = distinct[k];
        if (!r.ok()) {
          results[k].result = unavailable(r);
          continue;
        }
        auto f = found.find(id);
        if (f == found.end()) {
          results[k].result = no_user(id);
          continue;
        }
        if (probes[k].available) {
          fills.push_back({id, probes[k].generation, to_json(f->second).dump()});
        }
        results[k] = {outcome{200, {}}, std::move(f->second.user)};
      }
      std::string error;
      if (auto stored = cache->fill_many(fills, error)) {
        *count.cache_fills_refused += fills.size() - *stored;
      } else {
        *count.cache_errors += 1;
      }
    }
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (auto s = slot.find(ids[i]); s != slot.end()) {
        out[i] = results[s->second];
      }
    }
    return out;
  }
};

caf::behavior user_store(caf::stateful_actor<store_state>* self, std::string db_url,
                         std::string redis_url, std::chrono::seconds ttl,
                         std::size_t max_tokens, std::shared_ptr<runtime::change_feed> changes,
                         runtime::entry_ptr entry) {
  auto& st = self->state;
  st.changes = std::move(changes);
  st.db = std::make_unique<postgres::session>(db_url);
  st.cache = std::make_unique<user_cache>(redis_url, ttl);
  st.max_tokens = max_tokens;
  st.entry = entry;
  st.who = {"users", entry->name(), {}};
  st.count = {&entry->counter("cache_hits"), &entry->counter("cache_misses"),
              &entry->counter("cache_errors"), &entry->counter("cache_fills_refused"),
              &entry->counter("pg_queries")};
  entry->set_state("running");
  return {
    [=](lookup_atom, const std::string& id) -> std::tuple<outcome, user_record> {
      auto [o, p] = self->state.load(id);
      return {o, std::move(p.user)};
    },
    [=](lookup_many_atom,
        const std::vector<std::string>& ids) -> std::vector<user_lookup_result> {
      return self->state.load_many(ids);
    },
    [=](profile_atom, const std::string& id) -> std::tuple<outcome, user_profile> {
      return self->state.load(id);
    },
    [=](create_atom, user_profile p,
        const std::string& password_hash) -> std::tuple<outcome, user_profile> {
      auto& u = p.user;
      std::optional<user_profile> created;
      auto r = self->state.transact([&](pqxx::work& tx) {
        tx.exec_params("INSERT INTO users (id, email, name, language, email_enabled, "
                       "push_enabled, password_hash, quiet_start, quiet_end, quiet_timezone) "
                       "VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7, ''), NULLIF($8, ''), "
                       "NULLIF($9, ''), NULLIF($10, ''))",
                       u.id, u.email, u.name, u.language, u.email_enabled, u.push_enabled,
                       password_hash, p.user.quiet.start, p.user.quiet.end, p.user.quiet.timezone);
        created = select_profile(tx, u.id);
      });
      if (r.code == postgres::status::conflict) {
        return {outcome{409, "a user with email " + u.email + " already exists"}, p};
      }
      if (!r.ok() || !created) {
        return {unavailable(r), p};
      }
      // A fresh id cannot be cached yet: nothing to invalidate.
      return {outcome{201, {}}, std::move(*created)};
    },
    [=](update_atom, const user_change& c) -> std::tuple<outcome, user_profile> {
      if (!is_uuid(c.id)) {
        return {no_user(c.id), user_profile{}};
      }
      auto text = [](const caf::optional<std::string>& v) { return v ? *v : std::string{}; };
      auto quiet = c.quiet ? *c.quiet : quiet_hours{};
      std::optional<user_profile> updated;
      auto r = self->state.transact([&](pqxx::work& tx) {
        auto changed = tx.exec_params(
          "UPDATE users SET "
          "email = CASE WHEN $2::boolean THEN $3::text ELSE email END, "
          "name = CASE WHEN $4::boolean THEN $5::text ELSE name END, "
          "password_hash = CASE WHEN $6::boolean THEN $7::text ELSE password_hash END, "
          "language = CASE WHEN $8::boolean THEN $9::text ELSE language END, "
          "email_enabled = CASE WHEN $10::boolean THEN $11::boolean ELSE email_enabled END, "
          "push_enabled = CASE WHEN $12::boolean THEN $13::boolean ELSE push_enabled END, "
          "quiet_start = CASE WHEN $14::boolean THEN NULLIF($15::text, '') ELSE quiet_start END, "
          "quiet_end = CASE WHEN $14::boolean THEN NULLIF($16::text, '') ELSE quiet_end END, "
          "quiet_timezone = CASE WHEN $14::boolean THEN NULLIF($17::text, '') "
          "ELSE quiet_timezone END, "
          "updated_at = now() WHERE id = $1",
          c.id, static_cast<bool>(c.email), text(c.email), static_cast<bool>(c.name),
          text(c.name), static_cast<bool>(c.password_hash), text(c.password_hash),
          static_cast<bool>(c.language), text(c.language), static_cast<bool>(c.email_enabled),
          c.email_enabled.value_or(true), static_cast<bool>(c.push_enabled),
          c.push_enabled.value_or(true), static_cast<bool>(c.quiet), quiet.start, quiet.end,
          quiet.timezone);
        if (changed.affected_rows() > 0) {
          updated = select_profile(tx, c.id);
        }
      });
      if (r.code == postgres::status::conflict) {
        return {outcome{409, "a user with email " + text(c.email) + " already exists"},
                user_profile{}};
      }
      if (!r.ok()) {
        return {unavailable(r), user_profile{}};
      }
      if (!updated) {
        return {no_user(c.id), user_profile{}};
      }
      self->state.invalidate(c.id);
      return {outcome{200, {}}, std::move(*updated)};
    },
    [=](delete_atom, const std::string& id) -> outcome {
      if (!is_uuid(id)) {
        return no_user(id);
      }
      bool deleted = false;
      auto r = self->state.transact([&](pqxx::work& tx) {
        deleted = tx.exec_params("DELETE FROM users WHERE id = $1", id).affected_rows() > 0;
      });
      if (!r.ok()) {
        return unavailable(r);
      }
      if (!deleted) {
        return no_user(id);
      }
      self->state.invalidate(id);
      return {200, {}};
    },
    [=](list_atom, std::int64_t page,
        std::int64_t limit) -> std::tuple<outcome, std::vector<user_profile>, std::int64_t> {
      std::vector<user_profile> users;
      std::int64_t total = 0;
      auto r = self->state.transact([&](pqxx::work& tx) {
        total = tx.exec("SELECT count(*) FROM users")[0][0].as<std::int64_t>();
        auto rows = tx.exec_params(std::string{profile_select}
                                     + "ORDER BY u.created_at, u.id LIMIT $1 OFFSET $2",
                                   limit, (page - 1) * limit);
        for (const auto& row : rows) {
          users.push_back(read_profile(row));
        }
      });
      if (!r.ok()) {
        return {unavailable(r), {}, 0};
      }
      return {outcome{200, {}}, std::move(users), total};
    },
    [=](credentials_atom, const std::string& email)
      -> std::tuple<outcome, std::string, std::string, std::string> {
      std::string id;
      std::string stored_email;
      std::string hash;
      auto r = self->state.transact([&](pqxx::work& tx) {
        auto rows = tx.exec_params("SELECT id, email, COALESCE(password_hash, '') AS hash "
                                   "FROM users WHERE lower(email) = lower($1)",
                                   email);
        if (!rows.empty()) {
          id = rows[0]["id"].c_str();
          stored_email = rows[0]["email"].c_str();
          hash = rows[0]["hash"].c_str();
        }
      });
      if (!r.ok()) {
        return {unavailable(r), "", "", ""};
      }
      if (id.empty()) {
        return {outcome{404, "no user with this email"}, "", "", ""};
      }
      return {outcome{200, {}}, id, stored_email, hash};
    },
    [=](add_token_atom, const std::string& user_id,
        push_token t) -> std::tuple<outcome, push_token> {
      if (!is_uuid(user_id)) {
        return {no_user(user_id), t};
      }
      auto& st = self->state;
      outcome result;
      std::string previous_owner;
      postgres::outcome r;
      // Two first registrations of one device can race to the unique (kind, token); the
      // loser's second attempt finds the winner's row.
      for (int attempt = 0; attempt < 2; ++attempt) {
        previous_owner.clear();
        r = st.transact([&](pqxx::work& tx) {
          // Locking the user serializes registrations per user, so the cap holds.
          if (tx.exec_params("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", user_id).empty()) {
            result = no_user(user_id);
            return;
          }
          auto existing = tx.exec_params(
            "SELECT id, user_id FROM push_tokens WHERE kind = $1 AND token = $2 FOR UPDATE",
            t.kind, t.token);
          if (!existing.empty() && existing[0]["user_id"].c_str() == user_id) {
            t.id = existing[0]["id"].c_str();
            tx.exec_params("UPDATE push_tokens SET p256dh = NULLIF($2, ''), "
                           "auth = NULLIF($3, ''), updated_at = now() WHERE id = $1",
                           t.id, t.p256dh, t.auth);
            result = {200, {}};
            return;
          }
          auto count = tx.exec_params("SELECT count(*) FROM push_tokens WHERE user_id = $1",
                                      user_id)[0][0]
                         .as<std::int64_t>();
          if (count >= static_cast<std::int64_t>(st.max_tokens)) {
            result = {409, "user " + user_id + " has the maximum of "
                             + std::to_string(st.max_tokens)
                             + " push tokens; delete one before adding another"};
            return;
          }
          if (!existing.empty()) {
            // A device belongs to one user: it moves to whoever registers it last.
            t.id = existing[0]["id"].c_str();
            previous_owner = existing[0]["user_id"].c_str();
            tx.exec_params("UPDATE push_tokens SET user_id = $2, p256dh = NULLIF($3, ''), "
                           "auth = NULLIF($4, ''), created_at = now(), updated_at = now() "
                           "WHERE id = $1",
                           t.id, user_id, t.p256dh, t.auth);
          } else {
            t.id = make_uuid();
            tx.exec_params("INSERT INTO push_tokens (id, user_id, kind, token, p256dh, auth) "
                           "VALUES ($1, $2, $3, $4, NULLIF($5, ''), NULLIF($6, ''))",
                           t.id, user_id, t.kind, t.token, t.p256dh, t.auth);
          }
          result = {201, {}};
        });
        if (r.code != postgres::status::conflict) {
          break;
        }
      }
      if (!r.ok()) {
        return {r.code == postgres::status::conflict
                  ? outcome{409, "the push token is being registered concurrently; try again"}
                  : unavailable(r),
                t};
      }
      if (result.ok()) {
        st.invalidate(user_id);
        if (!previous_owner.empty()) {
          st.invalidate(previous_owner);
        }
      }
      return {result, t};
    },
    [=](remove_token_atom, const std::string& user_id, const std::string& token_id,
        const std::string& kind, const std::string& value) -> std::tuple<outcome, push_token> {
      if (!is_uuid(user_id)) {
        return {no_user(user_id), push_token{}};
      }
      if (!token_id.empty() && !is_uuid(token_id)) {
        return {outcome{404, "no push token with id " + token_id + " for user " + user_id},
                push_token{}};
      }
      outcome result;
      push_token removed;
      auto r = self->state.transact([&](pqxx::work& tx) {
        if (tx.exec_params("SELECT 1 FROM users WHERE id = $1", user_id).empty()) {
          result = no_user(user_id);
          return;
        }
        auto returning = std::string{" RETURNING "} + token_columns;
        auto rows = token_id.empty()
                      ? tx.exec_params("DELETE FROM push_tokens WHERE user_id = $1 AND kind = $2 "
                                       "AND token = $3"
                                         + returning,
                                       user_id, kind, value)
                      : tx.exec_params("DELETE FROM push_tokens WHERE user_id = $1 AND id = $2"
                                         + returning,
                                       user_id, token_id);
        if (rows.empty()) {
          result = {404, token_id.empty()
                           ? "user " + user_id + " has no such " + (kind == "fcm" ? "FCM token"
                                                                                  : "Web Push endpoint")
                           : "no push token with id " + token_id + " for user " + user_id};
          return;
        }
        removed = read_token(rows[0]);
        result = {200, {}};
      });
      if (!r.ok()) {
        return {unavailable(r), push_token{}};
      }
      if (result.ok()) {
        self->state.invalidate(user_id);
      }
      return {result, removed};
    },
  };
}

} // namespace

runtime::supervised_pool spawn_user_lookup(node_context& ctx) {
  auto db_url = postgres::database_url(ctx.settings.get("pg.url"),
                                       ctx.settings.get("pg.user_db"));
  auto redis_url = ctx.settings.get("redis.url");
  auto ttl = std::chrono::seconds{ctx.settings.get_int("redis.user_ttl_s")};
  auto max_tokens = static_cast<std::size_t>(ctx.settings.get_int("users.max_push_tokens"));
  auto changes = ctx.changes;
  runtime::pool_spec spec;
  spec.name = "user_lookup";
  spec.role = "users";
  spec.size = static_cast<std::size_t>(ctx.settings.get_int("pg.pool_size"));
  spec.spawn_worker = [=](caf::actor_system& sys, runtime::entry_ptr entry) {
    return sys.spawn<caf::detached>(user_store, db_url, redis_url, ttl, max_tokens, changes,
                                    entry);
  };
  return runtime::spawn_supervised_pool(ctx.system, ctx.registry, std::move(spec));
}

} // namespace herald
