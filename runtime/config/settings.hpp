#pragma once

// Herald's configuration: every option is declared once (key, environment variable,
// default, documentation, validation) in settings.cpp. Values come from the defaults,
// then a config file (`key = value` lines), then HERALD_* environment variables, then
// `--key=value` flags; later sources win. Unknown keys in a file or on the command line
// and invalid values stop start-up with a message naming the key.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herald::config {

/// `file`: empty, or the path of a file this process can read.
/// `ms_list`: comma-separated milliseconds, each within [min, max], at most 20 of them.
/// `secret`: empty, or at least `min` characters; `herald config` never prints it.
/// `rate`: a rate limit, `0` or `N/s`, `N/min`, `N/h` (rate_spec.hpp).
enum class value_kind {
  string, integer, port, url, roles, level, boolean, file, ms_list, secret, rate
};

/// One declared option.
struct option {
  std::string key;           ///< dotted name, also the config-file key and `--key` flag
  std::string env;           ///< environment variable that overrides it
  std::string default_value; ///< as text; "" means empty
  std::string doc;           ///< one line for `herald config` and the README
  value_kind kind = value_kind::string;
  std::int64_t min = 0;      ///< integer bounds (inclusive); a secret's shortest length
  std::int64_t max = 0;
  std::vector<std::string> schemes; ///< accepted URL schemes
};

/// All options Herald knows, in documentation order.
const std::vector<option>& declared_options();

/// The roles a node can run.
const std::vector<std::string>& known_roles();

/// Validated configuration values.
class settings {
public:
  const std::string& get(std::string_view key) const;
  std::int64_t get_int(std::string_view key) const;
  std::chrono::milliseconds get_ms(std::string_view key) const;
  bool get_bool(std::string_view key) const; ///< for boolean options: "true" or "false"
  /// For ms_list options: the durations in the order given.
  std::vector<std::chrono::milliseconds> get_ms_list(std::string_view key) const;
  /// The roles list with "all" expanded.
  std::vector<std::string> roles() const;
  bool has_role(std::string_view role) const;
  /// Where each value came from ("default", "file", "env", "flag"), for `herald config`.
  const std::string& source(std::string_view key) const;

private:
  friend struct loader;
  std::map<std::string, std::string, std::less<>> values_;
  std::map<std::string, std::string, std::less<>> sources_;
};

/// Inputs to `load`, kept apart from the process so tests can pass their own.
struct sources {
  std::optional<std::string> file_path;          ///< config file, if any
  std::map<std::string, std::string> environment; ///< e.g. from `environ`
  std::vector<std::string> flags;                 ///< "--key=value" arguments
};

/// The outcome of `load`: settings, or an error naming the key.
struct load_result {
  std::optional<settings> value;
  std::string error;
};

load_result load(const sources& in);

/// Parses `key = value` lines ('#' starts a comment). Returns an error naming the line.
std::string parse_file_text(std::string_view text, std::map<std::string, std::string>& out);

/// The current process environment as a map.
std::map<std::string, std::string> process_environment();

/// A Markdown table of every option, for the README.
std::string options_markdown();

} // namespace herald::config
