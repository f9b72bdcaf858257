// The push role end to end without a push provider configured (no FCM credentials, no
// VAPID keys, as scripts/up runs it): an in-process node with every role consumes
// push.queue, looks up devices, renders, and records each outcome; what cannot be sent is
// dead-lettered with the reason naming the setting. /health and /health/ready on base+4.

#include <boost/test/unit_test.hpp>

#include "actors/common/ids.hpp"
#include "support/herald_api.hpp"
#include "support/notification_db.hpp"

using namespace herald::test;

namespace {

const std::string fcm_token = "fcm-test-token:APA91bGxJ3kYqK1nFh0aWk7z_device_";

struct push_fixture {
  // A message whose variables carry "explode" crashes the sender (poison messages).
  running_node node{{{"HERALD_RETRY_STEPS_MS", "200,400"},
                     {"HERALD_PUSH_REQUEUE_DELAY_MS", "200"},
                     {"HERALD_FAULT_CRASH_ON_VARIABLE", "explode"}}};
  std::string code = create_push_template(node);

  /// Registers a device; answers its id.
  std::string add_device(const std::string& user_id, const json& body) {
    auto r = post_json(node.url(1) + "/api/v1/users/" + user_id + "/push_tokens", body);
    BOOST_TEST_CONTEXT("add device: " << r.raw) {
      BOOST_REQUIRE_EQUAL(r.status, 201);
    }
    return r.body["data"]["id"].get<std::string>();
  }

  std::string add_fcm(const std::string& user_id) {
    return add_device(user_id, {{"type", "fcm"}, {"token", fcm_token + unique("")}});
  }

  std::string add_webpush(const std::string& user_id) {
    return add_device(
      user_id,
      {{"type", "webpush"},
       {"subscription",
        {{"endpoint", "https://push.example.net/push/" + unique("sub-")},
         {"expirationTime", nullptr},
         {"keys",
          {{"p256dh", "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"},
           {"auth", "BTBZMqHH6r4Tts7J_aSIgg"}}}}}});
  }

  std::string push(const std::string& user_id, const std::string& template_code) {
    return post_notification(node, user_id, template_code, {{"name", "Ada"}, {"order", "A-1"}},
                             {{"notification_type", "push"}});
  }

  std::string wait_for(const std::string& id, const std::string& status) {
    std::string now;
    eventually([&] { return (now = status_of(node, id)) == status; });
    return now;
  }

  /// The dead letters of notification `id` (any reason).
  std::vector<json> letters_of(const std::string& id) {
    std::vector<json> out;
    eventually([&] {
      auto r = http_call("GET", node.url() + "/api/v1/dead-letters?limit=100");
      out.clear();
      for (auto& d : r.body["data"]) {
        if (d["notification_id"].is_string() && d["notification_id"] == id) { // null: unreadable
          out.push_back(d);
        }
      }
      return !out.empty();
    });
    return out;
  }

  std::uint64_t sender(const std::string& counter) {
    return actor_counter(node, "push_sender", counter);
  }
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(push_sender, push_fixture)

BOOST_AUTO_TEST_CASE(push_answers_health_and_readiness_on_base_plus_4_without_providers) {
  auto alive = http_call("GET", node.url(4) + "/health");
  BOOST_REQUIRE_EQUAL(alive.status, 200);
  BOOST_CHECK_EQUAL(alive.body["data"]["role"], "push");
  auto ready = http_call("GET", node.url(4) + "/health/ready");
  BOOST_REQUIRE_EQUAL(ready.status, 200);
  auto deps = ready.body["data"]["dependencies"];
  for (auto name : {"rabbitmq", "postgres", "redis"}) {
    BOOST_CHECK_MESSAGE(deps[name]["status"] == "up", ready.raw);
  }
  // Not configured is shown on the breakers' registry entries, not as a failure.
  auto fcm = registry_entry(node, "push_breaker/fcm");
  BOOST_CHECK_EQUAL(fcm["state"], "not configured");
  BOOST_CHECK_MESSAGE(contains(fcm["info"].value("reason", ""), "HERALD_FCM_CREDENTIALS"),
                      fcm.dump());
}

BOOST_AUTO_TEST_CASE(a_push_that_crashes_the_sender_twice_ends_dead_as_poison_and_others_flow) {
  auto user = create_user(node);
  add_fcm(user);
  auto before = push(user, code);
  auto poison = post_notification(node, user, code,
                                  {{"name", "Ada"}, {"order", "A-1"}, {"explode", 1}},
                                  {{"notification_type", "push"}});
  auto after = push(user, code);
  BOOST_REQUIRE_EQUAL(wait_for(poison, "dead"), "dead");
  auto letters = letters_of(poison);
  BOOST_REQUIRE_EQUAL(letters.size(), 1u);
  BOOST_CHECK_EQUAL(letters[0]["reason"], "poison");
  auto detail = letters[0].value("detail", "");
  BOOST_CHECK_MESSAGE(contains(detail, "crashed the push sender 2 times"), detail);
  BOOST_CHECK_MESSAGE(contains(detail, "fault injection"), detail);
  BOOST_CHECK_EQUAL(sender("poison"), 1u);
  // Restarted once per crash; its consumers with it (rest-for-one).
  BOOST_CHECK_GE(actor_figure(node, "push_sender", "restarts"), 2u);
  BOOST_CHECK_GE(actor_figure(node, "push_consumer/supervisor", "restarts"), 2u);
  // The others were rendered and settled as without a poison message among them: no
  // provider is configured, so their device is refused and they are dead-lettered.
  for (auto& id : {before, after}) {
    BOOST_REQUIRE_EQUAL(wait_for(id, "dead"), "dead");
    auto theirs = letters_of(id);
    BOOST_REQUIRE_EQUAL(theirs.size(), 1u);
    BOOST_CHECK_EQUAL(theirs[0]["reason"], "no_device_accepted");
  }
  // A push posted once the poison is settled flows as usual.
  auto later = push(user, code);
  BOOST_REQUIRE_EQUAL(wait_for(later, "dead"), "dead");
  BOOST_CHECK_EQUAL(letters_of(later)[0]["reason"], "no_device_accepted");
  BOOST_CHECK_EQUAL(sender("poison"), 1u);
}

BOOST_AUTO_TEST_CASE(an_unreadable_message_is_dead_lettered_as_it_is_and_acked) {
  auto before = sender("dead_lettered");
  auto marker = herald::make_uuid();
  publish_direct({{"notification_id", "not-a-uuid"}, {"correlation_id", marker}}, "push");
  json letter;
  BOOST_REQUIRE(eventually([&] {
    auto r = http_call("GET", node.url() + "/api/v1/dead-letters?reason=unreadable&limit=100");
    for (auto& d : r.body["data"]) {
      if (d.value("correlation_id", "") == marker) {
        letter = d;
        return true;
      }
    }
    return false;
  }));
  BOOST_CHECK_EQUAL(letter["channel"], "push");
  // Acked once confirmed on failed.queue, not requeued: counted once.
  BOOST_REQUIRE(eventually([&] { return sender("dead_lettered") == before + 1; }));
}

BOOST_AUTO_TEST_CASE(a_user_with_push_turned_off_is_skipped_without_a_send) {
  auto user = create_user(node, {{"preferences", {{"push", false}}}});
  add_fcm(user);
  auto refused_before = sender("devices_refused");
  auto id = push(user, code);
  BOOST_REQUIRE_EQUAL(wait_for(id, "skipped"), "skipped");
  auto n = notification(node, id);
  BOOST_CHECK_MESSAGE(contains(n.dump(), "turned push notifications off"), n.dump());
  BOOST_CHECK(device_entries(id).empty());
  BOOST_CHECK_EQUAL(sender("devices_refused"), refused_before);
}

BOOST_AUTO_TEST_CASE(a_user_without_a_device_is_skipped) {
  auto user = create_user(node);
  auto id = push(user, code);
  BOOST_REQUIRE_EQUAL(wait_for(id, "skipped"), "skipped");
  BOOST_CHECK_MESSAGE(contains(notification(node, id).dump(), "no push device"),
                      notification(node, id).dump());
}

BOOST_AUTO_TEST_CASE(devices_of_unconfigured_providers_are_dead_lettered_naming_the_settings) {
  auto user = create_user(node);
  auto fcm = add_fcm(user);
  auto web = add_webpush(user);
  auto id = push(user, code);
  BOOST_REQUIRE_EQUAL(wait_for(id, "dead"), "dead");
  auto letters = letters_of(id);
  BOOST_REQUIRE_EQUAL(letters.size(), 1u);
  BOOST_CHECK_EQUAL(letters[0]["reason"], "no_device_accepted");
  BOOST_CHECK_EQUAL(letters[0]["channel"], "push");
  auto detail = letters[0].value("detail", "");
  BOOST_CHECK_MESSAGE(contains(detail, "HERALD_FCM_CREDENTIALS"), detail);
  BOOST_CHECK_MESSAGE(contains(detail, "HERALD_VAPID_PUBLIC_KEY"), detail);

  // One timeline entry per device, with its id, kind and outcome; before the status.
  auto devices = device_entries(id);
  BOOST_REQUIRE_EQUAL(devices.size(), 2u);
  std::map<std::string, json> by_id;
  for (auto& d : devices) {
    by_id[d.value("device_id", "")] = d;
  }
  BOOST_REQUIRE_EQUAL(by_id.count(fcm), 1u);
  BOOST_REQUIRE_EQUAL(by_id.count(web), 1u);
  BOOST_CHECK_EQUAL(by_id[fcm]["kind"], "fcm");
  BOOST_CHECK_EQUAL(by_id[fcm]["outcome"], "refused");
  BOOST_CHECK_MESSAGE(contains(by_id[fcm].value("detail", ""), "HERALD_FCM_CREDENTIALS"),
                      by_id[fcm].dump());
  BOOST_CHECK_EQUAL(by_id[web]["kind"], "webpush");
  BOOST_CHECK_EQUAL(by_id[web]["outcome"], "refused");
  BOOST_CHECK(by_id[web]["node"].is_string());
  auto statuses = read_notification_row(id).timeline_statuses();
  auto failed = std::find(statuses.begin(), statuses.end(), "failed");
  BOOST_REQUIRE(failed != statuses.end());
  BOOST_CHECK_EQUAL(std::count(statuses.begin(), failed, "device"), 2);

  // Refused is not gone: both devices stay with the user.
  auto tokens = http_call("GET", node.url(1) + "/api/v1/users/" + user + "/push_tokens");
  BOOST_REQUIRE_EQUAL(tokens.status, 200);
  BOOST_CHECK_EQUAL(tokens.body["data"].size(), 2u);
}

BOOST_AUTO_TEST_CASE(an_unknown_user_or_template_is_dead_lettered_with_its_reason) {
  auto unknown_user = herald::make_uuid();
  auto a = herald::make_uuid();
  publish_direct({{"notification_id", a},
                  {"notification_type", "push"},
                  {"user_id", unknown_user},
                  {"template_code", code},
                  {"variables", {{"name", "Ada"}, {"order", "A-1"}}},
                  {"priority", 5},
                  {"attempt", 1}},
                 "push");
  auto user = create_user(node);
  add_fcm(user);
  auto b = herald::make_uuid();
  publish_direct({{"notification_id", b},
                  {"notification_type", "push"},
                  {"user_id", user},
                  {"template_code", unique("no-such-template-")},
                  {"variables", json::object()},
                  {"attempt", 1}},
                 "push");
  auto email_code = create_email_template(node);
  auto c = herald::make_uuid();
  publish_direct({{"notification_id", c},
                  {"notification_type", "push"},
                  {"user_id", user},
                  {"template_code", email_code},
                  {"variables", {{"name", "Ada"}}},
                  {"attempt", 1}},
                 "push");
  BOOST_REQUIRE_EQUAL(wait_for(a, "dead"), "dead");
  BOOST_REQUIRE_EQUAL(wait_for(b, "dead"), "dead");
  BOOST_REQUIRE_EQUAL(wait_for(c, "dead"), "dead");
  BOOST_CHECK_EQUAL(letters_of(a).at(0)["reason"], "unknown_user");
  BOOST_CHECK_EQUAL(letters_of(b).at(0)["reason"], "unknown_template");
  auto wrong_channel = letters_of(c).at(0);
  BOOST_CHECK_EQUAL(wrong_channel["reason"], "unknown_template");
  BOOST_CHECK_MESSAGE(contains(wrong_channel.value("detail", ""), "is for email"),
                      wrong_channel.dump());
  BOOST_CHECK(device_entries(b).empty()); // nothing was sent
}

BOOST_AUTO_TEST_CASE(a_browser_subscription_registers_exactly_as_its_toJSON_gives_it) {
  auto user = create_user(node);
  auto url = node.url(1) + "/api/v1/users/" + user + "/push_tokens";
  // What JSON.stringify(subscription) sends from Chrome and Firefox, nested as the API
  // wants it: expirationTime null, or a time in milliseconds.
  json keys = {{"p256dh", "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"},
               {"auth", "BTBZMqHH6r4Tts7J_aSIgg"}};
  auto chrome = R"({"type": "webpush", "subscription": {"endpoint": "https://fcm.googleapis.com/fcm/send/dGVzdA:APA91b", "expirationTime": null, "keys": )"
                + keys.dump() + "}}";
  auto r = http_call("POST", url, chrome);
  BOOST_REQUIRE_MESSAGE(r.status == 201, r.raw);
  BOOST_CHECK_EQUAL(r.body["data"]["type"], "webpush");
  BOOST_CHECK_EQUAL(r.body["data"]["subscription"]["endpoint"],
                    "https://fcm.googleapis.com/fcm/send/dGVzdA:APA91b");
  auto firefox = json{{"type", "webpush"},
                      {"subscription",
                       {{"endpoint", "https://updates.push.services.mozilla.com/wpush/v2/gAAAAAB"},
                        {"expirationTime", 1767225600000},
                        {"keys", keys}}}};
  r = post_json(url, firefox);
  BOOST_REQUIRE_MESSAGE(r.status == 201, r.raw);
  auto bad = firefox;
  bad["subscription"]["expirationTime"] = "tomorrow";
  check_error(post_json(url, bad), 400, "subscription.expirationTime");
  auto listed = http_call("GET", url);
  BOOST_CHECK_EQUAL(listed.body["data"].size(), 2u);
}

BOOST_AUTO_TEST_SUITE_END()
