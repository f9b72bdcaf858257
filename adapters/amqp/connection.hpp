#pragma once

// A thin wrapper of one rabbitmq-c connection with one channel. Blocking and not
// thread-safe: it is owned by exactly one thread or detached actor. Every call returns an
// outcome; after any error the connection is unusable and the owner opens a new one.

#include <amqp.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace herald::amqp {

/// Table values of AMQP arguments and headers: text or integers.
using string_table = std::map<std::string, std::string>;
using int_table = std::map<std::string, std::int64_t>;

/// An AMQP table of `strings` and `ints`; its entries point into the maps and `out`, which
/// must outlive it.
amqp_table_t make_table(const string_table& strings, const int_table& ints,
                        std::vector<amqp_table_entry_t>& out);

struct queue_spec {
  std::string name;
  std::vector<std::string> bindings; ///< routing keys bound from the exchange
  /// Queue arguments (x-message-ttl, x-dead-letter-exchange, ...). A queue that exists
  /// with other arguments is refused by the broker, so these never change for one name.
  string_table string_args{};
  int_table int_args{};
  /// Instead of `bindings`: bound to this (headers) exchange, matching all these headers.
  /// RabbitMQ's headers exchange ignores headers whose names start with `x-`: none here.
  std::string headers_exchange{};
  string_table match_headers{};
  /// A binding to `headers_exchange` with these headers (and x-match all) is removed if
  /// present: one an older topology left that must no longer route.
  string_table unbind_headers{};
};

/// Another durable exchange of the topology, e.g. a headers exchange.
struct exchange_spec {
  std::string name;
  std::string type; ///< direct, headers, ...
};

/// Durable exchange and queues, declared on every connect (idempotent), so a broker that
/// lost its state is set up again by the first connection.
struct topology {
  std::string exchange; ///< a durable direct exchange
  std::vector<queue_spec> queues;
  std::vector<exchange_spec> exchanges{}; ///< declared before the queues
};

struct message {
  std::string exchange;
  std::string routing_key;
  std::string body;
  std::string message_id;     ///< "" : none
  /// "" : none. Properties cost the broker: with both message_id and correlation_id (36
  /// characters each) a message cost RabbitMQ 3.10 ≈ 40 % more CPU than with one of them
  /// (README, Performance), so the gateway leaves this out: its bodies carry the id.
  std::string correlation_id;
  std::string content_type = "application/json";
  string_table headers{};     ///< text headers
  int_table int_headers{};    ///< integer headers
  std::string expiration{};   ///< per-message TTL in ms, as text ("" : none)
  /// basic.properties priority (0 : none). A queue declared with x-max-priority delivers
  /// higher ones first; RabbitMQ keeps it when it dead-letters the message.
  std::uint8_t priority = 0;
};

struct delivery {
  std::uint64_t tag = 0;
  bool redelivered = false;
  std::string routing_key;
  std::string body;
  std::string message_id;
  std::string correlation_id;
  std::uint8_t priority = 0; ///< basic.properties priority (0 : none)
  /// The message's headers of text or integer value (integers as decimal text); others
  /// (tables, arrays such as x-death) are left out.
  string_table headers;
};

/// A confirm or a negative confirm for delivery tags up to `tag` (or exactly `tag`).
struct confirm {
  std::uint64_t tag = 0;
  bool multiple = false;
  bool ack = true;
};

class connection {
public:
  /// Parses amqp://user:pass@host:port/vhost; throws std::invalid_argument when malformed.
  explicit connection(const std::string& url,
                      std::chrono::milliseconds timeout = std::chrono::milliseconds{2000});
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// Opens the socket, logs in and opens channel 1. Returns "" or the reason.
  std::string open();
  bool is_open() const { return open_; }
  const std::string& last_error() const { return error_; }
  int fd() const;

  /// Declares `t`. A queue that exists with other arguments (e.g. without the
  /// x-max-priority a newer topology gives it) is refused by the broker with
  /// PRECONDITION_FAILED; the error then starts with `inequivalent_queue_prefix`.
  std::string declare(const topology& t);
  std::string enable_confirms();
  std::string set_prefetch(std::uint16_t count);
  /// Starts consuming `queue` (manual acks) under a consumer tag the broker picks.
  std::string consume(const std::string& queue);
  /// Stops the consumer consume() started (basic.cancel): no more deliveries, while the
  /// unsettled ones stay this channel's to ack or reject. Deliveries already on their way
  /// still come through next_delivery. Nothing to do when none is running.
  std::string cancel();

  /// Sends a persistent message. Its delivery tag (in confirm mode) is the count of
  /// publishes on this connection so far.
  std::string publish(const message& m);

  /// True when a frame is already buffered, so waiting on the socket would be wrong.
  bool has_buffered_data() const;
  /// Reads the next confirm within `timeout` (zero: only what is already there).
  /// nullopt on timeout, or on error (then is_open() is false).
  std::optional<confirm> next_confirm(std::chrono::milliseconds timeout);

  /// Reads the next delivery within `timeout`. nullopt on timeout or error (is_open()).
  std::optional<delivery> next_delivery(std::chrono::milliseconds timeout);
  std::string ack(std::uint64_t tag, bool multiple = false);
  std::string reject(std::uint64_t tag, bool requeue);

  /// While held, small writes (publishes, acks) are coalesced into full TCP segments and
  /// go out together on release: one batch costs the broker a few reads, not one per frame.
  void hold_writes(bool hold);

  /// Closes gracefully (channel.close, connection.close: round trips bounded by the timeout).
  void close();
  /// Drops the socket without the closing handshake: for a connection already known to be
  /// broken or blocked, where a graceful close would wait out its timeout twice.
  void abort();

private:
  std::string fail(std::string reason);
  std::string check_rpc(const char* what);

  std::string host_;
  int port_ = 5672;
  std::string user_;
  std::string password_;
  std::string vhost_;
  std::chrono::milliseconds timeout_;
  amqp_connection_state_t conn_ = nullptr;
  bool open_ = false;
  std::string error_;
  std::string consumer_tag_; ///< of the running consumer; "" when none
};

/// How declare()'s error begins when a queue exists with other arguments.
inline constexpr const char* inequivalent_queue_prefix = "queue exists with other arguments: ";

/// Opens a TCP connection to the broker within `timeout`; "" when it answers.
std::string probe(const std::string& url, std::chrono::milliseconds timeout);

} // namespace herald::amqp
