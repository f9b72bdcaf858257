#include "actors/gateway/admission.hpp"

#include <mutex>

#include "runtime/logging/log.hpp"

namespace herald {

namespace {

// The admission check of one or many requests (a single POST is a batch of one).
// KEYS: per request its user window, client window and idempotency key ("" when none).
// ARGV: user limit, user window ms, client limit, client window ms, claim ttl ms, then per
// request its claim value and fingerprint. Returns six values per request, in order:
// verdict (0 admitted, 1 limited, 2 replay, 3 in progress, 4 conflict), window (0 none,
// 1 user, 2 client), limit, remaining, reset ms, existing claim.
// Each window key is read once and incremented once (INCRBY of the requests it admitted),
// however many of the batch's requests share it: a bulk request's thousand items are one
// client window, not a thousand GET, PTTL and INCR calls.
const redis::script check_many_script{R"lua(
local out = {}
local ttl = ARGV[5]
local seen = {} -- window key -> {count, ms left, admitted here, window ms}
local function window(key, ms)
  local w = seen[key]
  if not w then
    local left = redis.call('PTTL', key)
    if left < 0 then left = ms end
    w = {tonumber(redis.call('GET', key) or '0'), left, 0, ms}
    seen[key] = w
  end
  return w
end
for k = 0, #KEYS / 3 - 1 do
  local idem, claim, fp = KEYS[3 * k + 3], ARGV[6 + 2 * k], ARGV[7 + 2 * k]
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
    local limit = tonumber(ARGV[2 * i - 1])
    if limit > 0 then
      local w = window(KEYS[3 * k + i], tonumber(ARGV[2 * i]))
      windows[i] = {limit, w}
      if verdict == 0 and limited == 0 and w[1] >= limit then limited = i end
    end
  end
  if verdict == 0 and limited > 0 then verdict = 1 end
  if verdict == 0 then
    for i = 1, 2 do
      local w = windows[i]
      if w then
        w[2][1] = w[2][1] + 1
        w[2][3] = w[2][3] + 1
      end
    end
    if idem ~= '' then redis.call('SET', idem, claim, 'PX', ttl) end
  end
  local pick = limited
  if pick == 0 then
    for i = 1, 2 do
      local w = windows[i]
      if w and (pick == 0 or w[1] - w[2][1] < windows[pick][1] - windows[pick][2][1]) then
        pick = i
      end
    end
  end
  local n = #out
  if pick == 0 then
    out[n + 1], out[n + 2], out[n + 3], out[n + 4], out[n + 5] = verdict, 0, 0, 0, 0
  else
    local limit, w = windows[pick][1], windows[pick][2]
    out[n + 1], out[n + 2], out[n + 3], out[n + 4], out[n + 5] =
      verdict, pick, limit, math.max(limit - w[1], 0), w[2]
  end
  out[n + 6] = existing
end
for key, w in pairs(seen) do
  if w[3] > 0 and redis.call('INCRBY', key, w[3]) == w[3] then
    redis.call('PEXPIRE', key, w[4])
  end
end
return out
)lua"};

// Marks claims done. KEYS: idempotency keys. ARGV: the done ttl in seconds, then
// per key its pending claim and its done value.
const redis::script complete_many_script{R"lua(
for k = 1, #KEYS do
  if redis.call('GET', KEYS[k]) == ARGV[2 * k] then
    redis.call('SET', KEYS[k], ARGV[2 * k + 1], 'EX', ARGV[1])
  end
end
return #KEYS
)lua"};

// Frees claims. KEYS: idempotency keys. ARGV: per key its pending claim.
const redis::script release_many_script{R"lua(
for k = 1, #KEYS do
  if redis.call('GET', KEYS[k]) == ARGV[k] then redis.call('DEL', KEYS[k]) end
end
return #KEYS
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

namespace {

/// Reads one verdict (six values from `at`) of a check script's reply; false when it is
/// not shaped as one.
bool read_verdict(const std::vector<redis::value>& items, std::size_t at, admission_verdict& out) {
  for (std::size_t i = at; i < at + 5; ++i) {
    if (items[i].type != redis::value::kind::integer) {
      return false;
    }
  }
  static const admission_verdict::kind kinds[] = {
    admission_verdict::kind::admitted, admission_verdict::kind::limited,
    admission_verdict::kind::replay, admission_verdict::kind::in_progress,
    admission_verdict::kind::conflict};
  auto verdict = items[at].integer;
  out.what = verdict >= 0 && verdict <= 4 ? kinds[verdict] : admission_verdict::kind::unchecked;
  if (items[at + 1].integer != 0) {
    out.rated = true;
    out.limit_name = items[at + 1].integer == 1 ? "rate_limit.per_user" : "rate_limit.per_client";
    out.limit = items[at + 2].integer;
    out.remaining = items[at + 3].integer;
    out.reset = std::chrono::milliseconds{items[at + 4].integer};
  }
  if (out.what == admission_verdict::kind::replay) {
    auto& claim = items[at + 5].text;
    auto bar = claim.rfind('|');
    out.existing_id = bar == std::string::npos ? "" : claim.substr(bar + 1);
  }
  return true;
}

std::string failure_of(const std::optional<redis::value>& v, const std::string& error) {
  return !v ? error
            : v->type == redis::value::kind::error ? v->text
                                                    : "unexpected reply to the admission script";
}

} // namespace

void admission::check(const admission_request& r,
                      std::function<void(const admission_verdict&)> done) {
  check_many({r}, [done = std::move(done)](std::vector<admission_verdict> out) { done(out[0]); });
}

void admission::check_many(const std::vector<admission_request>& rs,
                           std::function<void(std::vector<admission_verdict>)> done) {
  auto ms = [](const config::rate_spec& s) { return std::to_string(s.window.count()); };
  std::vector<std::string> keys;
  std::vector<std::string> args{std::to_string(per_user_.limit), ms(per_user_),
                                std::to_string(per_client_.limit), ms(per_client_),
                                std::to_string(claim_ttl_.count())};
  keys.reserve(3 * rs.size());
  args.reserve(5 + 2 * rs.size());
  for (auto& r : rs) {
    keys.push_back(per_user_.off() ? "" : "herald:rl:u:" + ms(per_user_) + ":" + r.user_id);
    keys.push_back(per_client_.off() ? "" : "herald:rl:c:" + ms(per_client_) + ":" + r.client_id);
    keys.push_back(r.request_id.empty() ? "" : idempotency_key(r));
    args.push_back(claim_value('p', r, r.notification_id));
    args.push_back(r.fingerprint);
  }
  auto count = rs.size();
  redis_->eval(check_many_script, keys, args,
               [entry = entry_, log = log_, count, done = std::move(done)](
                 const std::optional<redis::value>& v, const std::string& error) {
                 std::vector<admission_verdict> out(count);
                 bool shaped = v && v->type == redis::value::kind::array
                               && v->items.size() == 6 * count;
                 for (std::size_t i = 0; shaped && i < count; ++i) {
                   shaped = read_verdict(v->items, 6 * i, out[i]);
                 }
                 if (!shaped) {
                   out.assign(count, admission_verdict{});
                   for (std::size_t i = 0; i < count; ++i) {
                     count_fail_open(*entry, *log, failure_of(v, error));
                   }
                   done(std::move(out));
                   return;
                 }
                 entry->processed += count;
                 entry->set_state("running");
                 for (auto& o : out) {
                   if (o.what == admission_verdict::kind::limited) {
                     entry->counter("limited") += 1;
                   }
                 }
                 done(std::move(out));
               });
}

void admission::complete_many(
  const std::vector<std::pair<admission_request, std::string>>& done) {
  std::vector<std::string> keys;
  std::vector<std::string> args{std::to_string(done_ttl.count())};
  for (auto& [r, id] : done) {
    if (!r.request_id.empty()) {
      keys.push_back(idempotency_key(r));
      args.push_back(claim_value('p', r, r.notification_id));
      args.push_back(claim_value('d', r, id));
    }
  }
  if (!keys.empty()) {
    redis_->eval(complete_many_script, keys, args,
                 [](const std::optional<redis::value>&, const std::string&) {});
  }
}

void admission::release_many(const std::vector<admission_request>& rs) {
  std::vector<std::string> keys;
  std::vector<std::string> args;
  for (auto& r : rs) {
    if (!r.request_id.empty()) {
      keys.push_back(idempotency_key(r));
      args.push_back(claim_value('p', r, r.notification_id));
    }
  }
  if (!keys.empty()) {
    redis_->eval(release_many_script, keys, args,
                 [](const std::optional<redis::value>&, const std::string&) {});
  }
}

void admission::complete(const admission_request& r, const std::string& notification_id) {
  complete_many({{r, notification_id}});
}

void admission::release(const admission_request& r, std::function<void()> then) {
  if (!then) {
    release_many({r});
    return;
  }
  if (r.request_id.empty()) {
    then();
    return;
  }
  redis_->eval(release_many_script, {idempotency_key(r)},
               {claim_value('p', r, r.notification_id)},
               [then = std::move(then)](const std::optional<redis::value>&,
                                        const std::string&) { then(); });
}

} // namespace herald
