#pragma once

// What the fuzz targets share: checking an invariant, cutting an input into fields, and
// reading a request body exactly as a route does.

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace herald::fuzz {

/// Ends the run with `what` when `ok` is false: libFuzzer keeps the input as a crash.
void require(bool ok, const char* what);

/// The input cut at its first `count - 1` NUL bytes into `count` fields (missing ones
/// empty; the last takes the rest), so a seed is text with NUL between its fields.
std::vector<std::string> fields(const std::uint8_t* data, std::size_t size, std::size_t count);

/// The input as a route reads its body (rest::parse_object: depth check, JSON, object):
/// the object, or nullopt after checking that the refusal is a 400 envelope.
std::optional<nlohmann::json> request_body(const std::uint8_t* data, std::size_t size);

/// A reader's refusal as a route answers it (rest::fail): checks that the answer is a
/// JSON envelope with that status, whatever bytes the error quotes.
void check_refusal(int status, const std::string& error);

/// How deep `j` nests objects and arrays (a scalar is 0).
int depth(const nlohmann::json& j);

} // namespace herald::fuzz
