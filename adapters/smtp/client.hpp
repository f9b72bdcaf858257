#pragma once

#include "adapters/smtp/message.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace herald::smtp {

enum class send_status {
  sent,              ///< the relay accepted the message (250 after DATA)
  transient_failure, ///< worth retrying later: 4xx, connection failure, timeout, TLS or AUTH trouble
  /// The relay refused this message: a 5xx answer to MAIL FROM, RCPT TO or DATA (except
  /// 530/534/535/538, which refuse the session, not the message), or an address that
  /// cannot be put in an envelope.
  permanent_failure,
};

/// What happened to one send; `smtp_code` is the relay's last reply code (0 when none).
struct send_outcome {
  send_status status = send_status::transient_failure;
  long smtp_code = 0;
  std::string detail;
  /// For a transient failure: it concerns this mail itself — the relay answered one of
  /// its commands with a 4xx (other than 421, which closes the session), or stopped
  /// answering (a timeout) during its transaction. False when the relay could not be
  /// reached, refused the session, or the mail was not attempted.
  bool message_specific = false;
};

/// Settings from HERALD_SMTP_URL:
/// - `smtp://[user:pass@]host[:port]` plain SMTP; STARTTLS is not attempted;
/// - `smtp://...?starttls=required` STARTTLS, failing when the relay does not offer it;
/// - `smtps://[user:pass@]host[:port]` implicit TLS.
/// Peers are verified (certificate chain and host name) against `ca_file` when set, else
/// against the system CA store; `?insecure=1` disables verification (local test relays
/// only). A peer that fails verification is a transient_failure whose detail names the
/// certificate problem (libcurl's "SSL certificate problem: ...", "... subject name ...").
/// Default ports: 25 for smtp, 465 for smtps. A path names the EHLO domain (default: this
/// host's name). Any other query key is an error. `timeout`
/// bounds connecting and each SMTP transaction (a send makes at most two, see send).
struct settings {
  std::string url;
  std::chrono::milliseconds timeout{10000};
  std::string ca_file{}; ///< PEM CA certificates for TLS peers; "" : the system's store
};

/// One SMTP connection reused across messages: a libcurl easy handle kept alive for
/// `send`, and for `send_all` to an smtp:// relay a plain connection of its own that
/// pipelines commands (adapters/smtp/pipelined.hpp). Each is opened on first use.
/// Blocking; not thread-safe: owned by one thread. Neither throws for network or relay
/// errors: they come back as outcomes.
class client {
public:
  /// Validates the settings; does not connect yet. Throws std::invalid_argument if the
  /// URL is malformed, not smtp/smtps, or has an unknown query key.
  explicit client(settings s);
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  /// Sends one mail (envelope from `m.from` to `m.to`, message from build_message).
  /// 5xx answers to MAIL FROM/RCPT TO/DATA are permanent_failure (e.g. 550 no such
  /// mailbox); 4xx, connection failures, timeouts and 5xx answers that refuse the session
  /// (greeting, EHLO, STARTTLS, AUTH, 530/534/535/538) are transient_failure. On failure
  /// the connection is dropped so the next send reconnects. When a reused connection
  /// turns out dead before the relay accepted anything, the send is retried once on a
  /// fresh connection (no duplicate is possible then). Throws only what build_message
  /// throws for a programmer error in `m.headers`.
  send_outcome send(const mail& m);

  /// Sends `mails` one after another on this client's connection; one outcome per mail,
  /// classified as for send(). With an smtp:// relay the commands are pipelined when the
  /// relay offers PIPELINING (RFC 2920): a mail's data and the next mail's MAIL FROM,
  /// RCPT TO and DATA go out together, one round trip per mail. smtps:// and STARTTLS
  /// relays are sent to through send(), one mail at a time. Mails not started by
  /// `start_by`, and those after a failure of the connection itself, are not attempted:
  /// transient failures whose detail starts with "not attempted".
  std::vector<send_outcome> send_all(const std::vector<mail>& mails,
                                     std::chrono::steady_clock::time_point start_by);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Connects as `url` describes (TCP, TLS, greeting, EHLO, STARTTLS, AUTH) within
/// `timeout` and hangs up; used by readiness checks. Returns "" when fine, else the
/// reason. TLS peers are verified against `ca_file` as in settings. Throws
/// std::invalid_argument for a malformed URL, like client.
std::string probe(const std::string& url, std::chrono::milliseconds timeout,
                  const std::string& ca_file = {});

} // namespace herald::smtp
