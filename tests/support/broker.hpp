#pragma once

// Broker-side tools for tests of the publish path: rabbitmqctl against scripts/test's
// broker, guards that change the broker for one scope and always change it back (a
// policy, a memory alarm), and a plain AMQP client that declares, counts, drains and
// deletes queues so a test can compare what Herald claimed with what the broker holds.

#include <amqp.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace herald::test {

struct ctl_result {
  int status = -1;
  std::string output; ///< stdout and stderr
};

/// Runs `$HERALD_TEST_CTL rabbitmqctl ARGS...` (testctl sets the broker's environment).
ctl_result rabbitmqctl(const std::vector<std::string>& args);

/// A policy for the length of a scope; cleared when the scope ends, also on failure.
class broker_policy {
public:
  /// `definition` is the policy's JSON, e.g. {"max-length":0,"overflow":"reject-publish"}.
  broker_policy(std::string name, const std::string& pattern, const std::string& definition);
  ~broker_policy();
  broker_policy(const broker_policy&) = delete;
  broker_policy& operator=(const broker_policy&) = delete;

  /// Clears it now; true when rabbitmqctl did.
  bool clear();

private:
  std::string name_;
  bool set_ = false;
};

/// A memory alarm for the length of a scope: the high watermark is set to 0, so RabbitMQ
/// blocks every connection that publishes. The watermark found before is restored when
/// the scope ends (also on failure) unless lift() did already.
class memory_alarm {
public:
  memory_alarm();
  ~memory_alarm();
  memory_alarm(const memory_alarm&) = delete;
  memory_alarm& operator=(const memory_alarm&) = delete;

  /// Restores the watermark now; true when rabbitmqctl did.
  bool lift();

private:
  std::vector<std::string> restore_; ///< set_vm_memory_high_watermark's arguments
  bool raised_ = false;
};

/// One plain rabbitmq-c connection to the test broker, for checking and cleaning up.
/// Every call REQUIREs success.
class broker_client {
public:
  broker_client();
  ~broker_client();
  broker_client(const broker_client&) = delete;
  broker_client& operator=(const broker_client&) = delete;

  /// A durable queue with these (integer or string) arguments, bound to `exchange` (a
  /// durable direct exchange, declared too) with `routing_key`.
  void declare_queue(const std::string& queue, const std::string& exchange,
                     const std::string& routing_key,
                     const std::map<std::string, std::string>& string_args = {},
                     const std::map<std::string, std::int64_t>& int_args = {});
  void delete_queue(const std::string& queue);
  void delete_exchange(const std::string& exchange);
  /// Declares the queue (durable, with Herald's arguments for its own queues) and empties it.
  void purge(const std::string& queue);
  /// Ready messages in the queue (a passive declare).
  std::uint32_t message_count(const std::string& queue);
  /// Takes every message out of the queue and answers their message ids.
  std::vector<std::string> drain(const std::string& queue);

private:
  void check(const char* what);
  amqp_connection_state_t conn_ = nullptr;
};

/// Empties a queue when the scope ends, so what a test published leaves with it.
class drained_at_exit {
public:
  explicit drained_at_exit(std::string queue) : queue_(std::move(queue)) {}
  ~drained_at_exit();
  drained_at_exit(const drained_at_exit&) = delete;
  drained_at_exit& operator=(const drained_at_exit&) = delete;

private:
  std::string queue_;
};

} // namespace herald::test
