// http::excerpt (server.hpp) in a file of its own: error messages all over Herald quote
// with it, and the fuzz build links them without the server.

#include "adapters/http/server.hpp"

namespace herald::http {

std::string excerpt(std::string_view text, std::size_t keep) {
  if (text.size() <= keep) {
    return std::string{text};
  }
  auto cut = keep;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) {
    --cut; // not inside a UTF-8 character
  }
  return std::string{text.substr(0, cut)} + "... (" + std::to_string(text.size()) + " bytes)";
}

} // namespace herald::http
