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
#include "runtime/auth/jwt.hpp"
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

/// A 401 in the envelope, with the challenge RFC 6750 asks for.
http::response unauthorized_answer(const std::string& why) {
  auto r = rest::fail(401, why);
  r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"herald\"");
  return r;
}

} // namespace

struct gateway::core {
  core(node_context& ctx, caf::actor status_writer, caf::actor notification_reader,
       caf::actor users, caf::actor templates)
    : system(ctx.system), registry(ctx.registry), status_writer(std::move(status_writer)),
      reader(std::move(notification_reader)),
      dir(ctx, std::move(users), std::move(templates)),
      jwt_secret(ctx.settings.get("jwt.secret")),
      jwt_expect{auth::jwt::herald_issuer, std::chrono::seconds{ctx.settings.get_int("jwt.ttl_s")}},
      auth_required(ctx.settings.get_bool("auth.required")),
      limits(render_limits_from(ctx.settings)) {}

  /// "" when the request may proceed, else why not (answered with 401).
  std::string unauthorized(const http::request& req) const;

  /// False, after answering 401 through `reply`, when the request may not proceed.
  template <class Reply>
  bool authorized(const http::request& req, Reply& reply) const {
    auto why = unauthorized(req);
    if (!why.empty()) {
      reply(unauthorized_answer(why));
    }
    return why.empty();
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
  std::string jwt_secret;
  auth::jwt::expectations jwt_expect; ///< Herald's issuer; exp at most jwt.ttl_s ahead
  bool auth_required = false;
  render_limits limits; ///< what a request's variables may make its template cost
};

std::string gateway::core::unauthorized(const http::request& req) const {
  auto header = req.header("Authorization");
  if (header.empty()) {
    return auth_required ? "missing Authorization: Bearer token" : std::string{};
  }
  constexpr std::string_view scheme = "Bearer ";
  if (header.size() <= scheme.size()
      || !std::equal(scheme.begin(), scheme.end(), header.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a))
                  == std::tolower(static_cast<unsigned char>(b));
         })) {
    return "Authorization must be 'Bearer <token>'";
  }
  if (jwt_secret.empty()) {
    return "bearer tokens cannot be checked: jwt.secret is not configured";
  }
  auto v = auth::jwt::verify(std::string_view{header}.substr(scheme.size()), jwt_secret,
                             std::chrono::system_clock::now(), std::chrono::seconds{30},
                             jwt_expect);
  return v.ok() ? std::string{} : "invalid bearer token: " + v.error;
}

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

void gateway::add_routes(http::server& server) {
  server.route("POST", "/api/v1/notifications", [core = core_](http::request&& req,
                                                               http::reply_fn reply) {
    auto correlation_id = correlation_id_of(req);
    auto answer = [reply, correlation_id](http::response r) {
      reply(rest::with_correlation(std::move(r), correlation_id));
    };
    if (!core->authorized(req, answer)) {
      return;
    }
    auto body = rest::parse_object(req.body, answer);
    if (!body) {
      return;
    }
    auto v = parse_notification_request(*body);
    if (!v.value) {
      answer(rest::fail(v.status, v.error));
      return;
    }
    auto r = std::make_shared<const notification_request>(std::move(*v.value));
    core->dir.user(r->user_id, [core, r, correlation_id, answer](const outcome& uo,
                                                                const user_record& user) {
      if (!uo.ok()) {
        answer(uo.status == 404 ? rest::fail(404, "unknown user_id '" + r->user_id + "'")
                                : rest::fail(503, uo.error));
        return;
      }
      core->dir.find_template(
        r->template_code, {user.language, r->language}, r->template_version,
        [core, r, correlation_id, answer](const outcome& to, const template_record& tpl) {
          if (!to.ok()) {
            answer(to.status == 404 ? rest::fail(404, "unknown template_code '"
                                                        + r->template_code + "': " + to.error)
                                    : rest::fail(503, to.error));
            return;
          }
          if (tpl.channel != r->notification_type) {
            answer(rest::fail(422, "template " + tpl.template_code + " is for " + tpl.channel
                                     + ", not for notification_type "
                                     + r->notification_type));
            return;
          }
          if (auto o = check_against_template(tpl, r->variables, core->limits); !o.ok()) {
            answer(rest::fail(o.status, o.error));
            return;
          }
          core->publish(*r, tpl, correlation_id, answer);
        });
    });
  });
  server.route("GET", "/api/v1/notifications/{id}", [core = core_](http::request&& req,
                                                                   http::reply_fn reply) {
    if (!core->authorized(req, reply)) {
      return;
    }
    ask(core->system, core->reader, service_timeout,
        [reply](outcome& o, std::string& record) {
          reply(o.ok() ? rest::ok(200, json::parse(record), "notification found")
                       : rest::fail(o.status, o.error));
        },
        rest::unavailable(reply, "notification store"),
        read_atom::value, req.params["id"]);
  });
  server.route("GET", "/api/v1/introspection/actors", [core = core_](http::request&& req,
                                                                     http::reply_fn reply) {
    if (!core->authorized(req, reply)) {
      return;
    }
    for (std::size_t i = 0; i < core->publishers.size(); ++i) {
      auto& s = core->publishers[i]->stats();
      auto& e = core->entries[i];
      e->processed = s.confirmed.load();
      e->failed = s.failed.load();
      e->mailbox = s.queued.load();
      e->in_flight = s.in_flight.load();
      e->set_state(s.connected ? "connected" : "disconnected");
    }
    reply(rest::ok(200, core->registry.snapshot(), "actors of this node"));
  });
}

} // namespace herald
