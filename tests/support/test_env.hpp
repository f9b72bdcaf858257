#pragma once

// Shared fixtures for integration tests: the private servers scripts/test started (their
// addresses come in HERALD_TEST_* variables), an in-process Herald node configured for
// them, a small HTTP client, the SMTP sink's mail folder, and polling with a deadline.

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "actors/node/node.hpp"
#include "runtime/config/settings.hpp"

namespace herald::test {

/// The value of a HERALD_TEST_* variable; throws when scripts/test did not set it.
std::string env(const std::string& name);

/// The admin token of every test node (HERALD_ADMIN_TOKEN): http_call sends it unless the
/// caller names a credential, so every suite runs with auth.required on.
inline const std::string admin_token = "integration-test-admin-token";

/// The jwt.secret node_environment gives every node (32 characters or more, as required),
/// for tests that sign or verify login tokens themselves.
inline const std::string jwt_secret = "integration-test-secret-of-32-characters";

/// Headers for http_call: no credential at all.
inline const std::map<std::string, std::string> no_credential{{"Authorization", ""}};

/// Headers for http_call: `Authorization: Bearer <credential>` (an API key, a login token,
/// the admin token).
std::map<std::string, std::string> bearer(const std::string& credential);

/// The environment of a node using the test servers (HERALD_* variables), with `overrides`
/// added: what node_settings loads, and what herald_process hands its `herald serve`.
std::map<std::string, std::string>
node_environment(const std::map<std::string, std::string>& overrides = {});

/// Settings for a node using the test servers, with `overrides` as extra environment.
config::settings node_settings(const std::map<std::string, std::string>& overrides = {});

/// A Herald node running in this process for the lifetime of the object. The constructor
/// returns once every service port the node opened answers /health/ready with 200 (each
/// dependency up), and throws naming what is not ready after 15 s; `wait_until_ready`
/// false (a test that starts a node with a dependency down on purpose) waits only for the
/// gateway's /health.
class running_node {
public:
  explicit running_node(const std::map<std::string, std::string>& overrides = {},
                        bool wait_until_ready = true);
  ~running_node();
  std::string url(int offset = 0) const; ///< http://127.0.0.1:<base + offset>

private:
  config::settings settings_;
  std::unique_ptr<caf::actor_system_config> cfg_;
  std::unique_ptr<caf::actor_system> system_;
  std::unique_ptr<herald::node> node_;
  int base_;
};

struct http_reply {
  int status = 0;
  nlohmann::json body;  ///< parsed; null when the body was not JSON
  std::string raw;
  std::map<std::string, std::string> headers;
};

/// One HTTP request; a body goes as application/json unless `headers` names another
/// Content-Type. It carries the admin token unless `headers` names Authorization or
/// X-API-Key (an empty value sends neither: see no_credential).
http_reply http_call(const std::string& method, const std::string& url,
                     const std::string& body = {},
                     const std::map<std::string, std::string>& headers = {},
                     std::chrono::seconds timeout = std::chrono::seconds{10});

inline http_reply post_json(const std::string& url, const nlohmann::json& body) {
  return http_call("POST", url, body.dump());
}

/// Checks that `r` is a failure in Herald's envelope: the status, success false, data null,
/// an error string that mentions `mentions`, a message and a meta member.
void check_error(const http_reply& r, int status, const std::string& mentions);

/// Calls `ready` until it returns true or the deadline passes; returns its last answer.
bool eventually(const std::function<bool()>& ready,
                std::chrono::milliseconds deadline = std::chrono::seconds{30});

/// A mail the SMTP sink stored.
struct stored_mail {
  std::string path;
  std::string mail_from;
  std::string rcpt_to;
  std::string raw;
  std::string header(const std::string& name) const; ///< first header of that name
  std::string decoded_text() const; ///< the text/plain part, transfer-decoding undone
};

/// Every mail in `maildir` addressed to `rcpt`.
std::vector<stored_mail> mails_to(const std::string& maildir, const std::string& rcpt);

/// Runs $HERALD_TEST_CTL with the arguments (e.g. "stop", "rabbitmq"); true on success.
bool server_ctl(const std::string& action, const std::string& server);

/// A unique suffix for names and addresses in one test run.
std::string unique(const std::string& prefix);

} // namespace herald::test
