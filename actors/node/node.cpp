#include "actors/node/node.hpp"

#include <functional>
#include <mutex>

#include "actors/common/key_refresher.hpp"
#include "actors/common/rest.hpp"
#include "actors/dead_letter/dead_letter.hpp"
#include "actors/dead_letter/dead_letter_store.hpp"
#include "actors/messaging/publisher.hpp"
#include "actors/messaging/topology.hpp"
#include "actors/email_sender/email_sender.hpp"
#include "actors/gateway/api_keys.hpp"
#include "actors/gateway/gateway.hpp"
#include "actors/notification_store/notification_store.hpp"
#include "actors/scheduler/schedule_store.hpp"
#include "actors/scheduler/scheduler.hpp"
#include "actors/push_sender/push_sender.hpp"
#include "actors/template_cache/template_cache.hpp"
#include "actors/user_lookup/password_hasher.hpp"
#include "actors/user_lookup/user_lookup.hpp"
#include "adapters/amqp/connection.hpp"
#include "adapters/postgres/session.hpp"
#include "adapters/redis/client.hpp"
#include "adapters/smtp/client.hpp"
#include "runtime/logging/log.hpp"

namespace herald {

using json = nlohmann::json;

namespace {

constexpr std::chrono::milliseconds probe_timeout{1500};
/// How long node::stop waits for one service tree to stop before it stops the next.
constexpr std::chrono::seconds stop_wait{10};

/// A readiness check: "" when the dependency answers, else why not.
using check = std::function<std::string()>;

check postgres_check(const config::settings& s, const std::string& db_key) {
  auto url = postgres::database_url(s.get("pg.url"), s.get(db_key), std::chrono::seconds{2});
  return [url] {
    postgres::session session{url};
    auto r = session.ping();
    return r.ok() ? std::string{} : r.detail;
  };
}

check redis_check(const config::settings& s) {
  auto url = s.get("redis.url");
  return [url] {
    redis::client c{url, probe_timeout};
    std::string error;
    return c.ping(&error) ? std::string{} : (error.empty() ? "no answer" : error);
  };
}

check amqp_check(const config::settings& s) {
  auto url = s.get("amqp.url");
  return [url] { return amqp::probe(url, probe_timeout); };
}

check smtp_check(const config::settings& s) {
  auto url = s.get("smtp.url");
  auto ca_file = s.get("smtp.ca_file");
  return [url, ca_file] { return smtp::probe(url, probe_timeout, ca_file); };
}

/// "" unless the broker refuses Herald's topology because a queue exists with other
/// arguments: email.queue and push.queue declared before priorities (x-max-priority, issue
/// 12). Then start-up stops with the fix named, rather than every publisher and consumer
/// failing to connect, forever. A broker that cannot be reached is not this check's
/// business (the node starts and reconnects, as before).
std::string check_topology(const config::settings& s) {
  amqp::connection conn{s.get("amqp.url"), probe_timeout};
  if (!conn.open().empty()) {
    return {};
  }
  auto err = conn.declare(messaging::topology());
  if (err.rfind(amqp::inequivalent_queue_prefix, 0) != 0) {
    return {};
  }
  auto rest = err.substr(std::string_view{amqp::inequivalent_queue_prefix}.size());
  auto queue = rest.substr(0, rest.find(' '));
  auto detail = rest.substr(std::min(rest.size(), queue.size() + 2));
  if (!detail.empty() && detail.back() == ')') {
    detail.pop_back();
  }
  return "RabbitMQ refuses to declare queue '" + queue + "': it exists with other arguments, "
         "declared by an older Herald without x-max-priority (" + detail + "). Fix: stop the "
         "gateways, let the old workers drain it (rabbitmqctl list_queues shows 0 messages), "
         "then `rabbitmqctl delete_queue " + queue + "` and start Herald again; with "
         "development data that may be lost, `scripts/down && rm -rf .run/rabbitmq && "
         "scripts/up`. See README, Priorities";
}

/// The readiness probes of one port. They block (connects, with probe_timeout each), so
/// they run on a detached actor of their own, never on the HTTP I/O threads, and one run at
/// a time: requests that come while a run is going are answered with its result. However
/// often /health/ready is asked, a port opens at most one connection to each dependency at
/// a time.
struct readiness : std::enable_shared_from_this<readiness> {
  readiness(caf::actor_system& sys, std::string r, std::string n,
            std::vector<std::pair<std::string, check>> c)
    : system(sys), role(std::move(r)), node_name(std::move(n)), checks(std::move(c)) {}

  void ask(http::reply_fn reply) {
    {
      std::lock_guard<std::mutex> lock{mtx};
      waiting.push_back(std::move(reply));
      if (running) {
        return;
      }
      running = true;
    }
    system.spawn<caf::detached>([self = shared_from_this()] { self->run(); });
  }

  void run() {
    auto answer = probe();
    std::vector<http::reply_fn> served;
    {
      std::lock_guard<std::mutex> lock{mtx};
      served.swap(waiting);
      running = false;
    }
    for (auto& reply : served) {
      reply(answer);
    }
  }

  http::response probe() const {
    json deps = json::object();
    bool ready = true;
    for (auto& [name, check] : checks) {
      auto error = check();
      ready = ready && error.empty();
      deps[name] = error.empty() ? json{{"status", "up"}}
                                 : json{{"status", "down"}, {"error", error}};
    }
    json data = {{"status", ready ? "ready" : "not ready"},
                 {"role", role},
                 {"node", node_name},
                 {"dependencies", deps}};
    if (ready) {
      return rest::ok(200, data, "ready");
    }
    auto r = rest::fail(503, "dependencies down", "not ready");
    auto body = json::parse(r.body);
    body["data"] = data;
    r.body = body.dump();
    return r;
  }

  caf::actor_system& system;
  const std::string role;
  const std::string node_name;
  const std::vector<std::pair<std::string, check>> checks;
  std::mutex mtx;
  std::vector<http::reply_fn> waiting;
  bool running = false;
};

void add_health_routes(caf::actor_system& system, http::server& server, std::string role,
                       std::string node_name, std::vector<std::pair<std::string, check>> checks) {
  server.route("GET", "/health", [role, node_name](http::request&&, http::reply_fn reply) {
    reply(rest::ok(200, {{"status", "up"}, {"role", role}, {"node", node_name}}, "alive"));
  });
  auto ready = std::make_shared<readiness>(system, role, node_name, std::move(checks));
  server.route("GET", "/health/ready", [ready](http::request&&, http::reply_fn reply) {
    ready->ask(std::move(reply));
  });
}

} // namespace

struct node::impl {
  std::vector<std::unique_ptr<http::server>> servers;
  std::unique_ptr<gateway> gw;
  std::shared_ptr<key_refresher> key_refresh; ///< shared with the readiness checks
  std::vector<caf::actor> roots; ///< stopped on shutdown
  caf::actor watcher;            ///< monitors the roots for escalation
  std::shared_ptr<std::function<void(const std::string&)>> escalate =
    std::make_shared<std::function<void(const std::string&)>>();
};

namespace {

/// The top of the node's supervision tree: a root that stops abnormally has escalated.
caf::behavior root_watcher(caf::event_based_actor* self, std::vector<caf::actor> roots,
                           std::shared_ptr<std::function<void(const std::string&)>> escalate) {
  for (auto& r : roots) {
    self->monitor(r);
  }
  self->set_down_handler([=](caf::down_msg& dm) {
    if (dm.reason == caf::exit_reason::user_shutdown || !dm.reason) {
      return;
    }
    auto what = self->system().render(dm.reason);
    log::error({"", "node", {}}, "a service tree gave up", {{"reason", what}});
    if (*escalate) {
      (*escalate)(what);
    }
  });
  return {[](ping_atom) {}};  // nothing to answer; it lives to watch
}

} // namespace

std::vector<access::route_row> route_rules() {
  std::vector<access::route_row> rows;
  for (auto&& service : {gateway::route_rules(), api_key_route_rules(), dead_letter_route_rules(),
                         user_route_rules(), template_route_rules()}) {
    rows.insert(rows.end(), service.begin(), service.end());
  }
  return rows;
}

void node::on_escalation(std::function<void(const std::string&)> fn) {
  *impl_->escalate = std::move(fn);
}

node::node(caf::actor_system& sys, const config::settings& settings)
  : ctx_{sys, settings, registry_, std::make_shared<runtime::change_feed>()},
    impl_(std::make_unique<impl>()) {}

node::~node() {
  stop();
}

std::string node::start() {
  auto& s = ctx_.settings;
  auto node_name = s.get("node.name");
  log::context who{"", "node", {}};
  auto base = static_cast<int>(s.get_int("http.port_base"));
  auto host = s.get("http.host");
  auto size = [&](std::string_view key) { return static_cast<std::size_t>(s.get_int(key)); };
  http::limits limits;
  limits.max_body_bytes = size("http.max_body_bytes");
  limits.max_header_bytes = size("http.max_header_bytes");
  limits.max_headers = size("http.max_headers");
  limits.max_request_line_bytes = size("http.max_request_line_bytes");
  limits.read_timeout = s.get_ms("http.read_timeout_ms");
  limits.idle_timeout = s.get_ms("http.idle_timeout_ms");
  limits.threads = size("http.threads");
  auto max_connections = http::connection_cap(size("http.max_connections"));
  if (max_connections < size("http.max_connections")) {
    log::warn(who, "http.max_connections lowered to what RLIMIT_NOFILE allows",
              {{"max_connections", max_connections}});
  }
  // One budget for every port: the cap is the process's.
  limits.connections = std::make_shared<http::connection_budget>(max_connections);
  auto make_server = [&](int port) {
    auto lim = limits;
    if (port == base) { // the gateway's: the bulk route takes larger bodies
      lim.path_body_bytes[std::string{gateway::bulk_path}] = size("gateway.bulk_max_body_bytes");
    }
    impl_->servers.push_back(std::make_unique<http::server>(host, port, lim, rest::server_error));
    return impl_->servers.back().get();
  };
  bool gateway_role = s.has_role("gateway");
  bool users_role = s.has_role("users");
  bool templates_role = s.has_role("templates");
  bool email_role = s.has_role("email");
  bool push_role = s.has_role("push");
  if (gateway_role || email_role || push_role || s.has_role("dlq")) {
    if (auto err = check_topology(s); !err.empty()) {
      return err;
    }
  }

  // Services other roles stand on are spawned where they are needed: lookups are served
  // from this node's caches, never across the cluster.
  caf::actor status_writer;
  caf::actor reader;
  if (gateway_role || email_role || push_role) {
    auto store = spawn_notification_store(ctx_);
    status_writer = store.writer.pool;
    reader = store.readers.pool;
    impl_->roots.push_back(store.writer.supervisor);
    impl_->roots.push_back(store.readers.supervisor);
    // Scheduled sends: the gateway writes and cancels them, the senders defer to them.
    impl_->roots.push_back(spawn_schedule_store(ctx_).supervisor);
  }
  caf::actor users;
  if (users_role || email_role || push_role || gateway_role) {
    auto u = spawn_user_lookup(ctx_);
    users = u.pool;
    impl_->roots.push_back(u.supervisor);
  }
  template_service template_svc;
  if (templates_role || email_role || push_role || gateway_role) {
    template_svc = spawn_template_cache(ctx_);
    impl_->roots.push_back(template_svc.cache);
    impl_->roots.push_back(template_svc.store.supervisor);
  }
  caf::actor templates = template_svc.cache;

  // Every REST API checks credentials against the node's copy of the API keys.
  std::shared_ptr<const access::gate> gate;
  std::shared_ptr<auth::key_set> keys;
  check keys_loaded;
  if (gateway_role || users_role || templates_role) {
    keys = std::make_shared<auth::key_set>();
    impl_->key_refresh = std::make_shared<key_refresher>(s, registry_, keys);
    gate = std::make_shared<const access::gate>(s, keys);
    keys_loaded = [refresh = impl_->key_refresh] { return refresh->not_ready(); };
  }

  bool dlq_role = s.has_role("dlq");
  caf::actor dead_letters;
  if (gateway_role || dlq_role) {
    auto store = spawn_dead_letter_store(ctx_);
    dead_letters = store.pool;
    impl_->roots.push_back(store.supervisor);
  }
  if (gateway_role) {
    impl_->roots.push_back(spawn_scheduler(ctx_).supervisor);
    impl_->gw = std::make_unique<gateway>(ctx_, status_writer, reader, users, templates);
    auto* server = make_server(base);
    impl_->gw->add_routes(*server, gate);
    auto key_store = spawn_api_key_store(ctx_, keys);
    impl_->roots.push_back(key_store.supervisor);
    add_api_key_routes(*server, ctx_.system, gate, key_store.pool);
    auto replays = messaging::spawn_publisher(ctx_, "replay_publisher", "gateway",
                                              messaging::topology());
    impl_->roots.push_back(replays);
    add_dead_letter_routes(*server, ctx_, gate, dead_letters, replays);
    add_health_routes(ctx_.system, *server, "gateway", node_name,
                      {{"rabbitmq", amqp_check(s)},
                       {"postgres", postgres_check(s, "pg.notification_db")},
                       {"api_keys", keys_loaded}});
  }
  if (users_role) {
    auto hashers = spawn_password_hashers(ctx_);
    impl_->roots.push_back(hashers.supervisor);
    auto* server = make_server(base + 1);
    add_user_routes(*server, ctx_, gate, users, hashers.pool);
    add_health_routes(ctx_.system, *server, "users", node_name,
                      {{"postgres", postgres_check(s, "pg.user_db")},
                       {"redis", redis_check(s)},
                       {"api_keys", keys_loaded}});
  }
  if (templates_role) {
    auto* server = make_server(base + 2);
    add_template_routes(*server, ctx_.system, gate, template_svc);
    add_health_routes(ctx_.system, *server, "templates", node_name,
                      {{"postgres", postgres_check(s, "pg.template_db")},
                       {"api_keys", keys_loaded}});
  }
  if (email_role) {
    auto email = spawn_email_sender(ctx_, users, templates, status_writer);
    impl_->roots.push_back(email.tree.supervisor);
    auto* server = make_server(base + 3);
    add_health_routes(ctx_.system, *server, "email", node_name,
                      {{"rabbitmq", amqp_check(s)},
                       {"smtp", smtp_check(s)},
                       {"postgres", postgres_check(s, "pg.notification_db")},
                       {"redis", redis_check(s)}});
  }
  if (dlq_role) {
    auto dlq = spawn_dead_letter_service(ctx_, dead_letters);
    impl_->roots.push_back(dlq.tree.supervisor);
  }
  if (push_role) {
    auto push = spawn_push_sender(ctx_, users, templates, status_writer);
    impl_->roots.push_back(push.tree.supervisor);
    auto* server = make_server(base + 4);
    add_health_routes(ctx_.system, *server, "push", node_name,
                      {{"rabbitmq", amqp_check(s)},
                       {"postgres", postgres_check(s, "pg.notification_db")},
                       {"redis", redis_check(s)}});
  }
  impl_->watcher = ctx_.system.spawn(root_watcher, impl_->roots, impl_->escalate);
  for (auto& server : impl_->servers) {
    if (auto err = server->open(); !err.empty()) {
      return err;
    }
    log::info(who, "listening", {{"port", server->port()}});
  }
  return {};
}

void node::stop() {
  if (!impl_) {
    return;
  }
  for (auto& server : impl_->servers) {
    server->close();
  }
  impl_->servers.clear();
  // The watcher first: its exit is queued before the down of any root stopping below,
  // so it quits before seeing one. A root that fails while stopping is then not reported
  // as an escalation, and the callback (which uses main's locals) is not called while
  // main unwinds.
  if (impl_->watcher) {
    caf::anon_send_exit(impl_->watcher, caf::exit_reason::user_shutdown);
    impl_->watcher = nullptr;
  }
  // The last started first, each awaited (up to stop_wait): the email, dlq and push trees (which
  // stop their own children last first: consumers, then workers, then connections) are
  // down before the stores and caches they use. Called from main's thread, never an actor's.
  {
    caf::scoped_actor self{ctx_.system};
    for (auto root = impl_->roots.rbegin(); root != impl_->roots.rend(); ++root) {
      self->monitor(*root);
      self->send_exit(*root, caf::exit_reason::user_shutdown);
      bool down = false;
      auto until = std::chrono::steady_clock::now() + stop_wait;
      while (!down && std::chrono::steady_clock::now() < until) {
        self->receive([&](caf::down_msg& dm) { down = dm.source == root->address(); },
                      caf::after(stop_wait) >> [&] { down = true; });
      }
    }
  }
  impl_->roots.clear();
  impl_->gw.reset();
  impl_->key_refresh.reset();
}

} // namespace herald
