#include "adapters/smtp/client.hpp"
#include "adapters/smtp/message.hpp"
#include "runtime/config/settings.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

using herald::smtp::build_message;
using herald::smtp::mail;

namespace {

// -- a small reader for what build_message writes (independent of its encoders) ---

std::string decode_base64(std::string_view in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = c >= 'A' && c <= 'Z'   ? c - 'A'
            : c >= 'a' && c <= 'z' ? c - 'a' + 26
            : c >= '0' && c <= '9' ? c - '0' + 52
            : c == '+'             ? 62
            : c == '/'             ? 63
                                   : -1;
    if (v < 0) {
      continue; // line breaks and padding
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

std::string decode_quoted_printable(std::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '=') {
      out += in[i];
    } else if (in.substr(i + 1, 2) == "\r\n") {
      i += 2; // soft line break
    } else {
      out += static_cast<char>(std::stoi(std::string{in.substr(i + 1, 2)}, nullptr, 16));
      i += 2;
    }
  }
  return out;
}

std::string unfold(std::string_view value) {
  std::string out;
  for (size_t i = 0; i < value.size(); ++i) {
    if (value.substr(i, 2) == "\r\n") {
      ++i;
    } else {
      out += value[i];
    }
  }
  return out;
}

/// Decodes "=?UTF-8?B?...?=" words; white space between two encoded words is dropped.
std::string decode_rfc2047(std::string_view value) {
  std::string out;
  bool previous_was_word = false;
  size_t i = 0;
  while (i < value.size()) {
    auto space_end = value.find_first_not_of(' ', i);
    if (space_end == std::string_view::npos) {
      out += value.substr(i);
      break;
    }
    if (value.substr(space_end, 10) == "=?UTF-8?B?") {
      auto end = value.find("?=", space_end + 10);
      BOOST_REQUIRE(end != std::string_view::npos);
      if (!previous_was_word) {
        out += value.substr(i, space_end - i);
      }
      out += decode_base64(value.substr(space_end + 10, end - space_end - 10));
      previous_was_word = true;
      i = end + 2;
    } else {
      auto word_end = value.find(' ', space_end);
      word_end = word_end == std::string_view::npos ? value.size() : word_end;
      out += value.substr(i, word_end - i);
      previous_was_word = false;
      i = word_end;
    }
  }
  return out;
}

struct parsed_message {
  std::vector<std::pair<std::string, std::string>> headers; // values still folded
  std::string body;

  std::vector<std::string> all(std::string_view name) const {
    std::vector<std::string> out;
    for (const auto& [n, v] : headers) {
      if (n == name) {
        out.push_back(v);
      }
    }
    return out;
  }

  std::string one(std::string_view name) const {
    auto values = all(name);
    BOOST_TEST_REQUIRE(values.size() == 1u, "exactly one " << name << " header");
    return values.front();
  }
};

parsed_message parse(std::string_view text) {
  parsed_message result;
  auto end = text.find("\r\n\r\n");
  BOOST_REQUIRE(end != std::string_view::npos);
  result.body = std::string{text.substr(end + 4)};
  auto head = text.substr(0, end + 2);
  size_t pos = 0;
  while (pos < head.size()) {
    auto eol = head.find("\r\n", pos);
    auto line = head.substr(pos, eol - pos);
    if (line.front() == ' ' || line.front() == '\t') {
      BOOST_REQUIRE(!result.headers.empty());
      result.headers.back().second += "\r\n" + std::string{line};
    } else {
      auto colon = line.find(':');
      BOOST_REQUIRE(colon != std::string_view::npos);
      auto value = line.substr(colon + 1);
      if (!value.empty() && value.front() == ' ') {
        value.remove_prefix(1);
      }
      result.headers.emplace_back(std::string{line.substr(0, colon)}, std::string{value});
    }
    pos = eol + 2;
  }
  return result;
}

std::string decode_body(const parsed_message& part) {
  auto encoding = part.one("Content-Transfer-Encoding");
  if (encoding == "base64") {
    return decode_base64(part.body);
  }
  BOOST_TEST_REQUIRE(encoding == "quoted-printable");
  return decode_quoted_printable(part.body);
}

std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos < text.size()) {
    auto eol = text.find("\r\n", pos);
    if (eol == std::string_view::npos) {
      out.push_back(text.substr(pos));
      break;
    }
    out.push_back(text.substr(pos, eol - pos));
    pos = eol + 2;
  }
  return out;
}

void require_crlf_only_and_short_lines(std::string_view text, size_t limit) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') {
      BOOST_TEST_REQUIRE((i > 0 && text[i - 1] == '\r'), "bare LF at offset " << i);
    }
    if (text[i] == '\r') {
      BOOST_TEST_REQUIRE((i + 1 < text.size() && text[i + 1] == '\n'), "bare CR at offset " << i);
    }
  }
  BOOST_TEST(text.substr(text.size() - 2) == "\r\n");
  for (auto line : lines_of(text)) {
    BOOST_TEST(line.size() <= limit, "line longer than " << limit << ": " << line);
  }
}

mail sample() {
  mail m;
  m.from = "herald@localhost";
  m.to = "ada@example.org";
  m.subject = "Welcome to Herald";
  m.text_body = "Hello Ada,\nyour account is ready.\n";
  m.message_id = "<0123456789abcdef@herald>";
  return m;
}

const auto fixed_time = std::chrono::system_clock::from_time_t(1700000000);

} // namespace

BOOST_AUTO_TEST_SUITE(smtp_message)

BOOST_AUTO_TEST_CASE(headers_are_present_and_every_line_ends_with_crlf) {
  auto text = build_message(sample(), fixed_time);
  require_crlf_only_and_short_lines(text, 78);
  auto msg = parse(text);
  BOOST_TEST(msg.one("Date") == "Tue, 14 Nov 2023 22:13:20 +0000");
  BOOST_TEST(msg.one("From") == "herald@localhost");
  BOOST_TEST(msg.one("To") == "ada@example.org");
  BOOST_TEST(msg.one("Subject") == "Welcome to Herald");
  BOOST_TEST(msg.one("Message-ID") == "<0123456789abcdef@herald>");
  BOOST_TEST(msg.one("MIME-Version") == "1.0");
  BOOST_TEST(msg.one("Content-Type") == "text/plain; charset=UTF-8");
  BOOST_TEST(decode_body(msg) == "Hello Ada,\r\nyour account is ready.\r\n");
}

BOOST_AUTO_TEST_CASE(non_ascii_subject_is_rfc2047_encoded_and_decodes_back) {
  auto m = sample();
  m.subject = "Grüße aus Köln — Привет, мир! 你好，世界 🎉 Ærøskøbing ĳ ǅ ﬁ — and a long tail "
              "to force several encoded words";
  auto text = build_message(m, fixed_time);
  require_crlf_only_and_short_lines(text, 998);
  auto subject = parse(text).one("Subject");
  for (auto line : lines_of(subject)) {
    BOOST_TEST(line.size() <= 76u - (line.front() == ' ' ? 0 : 9), "encoded line: " << line);
  }
  BOOST_TEST(subject.find("=?UTF-8?B?") != std::string::npos);
  BOOST_TEST(lines_of(subject).size() > 1u);
  BOOST_TEST(decode_rfc2047(unfold(subject)) == m.subject);
}

BOOST_AUTO_TEST_CASE(encoded_words_never_split_a_utf8_character) {
  auto m = sample();
  for (const char* subject : {"ééééééééééééééééééééééééééééééééééééééééééééééééééé",
                              "a€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€",
                              "ab🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉"}) {
    m.subject = subject;
    auto value = unfold(parse(build_message(m, fixed_time)).one("Subject"));
    size_t pos = 0;
    while ((pos = value.find("=?UTF-8?B?", pos)) != std::string::npos) {
      auto end = value.find("?=", pos);
      auto word = decode_base64(std::string_view{value}.substr(pos + 10, end - pos - 10));
      BOOST_TEST((static_cast<unsigned char>(word.front()) & 0xc0) != 0x80u);
      auto last = static_cast<unsigned char>(word.back());
      BOOST_TEST((last < 0x80 || (last & 0xc0) == 0x80), "word ends inside a character");
      pos = end;
    }
    BOOST_TEST(decode_rfc2047(value) == std::string{subject});
  }
}

BOOST_AUTO_TEST_CASE(long_ascii_subject_is_folded_and_unfolds_to_the_original) {
  auto m = sample();
  m.subject = "Your weekly digest:  twelve new comments, three mentions, and one reminder "
              "about the meeting that was moved to Thursday afternoon";
  auto text = build_message(m, fixed_time);
  require_crlf_only_and_short_lines(text, 78);
  auto subject = parse(text).one("Subject");
  BOOST_TEST(lines_of(subject).size() > 1u);
  BOOST_TEST(subject.find("=?") == std::string::npos);
  BOOST_TEST(unfold(subject) == m.subject);
}

BOOST_AUTO_TEST_CASE(ascii_subject_that_looks_encoded_is_encoded) {
  auto m = sample();
  m.subject = "=?UTF-8?B?aGk=?= literally";
  auto subject = parse(build_message(m, fixed_time)).one("Subject");
  BOOST_TEST(decode_rfc2047(unfold(subject)) == m.subject);
}

BOOST_AUTO_TEST_CASE(crlf_in_subject_or_header_values_cannot_inject_a_header) {
  auto m = sample();
  m.subject = "Hi\r\nBcc: victim@example.org\r\n\r\nforged body";
  m.from = "herald@localhost\r\nBcc: a@example.org";
  m.to = "ada@example.org\nBcc: b@example.org";
  m.message_id = "<x@herald>\r\nBcc: c@example.org";
  m.headers = {{"X-Correlation-ID", "abc\r\nBcc: d@example.org"}};
  auto text = build_message(m, fixed_time);
  require_crlf_only_and_short_lines(text, 78);
  auto msg = parse(text);
  BOOST_TEST(msg.all("Bcc").empty());
  BOOST_TEST(unfold(msg.one("Subject")) == "HiBcc: victim@example.org" "forged body");
  BOOST_TEST(msg.one("X-Correlation-ID") == "abcBcc: d@example.org");
  BOOST_TEST(decode_body(msg) == "Hello Ada,\r\nyour account is ready.\r\n");
}

BOOST_AUTO_TEST_CASE(extra_headers_are_written_after_the_standard_ones) {
  auto m = sample();
  m.headers = {{"X-Correlation-ID", "6f1c9a2e-corr"}, {"X-Herald-Notification", "n-42"}};
  auto msg = parse(build_message(m, fixed_time));
  BOOST_TEST(msg.one("X-Correlation-ID") == "6f1c9a2e-corr");
  BOOST_TEST(msg.one("X-Herald-Notification") == "n-42");
}

BOOST_AUTO_TEST_CASE(extra_header_with_invalid_or_reserved_name_is_refused) {
  for (const char* name : {"", "X Bad", "X-Bad:", "Subject", "content-type", "FROM"}) {
    auto m = sample();
    m.headers = {{name, "v"}};
    BOOST_CHECK_THROW(build_message(m, fixed_time), std::invalid_argument);
  }
}

BOOST_AUTO_TEST_CASE(html_body_makes_multipart_alternative_with_text_then_html) {
  auto m = sample();
  m.text_body = "Hello Ada — welcome!";
  m.html_body = "<p>Hello <b>Ada</b> — <a href=\"https://example.org/?a=1&b=2\">welcome</a>!</p>";
  auto text = build_message(m, fixed_time);
  require_crlf_only_and_short_lines(text, 78);
  auto msg = parse(text);
  auto content_type = msg.one("Content-Type");
  BOOST_TEST(content_type.rfind("multipart/alternative; boundary=\"", 0) == 0u);
  auto boundary = content_type.substr(content_type.find('"') + 1);
  boundary.pop_back();
  BOOST_TEST(msg.all("Content-Transfer-Encoding").empty());
  // Split on the delimiters exactly as RFC 2046 defines them.
  auto delimiter = "\r\n--" + boundary;
  auto body = "\r\n" + msg.body;
  std::vector<std::string> parts;
  size_t pos = body.find(delimiter);
  BOOST_REQUIRE(pos != std::string::npos);
  while (true) {
    auto after = pos + delimiter.size();
    if (body.compare(after, 2, "--") == 0) {
      break; // close delimiter
    }
    BOOST_REQUIRE(body.compare(after, 2, "\r\n") == 0);
    auto next = body.find(delimiter, after);
    BOOST_REQUIRE(next != std::string::npos);
    parts.push_back(body.substr(after + 2, next - after - 2));
    pos = next;
  }
  BOOST_REQUIRE(parts.size() == 2u);
  auto text_part = parse(parts[0]);
  auto html_part = parse(parts[1]);
  BOOST_TEST(text_part.one("Content-Type") == "text/plain; charset=UTF-8");
  BOOST_TEST(html_part.one("Content-Type") == "text/html; charset=UTF-8");
  BOOST_TEST(decode_body(text_part) == m.text_body);
  BOOST_TEST(decode_body(html_part) == m.html_body);
}

BOOST_AUTO_TEST_CASE(quoted_printable_body_decodes_back_to_the_original_utf8_text) {
  auto m = sample();
  std::string long_line;
  for (int i = 0; i < 30; ++i) {
    long_line += "The quick brown fox jumps over the naïve dog = café; ";
  }
  m.text_body = "Hello Ada,\n" + long_line + "\n.\n..leading dots\r\nFrom the team \t\r"
                "trailing spaces   \nend=";
  auto text = build_message(m, fixed_time);
  require_crlf_only_and_short_lines(text, 76);
  auto msg = parse(text);
  BOOST_TEST(msg.one("Content-Transfer-Encoding") == "quoted-printable");
  auto expected = "Hello Ada,\r\n" + long_line + "\r\n.\r\n..leading dots\r\nFrom the team \t\r\n"
                  "trailing spaces   \r\nend=\r\n"; // a single-part body ends with CRLF
  BOOST_TEST(decode_body(msg) == expected);
}

BOOST_AUTO_TEST_CASE(mostly_non_ascii_body_is_base64_and_decodes_back) {
  auto m = sample();
  m.text_body = "Здравствуйте, Ада!\nВаш аккаунт готов. 你好，世界。\n";
  auto text = build_message(m, fixed_time);
  require_crlf_only_and_short_lines(text, 76);
  auto msg = parse(text);
  BOOST_TEST(msg.one("Content-Transfer-Encoding") == "base64");
  BOOST_TEST(decode_body(msg) == "Здравствуйте, Ада!\r\nВаш аккаунт готов. 你好，世界。\r\n");
}

BOOST_AUTO_TEST_CASE(message_id_is_generated_when_empty) {
  auto m = sample();
  m.message_id.clear();
  auto first = parse(build_message(m, fixed_time)).one("Message-ID");
  auto second = parse(build_message(m, fixed_time)).one("Message-ID");
  BOOST_TEST(first.front() == '<');
  BOOST_TEST(first.find("@herald>") != std::string::npos);
  BOOST_TEST(first.size() > 20u);
  BOOST_TEST(first != second);
}

BOOST_AUTO_TEST_CASE(message_id_without_angle_brackets_gets_them) {
  auto m = sample();
  m.message_id = "abc@herald";
  BOOST_TEST(parse(build_message(m, fixed_time)).one("Message-ID") == "<abc@herald>");
}

BOOST_AUTO_TEST_SUITE_END()

// The client's settings and envelope checks need no relay: constructing a client does not
// connect, and a refused address is decided before any connection.
BOOST_AUTO_TEST_SUITE(smtp_settings)

namespace {

/// A socket listening on 127.0.0.1 that never accepts: tells whether anyone connected.
struct listener {
  int fd = -1;
  int port = 0;
  listener() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), len) == 0);
    BOOST_REQUIRE(::listen(fd, 16) == 0);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~listener() { ::close(fd); }
  bool connected_within(int ms) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, ms) == 1;
  }
};

} // namespace

BOOST_AUTO_TEST_CASE(client_accepts_the_documented_urls_without_connecting) {
  listener relay;
  auto p = std::to_string(relay.port);
  // Every documented form (plain, STARTTLS required, implicit TLS, credentials, verify on
  // and off, EHLO domain), pointed at a listener: constructed, and nothing connected.
  for (auto url : {"smtp://127.0.0.1:" + p, "smtp://localhost:" + p + "?insecure=1",
                   "smtps://user:p%40ss@127.0.0.1:" + p, "smtps://127.0.0.1:" + p + "?insecure=0",
                   "smtp://127.0.0.1:" + p + "?starttls=required",
                   "smtp://127.0.0.1:" + p + "/herald.example"}) {
    BOOST_TEST_CONTEXT("url: " << url) {
      std::optional<herald::smtp::client> client;
      BOOST_CHECK_NO_THROW(client.emplace(herald::smtp::settings{url}));
      BOOST_CHECK(client.has_value());
      BOOST_CHECK(!relay.connected_within(100));
    }
  }
  BOOST_CHECK_NO_THROW(herald::smtp::client{{"smtp://[::1]:25/herald.example"}});
}

BOOST_AUTO_TEST_CASE(a_ca_file_that_cannot_be_read_stops_start_up_naming_the_key) {
  auto r = herald::config::load({std::nullopt, {{"HERALD_SMTP_CA_FILE", "/nonexistent/ca.pem"}}, {}});
  BOOST_CHECK(!r.value);
  BOOST_CHECK_MESSAGE(r.error.find("smtp.ca_file") != std::string::npos, "error: " << r.error);
  auto unset = herald::config::load({std::nullopt, {}, {}});
  BOOST_REQUIRE(unset.value);
  BOOST_CHECK_EQUAL(unset.value->get("smtp.ca_file"), ""); // the system's CAs by default
}

BOOST_AUTO_TEST_CASE(client_refuses_malformed_or_unsupported_urls) {
  for (const char* url : {"", "relay:25", "http://relay:25", "smtp://relay:25?starttls=maybe",
                          "smtps://relay?starttls=required", "smtp://relay?insecure=yes",
                          "smtp://relay?verify=0", "smtp://relay/not%20a%20domain"}) {
    BOOST_TEST_CONTEXT("url: " << url) {
      BOOST_CHECK_THROW(herald::smtp::client{{url}}, std::invalid_argument);
      BOOST_CHECK_THROW(herald::smtp::probe(url, std::chrono::milliseconds(100)),
                        std::invalid_argument);
    }
  }
}

BOOST_AUTO_TEST_CASE(url_errors_never_echo_the_password) {
  try {
    herald::smtp::client{{"smtp://user:hunter2@relay:99999"}};
    BOOST_FAIL("expected std::invalid_argument");
  } catch (const std::invalid_argument& e) {
    BOOST_TEST(std::string{e.what()}.find("hunter2") == std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(addresses_that_would_break_the_envelope_are_a_permanent_failure) {
  herald::smtp::client client{{"smtp://127.0.0.1:1"}};
  for (auto [from, to] : std::vector<std::pair<std::string, std::string>>{
         {"herald@localhost", ""},
         {"herald@localhost", "ada@example.org>\r\nRCPT TO:<eve@example.org"},
         {"herald@localhost", "ada@example.org\nRSET"},
         {"herald@localhost>\r\nRSET", "ada@example.org"}}) {
    auto m = sample();
    m.from = from;
    m.to = to;
    auto outcome = client.send(m);
    BOOST_TEST((outcome.status == herald::smtp::send_status::permanent_failure));
    BOOST_TEST(outcome.smtp_code == 0);
  }
}

BOOST_AUTO_TEST_SUITE_END()
