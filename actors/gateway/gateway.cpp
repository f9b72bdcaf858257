#include "actors/gateway/gateway.hpp"

#include "actors/common/ask.hpp"
#include "actors/common/ids.hpp"
#include "actors/common/json_writer.hpp"
#include "actors/common/rest.hpp"
#include "actors/gateway/admission.hpp"
#include "actors/gateway/bulk.hpp"
#include "actors/gateway/directory.hpp"
#include "actors/gateway/list_request.hpp"
#include "actors/gateway/openapi.hpp"
#include "actors/gateway/notification_request.hpp"
#include "actors/messaging/messages.hpp"
#include "actors/messaging/topology.hpp"
#include "actors/notification_store/intake.hpp"
#include "actors/notification_store/notification_store.hpp"
#include "actors/scheduler/schedule_store.hpp"
#include "adapters/amqp/confirmed_publisher.hpp"
#include "adapters/postgres/session.hpp"
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

/// What a POST that sends starts with: its correlation id, the answer function that puts
/// it on every answer, and the body as a JSON object (nullopt: not one, answered 400).
struct opened_request {
  std::string correlation_id;
  http::reply_fn answer;
  std::optional<json> body;
};

opened_request open_request(const http::request& req, http::reply_fn reply) {
  opened_request out;
  out.correlation_id = correlation_id_of(req);
  out.answer = [reply = std::move(reply), id = out.correlation_id](http::response r) {
    reply(rest::with_correlation(std::move(r), id));
  };
  out.body = rest::parse_object(req.body, out.answer);
  return out;
}

/// Whose request_ids and rate window a request belongs to.
std::string client_of(const auth::principal& who) {
  using kind = auth::principal::kind;
  switch (who.what) {
    case kind::admin:
      return "admin";
    case kind::api_key:
      return "key:" + who.id;
    case kind::user:
      return "user:" + who.id;
    case kind::anonymous:
      break;
  }
  return "anonymous";
}

std::int64_t ceil_seconds(std::chrono::milliseconds ms) {
  return std::max<std::int64_t>(1, (ms.count() + 999) / 1000);
}

/// The answer with the tightest rate window's headers (when one was checked).
http::response with_rate(http::response r, const admission_verdict& v) {
  if (v.rated) {
    r.headers.emplace_back("X-RateLimit-Limit", std::to_string(v.limit));
    r.headers.emplace_back("X-RateLimit-Remaining", std::to_string(v.remaining));
    r.headers.emplace_back("X-RateLimit-Reset", std::to_string(ceil_seconds(v.reset)));
  }
  return r;
}

/// One notification request on its way through the checks, shared by their steps.
struct intake_step {
  notification_request r;
  admission_request claim;
  bool claimed = false; ///< a Redis claim of its request_id is ours to complete or release
  std::string correlation_id;
  http::reply_fn answer; ///< with the correlation id and the rate headers
};

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
  void notify_bulk(access::call&& c, http::reply_fn reply);
  void read_notification(access::call&& c, http::reply_fn reply);
  void list_notifications(access::call&& c, http::reply_fn reply);
  void openapi(access::call&& c, http::reply_fn reply);
  void cancel_notification(access::call&& c, http::reply_fn reply);
  void introspect(access::call&& c, http::reply_fn reply);

  static const std::vector<access::route<core>>& routes() {
    using auth::scope;
    static const std::vector<access::route<core>> table{
      {"POST", "/api/v1/notifications", auth::key_or_user(scope::notifications_write),
       &core::notify},
      {"POST", "/api/v1/notifications/bulk", auth::key_or_user(scope::notifications_write),
       &core::notify_bulk},
      {"GET", "/api/v1/notifications/{id}", auth::key_or_user(scope::notifications_read),
       &core::read_notification},
      {"GET", "/api/v1/notifications", auth::key_or_user(scope::notifications_read),
       &core::list_notifications},
      {"GET", "/openapi.json", auth::open(), &core::openapi},
      {"DELETE", "/api/v1/notifications/{id}", auth::key_or_user(scope::notifications_write),
       &core::cancel_notification},
      {"GET", "/api/v1/introspection/actors", auth::key(scope::introspection_read),
       &core::introspect},
    };
    return table;
  }

  amqp::confirmed_publisher& next_publisher() {
    return *publishers[next.fetch_add(1, std::memory_order_relaxed) % publishers.size()];
  }

  /// After admission: checks the request against its user and template.
  void check_and_accept(std::shared_ptr<intake_step> step);

  /// Records a checked notification as queued (or finds its request_id taken), publishes
  /// it and answers the client.
  void accept(std::shared_ptr<intake_step> step, const template_record& tpl);

  /// Publishes; answers 202 on the confirm. `recorded` false: the queued record could not
  /// be written before (database down), so the status writer gets it after the confirm.
  void publish(std::shared_ptr<intake_step> step, status_event queued, bool recorded,
               const template_record& tpl);

  /// A checked request with a send_at ahead: committed as a scheduled send (not published;
  /// the scheduler does that when it is due), then 202 `scheduled`.
  void schedule(std::shared_ptr<intake_step> step, const template_record& tpl);

  /// 200 with the notification `id` that an earlier request with the same request_id made.
  void answer_existing(const std::string& id, const std::shared_ptr<intake_step>& step);

  caf::actor_system& system;
  runtime::registry& registry; ///< the node's: used by handlers only (see http::server)
  caf::actor status_writer;
  caf::actor reader;
  directory dir;
  std::vector<std::unique_ptr<amqp::confirmed_publisher>> publishers;
  // Shared with the publishers' callbacks, which must not hold the core.
  std::shared_ptr<notification_intake> intake;
  std::shared_ptr<admission> checks;
  std::vector<runtime::entry_ptr> entries;
  std::atomic<std::size_t> next{0};
  render_limits limits; ///< what a request's variables may make its template cost
  std::size_t bulk_max = 10000; ///< gateway.bulk_max
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
  core_->bulk_max = static_cast<std::size_t>(ctx.settings.get_int("gateway.bulk_max"));
  core_->checks = std::make_shared<admission>(
    ctx.settings, ctx.registry.enlist("admission", "gateway", "io_thread"));
  core_->intake = std::make_shared<notification_intake>(
    postgres::database_url(ctx.settings.get("pg.url"), ctx.settings.get("pg.notification_db")),
    ctx.settings.get("node.name"), static_cast<std::size_t>(ctx.settings.get_int("status.batch_max")),
    ctx.registry.enlist("notification_intake", "gateway", "io_thread"));
}

void gateway::core::notify(access::call&& c, http::reply_fn reply) {
  auto [correlation_id, answer, body] = open_request(c.req, std::move(reply));
  if (!body) {
    return;
  }
  auto v = parse_notification_request(*body);
  if (!v.value) {
    answer(rest::fail(v.status, v.error));
    return;
  }
  if (auto key = c.req.header("Idempotency-Key"); !key.empty()) {
    if (auto e = request_id_problem(key, "header 'Idempotency-Key'"); !e.empty()) {
      answer(rest::fail(400, e));
      return;
    }
    if (!v.value->request_id.empty() && v.value->request_id != key) {
      answer(rest::fail(400, "header 'Idempotency-Key' and field 'request_id' differ; send "
                             "one, or the same value in both"));
      return;
    }
    v.value->request_id = key;
  }
  if (c.who.is_user() && v.value->user_id != c.who.id) {
    answer(rest::fail(403, "a login token may send only to its own user"));
    return;
  }
  auto step = std::make_shared<intake_step>();
  step->r = std::move(*v.value);
  step->claim.user_id = step->r.user_id;
  step->claim.client_id = client_of(c.who);
  step->claim.request_id = step->r.request_id;
  step->claim.fingerprint = step->r.request_id.empty() ? "" : request_fingerprint(*body);
  step->claim.notification_id = make_uuid();
  step->correlation_id = correlation_id;
  step->answer = answer;
  if (!checks->limits_on() && step->r.request_id.empty()) {
    check_and_accept(std::move(step));
    return;
  }
  auto self = shared_from_this();
  checks->check(step->claim, [self, step](const admission_verdict& verdict) {
    auto answer = step->answer;
    step->answer = [answer, verdict](http::response r) {
      answer(with_rate(std::move(r), verdict));
    };
    auto& id = step->r.request_id;
    using kind = admission_verdict::kind;
    switch (verdict.what) {
      case kind::limited: {
        auto subject = verdict.limit_name == "rate_limit.per_user"
                         ? "user " + step->r.user_id
                         : "this credential";
        auto wait = ceil_seconds(verdict.reset);
        auto r = rest::fail(429, "rate limit " + verdict.limit_name + " ("
                                   + std::to_string(verdict.limit) + " per window) reached for "
                                   + subject + "; retry in " + std::to_string(wait) + " s");
        r.headers.emplace_back("Retry-After", std::to_string(wait));
        step->answer(std::move(r));
        return;
      }
      case kind::conflict:
        step->answer(rest::fail(409, "request_id '" + id + "' was already used with a "
                                     "different request body"));
        return;
      case kind::in_progress: {
        auto r = rest::fail(409, "request_id '" + id + "' is in progress: its first request "
                                 "has not been answered yet; retry");
        r.headers.emplace_back("Retry-After", "1");
        step->answer(std::move(r));
        return;
      }
      case kind::replay:
        self->answer_existing(verdict.existing_id, step);
        return;
      case kind::admitted:
        step->claimed = !id.empty();
        break;
      case kind::unchecked:
        break;
    }
    self->check_and_accept(step);
  });
}

void gateway::core::notify_bulk(access::call&& c, http::reply_fn reply) {
  auto [correlation_id, answer, body] = open_request(c.req, std::move(reply));
  if (!body) {
    return;
  }
  auto parsed = parse_bulk_request(*body, bulk_max, c.req.header("Idempotency-Key"));
  if (parsed.status != 200) {
    answer(rest::fail(parsed.status, parsed.error));
    return;
  }
  // A login token's bulk naming another user is a misuse of the credential, refused as a
  // whole (as the single POST refuses it), not a per-item rejection.
  if (c.who.is_user()) {
    for (std::size_t i = 0; i < parsed.items.size(); ++i) {
      auto& item = parsed.items[i];
      if (item.status == 0 && item.r.user_id != c.who.id) {
        answer(rest::fail(403, "a login token may send only to its own user (item "
                                 + std::to_string(i) + " names another)"));
        return;
      }
    }
  }
  bulk_parts parts;
  parts.dir = &dir;
  parts.checks = checks;
  parts.intake = intake;
  for (auto& p : publishers) {
    parts.publishers.push_back(p.get());
  }
  parts.status_writer = status_writer;
  parts.system = &system;
  parts.schedules = system.registry().get<caf::actor>(schedules_name);
  parts.limits = limits;
  run_bulk(parts, shared_from_this(), std::move(parsed.items), client_of(c.who),
           c.who.is_user() ? c.who.id : std::string{}, correlation_id, answer);
}

void gateway::core::check_and_accept(std::shared_ptr<intake_step> step) {
  auto self = shared_from_this();
  // Every refusal from here on frees the request_id's claim, so a corrected retry works.
  auto refuse = [self, step](http::response r) {
    if (!step->claimed) {
      step->answer(std::move(r));
      return;
    }
    // Answered once the claim is freed: the client's corrected retry must find it free.
    auto answer = std::make_shared<http::response>(std::move(r));
    self->checks->release(step->claim, [step, answer] { step->answer(std::move(*answer)); });
  };
  auto& r = step->r;
  dir.user(r.user_id, [self, step, refuse](const outcome& uo, const user_record& user) {
    auto& r = step->r;
    if (!uo.ok()) {
      refuse(uo.status == 404 ? rest::fail(404, "unknown user_id '" + r.user_id + "'")
                              : rest::fail(503, uo.error));
      return;
    }
    self->dir.find_template(
      r.template_code, {user.language, r.language}, r.template_version,
      [self, step, refuse](const outcome& to, const template_record& tpl) {
        auto& r = step->r;
        if (!to.ok()) {
          refuse(to.status == 404 ? rest::fail(404, "unknown template_code '" + r.template_code
                                                      + "': " + to.error)
                                  : rest::fail(503, to.error));
          return;
        }
        if (tpl.channel != r.notification_type) {
          refuse(rest::fail(422, "template " + tpl.template_code + " is for " + tpl.channel
                                   + ", not for notification_type " + r.notification_type));
          return;
        }
        if (auto o = check_against_template(tpl, r.variables, self->limits); !o.ok()) {
          refuse(rest::fail(o.status, o.error));
          return;
        }
        self->accept(step, tpl);
      });
  });
}

void gateway::core::accept(std::shared_ptr<intake_step> step, const template_record& tpl) {
  auto& r = step->r;
  if (r.send_at) {
    schedule(std::move(step), tpl);
    return;
  }
  status_event queued{step->claim.notification_id, "queued", "", 0, r.request_id, r.user_id,
                      r.notification_type, r.template_code, step->correlation_id,
                      tpl.language, tpl.version, /*device_events=*/""};
  intake_record rec{queued, step->claim.client_id, step->claim.fingerprint};
  auto self = shared_from_this();
  intake->record(std::move(rec), [self, step, queued, tpl](const intake_result& res) {
    using kind = intake_result::kind;
    if (res.what == kind::existing) {
      if (res.existing_fingerprint != step->claim.fingerprint) {
        if (step->claimed) {
          self->checks->release(step->claim);
        }
        step->answer(rest::fail(409, "request_id '" + step->r.request_id + "' was already "
                                     "used with a different request body"));
        return;
      }
      if (step->claimed) {
        self->checks->complete(step->claim, res.existing_id);
      }
      self->answer_existing(res.existing_id, step);
      return;
    }
    self->publish(step, queued, res.what == kind::inserted, tpl);
  });
}

void gateway::core::publish(std::shared_ptr<intake_step> step, status_event queued,
                            bool recorded, const template_record& tpl) {
  amqp::message msg;
  msg.exchange = messaging::exchange;
  msg.routing_key = step->r.notification_type;
  msg.body = notification_message(step->r, tpl, queued.notification_id, step->correlation_id);
  msg.message_id = queued.notification_id;
  // No correlation_id property: the body has it (amqp::message says what it costs).
  msg.priority = static_cast<std::uint8_t>(step->r.priority);
  // Runs on the publisher's thread: it must not hold the core, whose last owner would
  // then join that very thread.
  auto on_outcome = [step, queued = std::move(queued), recorded, writer = status_writer,
                     checks = checks, intake = intake](const amqp::publish_outcome& o) mutable {
    if (o.status != amqp::publish_status::confirmed) {
      if (recorded) {
        intake->release(queued.notification_id);
      }
      if (step->claimed) {
        checks->release(step->claim);
      }
      step->answer(rest::fail(503, o.detail, "notification not accepted; retry later"));
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
    if (step->claimed) {
      checks->complete(step->claim, queued.notification_id);
    }
    if (!recorded) {
      caf::anon_send(writer, record_atom::value, std::move(queued));
    }
    step->answer(rest::ok_text(202, data.finish(), "notification queued"));
  };
  next_publisher().publish(std::move(msg), std::move(on_outcome));
}

void gateway::core::schedule(std::shared_ptr<intake_step> step, const template_record& tpl) {
  auto in = scheduled_intake_of(step->r, tpl, step->claim.notification_id,
                                step->claim.client_id, step->claim.fingerprint,
                                step->correlation_id);
  auto& s = in.send;
  auto store = system.registry().get<caf::actor>(schedules_name);
  auto self = shared_from_this();
  // Copied before `in` is moved into the request (argument order is unspecified).
  auto id = s.notification_id;
  auto send_at = s.send_at;
  auto release = [self, step] {
    if (step->claimed) {
      self->checks->release(step->claim);
    }
  };
  ask(system, store, service_timeout,
      [self, step, release, id, send_at](
        outcome& o, std::string& existing_id, std::string& fingerprint) {
        if (!o.ok()) {
          release();
          step->answer(rest::fail(503, o.error, "notification not accepted; retry later"));
          return;
        }
        if (o.status == 200) { // the request_id was taken (the backstop)
          if (fingerprint != step->claim.fingerprint) {
            release();
            step->answer(rest::fail(409, "request_id '" + step->r.request_id + "' was already "
                                         "used with a different request body"));
            return;
          }
          if (step->claimed) {
            self->checks->complete(step->claim, existing_id);
          }
          self->answer_existing(existing_id, step);
          return;
        }
        if (step->claimed) {
          self->checks->complete(step->claim, id);
        }
        json_writer data;
        data.field("notification_id", id);
        if (step->r.request_id.empty()) {
          data.null_field("request_id");
        } else {
          data.field("request_id", step->r.request_id);
        }
        data.field("status", "scheduled")
          .field("send_at", send_at)
          .field("channel", step->r.notification_type)
          .field("correlation_id", step->correlation_id);
        step->answer(rest::ok_text(202, data.finish(), "notification scheduled"));
      },
      [step, release](const std::string& why) {
        release();
        step->answer(rest::fail(503, "schedule store: " + why,
                                "notification not accepted; retry later"));
      },
      schedule_atom::value, std::move(in));
}

void gateway::core::cancel_notification(access::call&& c, http::reply_fn reply) {
  auto id = c.req.params["id"];
  auto store = system.registry().get<caf::actor>(schedules_name);
  auto user = c.who.is_user() ? c.who.id : std::string{};
  ask(system, store, service_timeout,
      [self = shared_from_this(), reply, id](outcome& o) {
        if (!o.ok()) {
          reply(rest::fail(o.status, o.error));
          return;
        }
        // Committed: answer with the record as GET shows it.
        ask(self->system, self->reader, service_timeout,
            [reply](outcome& ro, std::string& record) {
              if (!ro.ok()) {
                reply(rest::fail(ro.status, ro.error));
                return;
              }
              reply(rest::ok(200, json::parse(record), "notification cancelled"));
            },
            rest::unavailable(reply, "notification store"), read_atom::value, id);
      },
      rest::unavailable(reply, "schedule store"), cancel_atom::value, id, user);
}

void gateway::core::answer_existing(const std::string& id,
                                    const std::shared_ptr<intake_step>& step) {
  ask(system, reader, service_timeout,
      [id, step](outcome& o, std::string& record) {
        if (o.status == 404) {
          // Accepted while the database was down: its record is still on its way.
          json data = {{"notification_id", id}, {"request_id", step->r.request_id},
                       {"status", "queued"}};
          step->answer(rest::ok(200, std::move(data), "notification already accepted for this "
                                                      "request_id"));
          return;
        }
        if (!o.ok()) {
          step->answer(rest::fail(o.status, o.error));
          return;
        }
        step->answer(rest::ok(200, json::parse(record), "notification already accepted for "
                                                        "this request_id"));
      },
      rest::unavailable(step->answer, "notification store"), read_atom::value, id);
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

void gateway::core::list_notifications(access::call&& c, http::reply_fn reply) {
  std::string error;
  auto asked = parse_list_request(c.req.query, error);
  if (!asked) {
    reply(rest::fail(400, error));
    return;
  }
  auto& f = asked->filter;
  if (c.who.is_user()) {
    if (!f.user_id.empty() && f.user_id != c.who.id) {
      reply(rest::fail(403, "a login token lists only its own user's notifications"));
      return;
    }
    f.user_id = c.who.id;
  }
  auto page = asked->page;
  auto limit = asked->limit;
  ask(system, reader, service_timeout,
      [reply, page, limit](outcome& o, std::string& items, std::int64_t total, bool capped) {
        if (!o.ok()) {
          reply(rest::fail(o.status, o.error));
          return;
        }
        auto meta = rest::page_meta(total, page, limit);
        meta["total_capped"] = capped;
        reply(rest::ok(200, json::parse(items), "notifications", std::move(meta)));
      },
      rest::unavailable(reply, "notification store"), list_notifications_atom::value, f.user_id,
      f.status, f.channel, f.since, f.until, (page - 1) * limit, limit);
}

void gateway::core::openapi(access::call&&, http::reply_fn reply) {
  reply(http::response{200, std::string{openapi_document()}, "application/json", {}});
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
