#pragma once

// The bodies and query parameters of the templates API, validated: every mistake is named
// by field. 400 for a malformed or misplaced field, 422 for Mustache that does not parse
// (naming the field, line and column). Channel rules:
// - email: `subject` (required, one line, at most 998 characters), `body` (text,
//   required), `html_body` (optional);
// - push: `title` (required, one line), `body` (required, at most 4096 characters),
//   `image_url` and `link` (optional; http(s) URLs, or Mustache that makes one: a literal
//   value must start with http:// or https://, or contain "{{"; push_url_problem() adds
//   the outbound rule: https and a public host), `data` (optional: an object of string
//   values, each Mustache; stored as JSON text).
// A field of the other channel, or one the API does not know, is a 400 naming it.
// Languages are case-insensitive tags like "en" or "pt-br", kept in lower case.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "actors/messaging/messages.hpp"
#include "adapters/net/outbound.hpp"

namespace herald {

struct template_validation {
  std::optional<template_record> value;
  int status = 400;  ///< when !value
  std::string error; ///< names the field
};

/// The body of POST /api/v1/templates: version 1 of a code in one language ("en" unless
/// given). `default_language`, when given, must equal `language` and asks to make this
/// language the code's default (the first language of a code is its default anyway);
/// the record's `default_language` is that value or "".
template_validation parse_new_template(const nlohmann::json& body);

struct patch_validation {
  std::optional<nlohmann::json> value; ///< the given fields, checked and normalised
  int status = 400;
  std::string error;
};

/// The body of PUT /api/v1/templates/{code}: any subset of the POST fields (absent or
/// null ones are taken from the latest version). Names, types and shapes are checked
/// here; rules that depend on the stored channel wait for apply_template_patch.
patch_validation parse_template_patch(const nlohmann::json& body, const std::string& code);

/// True when `patch` changes a part of the template (so a PUT makes a new version), not
/// only which language is the default.
bool patch_changes_content(const nlohmann::json& patch);

/// The next version: `latest` with `patch` applied, `version` = latest's + 1, checked as
/// a whole. A `channel` other than the stored one is a 409 naming the channel.
template_validation apply_template_patch(const template_record& latest,
                                         const nlohmann::json& patch);

/// The channel rules and Mustache syntax of a complete record: {200, ""} when fine.
outcome check_template(const template_record& t);

/// "" when the push URL field `field` (image_url or link: a URL, or Mustache that makes
/// one) is one Herald may send to under `policy` (adapters/net/outbound.hpp), as far as
/// its literal text tells: all of a literal URL; the scheme, and the host when the text
/// names it before its first tag, of a Mustache one; "" (no URL) is fine. Else the problem
/// naming the field.
/// What variables bring is checked when the template renders.
std::string push_url_problem(const std::string& field, const std::string& value,
                             const net::outbound_policy& policy);

/// Lower case; "" stays "".
std::string normalize_language(const std::string& language);
/// A tag like "en", "pt-br" (already in lower case).
bool valid_language(const std::string& language);

/// A pinned version: a positive integer, or 0 when none was given.
struct version_request {
  int version = 0;
  std::string error; ///< names the parameter or field; "" when fine
};

/// The `version` query parameter (absent or "" means none).
version_request parse_version_param(const std::map<std::string, std::string>& query);
/// The `version` field of a JSON body (absent or null means none).
version_request parse_version_field(const nlohmann::json& body);

} // namespace herald
