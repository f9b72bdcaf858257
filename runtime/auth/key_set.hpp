#pragma once

// The node's in-memory copy of the active API keys, by digest (sha256 of the key): what
// the hot path checks a presented key against, with no I/O.
//
// A refresher (actors/common/key_refresher) replaces the whole copy from user_db every
// auth.keys_refresh_ms; a key created or revoked through this node is added or dropped at
// once, after its transaction committed. So that a refresh whose query began before such a
// change cannot undo it, local changes are journaled with a generation number: `replace`
// takes the generation read before its query and applies again every local change made
// after it (changes made before it are in what the query read, and leave the journal).
//
// Until the first `replace`, `loaded()` is false and no key is known: callers answer 503
// (credentials cannot be checked) rather than 401 (an unknown key).
//
// Thread-safe: one mutex, held for a map lookup or a pointer swap.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/auth/api_key.hpp"

namespace herald::auth {

/// What a node knows of an active key.
struct api_key_info {
  std::string id;
  std::string name;
  scope_set scopes = 0;
};

class key_set {
public:
  using keys = std::unordered_map<std::string, std::shared_ptr<const api_key_info>>;

  /// The active key whose digest is `digest`, or null (unknown, revoked, or not loaded).
  std::shared_ptr<const api_key_info> find(const std::string& digest) const;

  /// Whether a first copy has been loaded.
  bool loaded() const;
  /// How many keys are active.
  std::size_t size() const;

  /// Read this before querying the store; hand it to `replace` with what the query read.
  std::uint64_t generation() const;
  /// Makes `fresh` (digest -> key) the copy, with the local changes made after
  /// `read_at` applied to it.
  void replace(keys fresh, std::uint64_t read_at);

  /// A key created through this node (after its commit).
  void add(const std::string& digest, api_key_info info);
  /// A key revoked through this node (after its commit).
  void revoke(const std::string& id);

private:
  struct change {
    std::uint64_t generation;
    std::string digest;       ///< "" for a revocation
    api_key_info info;        ///< for a revocation only the id
  };
  static void apply(keys& to, const change& c);

  mutable std::mutex mtx_;
  std::optional<keys> keys_; ///< empty until loaded
  std::uint64_t generation_ = 0;
  std::vector<change> journal_;
};

} // namespace herald::auth
