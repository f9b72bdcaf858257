#include "support/broker.hpp"

#include <cstdlib>
#include <amqp_tcp_socket.h>
#include <boost/test/unit_test.hpp>

#include <array>
#include <cstdio>
#include <sys/wait.h>

#include "actors/messaging/topology.hpp"
#include "adapters/amqp/connection.hpp"
#include "adapters/url.hpp"
#include "support/test_env.hpp"

namespace herald::test {

namespace {

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    out += c == '\'' ? std::string{"'\\''"} : std::string(1, c);
  }
  return out + "'";
}

amqp_bytes_t bytes(const std::string& s) {
  return amqp_bytes_t{s.size(), const_cast<char*>(s.data())};
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) {
    s.pop_back();
  }
  return s;
}

constexpr amqp_channel_t channel = 1;

/// The suite's virtual host (tests/integration/main.cpp), where its queues live.
std::string suite_vhost() {
  const char* v = std::getenv("HERALD_TEST_VHOST");
  return v != nullptr && *v != '\0' ? v : "/";
}

} // namespace

ctl_result rabbitmqctl(const std::vector<std::string>& args) {
  auto cmd = shell_quote(env("HERALD_TEST_CTL")) + " rabbitmqctl";
  for (auto& a : args) {
    cmd += " " + shell_quote(a);
  }
  cmd += " 2>&1";
  ctl_result r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) {
    r.output = "popen failed";
    return r;
  }
  std::array<char, 4096> buf{};
  while (auto n = fread(buf.data(), 1, buf.size(), p)) {
    r.output.append(buf.data(), n);
  }
  int status = pclose(p);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// -- broker_policy ----------------------------------------------------------------------

broker_policy::broker_policy(std::string name, const std::string& pattern,
                             const std::string& definition)
  : name_(std::move(name)) {
  auto r = rabbitmqctl({"set_policy", "-p", suite_vhost(), "--apply-to", "queues", "--priority",
                        "100", name_, pattern, definition});
  set_ = r.status == 0;
  BOOST_REQUIRE_MESSAGE(set_, "set_policy " << name_ << ": " << r.output);
}

broker_policy::~broker_policy() {
  clear();
}

bool broker_policy::clear() {
  if (!set_) {
    return true;
  }
  auto r = rabbitmqctl({"clear_policy", "-p", suite_vhost(), name_});
  set_ = r.status != 0;
  BOOST_CHECK_MESSAGE(!set_, "clear_policy " << name_ << ": " << r.output);
  return !set_;
}

// -- memory_alarm -----------------------------------------------------------------------

memory_alarm::memory_alarm() {
  // The watermark as it is now: a fraction (0.4) or {absolute, Bytes}.
  auto now = rabbitmqctl({"eval", "vm_memory_monitor:get_vm_memory_high_watermark()."});
  BOOST_REQUIRE_MESSAGE(now.status == 0, "reading the memory watermark: " << now.output);
  auto value = trimmed(now.output);
  if (auto pos = value.find("{absolute,"); pos != std::string::npos) {
    auto bytes = value.substr(pos + 10);
    bytes = bytes.substr(0, bytes.find('}'));
    restore_ = {"set_vm_memory_high_watermark", "absolute", bytes};
  } else {
    restore_ = {"set_vm_memory_high_watermark", value};
  }
  auto r = rabbitmqctl({"set_vm_memory_high_watermark", "0"});
  raised_ = r.status == 0;
  BOOST_REQUIRE_MESSAGE(raised_, "set_vm_memory_high_watermark 0: " << r.output);
}

memory_alarm::~memory_alarm() {
  lift();
}

bool memory_alarm::lift() {
  if (!raised_) {
    return true;
  }
  auto r = rabbitmqctl(restore_);
  raised_ = r.status != 0;
  BOOST_CHECK_MESSAGE(!raised_, "restoring the memory watermark: " << r.output);
  return !raised_;
}

// -- broker_client ----------------------------------------------------------------------

broker_client::broker_client() {
  std::string err;
  auto u = parse_url(env("HERALD_TEST_AMQP_URL"), &err);
  BOOST_REQUIRE_MESSAGE(u, err);
  conn_ = amqp_new_connection();
  auto* socket = amqp_tcp_socket_new(conn_);
  BOOST_REQUIRE(socket != nullptr);
  timeval tv{5, 0};
  BOOST_REQUIRE_EQUAL(amqp_socket_open_noblock(socket, u->host.c_str(), u->port, &tv),
                      AMQP_STATUS_OK);
  amqp_set_rpc_timeout(conn_, &tv);
  auto vhost = u->path.empty() ? std::string{"/"} : u->path; // the suite's (integration/main.cpp)
  auto login = amqp_login(conn_, vhost.c_str(), 0, 131072, 0, AMQP_SASL_METHOD_PLAIN,
                          u->user.empty() ? "guest" : u->user.c_str(),
                          u->password.empty() ? "guest" : u->password.c_str());
  BOOST_REQUIRE_EQUAL(login.reply_type, AMQP_RESPONSE_NORMAL);
  amqp_channel_open(conn_, channel);
  check("channel.open");
}

broker_client::~broker_client() {
  amqp_channel_close(conn_, channel, AMQP_REPLY_SUCCESS);
  amqp_connection_close(conn_, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(conn_);
}

void broker_client::check(const char* what) {
  auto reply = amqp_get_rpc_reply(conn_);
  BOOST_REQUIRE_MESSAGE(reply.reply_type == AMQP_RESPONSE_NORMAL,
                        what << " failed (reply type " << reply.reply_type << ")");
}

void broker_client::declare_queue(const std::string& queue, const std::string& exchange,
                                  const std::string& routing_key,
                                  const std::map<std::string, std::string>& string_args,
                                  const std::map<std::string, std::int64_t>& int_args) {
  std::vector<amqp_table_entry_t> entries;
  auto args = amqp::make_table(string_args, int_args, entries);
  amqp_exchange_declare(conn_, channel, bytes(exchange), amqp_cstring_bytes("direct"), 0, 1, 0,
                        0, amqp_empty_table);
  check("exchange.declare");
  amqp_queue_declare(conn_, channel, bytes(queue), 0, 1, 0, 0, args);
  check("queue.declare");
  amqp_queue_bind(conn_, channel, bytes(queue), bytes(exchange), bytes(routing_key),
                  amqp_empty_table);
  check("queue.bind");
}

void broker_client::delete_queue(const std::string& queue) {
  amqp_queue_delete(conn_, channel, bytes(queue), 0, 0);
  check("queue.delete");
}

void broker_client::delete_exchange(const std::string& exchange) {
  amqp_exchange_delete(conn_, channel, bytes(exchange), 0);
  check("exchange.delete");
}

void broker_client::purge(const std::string& queue) {
  // Declared first, with the arguments Herald declares it with (email.queue and
  // push.queue are priority queues): a fresh broker has no email.queue until a node
  // connects.
  amqp::string_table strings;
  amqp::int_table ints;
  for (auto& q : messaging::topology().queues) {
    if (q.name == queue) {
      strings = q.string_args;
      ints = q.int_args;
    }
  }
  std::vector<amqp_table_entry_t> entries;
  amqp_queue_declare(conn_, channel, bytes(queue), 0, 1, 0, 0,
                     amqp::make_table(strings, ints, entries));
  check("queue.declare");
  amqp_queue_purge(conn_, channel, bytes(queue));
  check("queue.purge");
}

std::uint32_t broker_client::message_count(const std::string& queue) {
  auto* ok = amqp_queue_declare(conn_, channel, bytes(queue), 1, 0, 0, 0, amqp_empty_table);
  check("queue.declare (passive)");
  return ok->message_count;
}

std::vector<std::string> broker_client::drain(const std::string& queue) {
  // Nothing publishes to the queue any more when a test drains it: take exactly as many
  // messages as it holds now, through one no-ack consumer (faster than a basic.get each).
  auto count = message_count(queue);
  std::vector<std::string> ids;
  if (count == 0) {
    return ids;
  }
  amqp_basic_consume(conn_, channel, bytes(queue), amqp_empty_bytes, 0, 1, 1, amqp_empty_table);
  check("basic.consume");
  timeval tv{10, 0};
  while (ids.size() < count) {
    amqp_maybe_release_buffers(conn_);
    amqp_envelope_t env;
    auto reply = amqp_consume_message(conn_, &env, &tv, 0);
    BOOST_REQUIRE_MESSAGE(reply.reply_type == AMQP_RESPONSE_NORMAL,
                          "draining " << queue << ": got " << ids.size() << " of " << count);
    auto& props = env.message.properties;
    ids.emplace_back(props._flags & AMQP_BASIC_MESSAGE_ID_FLAG
                       ? std::string{static_cast<const char*>(props.message_id.bytes),
                                     props.message_id.len}
                       : std::string{});
    amqp_destroy_envelope(&env);
  }
  return ids;
}

drained_at_exit::~drained_at_exit() {
  try {
    broker_client{}.purge(queue_);
  } catch (...) {
    BOOST_CHECK_MESSAGE(false, "could not purge " << queue_ << " at the end of the test");
  }
}

} // namespace herald::test
