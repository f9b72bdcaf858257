#include "actors/template_cache/template_store.hpp"

#include <map>
#include <nlohmann/json.hpp>

#include "actors/template_cache/template_request.hpp"
#include "adapters/postgres/session.hpp"

namespace herald {

using json = nlohmann::json;

namespace {

#define HERALD_UTC(column)                                                                   \
  "to_char(" column " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/// Every column of a template version, in the shape read_row expects.
const char* const version_columns =
  "template_code, language, version, name, channel, subject, body, html_body, title, "
  "image_url, link, COALESCE(data::text, '') AS data, variables::text AS variables, "
  HERALD_UTC("created_at") " AS created_at";

template_record read_row(const pqxx::row& row) {
  template_record t;
  t.template_code = row["template_code"].c_str();
  t.language = row["language"].c_str();
  t.version = row["version"].as<int>();
  t.name = row["name"].c_str();
  t.channel = row["channel"].c_str();
  t.subject = row["subject"].c_str();
  t.body = row["body"].c_str();
  t.html_body = row["html_body"].c_str();
  t.title = row["title"].c_str();
  t.image_url = row["image_url"].c_str();
  t.link = row["link"].c_str();
  t.data = row["data"].c_str();
  auto vars = json::parse(row["variables"].c_str(), nullptr, false);
  if (vars.is_array()) {
    for (auto& v : vars) {
      if (v.is_string()) {
        t.variables.push_back(v.get<std::string>());
      }
    }
  }
  return t;
}

void insert_version(pqxx::work& tx, const template_record& t) {
  tx.exec_params("INSERT INTO templates (template_code, language, version, name, channel, "
                 "subject, body, html_body, title, image_url, link, data, variables) "
                 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, "
                 "NULLIF($12, '')::jsonb, $13::jsonb)",
                 t.template_code, t.language, t.version, t.name, t.channel, t.subject, t.body,
                 t.html_body, t.title, t.image_url, t.link, t.data, json(t.variables).dump());
}

std::optional<code_index> read_index(pqxx::work& tx, const std::string& code) {
  auto rows = tx.exec_params(
    "SELECT c.channel, c.default_language, t.language, max(t.version) AS latest "
    "FROM template_codes c JOIN templates t USING (template_code) "
    "WHERE c.template_code = $1 GROUP BY c.channel, c.default_language, t.language "
    "ORDER BY t.language",
    code);
  if (rows.empty()) {
    return std::nullopt;
  }
  code_index idx;
  idx.template_code = code;
  idx.channel = rows[0]["channel"].c_str();
  idx.default_language = rows[0]["default_language"].c_str();
  for (const auto& row : rows) {
    idx.languages.emplace_back(row["language"].c_str());
    idx.latest.push_back(row["latest"].as<int>());
  }
  return idx;
}

std::string language_list(const code_index& idx) {
  std::string out;
  for (auto& l : idx.languages) {
    out += (out.empty() ? "" : ", ") + l;
  }
  return out;
}

struct store_state {
  std::unique_ptr<postgres::session> db;
  static inline const char* name = "template_store";
};

/// The outcome of a transaction: `decided` when the function settled it (e.g. a 409),
/// else the session's status mapped to REST terms.
outcome settle(const postgres::outcome& r, const outcome& decided, runtime::actor_entry& entry) {
  if (r.code == postgres::status::conflict) {
    return {409, "conflict: " + r.detail};
  }
  if (r.code == postgres::status::invalid) {
    return {400, "refused by the database: " + r.detail};
  }
  if (!r.ok()) {
    entry.failed += 1;
    return {503, r.detail};
  }
  return decided;
}

caf::behavior template_store(caf::stateful_actor<store_state>* self, std::string db_url,
                             runtime::entry_ptr entry) {
  self->state.db = std::make_unique<postgres::session>(db_url);
  entry->set_state("running");
  return {
    [=](create_atom, template_record t) -> std::tuple<outcome, template_record> {
      entry->processed += 1;
      outcome decided{201, {}};
      auto r = self->state.db->transact([&](pqxx::work& tx) {
        auto inserted = tx.exec_params(
          "INSERT INTO template_codes (template_code, channel, default_language) "
          "VALUES ($1, $2, $3) ON CONFLICT (template_code) DO NOTHING",
          t.template_code, t.channel, t.language);
        auto code_row = tx.exec_params("SELECT channel, default_language FROM template_codes "
                                       "WHERE template_code = $1 FOR UPDATE",
                                       t.template_code);
        std::string channel = code_row[0]["channel"].c_str();
        std::string default_language = code_row[0]["default_language"].c_str();
        if (inserted.affected_rows() == 0) {
          if (channel != t.channel) {
            decided = {409, "template " + t.template_code + " is for channel " + channel
                              + "; field 'channel' (" + t.channel
                              + ") must match to add a language"};
            return;
          }
          auto exists = tx.exec_params("SELECT 1 FROM templates WHERE template_code = $1 "
                                       "AND language = $2 LIMIT 1",
                                       t.template_code, t.language);
          if (!exists.empty()) {
            decided = {409, "template " + t.template_code + " already exists in language '"
                              + t.language + "' (PUT /api/v1/templates/" + t.template_code
                              + " makes a new version)"};
            return;
          }
          if (t.default_language == t.language) {
            default_language = t.language;
          }
        }
        t.version = 1;
        insert_version(tx, t);
        tx.exec_params("UPDATE template_codes SET default_language = $2, updated_at = now() "
                       "WHERE template_code = $1",
                       t.template_code, default_language);
        t.default_language = default_language;
      });
      return {settle(r, decided, *entry), t};
    },
    [=](update_atom, const std::string& code,
        const std::string& patch_text) -> std::tuple<outcome, template_record, bool> {
      entry->processed += 1;
      auto patch = json::parse(patch_text, nullptr, false);
      if (!patch.is_object()) {
        return {outcome{400, "patch must be a JSON object"}, template_record{}, false};
      }
      outcome decided{200, {}};
      template_record saved;
      bool created = false;
      auto r = self->state.db->transact([&](pqxx::work& tx) {
        auto code_row = tx.exec_params("SELECT channel, default_language FROM template_codes "
                                       "WHERE template_code = $1 FOR UPDATE",
                                       code);
        if (code_row.empty()) {
          decided = {404, "no template with code " + code};
          return;
        }
        std::string default_language = code_row[0]["default_language"].c_str();
        auto language = patch.value("language", default_language);
        auto latest_rows = tx.exec_params(std::string{"SELECT "} + version_columns
                                            + " FROM templates WHERE template_code = $1 "
                                              "AND language = $2 ORDER BY version DESC LIMIT 1",
                                          code, language);
        if (latest_rows.empty()) {
          decided = {404, "template " + code + " has no language '" + language
                            + "' (POST /api/v1/templates adds a language)"};
          return;
        }
        auto latest = read_row(latest_rows[0]);
        auto next = apply_template_patch(latest, patch);
        if (!next.value) {
          decided = {next.status, next.error};
          return;
        }
        if (auto d = patch.find("default_language");
            d != patch.end() && *d != default_language) {
          auto wanted = d->get<std::string>();
          auto has = tx.exec_params("SELECT 1 FROM templates WHERE template_code = $1 "
                                    "AND language = $2 LIMIT 1",
                                    code, wanted);
          if (has.empty()) {
            auto idx = read_index(tx, code);
            decided = {422, "field 'default_language': template " + code
                              + " has no language '" + wanted + "' (it has: "
                              + (idx ? language_list(*idx) : std::string{}) + ")"};
            return;
          }
          default_language = wanted;
        }
        if (patch_changes_content(patch)) {
          insert_version(tx, *next.value);
          saved = *next.value;
          created = true;
          decided = {201, {}};
        } else {
          saved = latest;
        }
        tx.exec_params("UPDATE template_codes SET default_language = $2, updated_at = now() "
                       "WHERE template_code = $1",
                       code, default_language);
        saved.default_language = default_language;
      });
      return {settle(r, decided, *entry), saved, created};
    },
    [=](fetch_atom, const std::string& code, const std::string& language,
        int version) -> std::tuple<outcome, template_record> {
      entry->processed += 1;
      std::optional<template_record> found;
      auto r = self->state.db->read([&](pqxx::work& tx) {
        auto rows = tx.exec_params(std::string{"SELECT "} + version_columns
                                     + " FROM templates WHERE template_code = $1 "
                                       "AND language = $2 AND version = $3",
                                   code, language, version);
        if (!rows.empty()) {
          found = read_row(rows[0]);
        }
      });
      auto o = settle(r, outcome{200, {}}, *entry);
      if (o.ok() && !found) {
        o = {404, "template " + code + " has no version " + std::to_string(version)
                    + " in language '" + language + "'"};
      }
      return {o, found ? *found : template_record{}};
    },
    [=](index_atom, const std::string& code) -> std::tuple<outcome, code_index> {
      entry->processed += 1;
      std::optional<code_index> idx;
      auto r = self->state.db->read([&](pqxx::work& tx) { idx = read_index(tx, code); });
      auto o = settle(r, outcome{200, {}}, *entry);
      if (o.ok() && !idx) {
        o = {404, "no template with code " + code};
      }
      return {o, idx ? *idx : code_index{}};
    },
    [=](versions_atom, const std::string& code, const std::string& wanted, std::int64_t page,
        std::int64_t limit) -> std::tuple<outcome, std::string> {
      entry->processed += 1;
      outcome decided{200, {}};
      json out;
      auto r = self->state.db->transact([&](pqxx::work& tx) {
        auto idx = read_index(tx, code);
        if (!idx) {
          decided = {404, "no template with code " + code};
          return;
        }
        auto language = wanted.empty() ? idx->default_language : wanted;
        auto total = idx->latest_of(language);
        if (total == 0) {
          decided = {404, "template " + code + " has no language '" + language + "' (it has: "
                            + language_list(*idx) + ")"};
          return;
        }
        auto rows = tx.exec_params(
          "SELECT version, name, subject, title, variables::text AS variables, "
          HERALD_UTC("created_at") " AS created_at FROM templates "
          "WHERE template_code = $1 AND language = $2 ORDER BY version DESC "
          "LIMIT $3 OFFSET $4",
          code, language, limit, static_cast<long long>(page - 1) * limit);
        auto items = json::array();
        for (const auto& row : rows) {
          json item = {{"template_code", code},
                       {"language", language},
                       {"version", row["version"].as<int>()},
                       {"name", row["name"].c_str()},
                       {"variables", json::parse(row["variables"].c_str(), nullptr, false)},
                       {"created_at", row["created_at"].c_str()}};
          if (idx->channel == "email") {
            item["subject"] = row["subject"].c_str();
          } else {
            item["title"] = row["title"].c_str();
          }
          items.push_back(std::move(item));
        }
        // Versions are numbered 1..latest without gaps (written under the code's lock).
        out = {{"total", total},
               {"language", language},
               {"default_language", idx->default_language},
               {"items", std::move(items)}};
      });
      auto o = settle(r, decided, *entry);
      return {o, o.ok() ? out.dump() : std::string{}};
    },
    [=](list_atom, const std::string& channel, std::int64_t page,
        std::int64_t limit) -> std::tuple<outcome, std::string> {
      entry->processed += 1;
      json out;
      auto r = self->state.db->transact([&](pqxx::work& tx) {
        auto count = tx.exec_params("SELECT count(*) FROM template_codes "
                                    "WHERE ($1::text = '' OR channel = $1::text)",
                                    channel);
        auto rows = tx.exec_params(
          "WITH page AS (SELECT template_code, channel, default_language, created_at, "
          "updated_at FROM template_codes WHERE ($1::text = '' OR channel = $1::text) "
          "ORDER BY template_code LIMIT $2 OFFSET $3) "
          "SELECT DISTINCT ON (p.template_code, t.language) p.template_code, p.channel, "
          "p.default_language, " HERALD_UTC("p.created_at") " AS created_at, "
          HERALD_UTC("p.updated_at") " AS updated_at, t.language, t.version, t.name "
          "FROM page p JOIN templates t USING (template_code) "
          "ORDER BY p.template_code, t.language, t.version DESC",
          channel, limit, static_cast<long long>(page - 1) * limit);
        auto items = json::array();
        for (const auto& row : rows) {
          std::string code = row["template_code"].c_str();
          std::string language = row["language"].c_str();
          if (items.empty() || items.back()["template_code"] != code) {
            items.push_back({{"template_code", code},
                             {"channel", row["channel"].c_str()},
                             {"default_language", row["default_language"].c_str()},
                             {"name", row["name"].c_str()},
                             {"languages", json::array()},
                             {"created_at", row["created_at"].c_str()},
                             {"updated_at", row["updated_at"].c_str()}});
          }
          auto& item = items.back();
          if (language == item["default_language"]) {
            item["name"] = row["name"].c_str();
          }
          item["languages"].push_back(
            {{"language", language}, {"latest_version", row["version"].as<int>()}});
        }
        out = {{"total", count[0][0].as<long long>()}, {"items", std::move(items)}};
      });
      auto o = settle(r, outcome{200, {}}, *entry);
      return {o, o.ok() ? out.dump() : std::string{}};
    },
  };
}

#undef HERALD_UTC

} // namespace

caf::actor spawn_template_store(caf::actor_system& sys, std::string db_url,
                                runtime::entry_ptr entry) {
  return sys.spawn<caf::detached>(template_store, std::move(db_url), std::move(entry));
}

} // namespace herald
