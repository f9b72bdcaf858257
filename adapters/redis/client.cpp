#include "adapters/redis/client.hpp"

#include "adapters/url.hpp"

#include <hiredis/hiredis.h>
#include <poll.h>

#include <cerrno>
#include <stdexcept>
#include <utility>
#include <vector>

namespace herald::redis {

namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
  return {static_cast<time_t>(ms.count() / 1000), static_cast<suseconds_t>(ms.count() % 1000 * 1000)};
}

void set_error(std::string* error, std::string reason) {
  if (error != nullptr) {
    *error = std::move(reason);
  }
}

std::string ttl_text(std::chrono::seconds ttl) {
  if (ttl.count() <= 0) {
    throw std::invalid_argument("redis: ttl must be positive");
  }
  return std::to_string(ttl.count());
}

bool is_status(const redisReply* r, std::string_view text) {
  return r->type == REDIS_REPLY_STATUS && std::string_view{r->str, r->len} == text;
}

value to_value(const redisReply* r) {
  value v;
  switch (r->type) {
    case REDIS_REPLY_INTEGER:
      v.type = value::kind::integer;
      v.integer = r->integer;
      break;
    case REDIS_REPLY_STRING:
      v.type = value::kind::string;
      v.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      v.type = value::kind::status;
      v.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      v.type = value::kind::error;
      v.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ARRAY:
      v.type = value::kind::array;
      for (std::size_t i = 0; i < r->elements; ++i) {
        v.items.push_back(to_value(r->element[i]));
      }
      break;
    default:
      break;
  }
  return v;
}

} // namespace

void client::reply_deleter::operator()(redisReply* r) const {
  freeReplyObject(r);
}

client::client(std::string url, std::chrono::milliseconds timeout) : timeout_(timeout) {
  std::string error;
  auto u = parse_url(url, &error);
  if (!u) {
    throw std::invalid_argument("redis url: " + error); // never echo the URL: it may hold a password
  }
  if (u->scheme != "redis") {
    throw std::invalid_argument("redis url: scheme must be redis, not '" + u->scheme + "'");
  }
  if (!u->query.empty()) {
    throw std::invalid_argument("redis url: query parameters are not supported");
  }
  if (!u->path.empty()) {
    if (u->path.size() > 4 || u->path.find_first_not_of("0123456789") != std::string::npos) {
      throw std::invalid_argument("redis url: the path must be a database number");
    }
    db_ = std::stoi(u->path);
  }
  host_ = u->host;
  port_ = u->port != 0 ? u->port : 6379;
  user_ = u->user;
  password_ = u->password;
}

client::~client() {
  disconnect();
}

bool client::connected() const {
  return context_ != nullptr && context_->err == 0;
}

void client::disconnect() {
  if (context_ != nullptr) {
    redisFree(context_);
    context_ = nullptr;
  }
}

/// A synchronous client never has replies pending between calls: a readable socket means
/// the server closed the connection (or broke the protocol).
bool client::reusable() const {
  if (!connected()) {
    return false;
  }
  pollfd p{context_->fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 0;
}

client::reply_ptr client::send_on_current(const std::vector<std::string_view>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  for (auto a : args) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  return reply_ptr{static_cast<redisReply*>(
    redisCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lengths.data()))};
}

bool client::ensure_connection(bool& fresh, std::string* error) {
  fresh = false;
  if (reusable()) {
    return true;
  }
  disconnect();
  auto where = "redis " + host_ + ":" + std::to_string(port_) + ": ";
  context_ = redisConnectWithTimeout(host_.c_str(), port_, to_timeval(timeout_));
  if (context_ == nullptr || context_->err != 0) {
    set_error(error, where + (context_ != nullptr ? context_->errstr : "cannot allocate context"));
    disconnect();
    return false;
  }
  redisSetTimeout(context_, to_timeval(timeout_));
  redisEnableKeepAlive(context_);
  auto setup = [&](std::initializer_list<std::string_view> args, const char* what) {
    auto r = send_on_current(args);
    if (r && is_status(r.get(), "OK")) {
      return true;
    }
    auto reason = r ? std::string{r->str, r->len} : std::string{context_->errstr};
    set_error(error, where + what + " failed: " + reason);
    disconnect();
    return false;
  };
  if (!password_.empty()) {
    bool ok = user_.empty() ? setup({"AUTH", password_}, "AUTH")
                            : setup({"AUTH", user_, password_}, "AUTH");
    if (!ok) {
      return false;
    }
  }
  if (db_ != 0 && !setup({"SELECT", std::to_string(db_)}, "SELECT")) {
    return false;
  }
  fresh = true;
  ++connections_;
  return true;
}

bool client::connect(std::string* error) {
  bool fresh = false;
  return ensure_connection(fresh, error);
}

client::reply_ptr client::run(std::initializer_list<std::string_view> args, bool idempotent,
                              std::string* error) {
  return run(std::vector<std::string_view>{args}, idempotent, error);
}

client::reply_ptr client::run(const std::vector<std::string_view>& args, bool idempotent,
                              std::string* error) {
  for (int attempt = 0;; ++attempt) {
    bool fresh = false;
    if (!ensure_connection(fresh, error)) {
      return nullptr;
    }
    errno = 0;
    if (auto reply = send_on_current(args)) {
      if (reply->type == REDIS_REPLY_ERROR) {
        set_error(error, "redis: " + std::string{reply->str, reply->len});
        return nullptr;
      }
      return reply;
    }
    // A timeout is not retried: the caller's time bound is one timeout, not two.
    bool timed_out = context_->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK);
    auto reason = "redis " + host_ + ":" + std::to_string(port_) + ": " +
                  (timed_out ? "timed out" : context_->errstr);
    disconnect();
    if (!idempotent || fresh || timed_out || attempt > 0) {
      set_error(error, reason);
      return nullptr;
    }
  }
}

std::optional<std::string> client::get(const std::string& key, std::string* error) {
  auto r = run({"GET", key}, true, error);
  if (!r || r->type == REDIS_REPLY_NIL) {
    return std::nullopt;
  }
  if (r->type != REDIS_REPLY_STRING) {
    set_error(error, "redis: unexpected reply to GET");
    return std::nullopt;
  }
  return std::string{r->str, r->len};
}

bool client::set(const std::string& key, const std::string& value, std::chrono::seconds ttl,
                 std::string* error) {
  auto r = run({"SET", key, value, "EX", ttl_text(ttl)}, true, error);
  if (r && !is_status(r.get(), "OK")) {
    set_error(error, "redis: unexpected reply to SET");
    return false;
  }
  return r != nullptr;
}

std::optional<bool> client::set_if_absent(const std::string& key, const std::string& value,
                                          std::chrono::seconds ttl, std::string* error) {
  auto r = run({"SET", key, value, "NX", "EX", ttl_text(ttl)}, false, error);
  if (!r) {
    return std::nullopt;
  }
  if (r->type == REDIS_REPLY_NIL) {
    return false;
  }
  if (!is_status(r.get(), "OK")) {
    set_error(error, "redis: unexpected reply to SET NX");
    return std::nullopt;
  }
  return true;
}

bool client::del(const std::string& key, std::string* error) {
  auto r = run({"DEL", key}, true, error);
  return r && r->type == REDIS_REPLY_INTEGER;
}

std::optional<std::vector<std::optional<std::string>>>
client::mget(const std::vector<std::string>& keys, std::string* error) {
  std::vector<std::string_view> args{"MGET"};
  args.insert(args.end(), keys.begin(), keys.end());
  auto r = run(args, true, error);
  if (!r) {
    return std::nullopt;
  }
  if (r->type != REDIS_REPLY_ARRAY || r->elements != keys.size()) {
    set_error(error, "redis: unexpected reply to MGET");
    return std::nullopt;
  }
  std::vector<std::optional<std::string>> out;
  for (std::size_t i = 0; i < r->elements; ++i) {
    auto* e = r->element[i];
    if (e->type == REDIS_REPLY_STRING) {
      out.emplace_back(std::string{e->str, e->len});
    } else {
      out.emplace_back(std::nullopt);
    }
  }
  return out;
}

std::optional<long long> client::eval(const std::string& script,
                                      const std::vector<std::string>& keys,
                                      const std::vector<std::string>& args, bool idempotent,
                                      std::string* error) {
  auto key_count = std::to_string(keys.size());
  std::vector<std::string_view> argv{"EVAL", script, key_count};
  argv.insert(argv.end(), keys.begin(), keys.end());
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run(argv, idempotent, error);
  if (!r) {
    return std::nullopt;
  }
  if (r->type != REDIS_REPLY_INTEGER) {
    set_error(error, "redis: the script did not return an integer");
    return std::nullopt;
  }
  return r->integer;
}

std::optional<std::vector<value>>
client::pipeline(const std::vector<std::vector<std::string>>& commands, std::string* error) {
  std::vector<value> out;
  if (commands.empty()) {
    return out;
  }
  bool fresh = false;
  if (!ensure_connection(fresh, error)) {
    return std::nullopt;
  }
  auto where = "redis " + host_ + ":" + std::to_string(port_) + ": ";
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  for (auto& c : commands) {
    argv.clear();
    lengths.clear();
    for (auto& a : c) {
      argv.push_back(a.data());
      lengths.push_back(a.size());
    }
    if (redisAppendCommandArgv(context_, static_cast<int>(argv.size()), argv.data(),
                               lengths.data()) != REDIS_OK) {
      set_error(error, where + context_->errstr);
      disconnect();
      return std::nullopt;
    }
  }
  out.reserve(commands.size());
  for (std::size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    errno = 0;
    if (redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr) {
      bool timed_out = context_->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK);
      set_error(error, where + (timed_out ? std::string{"timed out"} : context_->errstr));
      disconnect();
      return std::nullopt;
    }
    reply_ptr r{static_cast<redisReply*>(raw)};
    out.push_back(to_value(r.get()));
  }
  return out;
}

bool client::ping(std::string* error) {
  auto r = run({"PING"}, true, error);
  return r && is_status(r.get(), "PONG");
}

} // namespace herald::redis
