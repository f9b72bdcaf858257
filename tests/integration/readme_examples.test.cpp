// The README's examples, run verbatim (issue 12): every fenced block whose info string is
// `sh example`, in README order, all in ONE bash session against a test node, with
//   HERALD, HERALD_USERS, HERALD_TEMPLATES   the gateway's, users' and templates' base URLs
//   KEY            an API key with every scope
//   ADMIN_TOKEN    the admin token
//   USER_ID, PUSH_USER_ID   existing users (the second with an FCM device)
//   TEMPLATE       an existing email template code with the variable `name`.
// Every curl in a block is followed, on a line of its own, by `# → NNN`: the HTTP status
// it must answer. `curl` is a shell function in that session (defined before the blocks
// run) that records each call — the line it was called from, its arguments, the answer's
// headers and body — and prints what curl would. Then, for each call in the order made:
// its status is the one of the first `# →` comment after the line it was called from
// (a curl in a loop answers it every time); its body is the envelope; and its JSON
// request body (-d/--data) and its answer validate against the OpenAPI document's schemas
// for that operation and status (tests/support/json_schema.hpp). Every `# →` comment
// must have been reached. Examples use curl -s (or -si to show headers) and pipes;
// -o, -D and -w would take the recording's place. Each curl may take 30 s, the whole
// session 240 s.

#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "support/herald_api.hpp"
#include "support/json_schema.hpp"

using namespace herald::test;
namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& p) {
  std::ifstream in{p, std::ios::binary};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// The `sh example` blocks of `markdown`, concatenated, one line per line.
std::vector<std::string> example_lines(const std::string& markdown, int& blocks) {
  std::vector<std::string> out;
  std::istringstream in{markdown};
  std::string line;
  bool inside = false;
  blocks = 0;
  while (std::getline(in, line)) {
    if (!inside && line == "```sh example") {
      inside = true;
      ++blocks;
      continue;
    }
    if (inside && line.rfind("```", 0) == 0) {
      inside = false;
      continue;
    }
    if (inside) {
      out.push_back(line);
    }
  }
  BOOST_TEST_REQUIRE(!inside, "an `sh example` block is not closed");
  return out;
}

const std::regex status_comment{"^\\s*# \xE2\x86\x92 ([0-9]{3})\\s*$"};
const std::regex curl_call{"(^|[\\s$(|;&{])curl\\s"};

/// One recorded call of curl.
struct call {
  int line = 0; ///< 1-based line of the script it was called from
  std::vector<std::string> args;
  int status = 0;
  std::string body;
};

std::vector<call> read_calls(const fs::path& dir) {
  std::vector<call> out;
  for (int n = 1;; ++n) {
    auto base = dir / std::to_string(n);
    if (!fs::exists(base.string() + ".line")) {
      break;
    }
    call c;
    c.line = std::stoi(read_text(base.string() + ".line"));
    auto args = read_text(base.string() + ".args");
    std::size_t start = 0;
    for (std::size_t i = 0; i < args.size(); ++i) {
      if (args[i] == '\0') {
        c.args.push_back(args.substr(start, i - start));
        start = i + 1;
      }
    }
    // The last status line of the headers (after any 100 Continue).
    std::istringstream headers{read_text(base.string() + ".headers")};
    std::string h;
    while (std::getline(headers, h)) {
      if (h.rfind("HTTP/", 0) == 0) {
        c.status = std::stoi(h.substr(h.find(' ') + 1, 3));
      }
    }
    c.body = read_text(base.string() + ".body");
    if (c.body.rfind("HTTP/", 0) == 0) { // -i: the headers are in the output too
      auto end = c.body.rfind("\r\n\r\n");
      c.body = end == std::string::npos ? "" : c.body.substr(end + 4);
    }
    out.push_back(std::move(c));
  }
  return out;
}

/// What a call asked: method, the URL, the -d body (when one was given).
struct asked {
  std::string method;
  std::string url;
  std::optional<std::string> data;
};

asked read_args(const std::vector<std::string>& args) {
  asked a;
  std::string method;
  for (std::size_t i = 0; i < args.size(); ++i) {
    auto& x = args[i];
    auto next = [&] { return i + 1 < args.size() ? args[++i] : std::string{}; };
    if (x == "-X" || x == "--request") {
      method = next();
    } else if (x == "-d" || x == "--data" || x == "--data-raw" || x == "--data-binary") {
      a.data = next();
    } else if (x == "-H" || x == "--header" || x == "-u" || x == "--user") {
      next();
    } else if (x.rfind("http://", 0) == 0 || x.rfind("https://", 0) == 0) {
      a.url = x;
    }
  }
  a.method = !method.empty() ? method : (a.data ? "POST" : "GET");
  return a;
}

/// The document's path template matching `path` ("" when none does).
std::string match_path(const json& doc, const std::string& path) {
  auto split = [](const std::string& p) {
    std::vector<std::string> parts;
    std::stringstream ss{p};
    std::string part;
    while (std::getline(ss, part, '/')) {
      if (!part.empty()) parts.push_back(part);
    }
    return parts;
  };
  auto want = split(path);
  for (auto& [pattern, item] : doc["paths"].items()) {
    auto parts = split(pattern);
    bool same = parts.size() == want.size();
    for (std::size_t i = 0; same && i < parts.size(); ++i) {
      same = parts[i] == want[i] || (parts[i].front() == '{' && parts[i].back() == '}');
    }
    if (same) {
      return pattern;
    }
  }
  return {};
}

struct examples_fixture {
  // The documented default limit (test nodes otherwise run without one).
  running_node node{{{"HERALD_RATE_LIMIT_PER_USER", "100/min"}}};
  std::string key;
  std::string user_id;
  std::string push_user_id;
  std::string template_code;

  examples_fixture() {
    auto r = post_json(node.url() + "/api/v1/api-keys",
                       {{"name", "readme examples"},
                        {"scopes", {"notifications:write", "notifications:read", "users:read",
                                    "users:write", "templates:read", "templates:write",
                                    "introspection:read"}}});
    BOOST_TEST_REQUIRE(r.status == 201, r.raw);
    key = r.body["data"]["key"].get<std::string>();
    user_id = create_user(node, {{"name", "Grace Hopper"}});
    push_user_id = create_user(node, {{"name", "Push Reader"}});
    auto device = post_json(node.url(1) + "/api/v1/users/" + push_user_id + "/push_tokens",
                            {{"type", "fcm"}, {"token", unique("fcm-") + ":APA91b" + std::string(40, 'r')}});
    BOOST_TEST_REQUIRE(device.status == 201, device.raw);
    template_code = create_email_template(node);
  }
};

const char* const recorder = R"sh(
# The README examples runner's curl: records each call, then prints what curl would.
curl() {
  local dir=$HERALD_EXAMPLE_CALLS n rc
  n=$(( $(cat "$dir/count" 2>/dev/null || echo 0) + 1 ))
  echo "$n" >"$dir/count"
  echo "${BASH_LINENO[0]}" >"$dir/$n.line"
  printf '%s\0' "$@" >"$dir/$n.args"
  command curl "$@" --max-time 30 -D "$dir/$n.headers" -o "$dir/$n.body"
  rc=$?
  cat "$dir/$n.body"
  return $rc
}
)sh";

} // namespace

BOOST_FIXTURE_TEST_SUITE(readme_examples, examples_fixture)

BOOST_AUTO_TEST_CASE(the_readme_examples_answer_as_documented_and_match_the_openapi_schemas) {
  int blocks = 0;
  auto lines = example_lines(read_text(fs::path{HERALD_SOURCE_DIR} / "README.md"), blocks);
  BOOST_TEST_REQUIRE(blocks >= 1);
  // Statically: each curl has its comment before the next curl.
  std::map<int, int> expected; // 1-based line of a `# →` comment -> status
  bool waiting = false;
  int waiting_since = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::smatch m;
    auto& l = lines[i];
    if (std::regex_match(l, m, status_comment)) {
      expected[static_cast<int>(i + 1)] = std::stoi(m[1]);
      BOOST_TEST(waiting, "line " << i + 1 << ": a `# →` comment with no curl before it");
      waiting = false;
      continue;
    }
    auto first = l.find_first_not_of(" \t");
    if (first != std::string::npos && l[first] != '#' && std::regex_search(l, curl_call)) {
      BOOST_TEST(!waiting, "example line " << waiting_since << ": a curl without its `# → NNN` line");
      waiting = true;
      waiting_since = static_cast<int>(i + 1);
    }
  }
  BOOST_TEST(!waiting, "example line " << waiting_since << ": a curl without its `# → NNN` line");

  auto dir = fs::temp_directory_path() / unique("readme-examples-");
  fs::create_directories(dir / "calls");
  {
    std::ofstream env{dir / "prelude.sh"};
    env << "export HERALD=" << node.url() << " HERALD_USERS=" << node.url(1)
        << " HERALD_TEMPLATES=" << node.url(2) << "\n"
        << "export KEY=" << key << " ADMIN_TOKEN=" << admin_token << "\n"
        << "export USER_ID=" << user_id << " PUSH_USER_ID=" << push_user_id
        << " TEMPLATE=" << template_code << "\n"
        << "export HERALD_EXAMPLE_CALLS=" << (dir / "calls").string() << "\n"
        << recorder;
    std::ofstream script{dir / "examples.sh"};
    for (auto& l : lines) {
      script << l << "\n";
    }
  }
  auto command = "cd " + dir.string()
                 + " && timeout 240 bash -c 'source prelude.sh; source examples.sh' >output.txt 2>&1";
  auto rc = std::system(command.c_str());
  auto output = read_text(dir / "output.txt");
  BOOST_TEST_MESSAGE("examples' output (exit " << rc << "):\n" << output);

  auto doc = json::parse(std::string{read_text(fs::path{HERALD_SOURCE_DIR} / "api/openapi.json")});
  json_schema_validator validator{doc};
  const json envelope = {{"$ref", "#/components/schemas/Envelope"}};
  std::set<int> reached;
  auto calls = read_calls(dir / "calls");
  BOOST_TEST(!calls.empty());
  for (auto& c : calls) {
    auto a = read_args(c.args);
    BOOST_TEST_CONTEXT("example line " << c.line << ": " << a.method << " " << a.url << "\n"
                                       << lines[c.line - 1]) {
      auto comment = expected.upper_bound(c.line);
      BOOST_TEST_REQUIRE((comment != expected.end()), "no `# →` comment after this curl");
      reached.insert(comment->first);
      BOOST_TEST(c.status == comment->second, "answered " << c.status << ": " << c.body);
      auto body = json::parse(c.body, nullptr, false);
      BOOST_TEST_REQUIRE(!body.is_discarded(), "not JSON: " << c.body);
      for (auto& e : validator.errors(body, envelope)) {
        BOOST_ERROR("not the envelope: " << e);
      }
      // The operation in the OpenAPI document.
      std::smatch m;
      BOOST_TEST_REQUIRE(std::regex_match(a.url, m, std::regex{"^http://127\\.0\\.0\\.1:([0-9]+)([^?]*)(\\?.*)?$"}));
      auto offset = std::stoi(m[1]) - std::stoi(node.url().substr(node.url().rfind(':') + 1));
      auto pattern = match_path(doc, m[2]);
      BOOST_TEST_REQUIRE(!pattern.empty(), "no documented path for " << m[2]);
      auto& item = doc["paths"][pattern];
      if (item.contains("servers")) {
        auto url = item["servers"][0]["url"].get<std::string>();
        BOOST_TEST(std::stoi(url.substr(url.rfind(':') + 1)) - 8000 == offset, "documented on " << url);
      }
      auto method = a.method;
      std::transform(method.begin(), method.end(), method.begin(), ::tolower);
      BOOST_TEST_REQUIRE(item.contains(method), "undocumented method");
      auto& operation = item[method];
      if (a.data) {
        auto sent = json::parse(*a.data, nullptr, false);
        BOOST_TEST_REQUIRE(!sent.is_discarded(), "the request body is not JSON");
        BOOST_TEST_REQUIRE(operation.contains("requestBody"), "the operation takes no body");
        // A request the example means to be refused need not match (that is its point).
        if (c.status < 400) {
          for (auto& e : validator.errors(sent, operation["requestBody"]["content"]["application/json"]["schema"])) {
            BOOST_ERROR("request body: " << e);
          }
        }
      }
      auto status = std::to_string(c.status);
      BOOST_TEST_REQUIRE(operation["responses"].contains(status), "status " << status << " is not documented");
      auto response = operation["responses"][status];
      if (response.contains("$ref")) {
        response = validator.resolve(response["$ref"].get<std::string>());
      }
      for (auto& e : validator.errors(body, response["content"]["application/json"]["schema"])) {
        BOOST_ERROR("answer " << status << ": " << e);
      }
    }
  }
  for (auto& [line, status] : expected) {
    BOOST_TEST(reached.count(line) == 1u, "example line " << line << " (`# → " << status
                                                           << "`): its curl never ran");
  }
  fs::remove_all(dir);
}

BOOST_AUTO_TEST_SUITE_END()
