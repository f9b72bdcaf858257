// GET /openapi.json (issue 12): one OpenAPI 3.1 document for every service, kept in step
// with the code both ways: every route the route tables register (herald::route_rules(),
// what `herald routes` prints) is documented with its method on its service's port, and
// every documented operation answers on a running node (neither the router's 404 nor a
// 405). Served without a credential, as it is (not in the envelope).

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cctype>

#include "actors/common/ids.hpp"
#include "actors/node/node.hpp"
#include "support/herald_api.hpp"
#include "support/json_schema.hpp"

using namespace herald::test;

namespace {

/// The port offset of each service's routes.
int offset_of(const std::string& service) {
  if (service == "gateway") return 0;
  if (service == "users") return 1;
  if (service == "templates") return 2;
  BOOST_FAIL("a service without a port: " << service);
  return -1;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

/// The port offsets (from 8000) of a path item: its own servers, else the document's.
std::vector<int> offsets(const json& doc, const json& item) {
  auto& servers = item.contains("servers") ? item["servers"] : doc["servers"];
  std::vector<int> out;
  for (auto& s : servers) {
    auto url = s["url"].get<std::string>();
    out.push_back(std::stoi(url.substr(url.rfind(':') + 1)) - 8000);
  }
  return out;
}

const std::vector<std::string> methods{"get", "post", "put", "patch", "delete"};

struct openapi_fixture {
  running_node node;
  json doc = [&] {
    auto r = http_call("GET", node.url() + "/openapi.json", {}, no_credential);
    BOOST_TEST_REQUIRE(r.status == 200, r.raw.substr(0, 300));
    BOOST_TEST_REQUIRE(r.body.is_object());
    return r.body;
  }();
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(openapi, openapi_fixture)

BOOST_AUTO_TEST_CASE(the_document_is_openapi_3_1_with_a_server_per_port_and_no_credential) {
  BOOST_TEST(doc["openapi"] == "3.1.0");
  BOOST_TEST_REQUIRE(doc["servers"].size() == 5u);
  int port = 8000;
  for (auto* role : {"gateway", "users", "templates", "email", "push"}) {
    auto& s = doc["servers"][port - 8000];
    BOOST_TEST(s["url"] == "http://127.0.0.1:" + std::to_string(port));
    BOOST_TEST(s["description"].get<std::string>().find(role) == 0u);
    ++port;
  }
  for (auto* scheme : {"apiKey", "apiKeyHeader", "loginToken", "adminToken"}) {
    BOOST_TEST(doc["components"]["securitySchemes"].contains(scheme), scheme);
  }
}

BOOST_AUTO_TEST_CASE(every_registered_route_is_documented_with_its_method_on_its_port) {
  auto rows = herald::route_rules();
  BOOST_TEST_REQUIRE(rows.size() >= 30u);
  for (auto& row : rows) {
    BOOST_TEST_CONTEXT(row.service << " " << row.method << " " << row.pattern) {
      auto& paths = doc["paths"];
      BOOST_TEST_REQUIRE(paths.contains(row.pattern));
      auto& item = paths[row.pattern];
      BOOST_TEST(item.contains(lower(row.method)));
      auto ports = offsets(doc, item);
      BOOST_TEST((ports == std::vector<int>{offset_of(row.service)}));
      auto& operation = item[lower(row.method)];
      BOOST_TEST(operation.contains("security"));
      BOOST_TEST(operation["responses"].is_object());
    }
  }
}

BOOST_AUTO_TEST_CASE(every_documented_operation_answers) {
  auto user = create_user(node);
  auto code = create_email_template(node);
  json_schema_validator validator{doc};
  int operations = 0;
  for (auto& [pattern, item] : doc["paths"].items()) {
    for (auto& method : methods) {
      if (!item.contains(method)) {
        continue;
      }
      ++operations;
      for (int port : offsets(doc, item)) {
        auto path = pattern;
        auto put = [&](const std::string& name, const std::string& value) {
          if (auto at = path.find("{" + name + "}"); at != std::string::npos) {
            path.replace(at, name.size() + 2, value);
          }
        };
        put("id", path.rfind("/api/v1/users", 0) == 0 ? create_user(node) : herald::make_uuid());
        put("token_id", herald::make_uuid());
        put("code", code);
        auto upper = method;
        std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
        BOOST_TEST_CONTEXT(upper << " " << path << " on port +" << port) {
          BOOST_TEST(path.find('{') == std::string::npos);
          auto body = method == "get" || method == "delete" ? std::string{} : std::string{"{}"};
          auto r = http_call(upper, node.url(port) + path, body);
          BOOST_TEST(r.status != 405, r.raw);
          bool no_route = r.status == 404 && r.body.is_object() && r.body["error"].is_string()
                          && r.body["error"].get<std::string>().find("no such endpoint") == 0;
          BOOST_TEST(!no_route, r.raw);
          // The answer is one the document names, in its shape.
          auto status = std::to_string(r.status);
          auto& responses = item[method]["responses"];
          BOOST_TEST_REQUIRE(responses.contains(status), "undocumented status: " << r.raw.substr(0, 300));
          auto response = responses[status];
          if (response.contains("$ref")) {
            response = validator.resolve(response["$ref"].get<std::string>());
          }
          if (pattern != "/openapi.json") {
            for (auto& e : validator.errors(r.body, response["content"]["application/json"]["schema"])) {
              BOOST_ERROR("answer " << status << ": " << e << "\n" << r.raw.substr(0, 300));
            }
          }
        }
      }
    }
  }
  BOOST_TEST(operations >= 32);
  (void)user;
}

BOOST_AUTO_TEST_CASE(every_example_matches_its_schema_and_every_reference_resolves) {
  json_schema_validator validator{doc};
  int examples = 0;
  auto check_media = [&](const json& media, const std::string& where) {
    if (!media.contains("example")) {
      return;
    }
    ++examples;
    BOOST_TEST_CONTEXT(where) {
      for (auto& e : validator.errors(media["example"], media["schema"])) {
        BOOST_ERROR("example: " << e);
      }
    }
  };
  for (auto& [name, response] : doc["components"]["responses"].items()) {
    check_media(response["content"]["application/json"], "components/responses/" + name);
  }
  for (auto& [pattern, item] : doc["paths"].items()) {
    for (auto& method : methods) {
      if (!item.contains(method)) {
        continue;
      }
      auto& operation = item[method];
      auto where = method + " " + pattern;
      if (operation.contains("requestBody")) {
        check_media(operation["requestBody"]["content"]["application/json"], where + " request");
      }
      for (auto& [status, response] : operation["responses"].items()) {
        auto& r = response.contains("$ref") ? validator.resolve(response["$ref"].get<std::string>())
                                            : response;
        if (r.contains("content")) {
          check_media(r["content"]["application/json"], where + " " + status);
        }
      }
    }
  }
  BOOST_TEST(examples >= 40);
}

BOOST_AUTO_TEST_SUITE_END()
