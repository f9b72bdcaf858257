#pragma once

// template_store: one detached actor per PostgreSQL (template_db) connection, under a
// supervised pool. Only the template cache and the templates API talk to it.
//
// Messages (every answer starts with an outcome: 200/201, 400, 404, 409, 422 or 503):
//   (create_atom, template_record)            -> (outcome, template_record)
//       version 1 of a code in a language; a new code records its channel and takes this
//       language as its default; an existing code must have the same channel (409).
//   (update_atom, std::string code, std::string patch_json)
//                                             -> (outcome, template_record, bool created)
//       a PUT: the latest version of the patch's language (default: the code's default)
//       with the patch applied becomes version latest+1 (created = true); a patch that
//       only names a new `default_language` changes the default and no version.
//   (fetch_atom, std::string code, std::string language, int version)
//                                             -> (outcome, template_record)
//   (index_atom, std::string code)            -> (outcome, code_index)
//   (versions_atom, std::string code, std::string language, std::int64_t page,
//    std::int64_t limit)
//                                             -> (outcome, std::string json)
//   (list_atom, std::string channel, std::int64_t page, std::int64_t limit)
//       -> (outcome, std::string json)
// Writes to one code are serialised by locking its template_codes row, so two PUTs never
// race for the same version number.

#include <caf/all.hpp>

#include <string>
#include <vector>

#include "actors/messaging/messages.hpp"
#include "runtime/registry/registry.hpp"

namespace herald {

using update_atom = caf::atom_constant<caf::atom("update")>;
using fetch_atom = caf::atom_constant<caf::atom("fetch")>;
using index_atom = caf::atom_constant<caf::atom("index")>;
using versions_atom = caf::atom_constant<caf::atom("versions")>;
using list_atom = caf::atom_constant<caf::atom("list")>;

/// What a lookup needs to resolve "latest" and a language fallback: the code's channel,
/// default language, and the latest version of each of its languages.
struct code_index {
  std::string template_code;
  std::string channel;
  std::string default_language;
  std::vector<std::string> languages;
  std::vector<int> latest; ///< latest[i] is the latest version in languages[i]

  /// 0 when the code has no such language.
  int latest_of(const std::string& language) const {
    for (std::size_t i = 0; i < languages.size(); ++i) {
      if (languages[i] == language) {
        return latest[i];
      }
    }
    return 0;
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, code_index& x) {
  return f(caf::meta::type_name("code_index"), x.template_code, x.channel,
           x.default_language, x.languages, x.latest);
}

/// Spawns one detached store worker owning one connection to `db_url` (opened lazily).
caf::actor spawn_template_store(caf::actor_system& sys, std::string db_url,
                                runtime::entry_ptr entry);

} // namespace herald
