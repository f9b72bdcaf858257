#include "actors/gateway/gateway.hpp"

#include "actors/common/ask.hpp"
#include "actors/common/ids.hpp"
#include "actors/common/json_writer.hpp"
#include "actors/common/rest.hpp"
#include "actors/gateway/directory.hpp"
#include "actors/gateway/notification_request.hpp"
#include "actors/messaging/messages.hpp"
#include "actors/messaging/topology.hpp"
#include "adapters/amqp/confirmed_publisher.hpp"
#include "runtime/logging/log.hpp"

namespace herald {

using json = nlohmann::json;

namespace {

/// The client's X-Correlation-ID when it is sane, else a new one.
std::string correlation_id_of(const http::request& req) {
  auto given = req.header("X-Correlation-ID");
  bool sane = !given.empty() && given.size() <= 128;
  for (char c : given) {
    sane = sane && c > 32 && c < 127;
  }
  return sane ? given : make_uuid();
}

} // namespace

struct gateway::core : std::enable_shared_from_this<gateway::core> {
  core(node_context& ctx, caf::actor status_writer, caf::actor notification_reader,
       caf::actor users, caf::actor templates)
    : system(ctx.system), registry(ctx.registry), status_writer(std::move(status_writer)),
      reader(std::move(notification_reader)),
      dir(ctx, std::move(users), std::move(templates)),
      limits(render_limits_from(ctx.settings)) {}

  // -- the routes (table below) -------------------------------------------------------

  void notify(access::call&& c, http::reply_fn reply);
  void read_notification(access::call&& c, http::reply_fn reply);
  void introspect(access::call&& c, http::reply_fn reply);

  static const std::vector<access::route<core>>& routes() {
    using auth::scope;
    static const std::vector<access::route<core>> table{
      {"POST", "/api/v1/notifications", auth::key_or_user(scope::notifications_write),
       &core::notify},
      {"GET", "/api/v1/notifications/{id}", auth::key_or_user(scope::notifications_read),
       &core::read_notification},
      {"GET", "/api/v1/introspection/actors", auth::key(scope::introspection_read),
       &core::introspect},
    };
    return table;
  }

  amqp::confirmed_publisher& next_publisher() {
    return *publishers[next.fetch_add(1, std::memory_order_relaxed) % publishers.size()];
  }

  /// Publishes a checked notification and answers the client.
  void publish(const notification_request& r, const template_record& tpl,
               const std::string& correlation_id, const http::reply_fn& answer);

  caf::actor_system& system;
  runtime::registry& registry; ///< the node's: used by handlers only (see http::server)
  caf::actor status_writer;
  caf::actor reader;
  directory dir;
  std::vector<std::unique_ptr<amqp::confirmed_publisher>> publishers;
  std::vector<runtime::entry_ptr> entries;
  std::atomic<std::size_t> next{0};
  render_limits limits; ///< what a request's variables may make its template cost
};

gateway::gateway(node_context& ctx, caf::actor status_writer, caf::actor notification_reader,
                 caf::actor users, caf::actor templates)
  : core_(std::make_shared<core>(ctx, std::move(status_writer), std::move(notification_reader),
                                 std::move(users), std::move(templates))) {
  auto count = ctx.settings.get_int("amqp.publishers");
  for (std::int64_t i = 0; i < count; ++i) {
    amqp::publisher_settings ps;
    ps.url = ctx.settings.get("amqp.url");
    ps.declare = messaging::topology();
    ps.confirm_timeout = ctx.settings.get_ms("amqp.confirm_timeout_ms");
    core_->publishers.push_back(std::make_unique<amqp::confirmed_publisher>(std::move(ps)));
    auto entry = ctx.registry.enlist("amqp_publisher/" + std::to_string(i), "gateway",
                                     "io_thread");
    entry->set_state("running");
    core_->entries.push_back(entry);
  }
}

void gateway::core::publish(const notification_request& r, const template_record& tpl,
                            const std::string& correlation_id, const http::reply_fn& answer) {
  auto notification_id = make_uuid();
  amqp::message msg;
  msg.exchange = messaging::exchange;
  msg.routing_key = r.notification_type;
  msg.body = notification_message(r, tpl, notification_id, correlation_id);
  msg.message_id = notification_id;
  msg.correlation_id = correlation_id;
  status_event queued{notification_id, "queued",  "",           0,
                      r.request_id,    r.user_id, r.notification_type, r.template_code,
                      correlation_id,  tpl.language, tpl.version};
  auto writer = status_writer;
  // Runs on the publisher's thread: it must not hold the core, whose last owner would
  // then join that very thread.
  auto on_outcome = [answer, queued = std::move(queued),
                     writer](const amqp::publish_outcome& o) mutable {
    if (o.status != amqp::publish_status::confirmed) {
      answer(rest::fail(503, o.detail, "notification not accepted; retry later"));
      return;
    }
    json_writer data;
    data.field("notification_id", queued.notification_id);
    if (queued.request_id.empty()) {
      data.null_field("request_id");
    } else {
      data.field("request_id", queued.request_id);
    }
    data.field("status", "queued")
      .field("channel", queued.channel)
      .field("correlation_id", queued.correlation_id);
    caf::anon_send(writer, record_atom::value, std::move(queued));
    answer(rest::ok_text(202, data.finish(), "notification queued"));
  };
  next_publisher().publish(std::move(msg), std::move(on_outcome));
}

void gateway::core::notify(access::call&& c, http::reply_fn reply) {
  auto correlation_id = correlation_id_of(c.req);
  auto answer = [reply, correlation_id](http::response r) {
    reply(rest::with_correlation(std::move(r), correlation_id));
  };
  auto body = rest::parse_object(c.req.body, answer);
  if (!body) {
    return;
  }
  auto v = parse_notification_request(*body);
  if (!v.value) {
    answer(rest::fail(v.status, v.error));
    return;
  }
  if (c.who.is_user() && v.value->user_id != c.who.id) {
    answer(rest::fail(403, "a login token may send only to its own user"));
    return;
  }
  auto r = std::make_shared<const notification_request>(std::move(*v.value));
  auto self = shared_from_this();
  dir.user(r->user_id, [self, r, correlation_id, answer](const outcome& uo,
                                                         const user_record& user) {
    if (!uo.ok()) {
      answer(uo.status == 404 ? rest::fail(404, "unknown user_id '" + r->user_id + "'")
                              : rest::fail(503, uo.error));
      return;
    }
    self->dir.find_template(
      r->template_code, {user.language, r->language}, r->template_version,
      [self, r, correlation_id, answer](const outcome& to, const template_record& tpl) {
        if (!to.ok()) {
          answer(to.status == 404 ? rest::fail(404, "unknown template_code '"
                                                      + r->template_code + "': " + to.error)
                                  : rest::fail(503, to.error));
          return;
        }
        if (tpl.channel != r->notification_type) {
          answer(rest::fail(422, "template " + tpl.template_code + " is for " + tpl.channel
                                   + ", not for notification_type " + r->notification_type));
          return;
        }
        if (auto o = check_against_template(tpl, r->variables, self->limits); !o.ok()) {
          answer(rest::fail(o.status, o.error));
          return;
        }
        self->publish(*r, tpl, correlation_id, answer);
      });
  });
}

void gateway::core::read_notification(access::call&& c, http::reply_fn reply) {
  ask(system, reader, service_timeout,
      [reply, who = std::move(c.who)](outcome& o, std::string& record) {
        if (!o.ok()) {
          reply(rest::fail(o.status, o.error));
          return;
        }
        auto j = json::parse(record);
        if (who.is_user() && j.value("user_id", "") != who.id) {
          reply(rest::fail(403, "a login token reads only its own user's notifications"));
          return;
        }
        reply(rest::ok(200, std::move(j), "notification found"));
      },
      rest::unavailable(reply, "notification store"), read_atom::value, c.req.params["id"]);
}

void gateway::core::introspect(access::call&&, http::reply_fn reply) {
  for (std::size_t i = 0; i < publishers.size(); ++i) {
    auto& s = publishers[i]->stats();
    auto& e = entries[i];
    e->processed = s.confirmed.load();
    e->failed = s.failed.load();
    e->mailbox = s.queued.load();
    e->in_flight = s.in_flight.load();
    e->set_state(s.connected ? "connected" : "disconnected");
  }
  reply(rest::ok(200, registry.snapshot(), "actors of this node"));
}

void gateway::add_routes(http::server& server, std::shared_ptr<const access::gate> gate) {
  access::mount(server, std::move(gate), core_, core::routes());
}

std::vector<access::route_row> gateway::route_rules() {
  return access::rows("gateway", core::routes());
}

} // namespace herald
