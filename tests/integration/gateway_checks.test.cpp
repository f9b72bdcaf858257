// The gateway checks a notification against its user and template at request time, and
// pins the template version and language the worker renders.

#include <boost/test/unit_test.hpp>

#include "support/herald_api.hpp"

using namespace herald::test;
using json = nlohmann::json;

namespace {

struct checks_fixture {
  running_node node;

  std::string create_user(const std::string& language = "en") {
    return herald::test::create_user(node, {{"name", "Check"}, {"language", language}});
  }

  std::string email_of(const std::string& user_id) {
    return http_call("GET", node.url(1) + "/api/v1/users/" + user_id)
      .body["data"]["email"]
      .get<std::string>();
  }

  void create_template(const std::string& code, const std::string& language,
                       const std::string& channel = "email") {
    json body = {{"template_code", code}, {"language", language}, {"channel", channel},
                 {"body", "Hi {{name}}"}, {"variables", {"name"}}};
    if (channel == "email") {
      body["subject"] = "[" + language + "] v1 for {{name}}";
    } else {
      body["title"] = "Hello";
    }
    BOOST_REQUIRE_EQUAL(post_json(node.url(2) + "/api/v1/templates", body).status, 201);
  }

  http_reply notify(const json& fields) {
    json body = {{"notification_type", "email"}, {"variables", {{"name", "Ada"}}}};
    for (auto& [k, v] : fields.items()) {
      body[k] = v;
    }
    return post_json(node.url() + "/api/v1/notifications", body);
  }

  /// The record once sent and once the gateway's `queued` event (written asynchronously
  /// after the confirm, so possibly after the worker's) has landed too.
  json record_when_sent(const http_reply& accepted) {
    auto id = accepted.body["data"]["notification_id"].get<std::string>();
    json record;
    BOOST_REQUIRE_MESSAGE(eventually([&] {
      auto r = http_call("GET", node.url() + "/api/v1/notifications/" + id);
      record = r.body["data"];
      return r.status == 200 && record["status"] == "sent" && record["timeline"].size() == 2;
    }), "notification " << id << " never sent with both events: " << record.dump());
    return record;
  }

  std::string subject_sent_to(const std::string& user_id) {
    auto email = email_of(user_id);
    std::string subject;
    BOOST_REQUIRE_MESSAGE(eventually([&] {
      auto mails = mails_to(env("HERALD_TEST_MAILDIR"), email);
      subject = mails.size() == 1 ? mails.front().header("Subject") : "";
      return !subject.empty();
    }), "no single mail to " << email);
    return subject;
  }
};


} // namespace

BOOST_FIXTURE_TEST_SUITE(gateway_checks, checks_fixture)

BOOST_AUTO_TEST_CASE(an_unknown_user_is_a_404_naming_the_user_id) {
  auto code = unique("chk-");
  create_template(code, "en");
  auto missing = "00000000-0000-4000-8000-000000000000";
  check_error(notify({{"user_id", missing}, {"template_code", code}}), 404, missing);
  check_error(notify({{"user_id", "not-a-uuid"}, {"template_code", code}}), 404, "not-a-uuid");
}

BOOST_AUTO_TEST_CASE(an_unknown_template_or_version_is_a_404_naming_it) {
  auto user = create_user();
  auto code = unique("chk-");
  create_template(code, "en");
  check_error(notify({{"user_id", user}, {"template_code", "no-such-template"}}), 404,
              "no-such-template");
  check_error(notify({{"user_id", user}, {"template_code", code}, {"template_version", 7}}),
              404, "7");
}

BOOST_AUTO_TEST_CASE(a_template_of_the_other_channel_is_a_422) {
  auto user = create_user();
  auto code = unique("chk-push-");
  create_template(code, "en", "push");
  check_error(notify({{"user_id", user}, {"template_code", code}}), 422, "push");
}

BOOST_AUTO_TEST_CASE(a_missing_or_null_declared_variable_is_a_422_naming_it) {
  auto user = create_user();
  auto code = unique("chk-");
  create_template(code, "en");
  check_error(notify({{"user_id", user}, {"template_code", code}, {"variables", json::object()}}),
              422, "name");
  check_error(notify({{"user_id", user}, {"template_code", code},
                      {"variables", {{"name", nullptr}}}}),
              422, "name");
}

BOOST_AUTO_TEST_CASE(a_user_deleted_after_the_gateway_checked_it_is_refused_at_once) {
  auto user = create_user();
  auto code = unique("chk-");
  create_template(code, "en");
  BOOST_REQUIRE_EQUAL(notify({{"user_id", user}, {"template_code", code}}).status, 202);
  BOOST_REQUIRE_EQUAL(http_call("DELETE", node.url(1) + "/api/v1/users/" + user).status, 200);
  check_error(notify({{"user_id", user}, {"template_code", code}}), 404, user);
}

BOOST_AUTO_TEST_CASE(the_chosen_language_and_version_are_recorded_and_rendered) {
  auto user = create_user("de");
  auto code = unique("chk-");
  create_template(code, "en");
  create_template(code, "de");
  auto accepted = notify({{"user_id", user}, {"template_code", code}});
  BOOST_REQUIRE_EQUAL(accepted.status, 202);
  auto record = record_when_sent(accepted);
  BOOST_CHECK_EQUAL(record["language"], "de");
  BOOST_CHECK_EQUAL(record["template_version"], 1);
  BOOST_CHECK_EQUAL(subject_sent_to(user), "[de] v1 for Ada");
}

BOOST_AUTO_TEST_CASE(the_requests_language_is_used_when_the_template_lacks_the_users) {
  auto user = create_user("fr");
  auto code = unique("chk-");
  create_template(code, "en");
  create_template(code, "es");
  auto accepted = notify({{"user_id", user}, {"template_code", code}, {"language", "es"}});
  BOOST_REQUIRE_EQUAL(accepted.status, 202);
  BOOST_CHECK_EQUAL(record_when_sent(accepted)["language"], "es");
  BOOST_CHECK_EQUAL(subject_sent_to(user), "[es] v1 for Ada");
}

BOOST_AUTO_TEST_CASE(a_pinned_version_is_sent_even_after_a_newer_one_exists) {
  auto code = unique("chk-");
  create_template(code, "en");
  auto pinned_user = create_user();
  auto latest_user = create_user();
  // Checked once, so the gateway holds version 1 as the latest...
  BOOST_REQUIRE_EQUAL(notify({{"user_id", latest_user}, {"template_code", code},
                              {"variables", json::object()}})
                        .status,
                      422);
  auto put = http_call("PUT", node.url(2) + "/api/v1/templates/" + code,
                       json{{"subject", "v2 for {{name}}"}}.dump());
  BOOST_REQUIRE_EQUAL(put.status, 201);
  // ...and the new version is what "latest" means at once after the PUT answered.
  auto latest = notify({{"user_id", latest_user}, {"template_code", code}});
  auto pinned = notify({{"user_id", pinned_user}, {"template_code", code},
                        {"template_version", 1}});
  BOOST_REQUIRE_EQUAL(latest.status, 202);
  BOOST_REQUIRE_EQUAL(pinned.status, 202);
  BOOST_CHECK_EQUAL(record_when_sent(latest)["template_version"], 2);
  BOOST_CHECK_EQUAL(record_when_sent(pinned)["template_version"], 1);
  BOOST_CHECK_EQUAL(subject_sent_to(latest_user), "v2 for Ada");
  BOOST_CHECK_EQUAL(subject_sent_to(pinned_user), "[en] v1 for Ada");
}

BOOST_AUTO_TEST_SUITE_END()
