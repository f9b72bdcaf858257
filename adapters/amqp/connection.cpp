#include "adapters/amqp/connection.hpp"

#include <amqp_tcp_socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <stdexcept>

#include "adapters/url.hpp"

namespace herald::amqp {

namespace {

constexpr amqp_channel_t channel = 1;

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

amqp_bytes_t bytes(const std::string& s) {
  return amqp_bytes_t{s.size(), const_cast<char*>(s.data())};
}

std::string to_string(amqp_bytes_t b) {
  return std::string{static_cast<const char*>(b.bytes), b.len};
}

std::string describe(const amqp_rpc_reply_t& r) {
  switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return {};
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
  return "unknown AMQP reply";
}


string_table read_table(const amqp_table_t& t) {
  string_table out;
  for (int i = 0; i < t.num_entries; ++i) {
    auto& e = t.entries[i];
    auto key = to_string(e.key);
    auto& v = e.value;
    switch (v.kind) {
      case AMQP_FIELD_KIND_UTF8:
      case AMQP_FIELD_KIND_BYTES:
        out[key] = to_string(v.value.bytes);
        break;
      case AMQP_FIELD_KIND_I8: out[key] = std::to_string(v.value.i8); break;
      case AMQP_FIELD_KIND_U8: out[key] = std::to_string(v.value.u8); break;
      case AMQP_FIELD_KIND_I16: out[key] = std::to_string(v.value.i16); break;
      case AMQP_FIELD_KIND_U16: out[key] = std::to_string(v.value.u16); break;
      case AMQP_FIELD_KIND_I32: out[key] = std::to_string(v.value.i32); break;
      case AMQP_FIELD_KIND_U32: out[key] = std::to_string(v.value.u32); break;
      case AMQP_FIELD_KIND_I64: out[key] = std::to_string(v.value.i64); break;
      case AMQP_FIELD_KIND_U64: out[key] = std::to_string(v.value.u64); break;
      default: break;
    }
  }
  return out;
}

} // namespace

amqp_table_t make_table(const string_table& strings, const int_table& ints,
                        std::vector<amqp_table_entry_t>& out) {
  out.clear();
  out.reserve(strings.size() + ints.size());
  for (auto& [k, v] : strings) {
    amqp_table_entry_t e{};
    e.key = bytes(k);
    e.value.kind = AMQP_FIELD_KIND_UTF8;
    e.value.value.bytes = bytes(v);
    out.push_back(e);
  }
  for (auto& [k, v] : ints) {
    amqp_table_entry_t e{};
    e.key = bytes(k);
    e.value.kind = AMQP_FIELD_KIND_I64;
    e.value.value.i64 = v;
    out.push_back(e);
  }
  return amqp_table_t{static_cast<int>(out.size()), out.empty() ? nullptr : out.data()};
}

connection::connection(const std::string& url, std::chrono::milliseconds timeout)
  : timeout_(timeout) {
  std::string err;
  auto u = parse_url(url, &err);
  if (!u || u->scheme != "amqp") {
    throw std::invalid_argument("invalid AMQP URL '" + url + "': "
                                + (err.empty() ? "expected amqp://" : err));
  }
  host_ = u->host.empty() ? "127.0.0.1" : u->host;
  port_ = u->port == 0 ? 5672 : u->port;
  user_ = u->user.empty() ? "guest" : u->user;
  password_ = u->password.empty() && u->user.empty() ? "guest" : u->password;
  vhost_ = u->path.empty() ? "/" : u->path;
}

connection::~connection() {
  close();
}

std::string connection::fail(std::string reason) {
  open_ = false;
  error_ = std::move(reason);
  return error_;
}

std::string connection::check_rpc(const char* what) {
  auto reply = amqp_get_rpc_reply(conn_);
  if (reply.reply_type == AMQP_RESPONSE_NORMAL) {
    return {};
  }
  return fail(std::string{what} + ": " + describe(reply));
}

std::string connection::open() {
  close();
  conn_ = amqp_new_connection();
  auto* socket = amqp_tcp_socket_new(conn_);
  if (socket == nullptr) {
    return fail("cannot create socket");
  }
  auto tv = to_timeval(timeout_);
  if (int rc = amqp_socket_open_noblock(socket, host_.c_str(), port_, &tv);
      rc != AMQP_STATUS_OK) {
    return fail("cannot connect to RabbitMQ at " + host_ + ":" + std::to_string(port_) + ": "
                + amqp_error_string2(rc));
  }
  // Small frames (publishes, acks) must go out at once, not wait for Nagle's algorithm.
  int one = 1;
  setsockopt(amqp_get_sockfd(conn_), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  amqp_set_handshake_timeout(conn_, &tv);
  amqp_set_rpc_timeout(conn_, &tv);
  auto login = amqp_login(conn_, vhost_.c_str(), 0, 131072, 0, AMQP_SASL_METHOD_PLAIN,
                          user_.c_str(), password_.c_str());
  if (login.reply_type != AMQP_RESPONSE_NORMAL) {
    return fail("RabbitMQ login failed: " + describe(login));
  }
  amqp_channel_open(conn_, channel);
  if (auto err = check_rpc("channel.open"); !err.empty()) {
    return err;
  }
  open_ = true;
  error_.clear();
  return {};
}

int connection::fd() const {
  return conn_ == nullptr ? -1 : amqp_get_sockfd(conn_);
}

std::string connection::declare(const topology& t) {
  amqp_exchange_declare(conn_, channel, bytes(t.exchange), amqp_cstring_bytes("direct"), 0, 1,
                        0, 0, amqp_empty_table);
  if (auto err = check_rpc("exchange.declare"); !err.empty()) {
    return err;
  }
  for (auto& x : t.exchanges) {
    amqp_exchange_declare(conn_, channel, bytes(x.name), bytes(x.type), 0, 1, 0, 0,
                          amqp_empty_table);
    if (auto err = check_rpc("exchange.declare"); !err.empty()) {
      return err;
    }
  }
  std::vector<amqp_table_entry_t> entries;
  for (auto& q : t.queues) {
    amqp_queue_declare(conn_, channel, bytes(q.name), 0, 1, 0, 0,
                       make_table(q.string_args, q.int_args, entries));
    if (auto err = check_rpc("queue.declare"); !err.empty()) {
      if (err.find("PRECONDITION_FAILED") != std::string::npos) {
        return fail(inequivalent_queue_prefix + q.name + " (" + err + ")");
      }
      return err;
    }
    if (!q.headers_exchange.empty()) {
      auto match = q.match_headers;
      match.emplace("x-match", "all");
      amqp_queue_bind(conn_, channel, bytes(q.name), bytes(q.headers_exchange),
                      amqp_empty_bytes, make_table(match, {}, entries));
      if (auto err = check_rpc("queue.bind"); !err.empty()) {
        return err;
      }
      if (!q.unbind_headers.empty()) {
        auto old = q.unbind_headers;
        old.emplace("x-match", "all");
        amqp_queue_unbind(conn_, channel, bytes(q.name), bytes(q.headers_exchange),
                          amqp_empty_bytes, make_table(old, {}, entries));
        if (auto err = check_rpc("queue.unbind"); !err.empty()) {
          return err;
        }
      }
    }
    for (auto& key : q.bindings) {
      amqp_queue_bind(conn_, channel, bytes(q.name), bytes(t.exchange), bytes(key),
                      amqp_empty_table);
      if (auto err = check_rpc("queue.bind"); !err.empty()) {
        return err;
      }
    }
  }
  return {};
}

std::string connection::enable_confirms() {
  amqp_confirm_select(conn_, channel);
  return check_rpc("confirm.select");
}

std::string connection::set_prefetch(std::uint16_t count) {
  amqp_basic_qos(conn_, channel, 0, count, 0);
  return check_rpc("basic.qos");
}

std::string connection::consume(const std::string& queue) {
  auto* ok = amqp_basic_consume(conn_, channel, bytes(queue), amqp_empty_bytes, 0, 0, 0,
                                amqp_empty_table);
  if (auto err = check_rpc("basic.consume"); !err.empty()) {
    return err;
  }
  consumer_tag_ = ok != nullptr ? to_string(ok->consumer_tag) : std::string{};
  return {};
}

std::string connection::cancel() {
  if (consumer_tag_.empty()) {
    return {};
  }
  // Deliveries that arrive before cancel-ok are kept by rabbitmq-c for next_delivery.
  amqp_basic_cancel(conn_, channel, bytes(consumer_tag_));
  if (auto err = check_rpc("basic.cancel"); !err.empty()) {
    return err;
  }
  consumer_tag_.clear();
  return {};
}

std::string connection::publish(const message& m) {
  if (!open_) {
    return error_.empty() ? "not connected" : error_;
  }
  amqp_basic_properties_t props{};
  props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
  props.content_type = bytes(m.content_type);
  props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
  if (!m.message_id.empty()) {
    props._flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
    props.message_id = bytes(m.message_id);
  }
  if (!m.correlation_id.empty()) {
    props._flags |= AMQP_BASIC_CORRELATION_ID_FLAG;
    props.correlation_id = bytes(m.correlation_id);
  }
  std::vector<amqp_table_entry_t> entries;
  if (!m.headers.empty() || !m.int_headers.empty()) {
    props._flags |= AMQP_BASIC_HEADERS_FLAG;
    props.headers = make_table(m.headers, m.int_headers, entries);
  }
  if (!m.expiration.empty()) {
    props._flags |= AMQP_BASIC_EXPIRATION_FLAG;
    props.expiration = bytes(m.expiration);
  }
  if (m.priority != 0) {
    props._flags |= AMQP_BASIC_PRIORITY_FLAG;
    props.priority = m.priority;
  }
  int rc = amqp_basic_publish(conn_, channel, bytes(m.exchange), bytes(m.routing_key), 0, 0,
                              &props, bytes(m.body));
  if (rc != AMQP_STATUS_OK) {
    return fail(std::string{"publish failed: "} + amqp_error_string2(rc));
  }
  return {};
}

bool connection::has_buffered_data() const {
  return conn_ != nullptr && (amqp_frames_enqueued(conn_) || amqp_data_in_buffer(conn_));
}

std::optional<confirm> connection::next_confirm(std::chrono::milliseconds timeout) {
  if (!open_) {
    return std::nullopt;
  }
  auto tv = to_timeval(timeout);
  amqp_frame_t frame;
  for (;;) {
    int rc = amqp_simple_wait_frame_noblock(conn_, &frame, &tv);
    if (rc == AMQP_STATUS_TIMEOUT) {
      return std::nullopt;
    }
    if (rc != AMQP_STATUS_OK) {
      fail(std::string{"connection lost: "} + amqp_error_string2(rc));
      return std::nullopt;
    }
    if (frame.frame_type != AMQP_FRAME_METHOD) {
      continue;
    }
    switch (frame.payload.method.id) {
      case AMQP_BASIC_ACK_METHOD: {
        auto* ack = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
        return confirm{ack->delivery_tag, ack->multiple != 0, true};
      }
      case AMQP_BASIC_NACK_METHOD: {
        auto* nack = static_cast<amqp_basic_nack_t*>(frame.payload.method.decoded);
        return confirm{nack->delivery_tag, nack->multiple != 0, false};
      }
      case AMQP_CHANNEL_CLOSE_METHOD:
      case AMQP_CONNECTION_CLOSE_METHOD:
        fail("broker closed the channel");
        return std::nullopt;
      default:
        continue; // basic.return and others: the confirm that follows decides
    }
  }
}

std::optional<delivery> connection::next_delivery(std::chrono::milliseconds timeout) {
  if (!open_) {
    return std::nullopt;
  }
  amqp_maybe_release_buffers(conn_);
  auto tv = to_timeval(timeout);
  amqp_envelope_t env;
  auto reply = amqp_consume_message(conn_, &env, &tv, 0);
  if (reply.reply_type == AMQP_RESPONSE_NORMAL) {
    delivery d;
    d.tag = env.delivery_tag;
    d.redelivered = env.redelivered != 0;
    d.routing_key = to_string(env.routing_key);
    d.body = to_string(env.message.body);
    if (env.message.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG) {
      d.message_id = to_string(env.message.properties.message_id);
    }
    if (env.message.properties._flags & AMQP_BASIC_CORRELATION_ID_FLAG) {
      d.correlation_id = to_string(env.message.properties.correlation_id);
    }
    if (env.message.properties._flags & AMQP_BASIC_PRIORITY_FLAG) {
      d.priority = env.message.properties.priority;
    }
    if (env.message.properties._flags & AMQP_BASIC_HEADERS_FLAG) {
      d.headers = read_table(env.message.properties.headers);
    }
    amqp_destroy_envelope(&env);
    return d;
  }
  if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
      && reply.library_error == AMQP_STATUS_TIMEOUT) {
    return std::nullopt;
  }
  if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
      && reply.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
    // A frame other than a delivery: a close means the channel is gone.
    amqp_frame_t frame;
    int rc = amqp_simple_wait_frame_noblock(conn_, &frame, &tv);
    if (rc != AMQP_STATUS_OK && rc != AMQP_STATUS_TIMEOUT) {
      fail(std::string{"connection lost: "} + amqp_error_string2(rc));
    } else if (rc == AMQP_STATUS_OK && frame.frame_type == AMQP_FRAME_METHOD
               && (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD
                   || frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD)) {
      fail("broker closed the channel");
    }
    return std::nullopt;
  }
  fail("connection lost: " + describe(reply));
  return std::nullopt;
}

std::string connection::ack(std::uint64_t tag, bool multiple) {
  if (!open_) {
    return error_;
  }
  if (int rc = amqp_basic_ack(conn_, channel, tag, multiple ? 1 : 0); rc != AMQP_STATUS_OK) {
    return fail(std::string{"ack failed: "} + amqp_error_string2(rc));
  }
  return {};
}

std::string connection::reject(std::uint64_t tag, bool requeue) {
  if (!open_) {
    return error_;
  }
  if (int rc = amqp_basic_reject(conn_, channel, tag, requeue ? 1 : 0); rc != AMQP_STATUS_OK) {
    return fail(std::string{"reject failed: "} + amqp_error_string2(rc));
  }
  return {};
}

void connection::hold_writes(bool hold) {
  if (conn_ == nullptr) {
    return;
  }
  int on = hold ? 1 : 0;
  setsockopt(amqp_get_sockfd(conn_), IPPROTO_TCP, TCP_CORK, &on, sizeof on);
}

void connection::close() {
  if (conn_ == nullptr) {
    return;
  }
  if (open_) {
    amqp_channel_close(conn_, channel, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn_, AMQP_REPLY_SUCCESS);
  }
  amqp_destroy_connection(conn_);
  conn_ = nullptr;
  open_ = false;
}

void connection::abort() {
  if (conn_ == nullptr) {
    return;
  }
  amqp_destroy_connection(conn_); // closes the socket; nothing more is sent
  conn_ = nullptr;
  open_ = false;
}

std::string probe(const std::string& url, std::chrono::milliseconds timeout) {
  try {
    connection c{url, timeout};
    return c.open();
  } catch (const std::exception& e) {
    return e.what();
  }
}

} // namespace herald::amqp
