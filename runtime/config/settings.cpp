#include "runtime/config/settings.hpp"

#include "runtime/config/rate_spec.hpp"

#include <algorithm>
#include <charconv>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

extern char** environ;

namespace herald::config {

namespace {

option text(std::string key, std::string env, std::string def, std::string doc) {
  return {std::move(key), std::move(env), std::move(def), std::move(doc),
          value_kind::string, 0, 0, {}};
}

option integer(std::string key, std::string env, std::string def, std::string doc,
               std::int64_t min, std::int64_t max) {
  return {std::move(key), std::move(env), std::move(def), std::move(doc),
          value_kind::integer, min, max, {}};
}

option boolean(std::string key, std::string env, std::string def, std::string doc) {
  return {std::move(key), std::move(env), std::move(def), std::move(doc),
          value_kind::boolean, 0, 0, {}};
}

option file(std::string key, std::string env, std::string def, std::string doc) {
  return {std::move(key), std::move(env), std::move(def), std::move(doc),
          value_kind::file, 0, 0, {}};
}

option ms_list(std::string key, std::string env, std::string def, std::string doc,
               std::int64_t min, std::int64_t max) {
  return {std::move(key), std::move(env), std::move(def), std::move(doc),
          value_kind::ms_list, min, max, {}};
}

option secret(std::string key, std::string env, std::string doc, std::int64_t min_length) {
  return {std::move(key), std::move(env), "", std::move(doc), value_kind::secret, min_length,
          0, {}};
}

option rate(std::string key, std::string env, std::string def, std::string doc) {
  return {std::move(key), std::move(env), std::move(def), std::move(doc),
          value_kind::rate, 0, 0, {}};
}

option port(std::string key, std::string env, std::string def, std::string doc) {
  return {std::move(key), std::move(env), std::move(def), std::move(doc),
          value_kind::port, 1, 65535, {}};
}

option url(std::string key, std::string env, std::string def, std::string doc,
           std::vector<std::string> schemes) {
  return {std::move(key), std::move(env), std::move(def), std::move(doc),
          value_kind::url, 0, 0, std::move(schemes)};
}

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) {
    return {};
  }
  auto e = s.find_last_not_of(" \t\r\n");
  return std::string{s.substr(b, e - b + 1)};
}

std::optional<std::int64_t> to_int(std::string_view s) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || s.empty()) {
    return std::nullopt;
  }
  return v;
}

std::vector<std::string> split_list(std::string_view s) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in{std::string{s}};
  while (std::getline(in, item, ',')) {
    if (auto t = trim(item); !t.empty()) {
      out.push_back(t);
    }
  }
  return out;
}

/// Returns "" when `value` is valid for `opt`, else the reason.
std::string validate(const option& opt, const std::string& value) {
  switch (opt.kind) {
    case value_kind::string:
      return {};
    case value_kind::integer:
    case value_kind::port: {
      auto v = to_int(value);
      if (!v) {
        return "expected an integer, got '" + value + "'";
      }
      if (*v < opt.min || *v > opt.max) {
        return "must be between " + std::to_string(opt.min) + " and "
               + std::to_string(opt.max) + ", got " + value;
      }
      return {};
    }
    case value_kind::url: {
      if (value.empty() && opt.default_value.empty()) {
        return {}; // an optional URL, not set
      }
      auto sep = value.find("://");
      auto scheme = sep == std::string::npos ? std::string{} : value.substr(0, sep);
      if (sep == std::string::npos || sep + 3 >= value.size()
          || std::find(opt.schemes.begin(), opt.schemes.end(), scheme)
               == opt.schemes.end()) {
        std::string expected;
        for (auto& s : opt.schemes) {
          expected += (expected.empty() ? "" : " or ") + s + "://";
        }
        return "expected a URL starting with " + expected + ", got '" + value + "'";
      }
      return {};
    }
    case value_kind::roles: {
      auto roles = split_list(value);
      if (roles.empty()) {
        return "no role given";
      }
      for (auto& r : roles) {
        auto& known = known_roles();
        if (r != "all" && std::find(known.begin(), known.end(), r) == known.end()) {
          std::string names = "all";
          for (auto& k : known) {
            names += ", " + k;
          }
          return "unknown role '" + r + "' (known: " + names + ")";
        }
      }
      return {};
    }
    case value_kind::boolean:
      if (value == "true" || value == "false") {
        return {};
      }
      return "expected true or false, got '" + value + "'";
    case value_kind::secret:
      if (value.empty() || static_cast<std::int64_t>(value.size()) >= opt.min) {
        return {};
      }
      return "must be at least " + std::to_string(opt.min) + " characters, got "
             + std::to_string(value.size());
    case value_kind::file:
      if (value.empty() || ::access(value.c_str(), R_OK) == 0) {
        return {};
      }
      return "cannot read the file '" + value + "'";
    case value_kind::ms_list: {
      auto items = split_list(value);
      if (items.empty() || items.size() > 20) {
        return "expected 1 to 20 comma-separated milliseconds, got '" + value + "'";
      }
      for (auto& item : items) {
        auto v = to_int(item);
        if (!v || *v < opt.min || *v > opt.max) {
          return "each step must be an integer between " + std::to_string(opt.min) + " and "
                 + std::to_string(opt.max) + ", got '" + item + "'";
        }
      }
      return {};
    }
    case value_kind::rate: {
      std::string error;
      return parse_rate_spec(value, &error) ? std::string{} : error;
    }
    case value_kind::level:
      if (value == "debug" || value == "info" || value == "warn" || value == "error") {
        return {};
      }
      return "expected debug, info, warn or error, got '" + value + "'";
  }
  return {};
}

/// The VAPID settings together (push.vapid_*): both keys or neither, a subject with them
/// and of the right shape. Whether the keys are a P-256 pair is checked where they are
/// parsed (adapters/push/webpush.hpp, at start-up by main). Returns "" or the error.
std::string check_vapid(const std::map<std::string, std::string, std::less<>>& values,
                        const std::map<std::string, std::string, std::less<>>& sources) {
  auto& pub = values.at("push.vapid_public_key");
  auto& priv = values.at("push.vapid_private_key");
  auto& subject = values.at("push.vapid_subject");
  auto invalid = [&](const std::string& key, const std::string& why) {
    return "invalid value for '" + key + "' (" + sources.at(key) + "): " + why;
  };
  if (pub.empty() != priv.empty()) {
    return pub.empty() ? invalid("push.vapid_public_key", "empty while push.vapid_private_key is set")
                       : invalid("push.vapid_private_key", "empty while push.vapid_public_key is set");
  }
  if (!pub.empty() && subject.empty()) {
    return invalid("push.vapid_subject", "required with the VAPID keys (mailto: or https://)");
  }
  if (!subject.empty()) {
    bool mailto = subject.rfind("mailto:", 0) == 0 && subject.find('@') != std::string::npos;
    bool https = subject.rfind("https://", 0) == 0 && subject.size() > 8;
    if (!mailto && !https) {
      return invalid("push.vapid_subject",
                     "expected mailto:someone@example.com or an https:// URL, got '" + subject + "'");
    }
  }
  return {};
}

const option* find_option(std::string_view key) {
  for (auto& o : declared_options()) {
    if (o.key == key) {
      return &o;
    }
  }
  return nullptr;
}

} // namespace

const std::vector<std::string>& known_roles() {
  static const std::vector<std::string> roles{"gateway", "users",  "templates",
                                              "email",   "push",   "dlq"};
  return roles;
}

const std::vector<option>& declared_options() {
  static const std::vector<option> options = [] {
    option roles{"roles", "HERALD_ROLES", "all",
                 "Roles this node runs: all, or a comma list of gateway, users, templates, "
                 "email, push, dlq",
                 value_kind::roles, 0, 0, {}};
    option level{"log.level", "HERALD_LOG_LEVEL", "info",
                 "Lowest log level written: debug, info, warn, error",
                 value_kind::level, 0, 0, {}};
    return std::vector<option>{
      roles,
      text("node.name", "HERALD_NODE_NAME", "",
           "Name of this node in logs and the cluster view (default: host name)"),
      text("http.host", "HERALD_HTTP_HOST", "0.0.0.0", "Address the HTTP services bind to"),
      port("http.port_base", "HERALD_HTTP_PORT_BASE", "8000",
           "Gateway port; users, templates, email and push follow (+1 .. +4)"),
      integer("http.threads", "HERALD_HTTP_THREADS", "2",
              "I/O threads of each HTTP port, on which its handlers run (they never block on "
              "I/O, so a few suffice)", 1, 256),
      integer("runtime.scheduler_threads", "HERALD_SCHEDULER_THREADS", "0",
              "Threads of CAF's scheduler; 0 means one per core", 0, 256),
      integer("http.max_body_bytes", "HERALD_HTTP_MAX_BODY_BYTES", "1048576",
              "Largest accepted request body; larger ones get 413", 1024, 64 << 20),
      integer("http.max_header_bytes", "HERALD_HTTP_MAX_HEADER_BYTES", "16384",
              "Largest request header section (request line and fields); larger ones get 431",
              1024, 1 << 20),
      integer("http.max_headers", "HERALD_HTTP_MAX_HEADERS", "100",
              "Most header fields in one request; more get 431", 8, 10000),
      integer("http.max_request_line_bytes", "HERALD_HTTP_MAX_REQUEST_LINE_BYTES", "8192",
              "Longest request line (method, path with query, version); longer ones get 414",
              256, 1 << 20),
      integer("http.read_timeout_ms", "HERALD_HTTP_READ_TIMEOUT_MS", "10000",
              "Time a client has from a request's first byte to its last (and to take each "
              "answer); then the connection is closed",
              100, 600000),
      integer("http.idle_timeout_ms", "HERALD_HTTP_IDLE_TIMEOUT_MS", "30000",
              "A connection with no request or answer in progress for this long is closed",
              100, 3600000),
      integer("http.max_connections", "HERALD_HTTP_MAX_CONNECTIONS", "10000",
              "Open HTTP connections per process (at most RLIMIT_NOFILE minus 256); past it "
              "the longest-idle one is closed, or, if none is idle, the newcomer gets 503",
              1, 1000000),
      url("amqp.url", "HERALD_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/",
          "RabbitMQ broker", {"amqp"}),
      integer("amqp.publishers", "HERALD_AMQP_PUBLISHERS", "2",
              "Publisher connections of the gateway (each pipelines confirms)", 1, 32),
      integer("amqp.prefetch", "HERALD_AMQP_PREFETCH", "500",
              "Unacknowledged deliveries a consumer holds at once (bounds the messages a "
              "worker has in flight)", 1, 10000),
      integer("amqp.confirm_timeout_ms", "HERALD_AMQP_CONFIRM_TIMEOUT_MS", "2000",
              "How long a publish waits for the broker's confirm before failing with 503",
              50, 60000),
      rate("rate_limit.per_user", "HERALD_RATE_LIMIT_PER_USER", "100/min",
           "Notifications one user may be sent, over every gateway node: N/s, N/min or N/h "
           "(fixed window in Redis), 0 for no limit; past it a 429 with Retry-After"),
      rate("rate_limit.per_client", "HERALD_RATE_LIMIT_PER_CLIENT", "0",
           "Notifications one credential (API key, login token's user, admin) may send, "
           "over every gateway node, in the same forms; 0 for no limit"),
      integer("gateway.cache_ttl_ms", "HERALD_GATEWAY_CACHE_TTL_MS", "5000",
              "How long the gateway keeps a user or template it checked requests against "
              "(changes through this node drop copies at once)",
              0, 3600000),
      integer("scheduler.poll_ms", "HERALD_SCHEDULER_POLL_MS", "250",
              "How often each gateway node's scheduler looks for scheduled sends that are "
              "due (send_at, quiet hours): delivery starts at most this late",
              10, 500),
      integer("scheduler.batch_max", "HERALD_SCHEDULER_BATCH_MAX", "1000",
              "Most due scheduled sends one scheduler claims and publishes in one "
              "transaction (it claims again at once when it took that many)",
              1, 10000),
      integer("gateway.bulk_max", "HERALD_GATEWAY_BULK_MAX", "10000",
              "Notifications one POST /api/v1/notifications/bulk may hold; more is a 413",
              1, 100000),
      integer("gateway.bulk_max_body_bytes", "HERALD_GATEWAY_BULK_MAX_BODY_BYTES", "16777216",
              "Largest accepted body of POST /api/v1/notifications/bulk (every other route "
              "keeps http.max_body_bytes); larger gets 413",
              1024, 256 << 20),
      url("pg.url", "HERALD_PG_URL", "postgresql://postgres@127.0.0.1:5432",
          "PostgreSQL server; each service uses its own database on it",
          {"postgresql", "postgres"}),
      text("pg.user_db", "HERALD_PG_USER_DB", "user_db", "Database of the users service"),
      text("pg.template_db", "HERALD_PG_TEMPLATE_DB", "template_db",
           "Database of the templates service"),
      text("pg.notification_db", "HERALD_PG_NOTIFICATION_DB", "notification_db",
           "Database of notification status records"),
      integer("pg.pool_size", "HERALD_PG_POOL_SIZE", "2",
              "Connections per service database (each owned by one detached actor)", 1, 64),
      url("redis.url", "HERALD_REDIS_URL", "redis://127.0.0.1:6379/0",
          "Redis server (caches only; losing it loses nothing)", {"redis"}),
      integer("redis.user_ttl_s", "HERALD_REDIS_USER_TTL_S", "300",
              "Seconds a cached user record lives in Redis", 1, 86400),
      integer("templates.index_ttl_ms", "HERALD_TEMPLATES_INDEX_TTL_MS", "1000",
              "How long a node trusts its cached list of a template's languages and latest "
              "versions before reading it again (0: every lookup reads it)", 0, 3600000),
      integer("templates.cache_versions", "HERALD_TEMPLATES_CACHE_VERSIONS", "10000",
              "Most compiled template versions a node keeps in memory", 1, 1000000),
      integer("templates.cache_bytes", "HERALD_TEMPLATES_CACHE_BYTES", "67108864",
              "Most memory the compiled template versions of the template cache, and those of "
              "the email sender, each take (estimated); the least recently used go first",
              1 << 20, std::int64_t{1} << 40),
      integer("templates.max_rendered_bytes", "HERALD_TEMPLATES_MAX_RENDERED_BYTES", "1048576",
              "Largest rendered part (subject, text body, HTML body, push title...); a render "
              "that outgrows it stops there and is a 422",
              1024, 64 << 20),
      integer("templates.render_budget_ms", "HERALD_TEMPLATES_RENDER_BUDGET_MS", "250",
              "Longest one render may take; past it the render stops and is a 422", 1, 60000),
      integer("templates.max_variables_bytes", "HERALD_TEMPLATES_MAX_VARIABLES_BYTES", "65536",
              "Largest 'variables' object (as JSON) a notification or a preview may carry; "
              "larger is a 413",
              1024, 16 << 20),
      text("push.vapid_public_key", "HERALD_VAPID_PUBLIC_KEY", "",
           "Web Push application server key (VAPID, RFC 8292): base64url of the 65-byte "
           "uncompressed P-256 point, as `herald vapid-keys` or `web-push generate-vapid-keys` "
           "print it; empty: Web Push devices fail with that reason"),
      secret("push.vapid_private_key", "HERALD_VAPID_PRIVATE_KEY",
             "Its private key: base64url of the 32-byte P-256 scalar; checked at start-up "
             "against the public key (set both or neither)",
             43),
      text("push.vapid_subject", "HERALD_VAPID_SUBJECT", "",
           "Contact in every VAPID token, for the push services: mailto:someone@example.com "
           "or an https:// URL; required with the keys"),
      boolean("push.allow_insecure_endpoints", "HERALD_PUSH_ALLOW_INSECURE_ENDPOINTS", "false",
              "Accept http:// and loopback Web Push endpoints and push URLs (development and "
              "tests only; private, link-local and other local addresses stay refused)"),
      file("push.fcm_credentials", "HERALD_FCM_CREDENTIALS", "",
           "Google service-account JSON file for FCM HTTP v1 (its project_id, key and "
           "token_uri are used); empty: FCM is off and FCM devices end failed with the reason"),
      url("push.fcm_endpoint", "HERALD_FCM_ENDPOINT", "https://fcm.googleapis.com",
          "FCM API base URL; messages go to {endpoint}/v1/projects/{project_id}/messages:send",
          {"https", "http"}),
      integer("push.timeout_ms", "HERALD_PUSH_TIMEOUT_MS", "10000",
              "Longest one push provider call (token fetch or send) may take, connecting "
              "included",
              100, 300000),
      file("push.ca_file", "HERALD_PUSH_CA_FILE", "",
           "PEM file of the CA certificates that verify push providers' TLS certificates "
           "(FCM, its token endpoint, Web Push services) instead of the system's; empty: the "
           "system's"),
      url("smtp.url", "HERALD_SMTP_URL", "smtp://127.0.0.1:1025",
          "SMTP relay: smtp://[user:pass@]host:port or smtps:// for TLS", {"smtp", "smtps"}),
      text("smtp.from", "HERALD_SMTP_FROM", "herald@localhost", "Envelope and From address"),
      integer("smtp.connections", "HERALD_SMTP_CONNECTIONS", "2",
              "SMTP connections per node, each reused across messages", 1, 64),
      integer("smtp.timeout_ms", "HERALD_SMTP_TIMEOUT_MS", "10000",
              "Timeout of one SMTP send", 100, 300000),
      file("smtp.ca_file", "HERALD_SMTP_CA_FILE", "",
           "PEM file of the CA certificates that verify the relay's TLS certificate "
           "(smtps://, STARTTLS) instead of the system's; empty: the system's"),
      url("smtp.fallback_url", "HERALD_SMTP_FALLBACK_URL", "",
          "Fallback SMTP relay (the forms of smtp.url, the same smtp.ca_file, its own "
          "connections and circuit breaker), sent through while the primary's breaker is "
          "open; empty: none, sending pauses instead",
          {"smtp", "smtps"}),
      integer("smtp.breaker.failures", "HERALD_SMTP_BREAKER_FAILURES", "5",
              "Consecutive failed sends to a relay (unreachable, timed out, session refused) "
              "that open its circuit breaker",
              1, 10000),
      integer("smtp.breaker.failure_rate_percent", "HERALD_SMTP_BREAKER_FAILURE_RATE_PERCENT",
              "50",
              "Or this share of failures among the last smtp.breaker.window sends to a relay",
              1, 100),
      integer("smtp.breaker.window", "HERALD_SMTP_BREAKER_WINDOW", "20",
              "Sends to a relay that smtp.breaker.failure_rate_percent is judged over", 1,
              10000),
      integer("smtp.breaker.cool_down_ms", "HERALD_SMTP_BREAKER_COOL_DOWN_MS", "30000",
              "How long an open breaker waits (jittered by 20 %) before one probe, an SMTP "
              "session check (connect, greeting, EHLO, TLS, AUTH), decides whether it closes",
              100, 3600000),
      integer("email.consumers", "HERALD_EMAIL_CONSUMERS", "1",
              "Consumers of email.queue per node (each with its own connection)", 1, 64),
      integer("email.batches_in_flight", "HERALD_EMAIL_BATCHES_IN_FLIGHT", "4",
              "Batches of email.queue deliveries a node works on at once; deliveries that "
              "arrive meanwhile wait and form the next batch",
              1, 1000),
      integer("email.requeue_delay_ms", "HERALD_EMAIL_REQUEUE_DELAY_MS", "1000",
              "How long a message whose dependency is down (users, templates, status "
              "database, SMTP relay) waits before it goes back to the queue",
              0, 600000),
      integer("supervision.initial_delay_ms", "HERALD_SUPERVISION_INITIAL_DELAY_MS", "100",
              "Delay before a crashed actor is restarted by its supervisor; doubles with each "
              "crash in a row (jittered by 20 %), back to this after 30 s up",
              1, 600000),
      integer("supervision.max_delay_ms", "HERALD_SUPERVISION_MAX_DELAY_MS", "10000",
              "Longest delay before a restart", 1, 3600000),
      integer("supervision.max_restarts", "HERALD_SUPERVISION_MAX_RESTARTS", "20",
              "Restarts of one actor within supervision.window_ms; one more and its "
              "supervisor gives up (escalates: the node exits)",
              1, 100000),
      integer("supervision.window_ms", "HERALD_SUPERVISION_WINDOW_MS", "60000",
              "Window over which supervision.max_restarts is counted", 1000, 86400000),
      text("fault.crash_on_variable", "HERALD_FAULT_CRASH_ON_VARIABLE", "",
           "Testing aid, off when empty: the email and push senders throw while rendering a "
           "message whose variables contain this key (a poison message)"),
      ms_list("retry.steps_ms", "HERALD_RETRY_STEPS_MS", "2000,4000,8000,16000,32000",
              "Delays before the 2nd, 3rd, ... attempt of a message that failed transiently "
              "(each jittered by 10 % per message; one delay queue per step); after the "
              "last, the message is dead-lettered",
              10, 86400000),
      integer("push.workers", "HERALD_PUSH_WORKERS", "2",
              "Workers per push provider (FCM, Web Push) per node, each with its own kept-alive "
              "HTTP connections",
              1, 64),
      integer("push.consumers", "HERALD_PUSH_CONSUMERS", "1",
              "Consumers of push.queue per node (each with its own connection)", 1, 64),
      integer("push.batches_in_flight", "HERALD_PUSH_BATCHES_IN_FLIGHT", "4",
              "Batches of push.queue deliveries a node works on at once", 1, 1000),
      integer("push.requeue_delay_ms", "HERALD_PUSH_REQUEUE_DELAY_MS", "1000",
              "How long a push message whose dependency is down (users, templates, status "
              "database, every provider's breaker) waits before it goes back to the queue",
              0, 600000),
      integer("push.breaker.failures", "HERALD_PUSH_BREAKER_FAILURES", "5",
              "Consecutive failed sends to a push provider (unreachable, timed out, 5xx) that "
              "open its circuit breaker",
              1, 10000),
      integer("push.breaker.failure_rate_percent", "HERALD_PUSH_BREAKER_FAILURE_RATE_PERCENT",
              "50", "Or this share of failures among the last push.breaker.window sends", 1,
              100),
      integer("push.breaker.window", "HERALD_PUSH_BREAKER_WINDOW", "20",
              "Sends to a push provider that push.breaker.failure_rate_percent is judged over",
              1, 10000),
      integer("push.breaker.cool_down_ms", "HERALD_PUSH_BREAKER_COOL_DOWN_MS", "30000",
              "How long an open push breaker waits (jittered by 20 %) before the next send to "
              "that provider goes through as the probe",
              100, 3600000),
      integer("status.batch_max", "HERALD_STATUS_BATCH_MAX", "500",
              "Most status events written in one transaction", 1, 100000),
      integer("users.max_push_tokens", "HERALD_USERS_MAX_PUSH_TOKENS", "50",
              "Push tokens (devices) one user may register; one more is a 409", 1, 1000),
      integer("users.login_attempts_per_address", "HERALD_USERS_LOGIN_ATTEMPTS_PER_ADDRESS",
              "10",
              "Login attempts per email address per minute on one node; past it a 429 with "
              "Retry-After (0: no limit)",
              0, 100000),
      integer("users.login_attempts_per_client", "HERALD_USERS_LOGIN_ATTEMPTS_PER_CLIENT", "30",
              "Login attempts per client IP address per minute on one node; past it a 429 with "
              "Retry-After (0: no limit)",
              0, 100000),
      boolean("users.open_registration", "HERALD_USERS_OPEN_REGISTRATION", "false",
              "Whether anyone may create a user (POST /api/v1/users) without an API key "
              "(sign-up); login is always open"),
      integer("auth.password_iterations", "HERALD_AUTH_PASSWORD_ITERATIONS", "600000",
              "PBKDF2-HMAC-SHA256 iterations for new password hashes (stored hashes keep "
              "their own)",
              1000, 10000000),
      integer("auth.password_hashers", "HERALD_AUTH_PASSWORD_HASHERS", "1",
              "Threads hashing and checking passwords (each keeps one core busy while it works)",
              1, 64),
      secret("jwt.secret", "HERALD_JWT_SECRET",
             "HS256 secret for login tokens (at least 32 characters: RFC 7518 3.2 wants a key "
             "as long as the hash); while empty, login answers 503",
             32),
      secret("auth.admin_token", "HERALD_ADMIN_TOKEN",
             "Admin token (at least 16 characters): manages API keys and passes every route; "
             "empty: /api/v1/api-keys answers 403",
             16),
      boolean("auth.required", "HERALD_AUTH_REQUIRED", "true",
              "Whether every route but health and login refuses requests without a credential "
              "(401); false only for local development (a credential that is given is still "
              "checked)"),
      integer("auth.keys_refresh_ms", "HERALD_AUTH_KEYS_REFRESH_MS", "250",
              "How often each node reloads the active API keys from PostgreSQL: a key revoked "
              "on another node is refused here within this time",
              50, 60000),
      integer("jwt.ttl_s", "HERALD_JWT_TTL_S", "3600", "Seconds a login token stays valid", 60,
              2592000),
      level,
    };
  }();
  return options;
}

// -- settings -----------------------------------------------------------------

const std::string& settings::get(std::string_view key) const {
  auto i = values_.find(key);
  if (i == values_.end()) {
    throw std::logic_error("undeclared configuration key: " + std::string{key});
  }
  return i->second;
}

std::int64_t settings::get_int(std::string_view key) const {
  auto v = to_int(get(key));
  if (!v) {
    throw std::logic_error("configuration key is not an integer: " + std::string{key});
  }
  return *v;
}

std::chrono::milliseconds settings::get_ms(std::string_view key) const {
  return std::chrono::milliseconds{get_int(key)};
}

bool settings::get_bool(std::string_view key) const {
  return get(key) == "true";
}

std::vector<std::chrono::milliseconds> settings::get_ms_list(std::string_view key) const {
  std::vector<std::chrono::milliseconds> out;
  for (auto& item : split_list(get(key))) {
    auto v = to_int(item);
    if (!v) {
      throw std::logic_error("configuration key is not a list of integers: " + std::string{key});
    }
    out.emplace_back(*v);
  }
  return out;
}

std::vector<std::string> settings::roles() const {
  auto list = split_list(get("roles"));
  if (std::find(list.begin(), list.end(), "all") != list.end()) {
    return known_roles();
  }
  return list;
}

bool settings::has_role(std::string_view role) const {
  auto list = roles();
  return std::find(list.begin(), list.end(), role) != list.end();
}

const std::string& settings::source(std::string_view key) const {
  static const std::string none = "default";
  auto i = sources_.find(key);
  return i == sources_.end() ? none : i->second;
}

// -- loading ------------------------------------------------------------------

std::string parse_file_text(std::string_view text, std::map<std::string, std::string>& out) {
  std::istringstream in{std::string{text}};
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (auto hash = line.find('#'); hash != std::string::npos) {
      line.erase(hash);
    }
    auto t = trim(line);
    if (t.empty()) {
      continue;
    }
    auto eq = t.find('=');
    if (eq == std::string::npos) {
      return "line " + std::to_string(number) + ": expected 'key = value'";
    }
    out[trim(std::string_view{t}.substr(0, eq))] = trim(std::string_view{t}.substr(eq + 1));
  }
  return {};
}

struct loader {
  static load_result run(const sources& in) {
    settings s;
    for (auto& o : declared_options()) {
      s.values_[o.key] = o.default_value;
      s.sources_[o.key] = "default";
    }
    auto apply = [&](const std::string& key, const std::string& value,
                     const std::string& origin) -> std::string {
      auto* opt = find_option(key);
      if (opt == nullptr) {
        return "unknown configuration key '" + key + "' (" + origin + ")";
      }
      s.values_[key] = value;
      s.sources_[key] = origin;
      return {};
    };
    if (in.file_path) {
      FILE* f = std::fopen(in.file_path->c_str(), "rb");
      if (f == nullptr) {
        return {std::nullopt, "cannot read config file " + *in.file_path};
      }
      std::string text;
      char buf[4096];
      for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) {
        text.append(buf, n);
      }
      std::fclose(f);
      std::map<std::string, std::string> kv;
      if (auto err = parse_file_text(text, kv); !err.empty()) {
        return {std::nullopt, *in.file_path + ": " + err};
      }
      for (auto& [k, v] : kv) {
        if (auto err = apply(k, v, "file " + *in.file_path); !err.empty()) {
          return {std::nullopt, err};
        }
      }
    }
    for (auto& o : declared_options()) {
      if (auto i = in.environment.find(o.env); i != in.environment.end()) {
        s.values_[o.key] = i->second;
        s.sources_[o.key] = "env " + o.env;
      }
    }
    for (auto& flag : in.flags) {
      if (flag.rfind("--", 0) != 0 || flag.find('=') == std::string::npos) {
        return {std::nullopt, "expected --key=value, got '" + flag + "'"};
      }
      auto eq = flag.find('=');
      if (auto err = apply(flag.substr(2, eq - 2), flag.substr(eq + 1), "flag"); !err.empty()) {
        return {std::nullopt, err};
      }
    }
    for (auto& o : declared_options()) {
      if (auto err = validate(o, s.values_[o.key]); !err.empty()) {
        auto& origin = s.sources_[o.key];
        return {std::nullopt, "invalid value for '" + o.key + "' (" + origin + "): " + err};
      }
    }
    if (auto err = check_vapid(s.values_, s.sources_); !err.empty()) {
      return {std::nullopt, err};
    }
    if (s.values_["node.name"].empty()) {
      char host[256] = {};
      gethostname(host, sizeof host - 1);
      s.values_["node.name"] = host[0] != 0 ? host : "herald";
    }
    return {std::move(s), {}};
  }
};

load_result load(const sources& in) {
  return loader::run(in);
}

std::map<std::string, std::string> process_environment() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv{*e};
    if (auto eq = kv.find('='); eq != std::string_view::npos) {
      out.emplace(std::string{kv.substr(0, eq)}, std::string{kv.substr(eq + 1)});
    }
  }
  return out;
}

std::string options_markdown() {
  std::string out = "| key | environment | default | meaning |\n|---|---|---|---|\n";
  for (auto& o : declared_options()) {
    out += "| `" + o.key + "` | `" + o.env + "` | `" + o.default_value + "` | " + o.doc
           + " |\n";
  }
  return out;
}

} // namespace herald::config
