#include "actors/notification_store/status_batch.hpp"

#include <unordered_map>

#include "actors/common/text.hpp"

namespace herald {

const char* const status_upsert_name = "herald_status_upsert";


const char* const status_upsert_sql = R"sql(
INSERT INTO notifications (id, request_id, user_id, channel, template_code, status, attempts,
                           last_error, correlation_id, language, template_version, timeline)
SELECT v.id, NULLIF(v.request_id, ''), v.user_id, v.channel, v.template_code, v.status,
       v.attempts,
       CASE WHEN v.status IN ('failed', 'retrying', 'dead') THEN NULLIF(v.detail, '') END,
       v.correlation_id, v.language, v.template_version,
       COALESCE((SELECT jsonb_agg(d.entry || jsonb_build_object('node', $12::text, 'at', t.at)
                                  ORDER BY d.n)
                 FROM jsonb_array_elements(NULLIF(v.devices, '')::jsonb)
                   WITH ORDINALITY AS d(entry, n)), '[]'::jsonb)
       || jsonb_build_array(jsonb_build_object('status', v.status, 'detail', v.detail,
                                               'node', $12::text, 'at', t.at))
FROM (SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at) AS t,
     unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::integer[], $8::text[], $9::text[], $10::text[], $11::integer[], $13::text[])
  AS v(id, request_id, user_id, channel, template_code, status, attempts, detail,
       correlation_id, language, template_version, devices)
ON CONFLICT (id) DO UPDATE SET
  status = CASE
    WHEN notifications.status IN ('sent', 'skipped', 'dead', 'failed')
         AND EXCLUDED.status IN ('queued', 'processing', 'retrying') THEN notifications.status
    WHEN notifications.status = 'dead' AND EXCLUDED.status = 'failed' THEN notifications.status
    ELSE EXCLUDED.status END,
  attempts = GREATEST(notifications.attempts, EXCLUDED.attempts),
  last_error = COALESCE(EXCLUDED.last_error, notifications.last_error),
  request_id = COALESCE(notifications.request_id, EXCLUDED.request_id),
  user_id = CASE WHEN notifications.user_id = '' THEN EXCLUDED.user_id
                 ELSE notifications.user_id END,
  channel = CASE WHEN notifications.channel = '' THEN EXCLUDED.channel
                 ELSE notifications.channel END,
  template_code = CASE WHEN notifications.template_code = '' THEN EXCLUDED.template_code
                       ELSE notifications.template_code END,
  correlation_id = CASE WHEN notifications.correlation_id = '' THEN EXCLUDED.correlation_id
                        ELSE notifications.correlation_id END,
  language = CASE WHEN notifications.language = '' THEN EXCLUDED.language
                  ELSE notifications.language END,
  template_version = GREATEST(notifications.template_version, EXCLUDED.template_version),
  timeline = CASE WHEN EXCLUDED.status = 'queued'
                  THEN EXCLUDED.timeline || notifications.timeline
                  ELSE notifications.timeline || EXCLUDED.timeline END,
  updated_at = now()
)sql";

std::string pg_text_array(const std::vector<std::string>& values) {
  std::string out = "{";
  for (auto& v : values) {
    if (out.size() > 1) {
      out += ',';
    }
    out += '"';
    for (char c : v) {
      if (c == '"' || c == '\\') {
        out += '\\';
      }
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

std::string pg_int_array(const std::vector<int>& values) {
  std::string out = "{";
  for (auto v : values) {
    if (out.size() > 1) {
      out += ',';
    }
    out += std::to_string(v);
  }
  out += '}';
  return out;
}

std::vector<status_round> status_batch_rounds(const std::vector<const status_event*>& events) {
  std::vector<std::vector<const status_event*>> rounds;
  std::unordered_map<std::string, std::size_t> seen; // id -> rounds it already appears in
  for (auto* e : events) {
    auto round = seen[e->notification_id]++;
    if (round == rounds.size()) {
      rounds.emplace_back();
    }
    rounds[round].push_back(e);
  }
  std::vector<status_round> out;
  for (auto& members : rounds) {
    auto text = [&](auto field) {
      std::vector<std::string> values;
      values.reserve(members.size());
      for (auto* e : members) {
        // Details quote what servers answered (a push service is any URL a user gave):
        // bytes PostgreSQL would refuse, for the whole batch, become \xHH.
        values.push_back(as_text(e->*field));
      }
      return pg_text_array(values);
    };
    auto number = [&](auto field) {
      std::vector<int> values;
      values.reserve(members.size());
      for (auto* e : members) {
        values.push_back(e->*field);
      }
      return pg_int_array(values);
    };
    out.push_back({{text(&status_event::notification_id), text(&status_event::request_id),
                    text(&status_event::user_id), text(&status_event::channel),
                    text(&status_event::template_code), text(&status_event::status),
                    number(&status_event::attempts), text(&status_event::detail),
                    text(&status_event::correlation_id), text(&status_event::language),
                    number(&status_event::template_version),
                    text(&status_event::device_events)}});
  }
  return out;
}

namespace {

std::string key_of(const std::string& client_id, const std::string& request_id) {
  return client_id + '\n' + request_id;
}

} // namespace

void request_id_backstop::resolve(pqxx::work& tx, const pqxx::result& returned,
                                  const std::vector<row>& rows) {
  inserted_.clear();
  taken_.clear();
  for (const auto& r : returned) {
    inserted_.insert(r[0].c_str());
  }
  if (inserted_.size() == rows.size()) {
    return;
  }
  std::vector<std::string> clients;
  std::vector<std::string> request_ids;
  for (auto& r : rows) {
    if (!inserted_.count(r.id)) {
      clients.push_back(r.client_id);
      request_ids.push_back(r.request_id);
    }
  }
  auto found = tx.exec_params(R"sql(
SELECT n.client_id, n.request_id, n.id::text, COALESCE(n.request_fingerprint, '')
FROM notifications n
JOIN unnest($1::text[], $2::text[]) AS k(client_id, request_id)
  ON n.client_id = k.client_id AND n.request_id = k.request_id
)sql", pg_text_array(clients), pg_text_array(request_ids));
  for (const auto& f : found) {
    taken_[key_of(f[0].c_str(), f[1].c_str())] = {f[2].c_str(), f[3].c_str()};
  }
}

request_id_backstop::verdict request_id_backstop::of(const row& r) const {
  verdict v;
  if (inserted_.count(r.id)) {
    v.inserted = true;
  } else if (auto t = taken_.find(key_of(r.client_id, r.request_id)); t != taken_.end()) {
    v.existing_id = t->second.first;
    v.existing_fingerprint = t->second.second;
  }
  return v;
}

} // namespace herald
