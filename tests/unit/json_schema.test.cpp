// The README examples runner's JSON Schema validator (tests/support/json_schema.hpp):
// each keyword it supports accepts what it should and refuses what it should.

#include <boost/test/unit_test.hpp>

#include "tests/support/json_schema.hpp"

using json = nlohmann::json;

namespace {

const json root = {
  {"components",
   {{"schemas",
     {{"Envelope",
       {{"type", "object"},
        {"required", {"success", "data"}},
        {"properties", {{"success", {{"type", "boolean"}}}, {"error", {{"type", {"string", "null"}}}}}}}},
      {"Id", {{"type", "string"}, {"format", "uuid"}}}}}}}};

herald::test::json_schema_validator validator{root};

bool valid(const json& value, const json& schema) {
  return validator.errors(value, schema).empty();
}

} // namespace

BOOST_AUTO_TEST_SUITE(json_schema)

BOOST_AUTO_TEST_CASE(types_including_integer_and_type_lists) {
  BOOST_TEST(valid(3, {{"type", "integer"}}));
  BOOST_TEST(!valid(3.5, {{"type", "integer"}}));
  BOOST_TEST(!valid("3", {{"type", "integer"}}));
  BOOST_TEST(valid(3.5, {{"type", "number"}}));
  BOOST_TEST(valid(nullptr, {{"type", {"string", "null"}}}));
  BOOST_TEST(!valid(1, {{"type", {"string", "null"}}}));
  BOOST_TEST(!valid(json::array(), {{"type", "object"}}));
  BOOST_TEST(!valid(false, {{"type", "null"}}));
}

BOOST_AUTO_TEST_CASE(enum_and_const) {
  BOOST_TEST(valid("push", {{"enum", {"email", "push"}}}));
  BOOST_TEST(!valid("sms", {{"enum", {"email", "push"}}}));
  BOOST_TEST(valid(true, {{"const", true}}));
  BOOST_TEST(!valid(false, {{"const", true}}));
}

BOOST_AUTO_TEST_CASE(objects_required_properties_and_additional_properties) {
  json s = {{"type", "object"},
            {"required", {"a"}},
            {"properties", {{"a", {{"type", "string"}}}}},
            {"additionalProperties", false}};
  BOOST_TEST(valid({{"a", "x"}}, s));
  BOOST_TEST(!valid(json::object(), s));             // missing a
  BOOST_TEST(!valid({{"a", 1}}, s));                 // a's type
  BOOST_TEST(!valid({{"a", "x"}, {"b", 1}}, s));     // b not allowed
  s["additionalProperties"] = {{"type", "integer"}};
  BOOST_TEST(valid({{"a", "x"}, {"b", 1}}, s));
  BOOST_TEST(!valid({{"a", "x"}, {"b", "1"}}, s));
}

BOOST_AUTO_TEST_CASE(arrays_and_their_items) {
  json s = {{"type", "array"}, {"items", {{"type", "integer"}}}, {"minItems", 1}, {"maxItems", 2}};
  BOOST_TEST(valid({1, 2}, s));
  BOOST_TEST(!valid({1, "2"}, s));
  BOOST_TEST(!valid(json::array(), s));
  BOOST_TEST(!valid({1, 2, 3}, s));
  auto e = validator.errors({1, "2"}, s);
  BOOST_TEST_REQUIRE(e.size() == 1u);
  BOOST_TEST(e[0].find("/1: ") == 0u); // names where
}

BOOST_AUTO_TEST_CASE(numbers_and_strings_bounds_patterns_and_formats) {
  BOOST_TEST(valid(10, {{"minimum", 1}, {"maximum", 10}}));
  BOOST_TEST(!valid(11, {{"minimum", 1}, {"maximum", 10}}));
  BOOST_TEST(!valid(0, {{"minimum", 1}}));
  BOOST_TEST(valid("ab", {{"minLength", 2}, {"maxLength", 2}}));
  BOOST_TEST(valid("äb", {{"maxLength", 2}}));          // code points, not bytes
  BOOST_TEST(!valid("abc", {{"maxLength", 2}}));
  BOOST_TEST(!valid("a", {{"minLength", 2}}));
  BOOST_TEST(valid("order-1", {{"pattern", "^[a-z0-9-]*$"}}));
  BOOST_TEST(!valid("order 1", {{"pattern", "^[a-z0-9-]*$"}}));
  BOOST_TEST(valid("0b4f5c4e-8a43-4d0e-9a35-3c8f0e7d2a11", {{"format", "uuid"}}));
  BOOST_TEST(!valid("0b4f5c4e-8a43-4d0e-9a35", {{"format", "uuid"}}));
  BOOST_TEST(valid("2026-11-30T08:00:00.123Z", {{"format", "date-time"}}));
  BOOST_TEST(valid("2026-11-30T08:00:00+01:00", {{"format", "date-time"}}));
  BOOST_TEST(!valid("2026-11-30 08:00:00", {{"format", "date-time"}}));
  BOOST_TEST(!valid("2026-13-30T08:00:00Z", {{"format", "date-time"}}));
}

BOOST_AUTO_TEST_CASE(combinators_and_references) {
  json envelope_ok = {{"success", true}, {"data", 1}, {"error", nullptr}};
  BOOST_TEST(valid(envelope_ok, {{"$ref", "#/components/schemas/Envelope"}}));
  BOOST_TEST(!valid({{"success", "yes"}, {"data", 1}}, {{"$ref", "#/components/schemas/Envelope"}}));
  BOOST_TEST(!valid({{"success", true}}, {{"$ref", "#/components/schemas/Envelope"}}));
  json all = {{"allOf", {{{"$ref", "#/components/schemas/Envelope"}},
                         {{"properties", {{"success", {{"const", false}}}}}}}}};
  BOOST_TEST(!valid(envelope_ok, all)); // the second part refuses success: true
  BOOST_TEST(valid({{"success", false}, {"data", nullptr}}, all));
  json any = {{"anyOf", {{{"type", "string"}}, {{"type", "integer"}}}}};
  BOOST_TEST(valid(1, any));
  BOOST_TEST(!valid(true, any));
  json one = {{"oneOf", {{{"type", "integer"}}, {{"type", "number"}}}}};
  BOOST_TEST(valid(1.5, one));
  BOOST_TEST(!valid(1, one)); // both
  BOOST_TEST(!valid(1, {{"not", {{"type", "integer"}}}}));
  BOOST_TEST(valid("x", {{"$ref", "#/components/schemas/Id"}}) == false);
  BOOST_CHECK_THROW(validator.errors(1, {{"$ref", "#/components/schemas/Missing"}}), std::exception);
  BOOST_TEST(!valid(1, false));
  BOOST_TEST(valid(1, true));
}

BOOST_AUTO_TEST_SUITE_END()
