#pragma once

// Group-committed Redis commands: one I/O thread owns one connection (redis::client, which
// blocks) and sends every command that was submitted while its previous pipeline was in
// flight as the next pipeline, so N concurrent callers cost one round trip between them,
// not N (the way the AMQP publishers group their confirms). A caller's callback runs on
// that thread, once, with the command's reply, or with nothing and a reason when Redis
// could not be reached or did not answer within `timeout`.
//
// Scripts are sent as EVALSHA. A script not yet loaded on the current connection's server
// (the first use, or a new connection, perhaps to a restarted Redis) is loaded by a
// SCRIPT LOAD at the head of the same pipeline, so the commands run in the order they were
// given. One the server forgot while connected (SCRIPT FLUSH) answers NOSCRIPT, is loaded
// and sent once more in a second round trip: it then runs after the rest of its pipeline.
//
// While Redis is unreachable, commands fail at once (no queueing in memory) and the thread
// tries to reconnect at most every `reconnect_interval`. Callers decide what a failure
// means (the gateway serves without its checks: see actors/gateway/admission.hpp).

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>
#include <atomic>
#include <memory>

#include "adapters/redis/client.hpp"

namespace herald::redis {

/// A Lua script and its SHA-1 (what EVALSHA names it by).
struct script {
  explicit script(std::string text);
  std::string text;
  std::string sha1; ///< hex
};

/// The reply, or nullopt and the reason.
using command_callback = std::function<void(const std::optional<value>&, const std::string&)>;

struct batcher_settings {
  std::string url;
  std::chrono::milliseconds timeout{500};            ///< connect and each pipeline
  std::chrono::milliseconds reconnect_interval{250}; ///< after a failure
  std::size_t max_batch = 1024;                      ///< commands in one pipeline
};

class command_batcher {
public:
  explicit command_batcher(batcher_settings s);
  /// Fails what is still queued and stops the thread: joins it, or, when called from a
  /// callback on that very thread (its owner's last reference was dropped there), lets
  /// it finish on its own.
  ~command_batcher();
  command_batcher(const command_batcher&) = delete;
  command_batcher& operator=(const command_batcher&) = delete;

  /// Thread-safe; never blocks on the network. `done` is called exactly once.
  void run(std::vector<std::string> argv, command_callback done);

  /// EVALSHA of `s` (which must outlive the batcher) with these keys and arguments.
  void eval(const script& s, const std::vector<std::string>& keys,
            const std::vector<std::string>& args, command_callback done);

  /// Pipelines sent so far, and commands in them (their ratio is the batching achieved).
  std::uint64_t pipelines() const;
  std::uint64_t commands() const;

private:
  struct state;
  std::shared_ptr<state> state_; ///< shared with the thread
  std::thread thread_;
};

} // namespace herald::redis
