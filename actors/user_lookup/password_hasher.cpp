#include "actors/user_lookup/password_hasher.hpp"

#include "actors/messaging/messages.hpp"
#include "runtime/auth/password.hpp"
#include "runtime/logging/log.hpp"

namespace herald {

namespace {

struct hasher_state {
  runtime::entry_ptr entry;
  std::string decoy; ///< a hash of nothing, checked when there is no real one
  static inline const char* name = "password_hasher";
};

caf::behavior password_hasher(caf::stateful_actor<hasher_state>* self, int iterations,
                              runtime::entry_ptr entry) {
  self->state.entry = entry;
  entry->set_state("running");
  log::context who{"users", entry->name(), {}};
  auto failed = [=](const std::exception& e) {
    self->state.entry->failed += 1;
    log::error(who, "password hashing failed", {{"error", e.what()}});
    return outcome{503, std::string{"password hashing failed: "} + e.what()};
  };
  return {
    [=](hash_atom, const std::string& password) -> std::tuple<outcome, std::string> {
      self->state.entry->processed += 1;
      try {
        return {outcome{200, {}}, auth::hash_password(password, iterations)};
      } catch (const std::exception& e) {
        return {failed(e), std::string{}};
      }
    },
    [=](verify_atom, const std::string& password,
        const std::string& encoded) -> std::tuple<outcome, bool> {
      auto& st = self->state;
      st.entry->processed += 1;
      try {
        if (encoded.empty()) {
          if (st.decoy.empty()) {
            st.decoy = auth::hash_password("", iterations);
          }
          auth::verify_password(password, st.decoy);
          return {outcome{200, {}}, false};
        }
        return {outcome{200, {}}, auth::verify_password(password, encoded)};
      } catch (const std::exception& e) {
        return {failed(e), false};
      }
    },
  };
}

} // namespace

runtime::supervised_pool spawn_password_hashers(node_context& ctx) {
  auto iterations = static_cast<int>(ctx.settings.get_int("auth.password_iterations"));
  runtime::pool_spec spec;
  spec.name = "password_hasher";
  spec.role = "users";
  spec.size = static_cast<std::size_t>(ctx.settings.get_int("auth.password_hashers"));
  spec.spawn_worker = [=](caf::actor_system& sys, runtime::entry_ptr entry) {
    return sys.spawn<caf::detached>(password_hasher, iterations, entry);
  };
  return runtime::spawn_supervised_pool(ctx.system, ctx.registry, std::move(spec));
}

} // namespace herald
