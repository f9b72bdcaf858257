#pragma once

// Bytes as text that PostgreSQL (UTF8) and JSON will take: what arrives from outside
// (a message body on a queue, a header) may be anything.

#include <string>
#include <string_view>

namespace herald {

/// `bytes` with every well-formed UTF-8 sequence kept as it is and every byte that is not
/// part of one, or is NUL, written as the four characters "\xHH" (so "\xff" and "\x00"
/// stay visible and the result is valid UTF-8 without NUL).
std::string as_text(std::string_view bytes);

} // namespace herald
