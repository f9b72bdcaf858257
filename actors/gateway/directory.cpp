#include "actors/gateway/directory.hpp"

#include <atomic>

#include "actors/common/ask.hpp"

namespace herald {

namespace {

constexpr std::size_t capacity = 100000;

} // namespace

struct directory::state {
  state(caf::actor_system& sys, caf::actor u, caf::actor t, std::chrono::milliseconds ttl)
    : system(sys), users(std::move(u)), templates(std::move(t)), user_copies(ttl, capacity),
      template_copies(ttl, capacity) {}

  caf::actor_system& system;
  caf::actor users;
  caf::actor templates;
  runtime::expiring_map<std::shared_ptr<const user_record>> user_copies;
  runtime::expiring_map<std::shared_ptr<const template_record>> template_copies;
  /// Bumped by every announced change: an answer to a lookup that started before a
  /// change may predate it, so it is used but not kept.
  std::atomic<std::uint64_t> user_epoch{0};
  std::atomic<std::uint64_t> template_epoch{0};
};

namespace {

std::string template_key(const std::string& code, const std::vector<std::string>& languages,
                         int version) {
  auto key = code;
  for (auto& l : languages) {
    key += '\n';
    key += l;
  }
  key += '\n';
  key += std::to_string(version);
  return key;
}

} // namespace

directory::directory(node_context& ctx, caf::actor users, caf::actor templates)
  : state_(std::make_shared<state>(ctx.system, std::move(users), std::move(templates),
                                   ctx.settings.get_ms("gateway.cache_ttl_ms"))) {
  std::weak_ptr<state> weak = state_;
  ctx.changes->subscribe(runtime::change_feed::users, [weak](const std::string& id) {
    if (auto st = weak.lock()) {
      st->user_epoch += 1;
      st->user_copies.erase(id);
    }
  });
  ctx.changes->subscribe(runtime::change_feed::templates, [weak](const std::string& code) {
    if (auto st = weak.lock()) {
      st->template_epoch += 1;
      auto prefix = code + '\n';
      st->template_copies.erase_if(
        [&](const std::string& key) { return key.compare(0, prefix.size(), prefix) == 0; });
    }
  });
}

void directory::user(const std::string& id, user_fn done) {
  auto& st = *state_;
  if (auto hit = st.user_copies.find(id)) {
    done(outcome{200, {}}, **hit);
    return;
  }
  auto keep = state_;
  auto epoch = st.user_epoch.load();
  ask(st.system, st.users, service_timeout,
      [keep, id, epoch, done](outcome& o, user_record& u) {
        if (o.ok() && keep->user_epoch.load() == epoch) {
          keep->user_copies.put(id, std::make_shared<const user_record>(u));
        }
        done(o, u);
      },
      [done](const std::string& e) { done(outcome{503, "users service: " + e}, {}); },
      lookup_atom::value, id);
}

void directory::find_template(const std::string& code,
                              const std::vector<std::string>& languages, int version,
                              template_fn done) {
  auto& st = *state_;
  auto key = template_key(code, languages, version);
  if (auto hit = st.template_copies.find(key)) {
    done(outcome{200, {}}, **hit);
    return;
  }
  auto keep = state_;
  auto epoch = st.template_epoch.load();
  ask(st.system, st.templates, service_timeout,
      [keep, key, epoch, done](outcome& o, template_record& t) {
        if (o.ok() && keep->template_epoch.load() == epoch) {
          keep->template_copies.put(key, std::make_shared<const template_record>(t));
        }
        done(o, t);
      },
      [done](const std::string& e) { done(outcome{503, "templates service: " + e}, {}); },
      lookup_atom::value, code, languages, version);
}

} // namespace herald
