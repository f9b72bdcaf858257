// herald_ceiling: the raw RabbitMQ ceilings Herald is measured against (issue 3).
//
// Plain rabbitmq-c 0.11, nothing of Herald: what this machine's broker can do with
// persistent messages, a durable queue and publisher confirms, so that Herald's own
// figures can be quoted as a ratio to it.
//
//   herald_ceiling publish  --url amqp://guest:guest@127.0.0.1:5672/ --seconds 10
//                           --size 340 --window 1000
//     One connection publishes persistent messages (delivery_mode 2) to the durable queue
//     bench.ceiling at full speed, keeping up to `window` messages outstanding (publish
//     until `window` are unconfirmed, then read confirms: "batched confirms").
//     rate = confirmed messages / seconds from the first publish to the last confirm.
//
//   herald_ceiling pipeline ... [--prefetch 100] [--ack-every 50]
//     The same publisher, plus a consumer on a second connection in another thread
//     (basic.qos prefetch, manual acks, one ack with `multiple` every `ack-every`
//     messages), both at once. rate = consumed and acked messages / seconds.
//
//   herald_ceiling latency --rate R --seconds S --size N [--queue-type classic]
//     The broker's own confirm latency at a fixed rate: one connection in confirm mode
//     publishes persistent messages on an open-loop schedule (message k due at
//     t0 + k / R, whatever the confirms do) and times each message from its scheduled
//     time to the confirm that settles it (one `multiple` ack settles many). A 202 from
//     Herald's gateway waits for such a confirm, so this is the floor of its latency at
//     that rate. Latency from the actual send is reported beside it, and how many
//     messages went out more than 1 ms late (as herald_loadgen does).
//
// --queue-type priority (x-max-priority 10, messages of priority 5: what Herald declares
// and sends since its queues have priorities), classic (no arguments), classic-v2
// (x-queue-version 2, RabbitMQ 3.10+) or quorum (x-queue-type quorum). The queue
// (bench.ceiling, bench.latency; ".<type>" appended unless classic) is declared and
// purged at the start and deleted at the end. The result is one JSON object on stdout;
// progress lines go to stderr. Exit status 1 on any error.

#include <amqp.h>
#include <amqp_tcp_socket.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <poll.h>
#include <time.h>

namespace {

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr amqp_channel_t channel = 1;

// ---------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------

struct options {
  std::string mode;
  std::string url = "amqp://guest:guest@127.0.0.1:5672/";
  double seconds = 10;
  std::size_t size = 340;
  std::uint64_t window = 1000;
  std::uint16_t prefetch = 100;
  std::uint32_t ack_every = 50;
  double rate = 0; // latency: messages per second (0: not given)
  std::string queue_type = "classic";
  std::string queue; // empty: bench.ceiling or bench.latency, by mode and queue type
};

const char* usage =
  "usage: herald_ceiling publish|pipeline|latency [options]\n"
  "  --url URL        amqp://user:pass@host:port/vhost (default amqp://guest:guest@127.0.0.1:5672/)\n"
  "  --seconds S      how long to publish (default 10)\n"
  "  --size N         message body size in bytes (default 340)\n"
  "  --window N       publish, pipeline: unconfirmed messages in flight (default 1000)\n"
  "  --prefetch N     pipeline: consumer basic.qos prefetch count (default 100)\n"
  "  --ack-every N    pipeline: one multiple-ack every N messages (default 50)\n"
  "  --rate R         latency: messages per second, message k due at t0 + k/R (required)\n"
  "  --queue-type T   priority (x-max-priority 10, messages of priority 5: what Herald\n"
  "                   declares and sends), classic (default), classic-v2 or quorum\n"
  "  --queue NAME     durable queue used, purged and deleted (default bench.ceiling or\n"
  "                   bench.latency, with .classic-v2 or .quorum appended for those)\n";

[[noreturn]] void bad_usage(const std::string& why) {
  std::cerr << "herald_ceiling: " << why << "\n" << usage;
  std::exit(2);
}

template <class T>
T parse_number(const std::string& flag, const std::string& text, double min, double max) {
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || !(v >= min && v <= max)) {
    char range[64];
    std::snprintf(range, sizeof range, "[%g, %g]", min, max);
    bad_usage(flag + " wants a number in " + range + ", got '" + text + "'");
  }
  return static_cast<T>(v);
}

options parse_options(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::cout << usage;
      std::exit(0);
    }
    if (arg.rfind("--", 0) != 0) {
      if (!o.mode.empty()) {
        bad_usage("unexpected argument '" + arg + "'");
      }
      o.mode = arg;
      continue;
    }
    std::string value;
    if (auto eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      bad_usage(arg + " needs a value");
    }
    if (arg == "--url") {
      o.url = value;
    } else if (arg == "--seconds") {
      o.seconds = parse_number<double>(arg, value, 0.1, 86400);
    } else if (arg == "--size") {
      o.size = parse_number<std::size_t>(arg, value, 1, 100'000'000);
    } else if (arg == "--window") {
      o.window = parse_number<std::uint64_t>(arg, value, 1, 10'000'000);
    } else if (arg == "--prefetch") {
      o.prefetch = parse_number<std::uint16_t>(arg, value, 1, 65535);
    } else if (arg == "--ack-every") {
      o.ack_every = parse_number<std::uint32_t>(arg, value, 1, 65535);
    } else if (arg == "--rate") {
      o.rate = parse_number<double>(arg, value, 0.1, 1'000'000);
    } else if (arg == "--queue-type") {
      o.queue_type = value;
    } else if (arg == "--queue") {
      o.queue = value;
    } else {
      bad_usage("unknown option " + arg);
    }
  }
  if (o.mode != "publish" && o.mode != "pipeline" && o.mode != "latency") {
    bad_usage(o.mode.empty() ? "no mode given" : "unknown mode '" + o.mode + "'");
  }
  if (o.queue_type != "classic" && o.queue_type != "classic-v2" && o.queue_type != "quorum"
      && o.queue_type != "priority") {
    bad_usage("--queue-type must be priority, classic, classic-v2 or quorum, got '"
              + o.queue_type + "'");
  }
  if (o.mode == "latency" && o.rate == 0) {
    bad_usage("latency needs --rate");
  }
  if (o.mode != "latency" && o.rate != 0) {
    bad_usage("--rate only applies to latency");
  }
  if (o.mode == "latency" && o.seconds * o.rate > 50'000'000) {
    bad_usage("--seconds x --rate must not exceed 50,000,000 messages");
  }
  if (o.queue.empty()) {
    o.queue = o.mode == "latency" ? "bench.latency" : "bench.ceiling";
    if (o.queue_type != "classic") {
      o.queue += "." + o.queue_type; // a leftover queue of another type would not redeclare
    }
  }
  if (o.mode == "pipeline" && o.ack_every > o.prefetch) {
    bad_usage("--ack-every must not exceed --prefetch (the consumer would stall)");
  }
  return o;
}

// ---------------------------------------------------------------------------------------
// AMQP URL and connection
// ---------------------------------------------------------------------------------------

struct amqp_address {
  std::string host = "127.0.0.1";
  int port = 5672;
  std::string user = "guest";
  std::string password = "guest";
  std::string vhost = "/";
};

std::string percent_decode(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1]))
        && std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

amqp_address parse_url(const std::string& url) {
  const std::string scheme = "amqp://";
  if (url.rfind(scheme, 0) != 0) {
    throw std::invalid_argument("URL must start with amqp://: " + url);
  }
  amqp_address a;
  std::string rest = url.substr(scheme.size());
  std::string path;
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    path = rest.substr(slash + 1);
    rest.resize(slash);
  }
  if (auto at = rest.rfind('@'); at != std::string::npos) {
    std::string cred = rest.substr(0, at);
    rest = rest.substr(at + 1);
    auto colon = cred.find(':');
    a.user = percent_decode(cred.substr(0, colon));
    a.password = colon == std::string::npos ? "" : percent_decode(cred.substr(colon + 1));
  }
  if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    a.port = std::stoi(rest.substr(colon + 1));
    rest.resize(colon);
  }
  if (!rest.empty()) {
    a.host = rest;
  }
  if (!path.empty()) {
    a.vhost = percent_decode(path);
  }
  return a;
}

std::string to_string(amqp_bytes_t b) {
  return {static_cast<const char*>(b.bytes), b.len};
}

std::string describe(const amqp_rpc_reply_t& r) {
  switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return "ok";
    case AMQP_RESPONSE_NONE:
      return "missing RPC reply";
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return amqp_error_string2(r.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        auto* m = static_cast<amqp_connection_close_t*>(r.reply.decoded);
        return "connection closed by broker: " + to_string(m->reply_text);
      }
      if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        auto* m = static_cast<amqp_channel_close_t*>(r.reply.decoded);
        return "channel closed by broker: " + to_string(m->reply_text);
      }
      return "broker error";
  }
  return "unknown reply";
}

// One connection with channel 1 open. Not thread-safe: one thread per connection.
class connection {
public:
  explicit connection(const amqp_address& a) : state_(amqp_new_connection()) {
    auto* socket = amqp_tcp_socket_new(state_);
    if (socket == nullptr) {
      throw std::runtime_error("cannot create socket");
    }
    timeval tv{10, 0};
    if (int rc = amqp_socket_open_noblock(socket, a.host.c_str(), a.port, &tv);
        rc != AMQP_STATUS_OK) {
      throw std::runtime_error("cannot connect to " + a.host + ":" + std::to_string(a.port)
                               + ": " + amqp_error_string2(rc));
    }
    amqp_set_rpc_timeout(state_, &tv);
    auto login = amqp_login(state_, a.vhost.c_str(), 0, 131072, 0, AMQP_SASL_METHOD_PLAIN,
                            a.user.c_str(), a.password.c_str());
    if (login.reply_type != AMQP_RESPONSE_NORMAL) {
      throw std::runtime_error("login failed: " + describe(login));
    }
    amqp_channel_open(state_, channel);
    check("channel.open");
    open_ = true;
  }

  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  ~connection() {
    if (open_) {
      amqp_channel_close(state_, channel, AMQP_REPLY_SUCCESS);
      amqp_connection_close(state_, AMQP_REPLY_SUCCESS);
    }
    amqp_destroy_connection(state_);
  }

  amqp_connection_state_t get() const { return state_; }

  void check(const char* what) {
    auto r = amqp_get_rpc_reply(state_);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
      open_ = false;
      throw std::runtime_error(std::string{what} + ": " + describe(r));
    }
  }

  // A close from the broker in an unsolicited frame: the channel is gone.
  [[noreturn]] void closed_by_broker(const amqp_frame_t& frame) {
    open_ = false;
    std::string text = "closed by broker";
    if (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD) {
      auto* m = static_cast<amqp_channel_close_t*>(frame.payload.method.decoded);
      text = "channel closed by broker: " + to_string(m->reply_text);
    } else if (frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
      auto* m = static_cast<amqp_connection_close_t*>(frame.payload.method.decoded);
      text = "connection closed by broker: " + to_string(m->reply_text);
    }
    throw std::runtime_error(text);
  }

  [[noreturn]] void lost(const char* what, int rc) {
    open_ = false;
    throw std::runtime_error(std::string{what} + ": " + amqp_error_string2(rc));
  }

private:
  amqp_connection_state_t state_;
  bool open_ = false;
};

// Declares the durable queue of the wanted type (classic: no arguments; priority:
// x-max-priority 10, as Herald declares its channel queues) and purges it.
void declare_and_purge(connection& c, const std::string& queue, const std::string& type) {
  amqp_table_entry_t entry{};
  amqp_table_t arguments = amqp_empty_table;
  if (type == "classic-v2") {
    entry.key = amqp_cstring_bytes("x-queue-version");
    entry.value.kind = AMQP_FIELD_KIND_I32;
    entry.value.value.i32 = 2;
  } else if (type == "priority") {
    entry.key = amqp_cstring_bytes("x-max-priority");
    entry.value.kind = AMQP_FIELD_KIND_I32;
    entry.value.value.i32 = 10;
  } else if (type == "quorum") {
    entry.key = amqp_cstring_bytes("x-queue-type");
    entry.value.kind = AMQP_FIELD_KIND_UTF8;
    entry.value.value.bytes = amqp_cstring_bytes("quorum");
  }
  if (type != "classic") {
    arguments.num_entries = 1;
    arguments.entries = &entry;
  }
  amqp_queue_declare(c.get(), channel, amqp_cstring_bytes(queue.c_str()), 0, 1, 0, 0,
                     arguments);
  c.check("queue.declare");
  amqp_queue_purge(c.get(), channel, amqp_cstring_bytes(queue.c_str()));
  c.check("queue.purge");
}

void delete_queue(connection& c, const std::string& queue) {
  amqp_queue_delete(c.get(), channel, amqp_cstring_bytes(queue.c_str()), 0, 0);
  c.check("queue.delete");
}

// A JSON-ish notification body of exactly `size` bytes (Herald's is about 340).
std::string make_body(std::size_t size) {
  const std::string head =
    R"({"notification_id":"6f1c2a8e-3b7d-4c59-9e21-0d4b8f7a1c33","request_id":"bench-0000001",)"
    R"("notification_type":"email","user_id":"0b5e7d2c-91aa-4f3e-8c6d-2f9b1e4a7d10",)"
    R"("template_code":"order_shipped","priority":5,"variables":{"name":"Grace","pad":")";
  const std::string tail = R"("}})";
  if (size >= head.size() + tail.size()) {
    return head + std::string(size - head.size() - tail.size(), 'x') + tail;
  }
  if (size >= 8) {
    return R"({"p":")" + std::string(size - 8, 'x') + R"("})";
  }
  return std::string(size, 'x');
}

double seconds_between(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// ---------------------------------------------------------------------------------------
// Publisher with a window of unconfirmed messages
// ---------------------------------------------------------------------------------------

// Which delivery tags the broker has settled. Tags are 1, 2, ...; every tag <= low_ is
// settled, plus those in above_ (single acks that arrived out of order).
class confirm_tracker {
public:
  // Returns how many tags this confirm settled.
  std::uint64_t settle(std::uint64_t tag, bool multiple) {
    auto before = settled();
    if (multiple) {
      if (tag > low_) {
        low_ = tag;
        above_.erase(above_.begin(), above_.upper_bound(tag));
      }
    } else if (tag > low_) {
      above_.insert(tag);
    }
    while (!above_.empty() && *above_.begin() == low_ + 1) {
      ++low_;
      above_.erase(above_.begin());
    }
    return settled() - before;
  }
  std::uint64_t settled() const { return low_ + above_.size(); }

private:
  std::uint64_t low_ = 0;
  std::set<std::uint64_t> above_;
};

struct publish_result {
  std::uint64_t published = 0;
  std::uint64_t acked = 0;
  std::uint64_t nacked = 0;
  double seconds = 0; // first publish to last confirm
};

class publisher {
public:
  publisher(const amqp_address& a, const options& o)
    : conn_(a), opts_(o), body_(make_body(o.size)) {
    declare_and_purge(conn_, o.queue, o.queue_type);
    amqp_confirm_select(conn_.get(), channel);
    conn_.check("confirm.select");
    props_._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
    props_.content_type = amqp_cstring_bytes("application/json");
    props_.delivery_mode = AMQP_DELIVERY_PERSISTENT;
    if (o.queue_type == "priority") { // as Herald's messages: the default priority
      props_._flags |= AMQP_BASIC_PRIORITY_FLAG;
      props_.priority = 5;
    }
  }

  // Publishes until `deadline`, then waits for every outstanding confirm.
  publish_result run(clock_type::time_point start, clock_type::time_point deadline) {
    auto s = conn_.get();
    auto queue = amqp_cstring_bytes(opts_.queue.c_str());
    amqp_bytes_t body{body_.size(), body_.data()};
    while (clock_type::now() < deadline) {
      while (published_ - tracker_.settled() < opts_.window) {
        int rc = amqp_basic_publish(s, channel, amqp_empty_bytes, queue, 0, 0, &props_, body);
        if (rc != AMQP_STATUS_OK) {
          conn_.lost("basic.publish", rc);
        }
        ++published_;
      }
      read_confirms(10s);
    }
    while (tracker_.settled() < published_) {
      read_confirms(30s);
    }
    publish_result r;
    r.published = published_;
    r.acked = acked.load();
    r.nacked = nacked_;
    r.seconds = seconds_between(start, clock_type::now());
    return r;
  }

  connection& conn() { return conn_; }

  std::atomic<std::uint64_t> acked{0}; // read by the progress reporter

private:
  // Waits up to `timeout` for one frame, then takes every frame already available.
  void read_confirms(std::chrono::seconds timeout) {
    auto s = conn_.get();
    timeval wait{static_cast<time_t>(timeout.count()), 0};
    timeval now{0, 0};
    timeval* tv = &wait;
    for (;;) {
      amqp_frame_t frame;
      int rc = amqp_simple_wait_frame_noblock(s, &frame, tv);
      if (rc == AMQP_STATUS_TIMEOUT) {
        if (tv == &wait) {
          throw std::runtime_error("no publisher confirm within "
                                   + std::to_string(timeout.count()) + " s");
        }
        break;
      }
      if (rc != AMQP_STATUS_OK) {
        conn_.lost("reading confirms", rc);
      }
      tv = &now;
      if (frame.frame_type != AMQP_FRAME_METHOD) {
        continue;
      }
      switch (frame.payload.method.id) {
        case AMQP_BASIC_ACK_METHOD: {
          auto* m = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
          acked.fetch_add(tracker_.settle(m->delivery_tag, m->multiple != 0),
                          std::memory_order_relaxed);
          break;
        }
        case AMQP_BASIC_NACK_METHOD: {
          auto* m = static_cast<amqp_basic_nack_t*>(frame.payload.method.decoded);
          nacked_ += tracker_.settle(m->delivery_tag, m->multiple != 0);
          break;
        }
        case AMQP_CHANNEL_CLOSE_METHOD:
        case AMQP_CONNECTION_CLOSE_METHOD:
          conn_.closed_by_broker(frame);
        default:
          break;
      }
    }
    amqp_maybe_release_buffers(s);
  }

  connection conn_;
  const options& opts_;
  std::string body_;
  amqp_basic_properties_t props_{};
  confirm_tracker tracker_;
  std::uint64_t published_ = 0;
  std::uint64_t nacked_ = 0;
};

// ---------------------------------------------------------------------------------------
// Consumer: prefetch, manual acks, one multiple-ack every N
// ---------------------------------------------------------------------------------------

class consumer {
public:
  consumer(const amqp_address& a, const options& o) : conn_(a), opts_(o) {
    amqp_basic_qos(conn_.get(), channel, 0, o.prefetch, 0);
    conn_.check("basic.qos");
    amqp_basic_consume(conn_.get(), channel, amqp_cstring_bytes(o.queue.c_str()),
                       amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
    conn_.check("basic.consume");
  }

  // Consumes until `deadline` (or until `stop` is set); acks what it received, and
  // returns the time it stopped.
  clock_type::time_point run(clock_type::time_point deadline, const std::atomic<bool>& stop) {
    auto s = conn_.get();
    std::uint64_t last_tag = 0;
    std::uint32_t unacked = 0;
    while (!stop.load(std::memory_order_relaxed) && clock_type::now() < deadline) {
      amqp_maybe_release_buffers(s);
      timeval tv{0, 100'000};
      amqp_envelope_t env;
      auto r = amqp_consume_message(s, &env, &tv, 0);
      if (r.reply_type == AMQP_RESPONSE_NORMAL) {
        last_tag = env.delivery_tag;
        amqp_destroy_envelope(&env);
        if (++unacked >= opts_.ack_every) {
          ack(last_tag, unacked);
          unacked = 0;
        }
        continue;
      }
      if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
          && r.library_error == AMQP_STATUS_TIMEOUT) {
        continue;
      }
      if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
          && r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
        amqp_frame_t frame;
        int rc = amqp_simple_wait_frame_noblock(s, &frame, &tv);
        if (rc != AMQP_STATUS_OK && rc != AMQP_STATUS_TIMEOUT) {
          conn_.lost("consuming", rc);
        }
        if (rc == AMQP_STATUS_OK && frame.frame_type == AMQP_FRAME_METHOD
            && (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD
                || frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD)) {
          conn_.closed_by_broker(frame);
        }
        continue;
      }
      throw std::runtime_error("consuming: " + describe(r));
    }
    if (unacked > 0) {
      ack(last_tag, unacked);
    }
    return clock_type::now();
  }

  std::atomic<std::uint64_t> acked{0}; // read by the progress reporter

private:
  void ack(std::uint64_t tag, std::uint32_t count) {
    if (int rc = amqp_basic_ack(conn_.get(), channel, tag, 1); rc != AMQP_STATUS_OK) {
      conn_.lost("basic.ack", rc);
    }
    acked.fetch_add(count, std::memory_order_relaxed);
  }

  connection conn_;
  const options& opts_;
};

// ---------------------------------------------------------------------------------------
// Paced publisher: open-loop schedule, confirm latency per message
// ---------------------------------------------------------------------------------------

std::int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Publishes message k at t0 + k / rate on one connection in confirm mode, whatever the
// confirms do (open loop: a slow broker cannot slow the schedule down, so its slowness
// shows in the latency instead of hiding in a lower rate), and records for each message
// when it was due, when it went out and when a confirm settled it. One thread: between
// sends it sleeps in ppoll on the socket until the next due time or a confirm.
class paced_publisher {
public:
  static constexpr std::int64_t ms_ns = 1'000'000;
  static constexpr std::int64_t drain_ns = 30'000 * ms_ns; // for the last confirms

  paced_publisher(const amqp_address& a, const options& o)
    : conn_(a), opts_(o), body_(make_body(o.size)),
      total_(static_cast<std::uint64_t>(std::ceil(o.seconds * o.rate))) {
    declare_and_purge(conn_, o.queue, o.queue_type);
    amqp_confirm_select(conn_.get(), channel);
    conn_.check("confirm.select");
    props_._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
    props_.content_type = amqp_cstring_bytes("application/json");
    props_.delivery_mode = AMQP_DELIVERY_PERSISTENT;
    if (o.queue_type == "priority") { // as Herald's messages: the default priority
      props_._flags |= AMQP_BASIC_PRIORITY_FLAG;
      props_.priority = 5;
    }
    sent_ns_.assign(total_, 0);
    done_ns_.assign(total_, 0);
    state_.assign(total_, unsettled);
  }

  // The whole schedule, then up to 30 s for the confirms still missing.
  void run() {
    auto s = conn_.get();
    auto queue = amqp_cstring_bytes(opts_.queue.c_str());
    amqp_bytes_t body{body_.size(), body_.data()};
    const int fd = amqp_get_sockfd(s);
    t0_ = now_ns();
    std::int64_t drain_end = 0;
    for (;;) {
      std::int64_t now = now_ns();
      // Every message due by now goes out, in order. One the loop only sees more than
      // 1 ms after its due time is late because this loop was (descheduled or busy); one
      // sent late otherwise waited for an earlier publish that blocked (the broker not
      // reading its socket).
      while (published_ < total_ && due(published_) <= now) {
        noticed_late += now - due(published_) > ms_ns ? 1 : 0;
        auto at = now_ns();
        sent_ns_[published_] = at;
        auto lag = at - due(published_);
        late_over_1ms += lag > ms_ns ? 1 : 0;
        send_lag_max_ns = std::max(send_lag_max_ns, lag);
        int rc = amqp_basic_publish(s, channel, amqp_empty_bytes, queue, 0, 0, &props_, body);
        if (rc != AMQP_STATUS_OK) {
          conn_.lost("basic.publish", rc);
        }
        ++published_;
        sent.store(published_, std::memory_order_relaxed);
      }
      read_available();
      now = now_ns();
      if (published_ == total_) {
        if (settled_ == total_) {
          break;
        }
        if (drain_end == 0) {
          drain_end = now + drain_ns;
        } else if (now >= drain_end) {
          break; // what is still unconfirmed is reported as such
        }
      }
      std::int64_t wake = published_ < total_ ? due(published_) : drain_end;
      std::int64_t wait = std::max<std::int64_t>(0, wake - now);
      timespec ts{static_cast<time_t>(wait / 1'000'000'000), static_cast<long>(wait % 1'000'000'000)};
      pollfd p{fd, POLLIN, 0};
      if (ppoll(&p, 1, &ts, nullptr) < 0 && errno != EINTR) {
        throw std::runtime_error(std::string{"ppoll: "} + std::strerror(errno));
      }
    }
    amqp_maybe_release_buffers(s);
  }

  connection& conn() { return conn_; }
  std::uint64_t total() const { return total_; }
  std::uint64_t published() const { return published_; }
  std::int64_t t0() const { return t0_; }
  std::int64_t due(std::uint64_t k) const {
    return t0_ + static_cast<std::int64_t>(static_cast<double>(k) * 1e9 / opts_.rate);
  }
  std::int64_t sent_at(std::uint64_t k) const { return sent_ns_[k]; }
  std::int64_t confirmed_at(std::uint64_t k) const { return done_ns_[k]; }
  bool acked_ok(std::uint64_t k) const { return state_[k] == acked_state; }

  std::atomic<std::uint64_t> sent{0};  // read by the progress reporter
  std::atomic<std::uint64_t> acked{0}; // same
  std::uint64_t nacked = 0;
  std::uint64_t confirm_frames = 0; // basic.ack/nack frames read: how much the broker batches
  std::uint64_t late_over_1ms = 0;
  std::uint64_t noticed_late = 0;
  std::int64_t send_lag_max_ns = 0;

private:
  enum : std::uint8_t { unsettled, acked_state, nacked_state };

  // Takes every frame already available, without waiting.
  void read_available() {
    auto s = conn_.get();
    timeval zero{0, 0};
    for (;;) {
      amqp_frame_t frame;
      int rc = amqp_simple_wait_frame_noblock(s, &frame, &zero);
      if (rc == AMQP_STATUS_TIMEOUT) {
        return;
      }
      if (rc != AMQP_STATUS_OK) {
        conn_.lost("reading confirms", rc);
      }
      if (frame.frame_type != AMQP_FRAME_METHOD) {
        continue;
      }
      auto at = now_ns();
      switch (frame.payload.method.id) {
        case AMQP_BASIC_ACK_METHOD: {
          auto* m = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
          settle(m->delivery_tag, m->multiple != 0, acked_state, at);
          break;
        }
        case AMQP_BASIC_NACK_METHOD: {
          auto* m = static_cast<amqp_basic_nack_t*>(frame.payload.method.decoded);
          settle(m->delivery_tag, m->multiple != 0, nacked_state, at);
          break;
        }
        case AMQP_CHANNEL_CLOSE_METHOD:
        case AMQP_CONNECTION_CLOSE_METHOD:
          conn_.closed_by_broker(frame);
        default:
          break;
      }
    }
  }

  // Delivery tag t is message t - 1. `multiple` settles every message up to it.
  void settle(std::uint64_t tag, bool multiple, std::uint8_t how, std::int64_t at) {
    if (tag == 0 || tag > published_) {
      throw std::runtime_error("confirm for delivery tag " + std::to_string(tag)
                               + " never published");
    }
    ++confirm_frames;
    for (auto k = multiple ? low_ : tag - 1; k < tag; ++k) {
      if (state_[k] == unsettled) {
        state_[k] = how;
        done_ns_[k] = at;
        ++settled_;
        if (how == acked_state) {
          acked.store(acked.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        } else {
          ++nacked;
        }
      }
    }
    while (low_ < published_ && state_[low_] != unsettled) {
      ++low_;
    }
  }

  connection conn_;
  const options& opts_;
  std::string body_;
  amqp_basic_properties_t props_{};
  const std::uint64_t total_;
  std::vector<std::int64_t> sent_ns_;
  std::vector<std::int64_t> done_ns_;
  std::vector<std::uint8_t> state_;
  std::int64_t t0_ = 0;
  std::uint64_t published_ = 0;
  std::uint64_t settled_ = 0;
  std::uint64_t low_ = 0; // every message below it is settled
};

// ---------------------------------------------------------------------------------------
// Modes
// ---------------------------------------------------------------------------------------

double round1(double v) {
  return std::round(v * 10) / 10;
}

double round3(double v) {
  return std::round(v * 1000) / 1000;
}

// Runs `work` in a thread and prints a progress line every second until it is done.
template <class Work, class Progress>
void run_with_progress(Work work, Progress progress) {
  std::atomic<bool> done{false};
  std::exception_ptr failure;
  std::thread t{[&] {
    try {
      work();
    } catch (...) {
      failure = std::current_exception();
    }
    done = true;
  }};
  auto next = clock_type::now() + 1s;
  while (!done.load()) {
    std::this_thread::sleep_for(50ms);
    if (clock_type::now() >= next) {
      progress();
      next += 1s;
    }
  }
  t.join();
  if (failure) {
    std::rethrow_exception(failure);
  }
}

nlohmann::json run_publish(const amqp_address& a, const options& o) {
  publisher pub{a, o};
  publish_result r;
  auto start = clock_type::now();
  auto deadline = start + std::chrono::duration_cast<clock_type::duration>(
                            std::chrono::duration<double>(o.seconds));
  std::uint64_t last = 0;
  run_with_progress([&] { r = pub.run(start, deadline); },
                    [&] {
                      auto now = pub.acked.load();
                      std::fprintf(stderr, "[publish] %5.1fs  confirmed %10llu  (%llu/s)\n",
                                   seconds_between(start, clock_type::now()),
                                   static_cast<unsigned long long>(now),
                                   static_cast<unsigned long long>(now - last));
                      last = now;
                    });
  delete_queue(pub.conn(), o.queue);
  if (r.nacked > 0) {
    std::fprintf(stderr, "[publish] warning: %llu messages nacked by the broker\n",
                 static_cast<unsigned long long>(r.nacked));
  }
  return {{"mode", "publish"},      {"msgs", r.acked},    {"seconds", round3(r.seconds)},
          {"rate", round1(r.acked / r.seconds)}, {"size", o.size}, {"window", o.window},
          {"published", r.published}, {"nacked", r.nacked}, {"queue_type", o.queue_type}};
}

nlohmann::json run_pipeline(const amqp_address& a, const options& o) {
  publisher pub{a, o}; // declares and purges the queue before the consumer subscribes
  std::optional<nlohmann::json> result;
  {
    consumer con{a, o};
    std::atomic<bool> stop_consumer{false};
    publish_result r;
    double consume_seconds = 0;
    std::exception_ptr consumer_failure;
    auto start = clock_type::now();
    auto deadline = start + std::chrono::duration_cast<clock_type::duration>(
                              std::chrono::duration<double>(o.seconds));
    std::uint64_t last_pub = 0;
    std::uint64_t last_con = 0;
    clock_type::time_point consumer_stopped = deadline;
    std::thread consumer_thread{[&] {
      try {
        consumer_stopped = con.run(deadline, stop_consumer);
      } catch (...) {
        consumer_failure = std::current_exception();
      }
    }};
    try {
      run_with_progress(
        // The consumer stops when publishing stops; the publisher then settles its tail.
        [&] { r = pub.run(start, deadline); },
        [&] {
          auto p = pub.acked.load();
          auto c = con.acked.load();
          std::fprintf(stderr,
                       "[pipeline] %5.1fs  confirmed %10llu (%llu/s)  consumed+acked %10llu "
                       "(%llu/s)\n",
                       seconds_between(start, clock_type::now()),
                       static_cast<unsigned long long>(p),
                       static_cast<unsigned long long>(p - last_pub),
                       static_cast<unsigned long long>(c),
                       static_cast<unsigned long long>(c - last_con));
          last_pub = p;
          last_con = c;
        });
    } catch (...) {
      stop_consumer = true;
      consumer_thread.join();
      throw;
    }
    consumer_thread.join();
    consume_seconds = seconds_between(start, consumer_stopped);
    if (consumer_failure) {
      std::rethrow_exception(consumer_failure);
    }
    auto consumed = con.acked.load();
    result = nlohmann::json{{"mode", "pipeline"},
                            {"msgs", consumed},
                            {"seconds", round3(consume_seconds)},
                            {"rate", round1(consumed / consume_seconds)},
                            {"size", o.size},
                            {"window", o.window},
                            {"prefetch", o.prefetch},
                            {"ack_every", o.ack_every},
                            {"published", r.acked},
                            {"publish_rate", round1(r.acked / r.seconds)},
                            {"backlog", r.acked > consumed ? r.acked - consumed : 0},
                            {"nacked", r.nacked},
                            {"queue_type", o.queue_type}};
  } // the consumer's connection closes here: its unacked messages go back to the queue
  delete_queue(pub.conn(), o.queue);
  return *result;
}

// Nearest-rank percentile of sorted values (as herald_loadgen computes them).
std::uint32_t percentile(const std::vector<std::uint32_t>& sorted, double q) {
  if (sorted.empty()) {
    return 0;
  }
  auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

nlohmann::json latency_json(std::vector<std::uint32_t>& v) {
  if (v.empty()) {
    return nullptr;
  }
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (auto x : v) {
    sum += x;
  }
  return {{"p50", percentile(v, 0.50)}, {"p90", percentile(v, 0.90)},
          {"p99", percentile(v, 0.99)}, {"p99_9", percentile(v, 0.999)},
          {"max", v.back()},            {"mean", round1(sum / static_cast<double>(v.size()))}};
}

nlohmann::json run_latency(const amqp_address& a, const options& o) {
  paced_publisher pub{a, o};
  auto start = clock_type::now();
  std::uint64_t last = 0;
  run_with_progress([&] { pub.run(); },
                    [&] {
                      auto now = pub.acked.load();
                      std::fprintf(stderr, "[latency] %5.1fs  sent %9llu  confirmed %9llu  (%llu/s)\n",
                                   seconds_between(start, clock_type::now()),
                                   static_cast<unsigned long long>(pub.sent.load()),
                                   static_cast<unsigned long long>(now),
                                   static_cast<unsigned long long>(now - last));
                      last = now;
                    });
  delete_queue(pub.conn(), o.queue);

  auto us = [](std::int64_t ns) {
    return static_cast<std::uint32_t>(std::clamp<std::int64_t>(ns / 1000, 0, UINT32_MAX));
  };
  const auto t0 = pub.t0();
  std::vector<std::uint32_t> latency, service;
  latency.reserve(pub.published());
  service.reserve(pub.published());
  std::int64_t last_send = t0, last_confirm = t0;
  // Per second of the schedule (by due time): sent, confirmed, that second's p50/p99.
  const auto seconds_span = static_cast<std::size_t>(std::ceil(o.seconds));
  std::vector<std::vector<std::uint32_t>> per_second(std::max<std::size_t>(1, seconds_span));
  std::vector<std::uint64_t> sent_per_second(per_second.size(), 0);
  for (std::uint64_t k = 0; k < pub.published(); ++k) {
    auto second = std::min<std::size_t>(static_cast<std::size_t>((pub.due(k) - t0) / 1'000'000'000),
                                        per_second.size() - 1);
    ++sent_per_second[second];
    last_send = std::max(last_send, pub.sent_at(k));
    if (!pub.acked_ok(k)) {
      continue;
    }
    last_confirm = std::max(last_confirm, pub.confirmed_at(k));
    latency.push_back(us(pub.confirmed_at(k) - pub.due(k)));
    service.push_back(us(pub.confirmed_at(k) - pub.sent_at(k)));
    per_second[second].push_back(latency.back());
  }
  nlohmann::json timeline = nlohmann::json::array();
  for (std::size_t t = 0; t < per_second.size(); ++t) {
    auto& v = per_second[t];
    std::sort(v.begin(), v.end());
    timeline.push_back({{"t", t},
                        {"sent", sent_per_second[t]},
                        {"confirmed", v.size()},
                        {"p50_us", v.empty() ? nlohmann::json(nullptr) : nlohmann::json(percentile(v, 0.5))},
                        {"p99_us", v.empty() ? nlohmann::json(nullptr) : nlohmann::json(percentile(v, 0.99))}});
  }
  const std::uint64_t confirmed = pub.acked.load();
  const double span = static_cast<double>(pub.total()) / o.rate;
  const double send_seconds = std::max(span, static_cast<double>(last_send - t0) / 1e9);
  const double seconds = std::max(1e-9, static_cast<double>(std::max(last_send, last_confirm) - t0) / 1e9);
  if (pub.nacked > 0) {
    std::fprintf(stderr, "[latency] warning: %llu messages nacked by the broker\n",
                 static_cast<unsigned long long>(pub.nacked));
  }
  return {{"mode", "latency"},
          {"queue", o.queue},
          {"queue_type", o.queue_type},
          {"size", o.size},
          {"target_rate", o.rate},
          {"sent", pub.published()},
          {"confirmed", confirmed},
          {"nacked", pub.nacked},
          {"unconfirmed", pub.published() - confirmed - pub.nacked},
          {"send_seconds", round3(send_seconds)},
          {"seconds", round3(seconds)},
          {"rate", round1(static_cast<double>(pub.published()) / send_seconds)},
          {"confirmed_per_s", round1(static_cast<double>(confirmed) / seconds)},
          {"confirm_frames", pub.confirm_frames},
          {"late_over_1ms", pub.late_over_1ms},
          {"noticed_late_over_1ms", pub.noticed_late},
          {"send_lag_max_us", pub.send_lag_max_ns / 1000},
          {"latency_from", "scheduled"},
          {"latency_us", latency_json(latency)},
          {"service_latency_us", latency_json(service)},
          {"timeline", timeline}};
}

} // namespace

int main(int argc, char** argv) {
  auto opts = parse_options(argc, argv);
  try {
    auto address = parse_url(opts.url);
    if (opts.mode == "latency") {
      std::fprintf(stderr, "[latency] %s:%d, %.1f s at %g msgs/s, %zu-byte persistent messages, %s queue %s\n",
                   address.host.c_str(), address.port, opts.seconds, opts.rate, opts.size,
                   opts.queue_type.c_str(), opts.queue.c_str());
    } else {
      std::fprintf(stderr, "[%s] %s:%d, %.1f s, %zu-byte persistent messages, window %llu, %s queue %s\n",
                   opts.mode.c_str(), address.host.c_str(), address.port, opts.seconds,
                   opts.size, static_cast<unsigned long long>(opts.window),
                   opts.queue_type.c_str(), opts.queue.c_str());
    }
    auto result = opts.mode == "publish"    ? run_publish(address, opts)
                  : opts.mode == "pipeline" ? run_pipeline(address, opts)
                                            : run_latency(address, opts);
    std::cout << result.dump() << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "herald_ceiling %s: error: %s\n", opts.mode.c_str(), e.what());
    return 1;
  }
}
