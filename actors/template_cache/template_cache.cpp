#include "actors/template_cache/template_cache.hpp"

#include <atomic>
#include <functional>
#include <memory>
#include <unordered_map>

#include "actors/template_cache/compiled_cache.hpp"
#include "actors/template_cache/render.hpp"
#include "actors/template_cache/template_request.hpp"
#include "adapters/postgres/session.hpp"

namespace herald {

using json = nlohmann::json;

namespace {

using clock_type = std::chrono::steady_clock;
using compiled_ptr = compiled_cache::compiled_ptr;
using index_waiter = std::function<void(const outcome&, const code_index&)>;
using version_waiter = std::function<void(const outcome&, const compiled_ptr&)>;
/// A resolved lookup: the compiled version (null on failure) and the code's default.
using resolved_fn =
  std::function<void(const outcome&, const compiled_ptr&, const std::string& default_language)>;

struct cache_settings {
  std::chrono::milliseconds index_ttl;
  std::size_t max_versions;
  std::size_t max_bytes;
  render_limits limits;
  std::shared_ptr<runtime::change_feed> changes; ///< told of every write
};

struct cached_index {
  code_index index;
  clock_type::time_point loaded; ///< when the query that read it was sent
};

/// One index query in flight and everyone waiting for it.
struct index_load {
  std::uint64_t epoch = 0;
  std::vector<index_waiter> waiters;
};

struct cache_state {
  std::unordered_map<std::string, cached_index> indexes;
  std::unordered_map<std::string, std::shared_ptr<index_load>> index_loads;
  /// Bumped by every write through this node: an index query sent before a write may
  /// miss it, so its answer is handed to its waiters but not kept.
  std::uint64_t epoch = 0;
  compiled_cache versions{0, 0}; ///< code \n language \n version; sized at start
  std::unordered_map<std::string, std::shared_ptr<std::vector<version_waiter>>> version_loads;
  std::size_t previews_rendering = 0;
  static inline const char* name = "template_cache";
};

/// Previews rendering at once; more are a 503. Each has a thread of its own for up to
/// templates.render_budget_ms, so this bounds what a burst of slow previews can take.
constexpr std::size_t max_previews_rendering = 4;

/// The languages to try, in order: each given one (lower case) and then its primary
/// subtag ("pt-br", "pt"); empty ones skipped.
std::vector<std::string> language_candidates(const std::vector<std::string>& languages) {
  std::vector<std::string> out;
  for (auto& l : languages) {
    auto n = normalize_language(l);
    if (n.empty()) {
      continue;
    }
    out.push_back(n);
    if (auto dash = n.find('-'); dash != std::string::npos && dash > 0) {
      out.push_back(n.substr(0, dash));
    }
  }
  return out;
}

json rendered_json(const template_record& t, const render_result& r) {
  json out = {{"template_code", t.template_code},
              {"language", t.language},
              {"version", t.version},
              {"channel", t.channel},
              {"missing_variables", r.missing}};
  if (t.channel == "push") {
    out["title"] = r.push.title;
    out["body"] = r.push.body;
    out["image_url"] = r.push.image_url.empty() ? json(nullptr) : json(r.push.image_url);
    out["link"] = r.push.link.empty() ? json(nullptr) : json(r.push.link);
    out["data"] = r.push.data;
  } else {
    out["subject"] = r.email.subject;
    out["body"] = r.email.text_body;
    out["html_body"] = r.email.html_body.empty() ? json(nullptr) : json(r.email.html_body);
  }
  return out;
}

/// One preview, rendered on a thread of its own (spawned detached): a render may take up to
/// the time budget, and the cache's lookups must never wait behind it.
caf::behavior render_preview(caf::event_based_actor* self, compiled_ptr c, json variables,
                             render_limits limits, template_record t) {
  return {
    [=](render_atom) -> caf::result<outcome, std::string> {
      self->quit();
      auto r = c->render(variables, limits);
      if (!r.ok) {
        return {outcome{422, r.error}, std::string{}};
      }
      return {outcome{200, {}}, rendered_json(t, r).dump()};
    },
  };
}

caf::behavior template_cache(caf::stateful_actor<cache_state>* self, caf::actor store,
                             cache_settings cfg, runtime::entry_ptr entry) {
  entry->set_state("running");
  self->link_to(store);
  auto* hits = &entry->counter("hits");
  auto* misses = &entry->counter("misses");
  auto* index_hits = &entry->counter("index_hits");
  auto* index_reloads = &entry->counter("index_reloads");
  auto* store_queries = &entry->counter("store_queries");
  auto* renders = &entry->counter("renders");
  auto* cached_versions = &entry->counter("cached_versions");
  auto* cached_bytes = &entry->counter("cached_bytes");
  self->state.versions = compiled_cache{cfg.max_versions, cfg.max_bytes};
  auto store_error = [=](const caf::error& e) {
    return outcome{503, "template store: " + self->system().render(e)};
  };

  // The code's index, from memory while fresh, else from one query shared by everyone
  // asking meanwhile. While the database is down, an expired index is still used.
  auto with_index = [=](const std::string& code, index_waiter done) {
    auto& st = self->state;
    auto now = clock_type::now();
    auto cached = st.indexes.find(code);
    if (cached != st.indexes.end() && now - cached->second.loaded < cfg.index_ttl) {
      *index_hits += 1;
      done(outcome{200, {}}, cached->second.index);
      return;
    }
    if (auto l = st.index_loads.find(code);
        l != st.index_loads.end() && l->second->epoch == st.epoch) {
      l->second->waiters.push_back(std::move(done));
      return;
    }
    auto load = std::make_shared<index_load>();
    load->epoch = st.epoch;
    load->waiters.push_back(std::move(done));
    st.index_loads[code] = load;
    *index_reloads += 1;
    *store_queries += 1;
    auto finish = [=](outcome o, code_index idx) {
      auto& st = self->state;
      if (auto l = st.index_loads.find(code); l != st.index_loads.end() && l->second == load) {
        st.index_loads.erase(l);
      }
      auto known = st.indexes.find(code);
      if (o.ok() && load->epoch == st.epoch) {
        st.indexes[code] = {idx, now};
      } else if (o.status == 404 && known != st.indexes.end()) {
        st.indexes.erase(known);
      } else if (o.status == 503 && known != st.indexes.end()) {
        o = outcome{200, {}};
        idx = known->second.index;
      }
      for (auto& w : load->waiters) {
        w(o, idx);
      }
    };
    self->request(store, service_timeout, index_atom::value, code)
      .then([=](outcome& o, code_index& idx) { finish(o, idx); },
            [=](caf::error& e) { finish(store_error(e), code_index{}); });
  };

  // An exact version, compiled: from memory (it never changes), else fetched once.
  auto with_version = [=](const std::string& code, const std::string& language, int version,
                          version_waiter done) {
    auto& st = self->state;
    auto key = code + '\n' + language + '\n' + std::to_string(version);
    if (auto c = st.versions.find(key)) {
      *hits += 1;
      done(outcome{200, {}}, c);
      return;
    }
    if (auto l = st.version_loads.find(key); l != st.version_loads.end()) {
      l->second->push_back(std::move(done));
      return;
    }
    *misses += 1;
    *store_queries += 1;
    auto waiters = std::make_shared<std::vector<version_waiter>>();
    waiters->push_back(std::move(done));
    st.version_loads[key] = waiters;
    auto finish = [=](const outcome& o, const compiled_ptr& c) {
      auto& st = self->state;
      st.version_loads.erase(key);
      if (c) {
        st.versions.put(key, c);
        *cached_versions = st.versions.size();
        *cached_bytes = st.versions.bytes();
      }
      for (auto& w : *waiters) {
        w(o, c);
      }
    };
    self->request(store, service_timeout, fetch_atom::value, code, language, version)
      .then(
        [=](outcome& o, template_record& t) {
          finish(o, o.ok() ? std::make_shared<compiled_template>(std::move(t)) : nullptr);
        },
        [=](caf::error& e) { finish(store_error(e), nullptr); });
  };

  auto resolve = [=](const std::string& code, const std::vector<std::string>& languages,
                     int version, resolved_fn done) {
    with_index(code, [=](const outcome& o, const code_index& idx) {
      if (!o.ok()) {
        done(o, nullptr, {});
        return;
      }
      auto language = choose_language(idx, languages);
      if (language.empty()) {
        done(outcome{404, "template " + code + " has no version in its default language '"
                            + idx.default_language + "'"},
             nullptr, {});
        return;
      }
      auto wanted = version == 0 ? idx.latest_of(language) : version;
      auto default_language = idx.default_language;
      with_version(code, language, wanted,
                   [=](const outcome& vo, const compiled_ptr& c) {
                     done(vo, c, default_language);
                   });
    });
  };

  // A write through this node: this node's next lookup of the code reads the index again.
  auto forget_index = [=](const std::string& code) {
    self->state.indexes.erase(code);
    self->state.epoch += 1;
    cfg.changes->announce(runtime::change_feed::templates, code);
  };

  return {
    [=](lookup_atom, const std::string& code, const std::vector<std::string>& languages,
        int version) -> caf::result<outcome, template_record> {
      entry->processed += 1;
      auto rp = self->make_response_promise<outcome, template_record>();
      resolve(code, languages, version,
              [=](const outcome& o, const compiled_ptr& c, const std::string& dl) mutable {
                if (!c) {
                  rp.deliver(o, template_record{});
                  return;
                }
                auto t = c->record();
                t.default_language = dl;
                rp.deliver(outcome{200, {}}, std::move(t));
              });
      return rp;
    },
    [=](render_atom, const std::string& code, const std::vector<std::string>& languages,
        int version,
        const std::string& variables_json) -> caf::result<outcome, template_record, std::string> {
      entry->processed += 1;
      if (auto p = variables_size_problem(variables_json.size(), cfg.limits); !p.empty()) {
        entry->failed += 1;
        return {outcome{413, p}, template_record{}, std::string{}};
      }
      auto variables = json::parse(variables_json, nullptr, false);
      if (!variables.is_object()) {
        entry->failed += 1;
        return {outcome{400, "field 'variables' must be an object"}, template_record{},
                std::string{}};
      }
      auto rp = self->make_response_promise<outcome, template_record, std::string>();
      resolve(code, languages, version,
              [=](const outcome& o, const compiled_ptr& c, const std::string& dl) mutable {
                if (!c) {
                  rp.deliver(o, template_record{}, std::string{});
                  return;
                }
                auto t = c->record();
                t.default_language = dl;
                auto& st = self->state;
                if (st.previews_rendering >= max_previews_rendering) {
                  rp.deliver(outcome{503, "too many previews rendering at once ("
                                            + std::to_string(max_previews_rendering)
                                            + "); try again"},
                             std::move(t), std::string{});
                  return;
                }
                *renders += 1;
                st.previews_rendering += 1;
                auto renderer = self->system().spawn<caf::detached>(render_preview, c, variables,
                                                                    cfg.limits, t);
                auto done = [=](outcome o, std::string out) mutable {
                  self->state.previews_rendering -= 1;
                  rp.deliver(std::move(o), t, std::move(out));
                };
                self->request(renderer, caf::infinite, render_atom::value)
                  .then([=](outcome& o, std::string& out) mutable { done(o, out); },
                        [=](caf::error& e) mutable {
                          done(outcome{503, "preview renderer: " + self->system().render(e)}, {});
                        });
              });
      return rp;
    },
    [=](create_atom, template_record t) -> caf::result<outcome, template_record> {
      for (auto [field, value] : {std::pair{"image_url", &t.image_url}, {"link", &t.link}}) {
        if (auto p = push_url_problem(field, *value, cfg.limits.urls); !p.empty()) {
          return {outcome{400, p}, template_record{}};
        }
      }
      auto rp = self->make_response_promise<outcome, template_record>();
      auto code = t.template_code;
      *store_queries += 1;
      self->request(store, service_timeout, create_atom::value, std::move(t))
        .then(
          [=](outcome& o, template_record& created) mutable {
            if (o.ok()) {
              forget_index(code);
            }
            rp.deliver(o, created);
          },
          [=](caf::error& e) mutable { rp.deliver(store_error(e), template_record{}); });
      return rp;
    },
    [=](update_atom, const std::string& code,
        const std::string& patch) -> caf::result<outcome, template_record, bool> {
      auto fields = json::parse(patch, nullptr, false);
      for (auto field : {"image_url", "link"}) {
        auto value = fields.is_object() ? fields.value(field, json{}) : json{};
        if (auto p = push_url_problem(field, value.is_string() ? value.get<std::string>() : "",
                                      cfg.limits.urls);
            !p.empty()) {
          return {outcome{400, p}, template_record{}, false};
        }
      }
      auto rp = self->make_response_promise<outcome, template_record, bool>();
      *store_queries += 1;
      self->request(store, service_timeout, update_atom::value, code, patch)
        .then(
          [=](outcome& o, template_record& saved, bool created) mutable {
            if (o.ok()) {
              forget_index(code);
            }
            rp.deliver(o, saved, created);
          },
          [=](caf::error& e) mutable { rp.deliver(store_error(e), template_record{}, false); });
      return rp;
    },
  };
}

} // namespace

std::string choose_language(const code_index& idx, const std::vector<std::string>& languages) {
  for (auto& l : language_candidates(languages)) {
    if (idx.latest_of(l) > 0) {
      return l;
    }
  }
  return idx.latest_of(idx.default_language) > 0 ? idx.default_language : std::string{};
}

template_service spawn_template_cache(node_context& ctx) {
  auto db_url = postgres::database_url(ctx.settings.get("pg.url"),
                                       ctx.settings.get("pg.template_db"));
  runtime::pool_spec spec;
  spec.name = "template_store";
  spec.role = "templates";
  spec.size = static_cast<std::size_t>(ctx.settings.get_int("pg.pool_size"));
  spec.spawn_worker = [=](caf::actor_system& sys, runtime::entry_ptr entry) {
    return spawn_template_store(sys, db_url, entry);
  };
  auto store = runtime::spawn_supervised_pool(ctx.system, ctx.registry, std::move(spec));
  cache_settings cfg{ctx.settings.get_ms("templates.index_ttl_ms"),
                     static_cast<std::size_t>(ctx.settings.get_int("templates.cache_versions")),
                     static_cast<std::size_t>(ctx.settings.get_int("templates.cache_bytes")),
                     render_limits_from(ctx.settings), ctx.changes};
  auto entry = ctx.registry.enlist("template_cache", "templates", "event_based");
  auto cache = ctx.system.spawn(template_cache, store.pool, cfg, entry);
  return {cache, store};
}

} // namespace herald
