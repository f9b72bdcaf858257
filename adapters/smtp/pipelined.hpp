#pragma once

// SMTP over a plain TCP connection with command pipelining (RFC 2920), for sending many
// mails on one connection: the end of one message's data and the next message's MAIL
// FROM, RCPT TO and DATA go out in one write, so a relay that offers PIPELINING costs one
// round trip per message instead of four (libcurl sends each command and waits for its
// answer). A relay that does not offer it gets the commands one at a time. Used by
// smtp::client::send_all for smtp:// URLs; TLS (smtps://, STARTTLS) stays with libcurl.
//
// Internal to adapters/smtp; the pure parts are declared here so they can be tested.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/smtp/client.hpp"

namespace herald::smtp::detail {

/// The DATA payload of `message` (CRLF lines): every line that starts with '.' gets
/// another '.', and the terminating "\r\n.\r\n" follows (a missing final CRLF is added).
std::string dot_stuffed(std::string_view message);

/// One reply of the relay: its code and its last line's text (continuation lines of a
/// multi-line reply are collected in `lines`).
struct reply {
  int code = 0;
  std::string text;                ///< e.g. "2.1.0 Ok" (the last line, after the code)
  std::vector<std::string> lines;  ///< every line's text, for EHLO's capabilities
};

/// Splits the relay's byte stream into replies ("250-a\r\n250 b\r\n" is one reply).
class reply_reader {
public:
  void feed(std::string_view bytes) { buffer_.append(bytes); }
  /// The next complete reply, if all its lines have arrived. A line that is not
  /// "NNN[ -]text" yields code 0 (a protocol error for the caller).
  std::optional<reply> next();

private:
  std::string buffer_;
  std::size_t scanned_ = 0;
};

/// How a reply to one step of a mail transaction settles that mail: 2xx sent (only the
/// end of data ever settles as sent), 5xx permanent — except 530, 534, 535 and 538,
/// which refuse the session, not the mail — and anything else transient.
send_status classify(int code);

/// Where a pipelined session connects and how it introduces itself.
struct plain_endpoint {
  std::string host;
  int port = 25;
  std::string helo;     ///< EHLO domain ("" : this host's name)
  std::string user;     ///< AUTH when set (PLAIN or LOGIN, as offered)
  std::string password;
  std::chrono::milliseconds timeout{10000};
};

/// One connection, opened on first use and after any failure. Blocking; not thread-safe.
class pipelined_session {
public:
  explicit pipelined_session(plain_endpoint e);
  ~pipelined_session(); ///< says QUIT without waiting for the answer
  pipelined_session(const pipelined_session&) = delete;
  pipelined_session& operator=(const pipelined_session&) = delete;

  /// Sends `mails` in order; one outcome per mail. Mails not started by `start_by`, and
  /// those after a connection failure, are transient failures "not attempted". A reused
  /// connection found dead before the relay answered anything is replaced once.
  std::vector<send_outcome> send_all(const std::vector<mail>& mails,
                                     std::chrono::steady_clock::time_point start_by);

private:
  struct connection;
  plain_endpoint endpoint_;
  std::unique_ptr<connection> conn_;
};

} // namespace herald::smtp::detail
