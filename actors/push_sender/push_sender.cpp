#include "actors/push_sender/push_sender.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <set>

#include "actors/messaging/batch_pipeline.hpp"
#include "actors/messaging/messages.hpp"
#include "actors/messaging/provider_breaker.hpp"
#include "actors/push_sender/push_batch.hpp"
#include "actors/push_sender/push_provider.hpp"
#include "actors/push_sender/push_providers.hpp"
#include "actors/user_lookup/user_lookup.hpp"
#include "adapters/url.hpp"
#include "runtime/logging/log.hpp"
#include "runtime/supervision/supervised_pool.hpp"
#include "runtime/supervision/supervisor.hpp"

namespace herald {

using json = nlohmann::json;
using messaging::verdict;

namespace {

using clock_type = std::chrono::steady_clock;

std::int64_t to_ticks(clock_type::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

const log::context push_log{"push", "push_sender", {}};

// -- provider workers -------------------------------------------------------------

struct worker_state {
  std::unique_ptr<push_provider> provider;
  static inline const char* name = "push_worker";
};

/// One provider object (one kept-alive HTTP client) on a thread of its own. A request met
/// after its start_by is answered transient without sending: its requester gave up on it.
caf::behavior provider_worker(caf::stateful_actor<worker_state>* self, provider_factory make,
                              runtime::entry_ptr entry) {
  self->state.provider = make();
  entry->set_state("running");
  return {
    [=](send_atom, const push_delivery& d, std::int64_t start_by) -> device_outcome {
      if (to_ticks(clock_type::now()) > start_by) {
        return device_outcome::transient("not attempted: the sender stopped waiting", false);
      }
      device_outcome out;
      try {
        out = self->state.provider->send(d);
      } catch (const std::exception& e) {
        out = device_outcome::transient(std::string{"provider error: "} + e.what(), true);
      }
      entry->processed += 1;
      if (out.result != device_result::accepted) {
        entry->failed += 1;
      }
      return out;
    },
  };
}

// -- push_sender ------------------------------------------------------------------
//
// The batch flow is messaging/batch_pipeline.hpp's; push's own steps are here: its
// preferences, one request per device to its provider's pool, each notification's fate
// from its devices (push_batch.hpp), and the providers' circuit breakers.

using messaging::batch_item;
using messaging::batch_ptr;
using messaging::decide;

/// One provider: configured (a pool and a breaker) or not (a reason).
struct provider_slot {
  std::string kind; ///< "fcm", "webpush"
  std::string not_configured; ///< "" when configured
  caf::actor pool;
  std::optional<messaging::provider_breaker> breaker;
};

class push_channel : public messaging::channel_steps {
public:
  push_channel(std::vector<provider_slot> providers, std::chrono::milliseconds send_timeout)
    : providers_(std::move(providers)), send_timeout_(send_timeout) {}

  void attached() override {
    for (auto name : {"devices_accepted", "devices_gone", "devices_refused", "devices_transient",
                      "devices_deferred", "devices_removed"}) {
      pipeline().counter(name);
    }
  }

  std::string opted_out(const user_record& user) const override {
    if (!user.push_enabled) {
      return "user turned push notifications off";
    }
    if (user.push_tokens.empty()) {
      return "user has no push device";
    }
    return {};
  }

  // Consumption pauses while every configured provider's breaker is open and cooling
  // down: nothing could be sent. A provider whose cool-down has passed takes the next
  // send as its probe, so consumption resumes then.
  messaging::route_status route() override {
    auto now = clock_type::now();
    bool any = false;
    bool all_cooling = true;
    for (auto& p : providers_) {
      if (p.breaker) {
        any = true;
        all_cooling = all_cooling && p.breaker->cooling(now);
      }
    }
    if (any && all_cooling) {
      return {true, "paused: push circuit breakers open", nullptr};
    }
    return {false, "running", nullptr};
  }

  std::optional<messaging::retry_plan> plan_retry(const batch_item& item,
                                                  double random01) override {
    return plan_push_retry(item.job.attempt, item.spend_attempt, pipeline().config().retries, random01,
                           item.retry_after_ms);
  }

  // One request per device to its provider's pool; then each notification's fate.
  void send(const batch_ptr& b, std::vector<messaging::rendered_item> ready,
            std::function<void()> done) override {
    auto self = pipeline().self();
    struct attempt {
      std::size_t item;
      std::set<std::string> done_before; ///< devices that accepted in earlier attempts
      std::vector<device_report> reports; ///< this attempt's devices
    };
    struct pending_send {
      std::size_t attempt;
      std::size_t report;
      std::size_t provider;
      messaging::admission kind;
      push_delivery delivery;
    };
    auto attempts = std::make_shared<std::vector<attempt>>();
    std::vector<pending_send> sends;
    auto now = clock_type::now();
    for (auto& [i, r] : ready) {
      auto& item = b->items[i];
      auto& a = attempts->emplace_back(attempt{i, {}, {}});
      if (auto h = item.job.headers.find(push_done_header); h != item.job.headers.end()) {
        a.done_before = parse_push_done(h->second);
      }
      auto options = push_options_for(item.job.priority);
      auto data = r.push.data.dump(-1, ' ', false, json::error_handler_t::replace);
      for (auto& device : devices_to_send(item.user.push_tokens, a.done_before)) {
        device_report rep;
        rep.device = device;
        auto p = provider_index(device.kind);
        if (p == providers_.size()) {
          rep.outcome = device_outcome::refused("unknown device type '" + device.kind + "'");
          a.reports.push_back(std::move(rep));
          continue;
        }
        auto& slot = providers_[p];
        if (!slot.breaker) {
          rep.outcome = device_outcome::refused(slot.not_configured);
          a.reports.push_back(std::move(rep));
          continue;
        }
        auto kind = slot.breaker->admit(now);
        if (kind == messaging::admission::refused) {
          rep.deferred = true;
          a.reports.push_back(std::move(rep));
          continue;
        }
        push_delivery d{device,           r.push.title, r.push.body,
                        r.push.image_url, r.push.link,  data,
                        options,          item.job.notification_id, item.job.correlation_id};
        a.reports.push_back(std::move(rep));
        sends.push_back({attempts->size() - 1, a.reports.size() - 1, p, kind, std::move(d)});
      }
    }
    if (sends.empty()) {
      decide_all(b, *attempts);
      done();
      return;
    }
    auto start_by = to_ticks(now + send_timeout_);
    auto wait = 2 * send_timeout_ + std::chrono::seconds{5};
    b->awaiting = sends.size();
    for (auto& s : sends) {
      auto end_send = [=, this, a = s.attempt, slot = s.report, provider = s.provider,
                       kind = s.kind](device_outcome o) {
        report(provider, kind, o);
        (*attempts)[a].reports[slot].outcome = std::move(o);
        if (--b->awaiting == 0) {
          decide_all(b, *attempts);
          done();
        }
      };
      self->request(providers_[s.provider].pool, wait, send_atom::value, std::move(s.delivery),
                    start_by)
        .then([=](device_outcome& o) { end_send(std::move(o)); },
              [=, this](caf::error& e) {
                end_send(device_outcome::transient(
                  "provider worker: " + pipeline().render_error(e), true));
              });
    }
  }

private:
  std::size_t provider_index(const std::string& kind) const {
    for (std::size_t i = 0; i < providers_.size(); ++i) {
      if (providers_[i].kind == kind) {
        return i;
      }
    }
    return providers_.size();
  }

  /// The outcome of one admitted send: counted by the provider's breaker; when it opened
  /// it, a wake-up at the end of the cool-down (to resume consumption for the probe).
  void report(std::size_t provider, messaging::admission kind, const device_outcome& o) {
    auto& p = providers_[provider];
    if (!p.breaker) {
      return;
    }
    bool failed = o.result == device_result::transient && o.provider_failure;
    if (auto wait = p.breaker->report(kind, failed, o.detail, clock_type::now(),
                                      pipeline().random01())) {
      auto self = pipeline().self();
      self->delayed_send(self, *wait, probe_atom::value, static_cast<std::uint64_t>(provider));
    }
    pipeline().update_route();
  }

  // Each notification's fate from its devices' outcomes (push_batch.hpp: the rule); gone
  // devices removed through the users service (best effort).
  template <class Attempts>
  void decide_all(const batch_ptr& b, Attempts& attempts) {
    for (auto& a : attempts) {
      auto& item = b->items[a.item];
      for (auto& r : a.reports) {
        pipeline().counter(r.deferred ? "devices_deferred"
                                      : "devices_" + to_string(r.outcome.result)) += 1;
      }
      bool retries_left = pipeline().config().retries.step_after(item.job.attempt).has_value();
      auto decision = decide_push(a.reports, a.done_before, retries_left);
      if (decision.verdict == verdict::failed) {
        item.reason = decision.reason;
      }
      decide(item, decision.verdict, decision.detail);
      item.spend_attempt = decision.spend_attempt;
      item.retry_after_ms = decision.retry_after_ms;
      if (!decision.done.empty()) {
        item.retry_headers[push_done_header] = format_push_done(decision.done);
      }
      if (!a.reports.empty()) {
        item.device_events = device_events(a.reports);
      }
      for (auto& device : gone_devices(a.reports)) {
        remove_device(item.user.id, device.id, item.job.correlation_id);
      }
    }
  }

  void remove_device(const std::string& user_id, const std::string& device_id,
                     const std::string& correlation) {
    auto self = pipeline().self();
    log::context who{"push", "push_sender", correlation};
    self->request(pipeline().services().users, service_timeout, remove_token_atom::value,
                  user_id, device_id, std::string{}, std::string{})
      .then(
        [=, this](outcome& o, push_token&) {
          if (o.ok()) {
            pipeline().counter("devices_removed") += 1;
            log::info(who, "gone device removed", {{"user_id", user_id}, {"device_id", device_id}});
          } else if (o.status != 404) {
            log::warn(who, "gone device not removed",
                      {{"user_id", user_id}, {"device_id", device_id}, {"error", o.error}});
          }
        },
        [=, this](caf::error& e) {
          log::warn(who, "gone device not removed",
                    {{"user_id", user_id},
                     {"device_id", device_id},
                     {"error", pipeline().render_error(e)}});
        });
  }

  std::vector<provider_slot> providers_;
  std::chrono::milliseconds send_timeout_;
};

struct sender_state {
  std::unique_ptr<push_channel> channel;
  std::unique_ptr<messaging::batch_pipeline> pipeline;
  static inline const char* name = "push_sender";
};

using sender_actor = caf::stateful_actor<sender_state>;

caf::behavior push_sender(sender_actor* self, std::vector<provider_slot> providers,
                          std::chrono::milliseconds send_timeout, messaging::pipeline_config cfg,
                          messaging::pipeline_services services) {
  auto& st = self->state;
  st.channel = std::make_unique<push_channel>(std::move(providers), send_timeout);
  st.pipeline = std::make_unique<messaging::batch_pipeline>(self, *st.channel, std::move(cfg),
                                                            std::move(services));
  return {
    // The end of a breaker's cool-down: its next send is the probe; resume if paused.
    [=](probe_atom, std::uint64_t) { self->state.pipeline->update_route(); },
    [=](deliver_atom, std::vector<queued_message>& messages) {
      self->state.pipeline->deliver(messages);
    },
  };
}

/// scheme://host[:port] of a URL, without credentials or path: for logs and the registry.
std::string origin_of(const std::string& url) {
  if (auto u = parse_url(url)) {
    auto host = u->host.find(':') == std::string::npos ? u->host : "[" + u->host + "]";
    return u->scheme + "://" + host + (u->port != 0 ? ":" + std::to_string(u->port) : "");
  }
  return "(unparsable URL)";
}

} // namespace

push_service spawn_push_sender(node_context& ctx, caf::actor user_lookup,
                               caf::actor template_cache, caf::actor status_writer) {
  // Everything is read and enlisted here: the spawn functions below run again on each
  // restart, on the supervisor's thread, and capture only values.
  auto& s = ctx.settings;
  auto& reg = ctx.registry;
  runtime::breaker_policy policy;
  policy.consecutive_failures = static_cast<int>(s.get_int("push.breaker.failures"));
  policy.failure_rate =
    static_cast<double>(s.get_int("push.breaker.failure_rate_percent")) / 100.0;
  policy.window = static_cast<int>(s.get_int("push.breaker.window"));
  policy.cool_down = s.get_ms("push.breaker.cool_down_ms");
  auto workers = static_cast<std::size_t>(s.get_int("push.workers"));
  auto restart = runtime::restart_policy_from(s);
  auto ledger = std::make_shared<runtime::crash_ledger>();

  runtime::supervisor_spec tree;
  tree.name = "push/supervisor";
  tree.role = "push";

  // One plan per provider: a pool of workers (a child of the tree) and a breaker (made in
  // each sender incarnation, closed at start) when configured, else the setting to set.
  // The adapters (adapters/push/) plug in through the factories.
  struct provider_plan {
    std::string kind; ///< "fcm", "webpush"
    std::string label;
    std::string where;
    std::string not_configured; ///< "" when configured
    std::string pool;           ///< the pool's child name (its front), when configured
    runtime::entry_ptr entry;   ///< "push_breaker/<kind>"
  };
  std::vector<provider_plan> plans;
  auto provider = [&](const std::string& kind, const std::string& label,
                      const std::string& where, std::string not_configured,
                      provider_factory make) {
    provider_plan plan{kind, label, where, std::move(not_configured), {},
                       reg.enlist("push_breaker/" + kind, "push", "circuit_breaker")};
    if (!plan.not_configured.empty()) {
      plan.entry->set_state("not configured");
      plan.entry->set_info("reason", plan.not_configured);
      log::warn(push_log, kind + " devices will be refused", {{"reason", plan.not_configured}});
      plans.push_back(std::move(plan));
      return;
    }
    runtime::pool_spec spec;
    spec.name = kind + "_worker";
    spec.role = "push";
    spec.size = workers;
    spec.policy = restart;
    spec.spawn_worker = [make](caf::actor_system& sys, runtime::entry_ptr e) {
      return sys.spawn<caf::detached>(provider_worker, make, e);
    };
    auto make_pool = runtime::pool_factory(reg, std::move(spec));
    runtime::child_spec child;
    child.name = kind + "_worker/supervisor";
    child.kind = "supervisor";
    child.policy = restart;
    child.spawn = [make_pool](caf::actor_system& sys, const runtime::child_env&) {
      return make_pool(sys);
    };
    plan.pool = child.name;
    tree.children.push_back(std::move(child));
    plans.push_back(std::move(plan));
  };

  auto timeout = s.get_ms("push.timeout_ms");
  auto ca_file = s.get("push.ca_file");
  {
    // FCM: the service account is read once, here, at start-up; a file that cannot be used
    // leaves FCM not configured, with the adapter's words for why.
    std::string why;
    provider_factory make;
    if (s.get("push.fcm_credentials").empty()) {
      why = std::string{push::fcm::not_configured};
    } else if (auto loaded = push::fcm::load_service_account(s.get("push.fcm_credentials"));
               !loaded.account) {
      why = "FCM is not configured: " + loaded.error;
    } else {
      make = fcm_provider({*loaded.account, s.get("push.fcm_endpoint"), timeout, ca_file});
    }
    provider("fcm", "FCM", origin_of(s.get("push.fcm_endpoint")), why, make);
  }
  {
    // Web Push: main checked the keys and the subject at start-up; empty keys leave it off.
    std::string why;
    provider_factory make;
    if (s.get("push.vapid_public_key").empty() || s.get("push.vapid_private_key").empty()) {
      why = "Web Push is not configured (push.vapid_public_key / HERALD_VAPID_PUBLIC_KEY and "
            "push.vapid_private_key / HERALD_VAPID_PRIVATE_KEY are empty)";
    } else if (auto keys = webpush::vapid_keys::parse(s.get("push.vapid_public_key"),
                                                      s.get("push.vapid_private_key"), why);
               !keys) {
      why = "Web Push is not configured: " + why;
    } else if (auto e = webpush::check_subject(s.get("push.vapid_subject")); !e.empty()) {
      why = "Web Push is not configured: push.vapid_subject (HERALD_VAPID_SUBJECT): " + e;
    } else {
      make = webpush_provider({*keys, s.get("push.vapid_subject"),
                               net::outbound_policy{s.get_bool("push.allow_insecure_endpoints")},
                               timeout, ca_file});
    }
    provider("webpush", "Web Push", "push services", why, make);
  }

  messaging::pipeline_config cfg;
  cfg.channel = "push";
  cfg.actor = "push_sender";
  cfg.pause_log = "every push provider's circuit breaker is open: push.queue paused, messages "
                  "wait in RabbitMQ";
  cfg.resume_log = "push.queue resumed";
  cfg.unavailable = "push providers unavailable (circuit breakers open), not sending";
  messaging::add_pipeline_children(
    tree, s, reg, cfg, {user_lookup, template_cache, status_writer, {}, ledger, {}},
    [=](caf::actor_system& sys, const runtime::child_env& env,
        const messaging::pipeline_config& cfg, messaging::pipeline_services services) {
      std::vector<provider_slot> live;
      for (auto& p : plans) {
        provider_slot slot;
        slot.kind = p.kind;
        slot.not_configured = p.not_configured;
        if (p.not_configured.empty()) {
          slot.pool = env.front(p.pool);
          slot.breaker.emplace(p.kind, p.label, p.where, policy, p.entry, push_log);
        }
        live.push_back(std::move(slot));
      }
      return sys.spawn(push_sender, std::move(live), timeout, cfg, std::move(services));
    });
  return {runtime::spawn_supervisor(ctx.system, reg, std::move(tree))};
}

} // namespace herald
