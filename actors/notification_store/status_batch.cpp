#include "actors/notification_store/status_batch.hpp"

#include <unordered_map>

namespace herald {

namespace {

constexpr const char* upsert_head = R"sql(
INSERT INTO notifications (id, request_id, user_id, channel, template_code, status, attempts,
                           last_error, correlation_id, language, template_version, timeline)
SELECT v.id::uuid, NULLIF(v.request_id, ''), v.user_id, v.channel, v.template_code, v.status,
       v.attempts::integer,
       CASE WHEN v.status IN ('failed', 'retrying', 'dead') THEN NULLIF(v.detail, '') END,
       v.correlation_id, v.language, v.template_version::integer,
       jsonb_build_array(jsonb_build_object('status', v.status, 'detail', v.detail,
                                            'node', t.node, 'at', t.at))
FROM (SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at, )sql";

constexpr const char* upsert_middle = R"sql( AS node) AS t,
     (VALUES )sql";

constexpr const char* upsert_tail = R"sql(
) AS v(id, request_id, user_id, channel, template_code, status, attempts, detail, correlation_id,
       language, template_version)
ON CONFLICT (id) DO UPDATE SET
  status = CASE
    WHEN notifications.status IN ('sent', 'skipped', 'dead', 'failed')
         AND EXCLUDED.status IN ('queued', 'processing') THEN notifications.status
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

} // namespace

std::vector<std::string> status_batch_statements(const std::vector<const status_event*>& events,
                                                 const std::string& node,
                                                 const sql_quote& quote) {
  std::vector<std::string> rounds;
  std::unordered_map<std::string, std::size_t> seen; // id -> rounds it already appears in
  for (auto* e : events) {
    auto round = seen[e->notification_id]++;
    if (round == rounds.size()) {
      rounds.emplace_back();
    }
    auto& rows = rounds[round];
    rows += rows.empty() ? "(" : ",\n(";
    rows += quote(e->notification_id) + ", " + quote(e->request_id) + ", " + quote(e->user_id)
            + ", " + quote(e->channel) + ", " + quote(e->template_code) + ", "
            + quote(e->status) + ", " + std::to_string(e->attempts) + ", " + quote(e->detail)
            + ", " + quote(e->correlation_id) + ", " + quote(e->language) + ", "
            + std::to_string(e->template_version) + ")";
  }
  std::vector<std::string> out;
  auto node_literal = quote(node);
  for (auto& rows : rounds) {
    out.push_back(upsert_head + node_literal + upsert_middle + rows + upsert_tail);
  }
  return out;
}

} // namespace herald
