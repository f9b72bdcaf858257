#include "actors/gateway/directory.hpp"

#include <atomic>

#include "actors/common/ask.hpp"
#include "actors/user_lookup/user_lookup.hpp"

namespace herald {

namespace {

constexpr std::size_t capacity = 100000;

/// Copies of one kind of record, and the epoch that every announced change bumps: an
/// answer to a lookup that started before a change may predate it, so it is used but not
/// kept.
template <class Record>
struct copies {
  explicit copies(std::chrono::milliseconds ttl) : map(ttl, capacity) {}
  runtime::expiring_map<std::shared_ptr<const Record>> map;
  std::atomic<std::uint64_t> epoch{0};
};

} // namespace

struct directory::state {
  state(caf::actor_system& sys, caf::actor u, caf::actor t, std::chrono::milliseconds ttl)
    : system(sys), users(std::move(u)), templates(std::move(t)), user_copies(ttl),
      template_copies(ttl) {}

  /// Serves `key` from `which`, else asks `service` with `args` (answering 503 naming
  /// `name` when it cannot) and keeps a found record.
  template <class Record, class... Args>
  static void look_up(const std::shared_ptr<state>& self, copies<Record> state::*which,
                      std::string key, const caf::actor& service, const char* name,
                      std::function<void(const outcome&, const Record&)> done,
                      Args... args) {
    auto& c = (*self).*which;
    if (auto hit = c.map.find(key)) {
      done(outcome{200, {}}, **hit);
      return;
    }
    auto epoch = c.epoch.load();
    ask(self->system, service, service_timeout,
        [keep = self, which, key, epoch, done](outcome& o, Record& found) {
          auto& c = (*keep).*which;
          if (o.ok() && c.epoch.load() == epoch) {
            c.map.put(key, std::make_shared<const Record>(found));
          }
          done(o, found);
        },
        [done, name](const std::string& e) { done(outcome{503, std::string{name} + ": " + e}, {}); },
        lookup_atom::value, args...);
  }

  caf::actor_system& system;
  caf::actor users;
  caf::actor templates;
  copies<user_record> user_copies;
  copies<template_record> template_copies;
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
      st->user_copies.epoch += 1;
      st->user_copies.map.erase(id);
    }
  });
  ctx.changes->subscribe(runtime::change_feed::templates, [weak](const std::string& code) {
    if (auto st = weak.lock()) {
      st->template_copies.epoch += 1;
      auto prefix = code + '\n';
      st->template_copies.map.erase_if(
        [&](const std::string& key) { return key.compare(0, prefix.size(), prefix) == 0; });
    }
  });
}

void directory::user(const std::string& id, user_fn done) {
  state::look_up(state_, &state::user_copies, id, state_->users, "users service",
                 std::move(done), id);
}

void directory::users(const std::vector<std::string>& ids, users_fn done) {
  using result = std::vector<std::pair<outcome, user_record>>;
  auto out = std::make_shared<result>(ids.size());
  auto& c = state_->user_copies;
  std::vector<std::string> misses;
  std::vector<std::size_t> at; // where each miss goes in `out`
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (auto hit = c.map.find(ids[i])) {
      (*out)[i] = {outcome{200, {}}, **hit};
    } else {
      misses.push_back(ids[i]);
      at.push_back(i);
    }
  }
  if (misses.empty()) {
    done(std::move(*out));
    return;
  }
  auto epoch = c.epoch.load();
  auto fail = [out, at, done](const std::string& e) {
    for (auto i : at) {
      (*out)[i] = {outcome{503, "users service: " + e}, {}};
    }
    done(std::move(*out));
  };
  ask(state_->system, state_->users, service_timeout,
      [keep = state_, out, at, epoch, done, fail](std::vector<user_lookup_result>& found) {
        if (found.size() != at.size()) {
          fail("answered " + std::to_string(found.size()) + " users for "
               + std::to_string(at.size()));
          return;
        }
        auto& c = keep->user_copies;
        bool fresh = c.epoch.load() == epoch;
        for (std::size_t k = 0; k < at.size(); ++k) {
          if (found[k].result.ok() && fresh) {
            c.map.put(found[k].user.id, std::make_shared<const user_record>(found[k].user));
          }
          (*out)[at[k]] = {found[k].result, found[k].user};
        }
        done(std::move(*out));
      },
      fail, lookup_many_atom::value, std::move(misses));
}

void directory::find_template(const std::string& code,
                              const std::vector<std::string>& languages, int version,
                              template_fn done) {
  state::look_up(state_, &state::template_copies, template_key(code, languages, version),
                 state_->templates, "templates service", std::move(done), code, languages,
                 version);
}

} // namespace herald
