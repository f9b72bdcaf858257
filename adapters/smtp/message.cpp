#include "adapters/smtp/message.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <random>
#include <stdexcept>
#include <string_view>

namespace herald::smtp {

namespace {

constexpr size_t max_line = 78; // RFC 5322 "SHOULD"; encoded-word lines stay within 76
constexpr std::string_view crlf = "\r\n";

std::string without_crlf(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c != '\r' && c != '\n') {
      out += c;
    }
  }
  return out;
}

std::string base64(std::string_view in) {
  static constexpr char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  for (size_t i = 0; i < in.size(); i += 3) {
    uint32_t n = static_cast<uint8_t>(in[i]) << 16;
    if (i + 1 < in.size()) {
      n |= static_cast<uint8_t>(in[i + 1]) << 8;
    }
    if (i + 2 < in.size()) {
      n |= static_cast<uint8_t>(in[i + 2]);
    }
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += i + 1 < in.size() ? alphabet[(n >> 6) & 63] : '=';
    out += i + 2 < in.size() ? alphabet[n & 63] : '=';
  }
  return out;
}

// -- header fields ---

/// Printable ASCII that cannot be mistaken for an encoded word.
bool is_plain_ascii(std::string_view s) {
  bool printable = std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
  return printable && s.find("=?") == std::string_view::npos;
}

/// Splits before each run of spaces, so that folding (CRLF before a space) and unfolding
/// (removing the CRLF) give back the value exactly.
std::vector<std::string_view> fold_segments(std::string_view value) {
  std::vector<std::string_view> out;
  size_t start = 0;
  size_t i = value.find(' ');
  while (i != std::string_view::npos) {
    auto word = value.find_first_not_of(' ', i);
    if (word == std::string_view::npos) {
      break; // trailing spaces stay with the last segment
    }
    if (i > start) {
      out.push_back(value.substr(start, i - start));
      start = i;
    }
    i = value.find(' ', word);
  }
  out.push_back(value.substr(start));
  return out;
}

std::string folded_plain(std::string_view name, std::string_view value) {
  std::string out{name};
  out += ": ";
  size_t line = out.size();
  bool first = true;
  for (auto segment : fold_segments(value)) {
    if (!first && line + segment.size() > max_line) {
      out += crlf;
      line = 0;
    }
    out += segment;
    line += segment.size();
    first = false;
  }
  out += crlf;
  return out;
}

/// RFC 2047 B encoding, split at UTF-8 character boundaries into encoded words that keep
/// every line within 76 characters.
std::string folded_encoded(std::string_view name, std::string_view value) {
  constexpr std::string_view prefix = "=?UTF-8?B?";
  constexpr std::string_view suffix = "?=";
  std::string out{name};
  out += ":";
  size_t line = out.size();
  size_t pos = 0;
  while (pos < value.size()) {
    size_t room = 76 - std::min<size_t>(76, line + 1 + prefix.size() + suffix.size());
    size_t bytes = room / 4 * 3;
    if (bytes < 6) { // not worth starting on this line
      out += crlf;
      line = 0;
      continue;
    }
    size_t end = std::min(value.size(), pos + bytes);
    size_t cut = end;
    while (cut > pos && cut < value.size() && (static_cast<uint8_t>(value[cut]) & 0xc0) == 0x80) {
      --cut; // never split a UTF-8 sequence across encoded words
    }
    end = cut > pos ? cut : end;
    auto word = std::string{prefix} + base64(value.substr(pos, end - pos)) + std::string{suffix};
    out += ' ';
    out += word;
    line += 1 + word.size();
    pos = end;
    if (pos < value.size()) {
      out += crlf;
      line = 0;
    }
  }
  out += crlf;
  return out;
}

/// One unstructured header field, folded; RFC 2047 encoded unless plain ASCII.
std::string header(std::string_view name, std::string_view raw_value) {
  auto value = without_crlf(raw_value);
  auto segments = fold_segments(value);
  bool foldable = std::all_of(segments.begin(), segments.end(),
                              [](std::string_view s) { return s.size() < 900; });
  if (is_plain_ascii(value) && foldable) {
    return folded_plain(name, value);
  }
  return folded_encoded(name, value);
}

std::string rfc5322_date(std::chrono::system_clock::time_point now) {
  static constexpr std::array<const char*, 7> days{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday],
                tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

bool is_field_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return c >= 33 && c <= 126 && c != ':';
  });
}

bool is_built_here(std::string_view name) {
  static constexpr std::array<std::string_view, 8> reserved{
    "date", "from", "to", "subject", "message-id", "mime-version", "content-type",
    "content-transfer-encoding"};
  std::string lower;
  for (char c : name) {
    lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  }
  return std::find(reserved.begin(), reserved.end(), lower) != reserved.end();
}

// -- bodies ---

/// The text with every line ending (LF, CRLF or CR) as CRLF.
std::string with_crlf(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 32);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') {
      out += crlf;
      if (i + 1 < text.size() && text[i + 1] == '\n') {
        ++i;
      }
    } else if (text[i] == '\n') {
      out += crlf;
    } else {
      out += text[i];
    }
  }
  return out;
}

bool qp_literal(char c) {
  return (c >= 33 && c <= 126 && c != '=') || c == ' ' || c == '\t';
}

std::string quoted_printable(std::string_view canonical) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  size_t line = 0;
  auto emit = [&](std::string_view token) {
    if (line + token.size() > 75) { // 76 with the soft line break's '='
      out += "=\r\n";
      line = 0;
    }
    out += token;
    line += token.size();
  };
  for (size_t i = 0; i < canonical.size(); ++i) {
    char c = canonical[i];
    if (c == '\r' && i + 1 < canonical.size() && canonical[i + 1] == '\n') {
      out += crlf;
      line = 0;
      ++i;
      continue;
    }
    bool at_line_end = i + 1 == canonical.size() || canonical[i + 1] == '\r';
    if (qp_literal(c) && !((c == ' ' || c == '\t') && at_line_end)) {
      emit(std::string_view{&c, 1});
    } else {
      auto u = static_cast<uint8_t>(c);
      char escaped[3] = {'=', hex[u >> 4], hex[u & 15]};
      emit(std::string_view{escaped, 3});
    }
  }
  return out;
}

std::string base64_lines(std::string_view canonical) {
  auto encoded = base64(canonical);
  std::string out;
  for (size_t i = 0; i < encoded.size(); i += 76) {
    out += encoded.substr(i, 76);
    out += crlf;
  }
  return out;
}

/// Part headers, blank line and encoded body (not necessarily ending with CRLF). Quoted-printable keeps
/// mostly-ASCII text readable; base64 is smaller once more than 1/6 of it needs escaping.
std::string body_part(std::string_view media_type, std::string_view text) {
  auto canonical = with_crlf(text);
  auto escaped = std::count_if(canonical.begin(), canonical.end(),
                               [](char c) { return !qp_literal(c) && c != '\r' && c != '\n'; });
  bool use_base64 = static_cast<size_t>(escaped) * 6 > canonical.size();
  std::string out = "Content-Type: ";
  out += media_type;
  out += "; charset=UTF-8\r\nContent-Transfer-Encoding: ";
  out += use_base64 ? "base64" : "quoted-printable";
  out += "\r\n\r\n";
  out += use_base64 ? base64_lines(canonical) : quoted_printable(canonical);
  return out;
}

bool ends_with_crlf(std::string_view s) {
  return s.size() >= 2 && s.substr(s.size() - 2) == crlf;
}

/// "=_" cannot occur in quoted-printable or base64 output, so the boundary never
/// collides with a body; the hash only makes it differ between messages.
std::string boundary_for(std::string_view message_id) {
  uint64_t h = 14695981039346656037ull; // FNV-1a
  for (char c : message_id) {
    h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "=_herald_%016llx", static_cast<unsigned long long>(h));
  return buf;
}

} // namespace

std::string make_message_id() {
  thread_local std::mt19937_64 rng{[] {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd()};
    return std::mt19937_64{seq};
  }()};
  char buf[48];
  std::snprintf(buf, sizeof(buf), "<%016llx%016llx@herald>",
                static_cast<unsigned long long>(rng()), static_cast<unsigned long long>(rng()));
  return buf;
}

std::string build_message(const mail& m, std::chrono::system_clock::time_point now) {
  for (const auto& [name, value] : m.headers) {
    if (!is_field_name(name) || is_built_here(name)) {
      throw std::invalid_argument("smtp: extra header name not allowed: " + name);
    }
  }
  auto message_id = without_crlf(m.message_id);
  if (message_id.empty()) {
    message_id = make_message_id();
  } else if (message_id.front() != '<') {
    message_id = "<" + message_id + ">";
  }
  std::string out;
  out += "Date: " + rfc5322_date(now) + "\r\n";
  out += "From: " + without_crlf(m.from) + "\r\n";
  out += "To: " + without_crlf(m.to) + "\r\n";
  out += header("Subject", m.subject);
  out += "Message-ID: " + message_id + "\r\n";
  out += "MIME-Version: 1.0\r\n";
  for (const auto& [name, value] : m.headers) {
    out += header(name, value);
  }
  if (m.html_body.empty()) {
    out += body_part("text/plain", m.text_body);
    if (!ends_with_crlf(out)) {
      out += crlf;
    }
    return out;
  }
  // The CRLF before each delimiter belongs to the delimiter, not to the part.
  auto boundary = boundary_for(message_id);
  out += "Content-Type: multipart/alternative; boundary=\"" + boundary + "\"\r\n\r\n";
  out += "--" + boundary + "\r\n";
  out += body_part("text/plain", m.text_body);
  out += "\r\n--" + boundary + "\r\n";
  out += body_part("text/html", m.html_body);
  out += "\r\n--" + boundary + "--\r\n";
  return out;
}

} // namespace herald::smtp
