#include "actors/gateway/admission.hpp"

#include <mutex>

#include "runtime/logging/log.hpp"

namespace herald {

namespace {

// KEYS: user window, client window, idempotency key ("" when none).
// ARGV: user limit, user window ms, client limit, client window ms, claim value,
//       fingerprint, claim ttl ms.
// Returns {verdict, window (0 none, 1 user, 2 client), limit, remaining, reset ms,
//          existing claim}; verdict 0 admitted, 1 limited, 2 replay, 3 in progress,
//          4 conflict.
const redis::script check_script{R"lua(
local idem, fp = KEYS[3], ARGV[6]
local verdict, existing = 0, ''
if idem ~= '' then
  local v = redis.call('GET', idem)
  if v then
    existing = v
    local state, vfp = string.match(v, '^(%a)|([^|]*)|')
    if vfp ~= fp then verdict = 4 elseif state == 'd' then verdict = 2 else verdict = 3 end
  end
end
local windows = {}
local limited = 0
for i = 1, 2 do
  local limit, ms = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  if limit > 0 then
    local n = tonumber(redis.call('GET', KEYS[i]) or '0')
    local ttl = redis.call('PTTL', KEYS[i])
    if ttl < 0 then ttl = ms end
    windows[i] = {limit, n, ttl, ms}
    if verdict == 0 and limited == 0 and n >= limit then limited = i end
  end
end
if verdict == 0 and limited > 0 then verdict = 1 end
if verdict == 0 then
  for i = 1, 2 do
    local w = windows[i]
    if w then
      w[2] = redis.call('INCR', KEYS[i])
      if w[2] == 1 then
        redis.call('PEXPIRE', KEYS[i], w[4])
        w[3] = w[4]
      end
    end
  end
  if idem ~= '' then redis.call('SET', idem, ARGV[5], 'PX', ARGV[7]) end
end
local pick = limited
if pick == 0 then
  for i = 1, 2 do
    local w = windows[i]
    if w and (pick == 0 or w[1] - w[2] < windows[pick][1] - windows[pick][2]) then pick = i end
  end
end
if pick == 0 then return {verdict, 0, 0, 0, 0, existing} end
local w = windows[pick]
return {verdict, pick, w[1], math.max(w[1] - w[2], 0), w[3], existing}
)lua"};

// KEYS: idempotency key. ARGV: the pending claim, the done value, its ttl in seconds.
const redis::script complete_script{R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
)lua"};

// KEYS: idempotency key. ARGV: the pending claim.
const redis::script release_script{R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
)lua"};

constexpr std::chrono::seconds done_ttl{24 * 60 * 60};

std::string claim_value(char state, const admission_request& r, const std::string& id) {
  return std::string{state} + "|" + r.fingerprint + "|" + id;
}

} // namespace

struct fail_open_log {
  std::mutex mtx;
  std::chrono::steady_clock::time_point last{};
  std::uint64_t since_last = 0;
};

admission::admission(const config::settings& s, runtime::entry_ptr entry)
  : per_user_(*config::parse_rate_spec(s.get("rate_limit.per_user"))),
    per_client_(*config::parse_rate_spec(s.get("rate_limit.per_client"))),
    per_user_text_(s.get("rate_limit.per_user")),
    per_client_text_(s.get("rate_limit.per_client")),
    claim_ttl_(2 * s.get_ms("amqp.confirm_timeout_ms") + std::chrono::seconds{5}),
    entry_(std::move(entry)), log_(std::make_shared<fail_open_log>()) {
  redis::batcher_settings bs;
  bs.url = s.get("redis.url");
  redis_ = std::make_unique<redis::command_batcher>(std::move(bs));
  entry_->set_state("running");
  entry_->counter("fail_open");
}

std::string admission::idempotency_key(const admission_request& r) {
  return "herald:idem:" + r.client_id + ":" + r.request_id;
}

namespace {

void count_fail_open(runtime::actor_entry& entry, fail_open_log& log_, const std::string& why) {
  entry.counter("fail_open") += 1;
  entry.failed += 1;
  entry.set_state("redis unavailable: serving without limits");
  std::uint64_t suppressed = 0;
  {
    std::lock_guard<std::mutex> lock{log_.mtx};
    auto now = std::chrono::steady_clock::now();
    log_.since_last += 1;
    if (log_.last != std::chrono::steady_clock::time_point{}
        && now - log_.last < std::chrono::seconds{10}) {
      return;
    }
    log_.last = now;
    suppressed = log_.since_last;
    log_.since_last = 0;
  }
  static const log::context who{"", "admission", {}};
  log::warn(who, "redis unavailable: notifications accepted without rate limits or "
                 "idempotency claims (fail open)",
            {{"error", why}, {"requests_since_last_warning", suppressed}});
}

} // namespace

void admission::check(const admission_request& r,
                      std::function<void(const admission_verdict&)> done) {
  auto ms = [](const config::rate_spec& s) { return std::to_string(s.window.count()); };
  std::vector<std::string> keys{
    per_user_.off() ? "" : "herald:rl:u:" + ms(per_user_) + ":" + r.user_id,
    per_client_.off() ? "" : "herald:rl:c:" + ms(per_client_) + ":" + r.client_id,
    r.request_id.empty() ? "" : idempotency_key(r)};
  std::vector<std::string> args{std::to_string(per_user_.limit), ms(per_user_),
                                std::to_string(per_client_.limit), ms(per_client_),
                                claim_value('p', r, r.notification_id), r.fingerprint,
                                std::to_string(claim_ttl_.count())};
  redis_->eval(check_script, keys, args,
               [entry = entry_, log = log_, done = std::move(done)](const std::optional<redis::value>& v,
                                              const std::string& error) {
                 admission_verdict out;
                 bool shaped = v && v->type == redis::value::kind::array && v->items.size() == 6;
                 for (std::size_t i = 0; shaped && i < 5; ++i) {
                   shaped = v->items[i].type == redis::value::kind::integer;
                 }
                 if (!shaped) {
                   count_fail_open(*entry, *log, !v ? error
                                      : v->type == redis::value::kind::error
                                          ? v->text
                                          : "unexpected reply to the admission script");
                   done(out);
                   return;
                 }
                 entry->processed += 1;
                 entry->set_state("running");
                 auto& items = v->items;
                 static const admission_verdict::kind kinds[] = {
                   admission_verdict::kind::admitted, admission_verdict::kind::limited,
                   admission_verdict::kind::replay, admission_verdict::kind::in_progress,
                   admission_verdict::kind::conflict};
                 auto verdict = items[0].integer;
                 out.what = verdict >= 0 && verdict <= 4 ? kinds[verdict]
                                                         : admission_verdict::kind::unchecked;
                 if (items[1].integer != 0) {
                   out.rated = true;
                   out.limit_name = items[1].integer == 1 ? "rate_limit.per_user"
                                                          : "rate_limit.per_client";
                   out.limit = items[2].integer;
                   out.remaining = items[3].integer;
                   out.reset = std::chrono::milliseconds{items[4].integer};
                 }
                 if (out.what == admission_verdict::kind::replay) {
                   auto& claim = items[5].text;
                   auto bar = claim.rfind('|');
                   out.existing_id = bar == std::string::npos ? "" : claim.substr(bar + 1);
                 }
                 if (out.what == admission_verdict::kind::limited) {
                   entry->counter("limited") += 1;
                 }
                 done(out);
               });
}

void admission::complete(const admission_request& r, const std::string& notification_id) {
  if (r.request_id.empty()) {
    return;
  }
  redis_->eval(complete_script, {idempotency_key(r)},
               {claim_value('p', r, r.notification_id), claim_value('d', r, notification_id),
                std::to_string(done_ttl.count())},
               [](const std::optional<redis::value>&, const std::string&) {});
}

void admission::release(const admission_request& r) {
  if (r.request_id.empty()) {
    return;
  }
  redis_->eval(release_script, {idempotency_key(r)}, {claim_value('p', r, r.notification_id)},
               [](const std::optional<redis::value>&, const std::string&) {});
}

} // namespace herald
