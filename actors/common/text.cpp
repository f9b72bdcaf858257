#include "actors/common/text.hpp"

#include <utf8proc.h>

namespace herald {

std::string as_text(std::string_view bytes) {
  static constexpr char hex[] = "0123456789abcdef";
  // The common case, plain ASCII without NUL, as it is.
  bool plain = true;
  for (char c : bytes) {
    if (c == '\0' || static_cast<unsigned char>(c) >= 0x80) {
      plain = false;
      break;
    }
  }
  if (plain) {
    return std::string{bytes};
  }
  std::string out;
  out.reserve(bytes.size());
  auto* p = reinterpret_cast<const utf8proc_uint8_t*>(bytes.data());
  std::size_t i = 0;
  while (i < bytes.size()) {
    utf8proc_int32_t cp = 0;
    auto n = utf8proc_iterate(p + i, static_cast<utf8proc_ssize_t>(bytes.size() - i), &cp);
    if (n > 0 && cp != 0) {
      out.append(bytes.substr(i, static_cast<std::size_t>(n)));
      i += static_cast<std::size_t>(n);
      continue;
    }
    auto b = static_cast<unsigned char>(bytes[i]);
    out += "\\x";
    out += hex[b >> 4];
    out += hex[b & 0xF];
    ++i;
  }
  return out;
}

} // namespace herald
