#pragma once

#include <string>
#include <string_view>

namespace herald {

/// A random (version 4) UUID in canonical lower-case form.
std::string make_uuid();

/// True for a canonical 8-4-4-4-12 hexadecimal UUID.
bool is_uuid(std::string_view s);

} // namespace herald
