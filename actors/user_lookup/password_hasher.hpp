#pragma once

// password_hasher: hashes and checks passwords (runtime/auth/password.hpp) in a small
// supervised pool of detached actors of its own (auth.password_hashers, default 1), so
// slow hashing never runs on CAF's scheduler or an HTTP thread, and a storm of logins
// only queues here: it never occupies the store workers that serve user lookups.
// Passwords are never logged.
//
// Messages:
//   (hash_atom, std::string password) -> (outcome, std::string encoded)   200, 503
//       with auth.password_iterations iterations and a fresh salt
//   (verify_atom, std::string password, std::string encoded) -> (outcome, bool)
//       An empty `encoded` (unknown user, or one without a password) costs as much as a
//       real check and answers false, so timing does not tell whether an address exists.

#include <caf/all.hpp>

#include "actors/node/node_context.hpp"
#include "runtime/supervision/supervised_pool.hpp"

namespace herald {

using hash_atom = caf::atom_constant<caf::atom("hash")>;
using verify_atom = caf::atom_constant<caf::atom("verify")>;

runtime::supervised_pool spawn_password_hashers(node_context& ctx);

} // namespace herald
