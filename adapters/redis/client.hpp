#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct redisContext;
struct redisReply;

namespace herald::redis {

/// A reply of any shape, as a value (for pipelines and scripts that answer arrays).
struct value {
  enum class kind { nil, integer, string, status, error, array };
  kind type = kind::nil;
  long long integer = 0;
  std::string text;          ///< string, status or error
  std::vector<value> items;  ///< array
};

/// One connection to Redis (`redis://[[user]:password@]host[:port][/db]`, port 6379 and
/// db 0 by default). Blocking; not thread-safe: owned by one thread.
///
/// Every call returns its outcome as a value and never throws for Redis or network
/// errors. The client connects lazily on the first call and again on the call after a
/// connection error, so a Redis restart heals by itself. Before reusing a connection it
/// checks that the server has not closed it, so a restart between calls costs no error.
/// When a command fails on a reused connection, idempotent commands (get, set, del,
/// ping) are sent once more on a fresh one; set_if_absent is not, since its first attempt
/// may have created the key.
///
/// Keys and values are binary-safe. Timeouts bound connecting and each command.
class client {
public:
  /// Does not connect yet. Throws std::invalid_argument on a malformed URL, a scheme
  /// other than redis (rediss is not supported by hiredis 0.14), a non-numeric db, or a
  /// query string.
  explicit client(std::string url,
                  std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  /// GET: the value, or nullopt on a miss or an error (`*error` is set on error only).
  std::optional<std::string> get(const std::string& key, std::string* error = nullptr);

  /// SET key value EX ttl. Throws std::invalid_argument when ttl is not positive.
  bool set(const std::string& key, const std::string& value, std::chrono::seconds ttl,
           std::string* error = nullptr);

  /// SET key value NX EX ttl: true when this call created the key, false when it existed,
  /// nullopt on error. Throws std::invalid_argument when ttl is not positive.
  std::optional<bool> set_if_absent(const std::string& key, const std::string& value,
                                    std::chrono::seconds ttl, std::string* error = nullptr);

  /// DEL key: true when the command succeeded, whether or not the key existed.
  bool del(const std::string& key, std::string* error = nullptr);

  /// MGET keys...: one entry per key (nullopt for a missing key), or nullopt on error.
  std::optional<std::vector<std::optional<std::string>>>
  mget(const std::vector<std::string>& keys, std::string* error = nullptr);

  /// EVAL script numkeys keys... args...: the script's integer reply, or nullopt on error
  /// or when the script returned something else. Lua scripts run atomically in Redis,
  /// which is what they are for here. `idempotent` says whether running the script twice
  /// is harmless, i.e. whether it may be resent on a fresh connection after a failure.
  std::optional<long long> eval(const std::string& script, const std::vector<std::string>& keys,
                                const std::vector<std::string>& args, bool idempotent,
                                std::string* error = nullptr);

  /// Pipelining: sends every command of `commands` (each an argv) in one write and reads
  /// their replies in order: one round trip for all of them. Per-command errors (a script
  /// error, NOSCRIPT) are values of kind error; a connection error or timeout answers
  /// nullopt with `*error` set, and then none of the commands may be assumed undone (so
  /// nothing is resent here).
  std::optional<std::vector<value>> pipeline(const std::vector<std::vector<std::string>>& commands,
                                             std::string* error = nullptr);

  /// PING: true when the server answered PONG.
  bool ping(std::string* error = nullptr);

  /// Whether a connection is open and has seen no error (it may still be closed by the
  /// server unnoticed).
  bool connected() const;

  /// Opens a connection unless the current one is still usable (what every call does
  /// first): false, with `*error` set, when Redis cannot be reached.
  bool connect(std::string* error = nullptr);

  /// Connections opened so far. A change means a new connection, perhaps to a restarted
  /// server that has forgotten its scripts.
  std::uint64_t connections() const { return connections_; }

private:
  struct reply_deleter {
    void operator()(redisReply* r) const;
  };
  using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

  reply_ptr run(std::initializer_list<std::string_view> args, bool idempotent,
                std::string* error);
  reply_ptr run(const std::vector<std::string_view>& args, bool idempotent, std::string* error);
  reply_ptr send_on_current(const std::vector<std::string_view>& args);
  bool ensure_connection(bool& fresh, std::string* error);
  bool reusable() const;
  void disconnect();

  std::string host_;
  int port_ = 6379;
  std::string user_;
  std::string password_;
  int db_ = 0;
  std::chrono::milliseconds timeout_;
  redisContext* context_ = nullptr;
  std::uint64_t connections_ = 0;
};

} // namespace herald::redis
