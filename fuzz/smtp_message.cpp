// The SMTP message builder and the DATA payload. Input = subject, text body, HTML body,
// recipient, correlation id and notification id, separated by NUL; the mail is built as
// the email service builds it (smtp_connection's to_mail). Checked on every message:
// - only CRLF line endings, no line over 998 octets;
// - the header lines are exactly the ones build_message writes, in order: a field's CR or
//   LF never starts a header of its own, and no folded line is blank (a blank line would
//   end the header section early);
// - each header value unfolds (and RFC 2047-decodes) to the field without its CR and LF;
// - the subject, the extra headers and the encoded bodies are 7-bit printable ASCII;
// - a multipart message has its boundary only as its three delimiter lines;
// - dot-stuffed, the only line "." is the last one, and unstuffing gives back the message.

#include "adapters/smtp/message.hpp"
#include "adapters/smtp/pipelined.hpp"
#include "fuzz/support.hpp"
#include "runtime/auth/base64.hpp"

#include <algorithm>
#include <span>
#include <string_view>
#include <vector>

using namespace herald;
using fuzz::require;

namespace {

std::string without_crlf(std::string s) {
  std::erase_if(s, [](char c) { return c == '\r' || c == '\n'; });
  return s;
}

/// The lines of `text`, split at CRLF (a last line without one included).
std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  for (std::size_t start = 0; start < text.size();) {
    auto end = std::min(text.find("\r\n", start), text.size());
    out.push_back(text.substr(start, end - start));
    start = end + 2;
  }
  return out;
}

bool printable_ascii(std::string_view s) {
  for (char c : s) {
    if ((c < 0x20 || c > 0x7e) && c != '\t') {
      return false;
    }
  }
  return true;
}

/// A header section: each field's name and its unfolded value (after "name:").
struct field {
  std::string name;
  std::string value;
};

std::vector<field> header_fields(const std::vector<std::string_view>& lines, std::size_t& next) {
  std::vector<field> out;
  for (; next < lines.size() && !lines[next].empty(); ++next) {
    auto line = lines[next];
    if (line.front() == ' ' || line.front() == '\t') {
      require(!out.empty(), "a header section starts with a field, not a continuation");
      require(line.find_first_not_of(" \t") != std::string_view::npos,
              "no folded header line is blank");
      out.back().value += line;
      continue;
    }
    auto colon = line.find(':');
    require(colon != std::string_view::npos, "every header line is a field or a continuation");
    out.push_back({std::string{line.substr(0, colon)}, std::string{line.substr(colon + 1)}});
  }
  require(next < lines.size(), "a blank line ends the header section");
  ++next;
  return out;
}

/// An unstructured value as a reader gets it: plain text after "name: ", or RFC 2047 B
/// words (a plain value never holds "=?").
std::string decoded(const std::string& value) {
  constexpr std::string_view prefix = "=?UTF-8?B?";
  require(!value.empty() && value.front() == ' ', "a header value follows \": \"");
  if (value.compare(1, prefix.size(), prefix) != 0) {
    return value.substr(1);
  }
  std::string out;
  for (std::size_t start = 1; start <= value.size();) {
    auto end = std::min(value.find(' ', start), value.size());
    auto word = std::string_view{value}.substr(start, end - start);
    require(word.size() >= prefix.size() + 2 && word.substr(0, prefix.size()) == prefix
              && word.substr(word.size() - 2) == "?=",
            "an encoded value is only encoded words");
    auto bytes = auth::base64_decode(word.substr(prefix.size(), word.size() - prefix.size() - 2));
    require(bytes.has_value(), "an encoded word is base64");
    out += *bytes;
    start = end + 1;
  }
  return out;
}

void check_dot_stuffing(const std::string& message) {
  auto data = smtp::detail::dot_stuffed(message);
  require(data.find("\r\n.\r\n") == data.size() - 5, "the data ends at its end, nowhere else");
  std::string unstuffed;
  auto lines = lines_of(std::string_view{data}.substr(0, data.size() - 3));
  for (auto line : lines) {
    if (!line.empty() && line.front() == '.') {
      require(line.size() > 1 && line[1] == '.', "a line starting with '.' is stuffed");
      line.remove_prefix(1);
    }
    unstuffed.append(line).append("\r\n");
  }
  require(unstuffed == message, "unstuffing gives back the message");
}

void check_headers(const std::vector<field>& headers, const smtp::mail& m) {
  std::vector<std::string> expected{"Date", "From", "To", "Subject", "Message-ID", "MIME-Version",
                                    "X-Herald-Notification-ID", "X-Correlation-ID",
                                    "Content-Type"};
  if (m.html_body.empty()) {
    expected.push_back("Content-Transfer-Encoding");
  }
  require(headers.size() == expected.size(), "no field adds a header line");
  for (std::size_t i = 0; i < expected.size(); ++i) {
    require(headers[i].name == expected[i], "the headers are the ones built, in order");
  }
  // To and Message-ID are written as given (addresses and ids are checked upstream).
  require(headers[2].value == " " + without_crlf(m.to), "To is the recipient");
  require(headers[4].value == " " + without_crlf(m.message_id), "Message-ID is the id");
  require(decoded(headers[3].value) == without_crlf(m.subject), "Subject is the subject");
  for (std::size_t i = 0; i < m.headers.size(); ++i) {
    require(decoded(headers[6 + i].value) == without_crlf(m.headers[i].second),
            "the extra headers carry their values");
  }
  for (auto i : {3, 6, 7, 8}) {
    require(printable_ascii(headers[i].value), "the subject and the extra headers are 7-bit");
  }
}

/// `body` is what follows the header section of a multipart message.
void check_boundary(const std::string& content_type, std::span<const std::string_view> body) {
  auto at = content_type.find("boundary=\"");
  require(at != std::string::npos, "a multipart message names its boundary");
  at += 10;
  auto delimiter = "--" + content_type.substr(at, content_type.find('"', at) - at);
  auto delimiters = std::count(body.begin(), body.end(), delimiter);
  auto closes = std::count(body.begin(), body.end(), delimiter + "--");
  auto anywhere = std::count_if(body.begin(), body.end(), [&](std::string_view line) {
    return line.find(delimiter) != std::string_view::npos;
  });
  require(delimiters == 2 && closes == 1 && anywhere == 3,
          "the boundary appears only as the three delimiter lines");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto in = fuzz::fields(data, size, 6);
  smtp::mail m;
  m.from = "herald@localhost";
  m.subject = in[0];
  m.text_body = in[1];
  m.html_body = in[2];
  // Validated upstream: an address of at most 254 bytes, a UUID; written unfolded.
  m.to = in[3].substr(0, 254);
  auto notification_id = in[5].substr(0, 64);
  m.message_id = "<" + notification_id + "@herald>";
  m.headers = {{"X-Herald-Notification-ID", notification_id}, {"X-Correlation-ID", in[4]}};
  auto message = smtp::build_message(m, std::chrono::system_clock::time_point{});

  require(message.size() >= 2 && message.compare(message.size() - 2, 2, "\r\n") == 0,
          "the message ends with CRLF");
  auto lines = lines_of(message);
  for (auto line : lines) {
    require(line.find_first_of("\r\n") == std::string_view::npos, "only CRLF ends a line");
    require(line.size() <= 998, "no line is longer than 998 octets");
  }
  std::size_t next = 0;
  auto headers = header_fields(lines, next);
  check_headers(headers, m);
  auto body = std::span{lines}.subspan(next);
  for (auto line : body) {
    require(printable_ascii(line), "the encoded bodies are 7-bit printable");
  }
  if (!m.html_body.empty()) {
    check_boundary(headers[8].value, body);
  }
  check_dot_stuffing(message);
  return 0;
}
