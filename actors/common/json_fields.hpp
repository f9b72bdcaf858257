#pragma once

// Reading fields of a JSON request body with errors that name the field and say what was
// wrong: missing, of the wrong type (and which type it was), empty, or too long.

#include <nlohmann/json.hpp>
#include <string>

namespace herald {

/// "a string", "a number", "an object", ... for messages.
const char* json_type_name(const nlohmann::json& j);

/// Reads the string field `name` into `out`. Returns "" when fine (an absent optional
/// field leaves `out` as it was), else the error.
std::string read_string_field(const nlohmann::json& body, const char* name, bool required,
                              std::size_t max_len, std::string& out);

} // namespace herald
