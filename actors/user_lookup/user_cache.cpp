#include "actors/user_lookup/user_cache.hpp"

namespace herald {

namespace {

// KEYS[1] generation, KEYS[2] value; ARGV[1] generation read before querying PostgreSQL,
// ARGV[2] value, ARGV[3] ttl. A missing generation key reads as "".
constexpr const char* fill_script = R"(
if (redis.call('GET', KEYS[1]) or '') == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0)";

// fill_script for many users: KEYS[2j-1] generation and KEYS[2j] value of user j;
// ARGV[1] ttl, ARGV[2j] generation read before querying PostgreSQL, ARGV[2j+1] value.
// Returns how many were stored.
constexpr const char* fill_many_script = R"(
local stored = 0
for j = 1, #KEYS / 2 do
  if (redis.call('GET', KEYS[2 * j - 1]) or '') == ARGV[2 * j] then
    redis.call('SET', KEYS[2 * j], ARGV[2 * j + 1], 'EX', ARGV[1])
    stored = stored + 1
  end
end
return stored)";

// KEYS[1] generation, KEYS[2] value; ARGV[1] lifetime of the generation key.
constexpr const char* invalidate_script = R"(
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return 1)";

/// Longer than any lookup can take between reading the generation and filling.
constexpr std::chrono::seconds generation_lifetime{86400};

} // namespace

user_cache::user_cache(std::string redis_url, std::chrono::seconds ttl)
  : redis_(std::move(redis_url)), ttl_(ttl) {}

std::string user_cache::value_key(const std::string& user_id) {
  return "herald:user:" + user_id;
}

std::string user_cache::generation_key(const std::string& user_id) {
  return "herald:user:" + user_id + ":gen";
}

user_cache::probe user_cache::read(const std::string& user_id) {
  probe out;
  auto values = redis_.mget({value_key(user_id), generation_key(user_id)}, &out.error);
  if (!values) {
    return out;
  }
  out.available = true;
  out.value = std::move((*values)[0]);
  out.generation = (*values)[1].value_or("");
  return out;
}

std::vector<user_cache::probe> user_cache::read_many(const std::vector<std::string>& user_ids) {
  std::vector<probe> out(user_ids.size());
  if (user_ids.empty()) {
    return out;
  }
  std::vector<std::string> keys;
  keys.reserve(2 * user_ids.size());
  for (auto& id : user_ids) {
    keys.push_back(value_key(id));
    keys.push_back(generation_key(id));
  }
  std::string error;
  auto values = redis_.mget(keys, &error);
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (!values) {
      out[i].error = error;
      continue;
    }
    out[i].available = true;
    out[i].value = std::move((*values)[2 * i]);
    out[i].generation = (*values)[2 * i + 1].value_or("");
  }
  return out;
}

std::optional<std::size_t> user_cache::fill_many(const std::vector<fill_entry>& entries,
                                                 std::string& error) {
  if (entries.empty()) {
    return 0;
  }
  std::vector<std::string> keys;
  std::vector<std::string> args{std::to_string(ttl_.count())};
  for (auto& e : entries) {
    keys.push_back(generation_key(e.user_id));
    keys.push_back(value_key(e.user_id));
    args.push_back(e.generation);
    args.push_back(e.value);
  }
  // Idempotent like fill: it may be resent after a connection failure.
  auto r = redis_.eval(fill_many_script, keys, args, true, &error);
  if (!r) {
    return std::nullopt;
  }
  return static_cast<std::size_t>(*r);
}

bool user_cache::fill(const std::string& user_id, const std::string& generation,
                      const std::string& value, std::string& error) {
  // Filling twice is harmless: it may be resent after a connection failure.
  auto r = redis_.eval(fill_script, {generation_key(user_id), value_key(user_id)},
                       {generation, value, std::to_string(ttl_.count())}, true, &error);
  return r && *r == 1;
}

bool user_cache::invalidate(const std::string& user_id, std::string& error) {
  // A second increment is as good as one, so this may be resent too.
  auto r = redis_.eval(invalidate_script, {generation_key(user_id), value_key(user_id)},
                       {std::to_string(generation_lifetime.count())}, true, &error);
  return r.has_value();
}

} // namespace herald
