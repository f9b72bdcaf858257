#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace herald::smtp {

/// One email to one recipient, as the email service hands it to the SMTP client.
struct mail {
  std::string from;       ///< address only, e.g. "herald@localhost"
  std::string to;         ///< address only
  std::string subject;    ///< UTF-8; CR/LF are stripped defensively
  std::string text_body;  ///< UTF-8; any of LF, CRLF, CR end a line
  std::string html_body;  ///< optional UTF-8; when present the message is multipart/alternative
  std::string message_id; ///< e.g. "<uuid@herald>"; generated when empty
  /// Extra headers, e.g. {"X-Correlation-ID", "..."}. CR/LF in values are dropped, so a
  /// value cannot start a new header; non-ASCII values are RFC 2047 encoded.
  std::vector<std::pair<std::string, std::string>> headers;
};

/// Builds the RFC 5322 message that is uploaded, with CRLF line endings and no line
/// longer than 998 octets: Date, From, To, Subject (RFC 2047 "=?UTF-8?B?...?=" encoded
/// when not plain ASCII, folded when long), Message-ID, MIME-Version, the extra headers,
/// then either a text/plain UTF-8 body or, when `html_body` is set, a
/// multipart/alternative with a text part and an html part. Bodies are quoted-printable
/// (base64 when mostly non-ASCII), so long lines and UTF-8 survive any relay.
/// Pure apart from generating a Message-ID when `m.message_id` is empty. Throws
/// std::invalid_argument for an extra header whose name is not a valid field name or is
/// one of the headers built here (programmer error).
std::string build_message(const mail& m, std::chrono::system_clock::time_point now);

/// A fresh globally unique Message-ID, "<32 hex digits@herald>".
std::string make_message_id();

} // namespace herald::smtp
