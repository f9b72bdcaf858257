// The dead-letter REST routes on the gateway's port (see dead_letter.hpp), with their
// credentials in one table (actors/common/access.hpp): reading takes an API key with
// notifications:read, replaying one with notifications:write.

#include "actors/dead_letter/dead_letter.hpp"

#include <nlohmann/json.hpp>

#include <memory>
#include <mutex>

#include "actors/common/access.hpp"
#include "actors/common/ask.hpp"
#include "actors/common/rest.hpp"
#include "actors/dead_letter/dead_letter_store.hpp"
#include "actors/messaging/publisher.hpp"
#include "actors/messaging/topology.hpp"
#include "actors/template_cache/template_request.hpp"
#include "runtime/logging/log.hpp"

namespace herald {

using json = nlohmann::json;

namespace {

struct routes_core {
  caf::actor_system& system;
  caf::actor store;
  caf::actor publisher;
};

using core_ptr = std::shared_ptr<routes_core>;

/// The replay message of a claimed dead letter: the original message to its channel's
/// queue, as its first attempt.
amqp::message replay_message(const replay_item& item) {
  amqp::message m;
  m.exchange = messaging::exchange;
  m.routing_key = item.channel;
  m.body = item.message;
  m.message_id = item.notification_id;
  m.correlation_id = item.correlation_id;
  m.int_headers = {{messaging::attempt_header, 1}};
  m.priority = messaging::priority_of(m.body);
  return m;
}

constexpr std::chrono::milliseconds publish_wait{10000};

/// A replay that was not published: the letter is dead again, and the client gets a 503.
void unclaim_and_fail(const core_ptr& core, const replay_item& item, const std::string& why,
                      const http::reply_fn& reply) {
  auto fail = [reply, why](auto&&...) { reply(rest::fail(503, "replay not published: " + why)); };
  ask(core->system, core->store, service_timeout, [fail](outcome&) { fail(); },
      [fail](const std::string&) { fail(); }, dl_unclaim_atom::value,
      std::vector<replay_item>{item}, why);
}

/// Tallies a bulk replay; answers once every item is settled.
struct bulk_replay {
  std::vector<replay_item> items;
  std::vector<std::string> replayed;
  std::vector<replay_item> not_published;
  std::string error;
  std::size_t awaiting = 0;
};

void finish_bulk(const core_ptr& core, const std::shared_ptr<bulk_replay>& b,
                 const http::reply_fn& reply) {
  auto answer = [b, reply] {
    json data = {{"replayed", b->replayed.size()},
                 {"not_replayed", b->not_published.size()},
                 {"ids", b->replayed}};
    if (!b->not_published.empty()) {
      data["error"] = b->error;
    }
    reply(rest::ok(200, data, std::to_string(b->replayed.size()) + " dead letters replayed"));
  };
  if (b->not_published.empty()) {
    answer();
    return;
  }
  ask(core->system, core->store, service_timeout, [answer](outcome&) { answer(); },
      [answer](const std::string&) { answer(); }, dl_unclaim_atom::value, b->not_published,
      b->error);
}

/// The routes' handlers (members, for the route table).
struct dead_letters_api : routes_core, std::enable_shared_from_this<dead_letters_api> {
  explicit dead_letters_api(routes_core c) : routes_core(std::move(c)) {}

  void list(access::call&& c, http::reply_fn reply) {
    auto core = shared_from_this();
    auto& req = c.req;
    std::string error;
    auto page = rest::parse_page(req.query, error);
    if (!page) {
      reply(rest::fail(400, error));
      return;
    }
    auto param = [&](const char* name) {
      auto i = req.query.find(name);
      return i == req.query.end() ? std::string{} : i->second;
    };
    ask(core->system, core->store, service_timeout,
        [reply, page = *page](outcome& o, std::string& listing) {
          if (!o.ok()) {
            reply(rest::fail(o.status, o.error));
            return;
          }
          auto j = json::parse(listing);
          reply(rest::ok(200, j["items"], "dead letters",
                         rest::page_meta(j["total"].get<long long>(), page.page, page.limit)));
        },
        rest::unavailable(reply, "dead-letter store"), dl_list_atom::value, param("reason"),
        param("channel"), page->page, page->limit);
  }

  void get(access::call&& c, http::reply_fn reply) {
    auto core = shared_from_this();
    auto& req = c.req;
    ask(core->system, core->store, service_timeout,
        [reply](outcome& o, std::string& record) {
          reply(o.ok() ? rest::ok(200, json::parse(record), "dead letter found")
                       : rest::fail(o.status, o.error));
        },
        rest::unavailable(reply, "dead-letter store"), dl_get_atom::value, req.params["id"]);
  }

  void replay(access::call&& c, http::reply_fn reply) {
    auto core = shared_from_this();
    auto& req = c.req;
    auto id = req.params["id"];
    ask(core->system, core->store, service_timeout,
        [core, reply, id](outcome& o, replay_item& item) {
          if (!o.ok()) {
            reply(rest::fail(o.status, o.error));
            return;
          }
          ask(core->system, core->publisher, publish_wait,
              [core, reply, item](outcome& p) {
                if (p.ok()) {
                  log::info({"gateway", "dead_letters", item.correlation_id}, "replayed",
                            {{"dead_letter", item.id}, {"notification_id", item.notification_id}});
                  reply(rest::ok(200,
                                 {{"id", item.id},
                                  {"notification_id", item.notification_id},
                                  {"channel", item.channel},
                                  {"status", "queued"}},
                                 "dead letter replayed"));
                  return;
                }
                unclaim_and_fail(core, item, p.error, reply);
              },
              [core, reply, item](const std::string& e) { unclaim_and_fail(core, item, e, reply); },
              messaging::publish_atom::value, replay_message(item));
        },
        rest::unavailable(reply, "dead-letter store"), dl_claim_atom::value, id);
  }

  void replay_many(access::call&& c, http::reply_fn reply) {
    auto core = shared_from_this();
    auto& req = c.req;
    auto body = rest::parse_object(req.body, reply);
    if (!body) {
      return;
    }
    std::string reason;
    std::string channel;
    int limit = 100;
    for (auto& [key, value] : body->items()) {
      if (key == "reason" || key == "channel") {
        if (!value.is_string()) {
          reply(rest::fail(400, "'" + key + "' must be a string"));
          return;
        }
        (key == "reason" ? reason : channel) = value.get<std::string>();
      } else if (key == "limit") {
        if (!value.is_number_integer() || value.get<long long>() < 1
            || value.get<long long>() > 1000) {
          reply(rest::fail(400, "'limit' must be an integer from 1 to 1000"));
          return;
        }
        limit = value.get<int>();
      } else {
        reply(rest::fail(400, "unknown field '" + http::excerpt(key, 64) + "'"));
        return;
      }
    }
    ask(core->system, core->store, service_timeout,
        [core, reply](outcome& o, std::vector<replay_item>& items) {
          if (!o.ok()) {
            reply(rest::fail(o.status, o.error));
            return;
          }
          auto b = std::make_shared<bulk_replay>();
          b->items = std::move(items);
          b->awaiting = b->items.size();
          if (b->awaiting == 0) {
            finish_bulk(core, b, reply);
            return;
          }
          // Settled one by one as their confirms come, each on its own asking actor (any
          // thread): the tally is guarded by a mutex.
          auto guard = std::make_shared<std::mutex>();
          for (auto& item : b->items) {
            auto settle = [core, b, reply, guard, item](const std::string& error) {
              bool last = false;
              {
                std::lock_guard<std::mutex> lock{*guard};
                if (error.empty()) {
                  b->replayed.push_back(item.id);
                } else {
                  b->not_published.push_back(item);
                  b->error = error;
                }
                last = --b->awaiting == 0;
              }
              if (last) {
                finish_bulk(core, b, reply);
              }
            };
            ask(core->system, core->publisher, publish_wait,
                [settle](outcome& p) { settle(p.ok() ? std::string{} : p.error); },
                [settle](const std::string& e) { settle(e); }, messaging::publish_atom::value,
                replay_message(item));
          }
        },
        rest::unavailable(reply, "dead-letter store"), dl_claim_many_atom::value, reason,
        channel, limit);
  }

  static const std::vector<access::route<dead_letters_api>>& routes() {
    static const std::vector<access::route<dead_letters_api>> table{
      {"GET", "/api/v1/dead-letters", auth::key(auth::scope::notifications_read),
       &dead_letters_api::list},
      {"GET", "/api/v1/dead-letters/{id}", auth::key(auth::scope::notifications_read),
       &dead_letters_api::get},
      {"POST", "/api/v1/dead-letters/{id}/replay", auth::key(auth::scope::notifications_write),
       &dead_letters_api::replay},
      {"POST", "/api/v1/dead-letters/replay", auth::key(auth::scope::notifications_write),
       &dead_letters_api::replay_many},
    };
    return table;
  }
};

} // namespace

void add_dead_letter_routes(http::server& server, node_context& ctx,
                            std::shared_ptr<const access::gate> gate, caf::actor store,
                            caf::actor publisher) {
  access::mount(server, std::move(gate),
                std::make_shared<dead_letters_api>(
                  routes_core{ctx.system, std::move(store), std::move(publisher)}),
                dead_letters_api::routes());
}

std::vector<access::route_row> dead_letter_route_rules() {
  return access::rows("gateway", dead_letters_api::routes());
}

} // namespace herald
