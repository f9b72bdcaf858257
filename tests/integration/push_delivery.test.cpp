// Push end to end against the protocol-checking fakes (tests/support/fake_fcm, fake_webpush):
// an in-process node with every role and both providers configured — FCM with a service
// account whose token_uri is the fake's, Web Push with a fresh VAPID pair — sends through
// them; the fakes verify the OAuth2 assertion, the v1 message, the VAPID JWT and decrypt the
// payload. Steps are short here (300, 600 ms) and a breaker opens after 2 failures.
// push_pause: FCM alone, its breaker open. push_endpoints: Web Push as in production
// (push.allow_insecure_endpoints off): an endpoint is judged by what it resolves to when
// it is sent to.

#include <boost/test/unit_test.hpp>

#include <boost/asio/ip/host_name.hpp>

#include <chrono>
#include <filesystem>

#include "actors/common/ids.hpp"
#include "adapters/net/outbound.hpp"
#include "adapters/postgres/session.hpp"
#include "adapters/push/webpush.hpp"
#include "runtime/time/rfc3339.hpp"
#include "support/fake_fcm.hpp"
#include "support/fake_webpush.hpp"
#include "support/herald_api.hpp"
#include "support/notification_db.hpp"

using namespace herald::test;

namespace {

struct delivery_fixture {
  fake_fcm fcm;
  fake_webpush web;
  herald::webpush::vapid_keys keys = herald::webpush::vapid_keys::generate();
  std::string credentials = fcm.write_credentials(env("HERALD_TEST_STATE_DIR"));
  running_node node{{{"HERALD_FCM_CREDENTIALS", credentials},
                     {"HERALD_FCM_ENDPOINT", fcm.endpoint()},
                     {"HERALD_VAPID_PUBLIC_KEY", keys.public_key()},
                     {"HERALD_VAPID_PRIVATE_KEY", keys.private_key()},
                     {"HERALD_VAPID_SUBJECT", "mailto:push-tests@example.com"},
                     {"HERALD_PUSH_ALLOW_INSECURE_ENDPOINTS", "true"},
                     {"HERALD_RETRY_STEPS_MS", "300,600,1200"},
                     {"HERALD_PUSH_REQUEUE_DELAY_MS", "200"},
                     {"HERALD_PUSH_TIMEOUT_MS", "2000"},
                     {"HERALD_PUSH_BREAKER_FAILURES", "2"},
                     {"HERALD_PUSH_BREAKER_COOL_DOWN_MS", "500"}}};
  std::string code =
    create_push_template(node, {{"link", "https://shop.example.com/orders/{{order}}"}});

  std::string add_device(const std::string& user_id, const json& body) {
    auto r = post_json(node.url(1) + "/api/v1/users/" + user_id + "/push_tokens", body);
    BOOST_REQUIRE_MESSAGE(r.status == 201, r.raw);
    return r.body["data"]["id"].get<std::string>();
  }

  /// An FCM device; answers its registration token.
  std::string add_fcm(const std::string& user_id) {
    auto token = unique("fcm-e2e-token:APA91bGxJ3kYqK1nFh0aWk7z_");
    add_device(user_id, {{"type", "fcm"}, {"token", token}});
    return token;
  }

  /// A browser subscription of the fake; answers its endpoint.
  std::string add_webpush(const std::string& user_id) {
    auto sub = web.subscribe();
    add_device(user_id, {{"type", "webpush"}, {"subscription", sub}});
    return sub["endpoint"].get<std::string>();
  }

  std::string push(const std::string& user_id, int priority = 5) {
    return post_notification(node, user_id, code, {{"name", "Ada"}, {"order", "A-1"}},
                             {{"notification_type", "push"}, {"priority", priority}});
  }

  std::string wait_for(const std::string& id, const std::string& status) {
    std::string now;
    eventually([&] { return (now = status_of(node, id)) == status; });
    return now;
  }

  std::vector<fake_fcm::received> fcm_messages_to(const std::string& token) {
    std::vector<fake_fcm::received> out;
    for (auto& m : fcm.messages()) {
      if (m.device_token == token) {
        out.push_back(m);
      }
    }
    return out;
  }

  json devices_of(const std::string& user_id) {
    return http_call("GET", node.url(1) + "/api/v1/users/" + user_id + "/push_tokens")
      .body["data"];
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(push_delivery, delivery_fixture)

BOOST_AUTO_TEST_CASE(one_post_reaches_an_fcm_device_and_a_webpush_device_of_one_user) {
  auto user = create_user(node);
  auto token = add_fcm(user);
  auto endpoint = add_webpush(user);
  auto id = push(user, 8);
  BOOST_REQUIRE_EQUAL(wait_for(id, "sent"), "sent");
  BOOST_CHECK_MESSAGE(fcm.problems().empty(), fcm.problems().front());
  BOOST_CHECK_MESSAGE(web.refusals().empty(), web.refusals().front().reason);

  auto sent = fcm_messages_to(token);
  BOOST_REQUIRE_EQUAL(sent.size(), 1u);
  BOOST_CHECK_EQUAL(sent[0].message["notification"]["title"], "Order A-1");
  BOOST_CHECK_EQUAL(sent[0].message["notification"]["body"], "Hello Ada, it shipped.");
  BOOST_CHECK_EQUAL(sent[0].message["data"]["order_id"], "A-1");
  BOOST_CHECK_EQUAL(sent[0].message["android"]["priority"], "high"); // priority 8

  auto got = web.received(endpoint);
  BOOST_REQUIRE_EQUAL(got.size(), 1u);
  auto payload = json::parse(got[0].plaintext);
  BOOST_CHECK_EQUAL(payload["title"], "Order A-1");
  BOOST_CHECK_EQUAL(payload["body"], "Hello Ada, it shipped.");
  BOOST_CHECK_EQUAL(payload["link"], "https://shop.example.com/orders/A-1");
  BOOST_CHECK_EQUAL(payload["notification_id"], id);
  BOOST_CHECK_EQUAL(got[0].urgency, "high");
  BOOST_CHECK_EQUAL(got[0].ttl, "3600");
  BOOST_CHECK_EQUAL(got[0].vapid_key, keys.public_key());

  auto devices = device_entries(id);
  BOOST_REQUIRE_EQUAL(devices.size(), 2u);
  for (auto& d : devices) {
    BOOST_CHECK_EQUAL(d["outcome"], "accepted");
  }
}

BOOST_AUTO_TEST_CASE(an_expired_subscription_is_removed_from_its_user) {
  auto user = create_user(node);
  auto token = add_fcm(user);
  auto endpoint = add_webpush(user);
  web.answer(endpoint, 410);
  auto id = push(user);
  BOOST_REQUIRE_EQUAL(wait_for(id, "sent"), "sent"); // the FCM device accepted
  json left;
  BOOST_REQUIRE(eventually([&] { return (left = devices_of(user)).size() == 1; }));
  BOOST_CHECK_EQUAL(left[0]["type"], "fcm");
  auto entries = device_entries(id);
  BOOST_CHECK(std::any_of(entries.begin(), entries.end(),
                          [](const json& d) { return d["outcome"] == "gone"; }));
  // The next notification goes to the FCM device only.
  auto next = push(user);
  BOOST_REQUIRE_EQUAL(wait_for(next, "sent"), "sent");
  BOOST_CHECK_EQUAL(web.attempts(endpoint), 1u);
  BOOST_CHECK_EQUAL(fcm_messages_to(token).size(), 2u);
}

// A push service is whatever a subscription names, so its answers are untrusted bytes: one
// answering with bytes that are not UTF-8 (and a NUL) has them replaced in the device's
// timeline entry, and the status writer, which PostgreSQL would otherwise refuse for the
// whole batch, records this notification and the ones after it.
BOOST_AUTO_TEST_CASE(a_push_service_answering_bytes_that_are_not_text_is_recorded_readably) {
  auto user = create_user(node);
  auto endpoint = add_webpush(user);
  web.answer(endpoint, 400, "", std::string{"bad \xff\xfe request \0 \xc3("});
  auto id = push(user);
  BOOST_REQUIRE_EQUAL(wait_for(id, "dead"), "dead");
  auto entries = device_entries(id);
  BOOST_REQUIRE_EQUAL(entries.size(), 1u);
  auto detail = entries[0].dump();
  BOOST_CHECK_MESSAGE(detail.find("bad") != std::string::npos, detail);
  BOOST_CHECK_MESSAGE(detail.find("request") != std::string::npos, detail);
  // Another user's push right after it is recorded as usual.
  auto other = create_user(node);
  auto token = add_fcm(other);
  auto next = push(other);
  BOOST_CHECK_EQUAL(wait_for(next, "sent"), "sent");
  BOOST_CHECK_EQUAL(fcm_messages_to(token).size(), 1u);
}

BOOST_AUTO_TEST_CASE(an_fcm_token_answered_unregistered_is_removed_from_its_user) {
  auto user = create_user(node);
  auto token = add_fcm(user);
  auto endpoint = add_webpush(user);
  fcm.set_answer(token, fake_fcm::answer::unregistered);
  auto id = push(user);
  BOOST_REQUIRE_EQUAL(wait_for(id, "sent"), "sent"); // the Web Push device accepted
  json left;
  BOOST_REQUIRE(eventually([&] { return (left = devices_of(user)).size() == 1; }));
  BOOST_CHECK_EQUAL(left[0]["type"], "webpush");
  auto entries = device_entries(id);
  BOOST_CHECK(std::any_of(entries.begin(), entries.end(),
                          [](const json& d) { return d["outcome"] == "gone"; }));
  // The next notification goes to the Web Push device only.
  auto next = push(user);
  BOOST_REQUIRE_EQUAL(wait_for(next, "sent"), "sent");
  BOOST_CHECK_EQUAL(fcm_messages_to(token).size(), 1u);
  BOOST_CHECK_EQUAL(web.received(endpoint).size(), 2u);
}

BOOST_AUTO_TEST_CASE(a_device_answering_503_is_retried_and_only_it_gets_the_retry) {
  auto user = create_user(node);
  auto token = add_fcm(user);
  auto endpoint = add_webpush(user);
  web.answer(endpoint, 503, "0");
  auto id = push(user);
  BOOST_REQUIRE(eventually([&] { return web.attempts(endpoint) >= 1; }));
  BOOST_REQUIRE_EQUAL(wait_for(id, "retrying"), "retrying");
  web.answer(endpoint, 201);
  BOOST_REQUIRE_EQUAL(wait_for(id, "sent"), "sent");
  BOOST_CHECK_EQUAL(fcm_messages_to(token).size(), 1u); // accepted once, not sent again
  BOOST_CHECK_EQUAL(web.received(endpoint).size(), 1u);
  BOOST_CHECK_GE(web.attempts(endpoint), 2u);
  BOOST_CHECK_GE(notification(node, id).value("attempts", 0), 2);
}

BOOST_AUTO_TEST_CASE(a_429_with_retry_after_is_honoured_and_retries_only_that_device) {
  auto user = create_user(node);
  auto token = add_fcm(user);
  auto endpoint = add_webpush(user);
  fcm.set_answer(token, fake_fcm::answer::quota_exceeded, std::chrono::seconds{1});
  auto id = push(user);
  BOOST_REQUIRE_EQUAL(wait_for(id, "retrying"), "retrying");
  auto first = std::chrono::steady_clock::now();
  fcm.set_answer(token, fake_fcm::answer::ok);
  BOOST_REQUIRE_EQUAL(wait_for(id, "sent"), "sent");
  BOOST_CHECK_GE(std::chrono::steady_clock::now() - first, std::chrono::milliseconds{700});
  BOOST_CHECK_EQUAL(web.received(endpoint).size(), 1u);
  BOOST_CHECK_EQUAL(fcm_messages_to(token).size(), 2u); // the 429 and the retry
}

BOOST_AUTO_TEST_CASE(the_fcm_breaker_opens_while_the_fake_is_down_and_nothing_is_lost) {
  std::vector<std::string> ids;
  std::vector<std::string> tokens;
  fcm.go_down();
  for (int i = 0; i < 4; ++i) {
    auto user = create_user(node);
    tokens.push_back(add_fcm(user));
    ids.push_back(push(user));
  }
  json breaker;
  BOOST_REQUIRE(eventually([&] {
    breaker = registry_entry(node, "push_breaker/fcm");
    return breaker.value("state", "") == "open";
  }));
  BOOST_CHECK_GE(breaker["counters"].value("opened", 0), 1);
  for (auto& id : ids) {
    BOOST_CHECK_NE(status_of(node, id), "dead");
  }
  fcm.come_up();
  for (auto& id : ids) {
    BOOST_CHECK_EQUAL(wait_for(id, "sent"), "sent");
  }
  for (auto& t : tokens) {
    BOOST_CHECK_EQUAL(fcm_messages_to(t).size(), 1u);
  }
  BOOST_CHECK_EQUAL(registry_entry(node, "push_breaker/fcm").value("state", ""), "closed");
}

BOOST_AUTO_TEST_CASE(quiet_hours_defer_a_priority_5_push_and_let_priority_9_through) {
  // Quiet from an hour ago to an hour from now, UTC, in whole minutes.
  auto minute = std::chrono::floor<std::chrono::minutes>(herald::time::now());
  auto hhmm = [](herald::time::instant t) { return herald::time::format_rfc3339(t).substr(11, 5); };
  auto end = herald::time::format_rfc3339(minute + std::chrono::minutes{60});
  auto user = create_user(node, {{"preferences",
                                  {{"quiet_hours", {{"start", hhmm(minute - std::chrono::minutes{60})},
                                                    {"end", end.substr(11, 5)},
                                                    {"timezone", "UTC"}}}}}});
  auto token = add_fcm(user);
  auto quiet = push(user, 5);
  auto urgent = push(user, 9);
  BOOST_TEST(wait_for(urgent, "sent") == "sent");
  BOOST_TEST(wait_for(quiet, "scheduled") == "scheduled");
  auto record = notification(node, quiet);
  BOOST_TEST(record["send_at"] == end);
  BOOST_TEST(record["timeline"].back()["detail"] == "quiet hours until " + end);
  BOOST_TEST(fcm_messages_to(token).size() == 1u); // the urgent one only
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

/// FCM the only provider configured (no VAPID keys): when its breaker opens, every
/// configured provider is open.
struct fcm_only_fixture {
  fake_fcm fcm;
  std::string credentials = fcm.write_credentials(env("HERALD_TEST_STATE_DIR"));
  running_node node{{{"HERALD_FCM_CREDENTIALS", credentials},
                     {"HERALD_FCM_ENDPOINT", fcm.endpoint()},
                     {"HERALD_RETRY_STEPS_MS", "300,600,1200"},
                     {"HERALD_PUSH_REQUEUE_DELAY_MS", "200"},
                     {"HERALD_PUSH_TIMEOUT_MS", "2000"},
                     {"HERALD_PUSH_BREAKER_FAILURES", "2"},
                     {"HERALD_PUSH_BREAKER_COOL_DOWN_MS", "1500"}}};
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(push_pause, fcm_only_fixture)

BOOST_AUTO_TEST_CASE(consumption_pauses_while_every_configured_provider_is_open) {
  json body = {{"template_code", unique("push-")},
               {"channel", "push"},
               {"title", "Hi {{name}}"},
               {"body", "b"},
               {"variables", {"name"}}};
  BOOST_REQUIRE_EQUAL(post_json(node.url(2) + "/api/v1/templates", body).status, 201);
  auto code = body["template_code"].get<std::string>();
  fcm.go_down();
  std::vector<std::string> ids;
  std::vector<std::string> tokens;
  for (int i = 0; i < 3; ++i) {
    auto user = create_user(node);
    auto token = unique("fcm-pause-token:APA91bGxJ3kYqK1nFh0aWk7z_");
    auto r = post_json(node.url(1) + "/api/v1/users/" + user + "/push_tokens",
                       {{"type", "fcm"}, {"token", token}});
    BOOST_REQUIRE_EQUAL(r.status, 201);
    tokens.push_back(token);
    ids.push_back(post_notification(node, user, code, {{"name", "Ada"}},
                                    {{"notification_type", "push"}}));
  }
  json sender;
  BOOST_REQUIRE(eventually([&] {
    sender = registry_entry(node, "push_sender");
    return sender.value("state", "").rfind("paused", 0) == 0;
  }));
  BOOST_CHECK_GE(sender["counters"].value("pauses", 0), 1);
  BOOST_CHECK_EQUAL(registry_entry(node, "push_breaker/fcm").value("state", ""), "open");
  for (auto& id : ids) {
    BOOST_CHECK_NE(status_of(node, id), "dead");
  }
  fcm.come_up();
  for (auto& id : ids) {
    std::string now;
    eventually([&] { return (now = status_of(node, id)) == "sent"; });
    BOOST_CHECK_EQUAL(now, "sent");
  }
  for (auto& t : tokens) {
    std::size_t n = 0;
    for (auto& m : fcm.messages()) {
      n += m.device_token == t;
    }
    BOOST_CHECK_EQUAL(n, 1u);
  }
  BOOST_CHECK_EQUAL(registry_entry(node, "push_sender").value("state", ""), "running");
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

/// Web Push as in production: push.allow_insecure_endpoints off (no FCM).
struct strict_endpoints_fixture {
  fake_webpush web;
  herald::webpush::vapid_keys keys = herald::webpush::vapid_keys::generate();
  running_node node{{{"HERALD_VAPID_PUBLIC_KEY", keys.public_key()},
                     {"HERALD_VAPID_PRIVATE_KEY", keys.private_key()},
                     {"HERALD_VAPID_SUBJECT", "mailto:push-tests@example.com"},
                     {"HERALD_RETRY_STEPS_MS", "300,600"},
                     {"HERALD_PUSH_REQUEUE_DELAY_MS", "200"},
                     {"HERALD_PUSH_TIMEOUT_MS", "2000"}}};
  std::string code = create_push_template(node);
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(push_endpoints, strict_endpoints_fixture)

BOOST_AUTO_TEST_CASE(an_endpoint_whose_name_now_resolves_privately_is_refused_at_send_time) {
  // A DNS name that resolves to a loopback or private address here: this machine's own
  // name (127.0.x.1 in /etc/hosts, or a container's private address). The device goes
  // into user_db directly, standing for a name that resolved to a public address when it
  // was registered and to this one since: whatever registration checked (it judges the
  // URL as written, net::check_url), the send must judge the addresses it connects to.
  auto host = boost::asio::ip::host_name();
  auto resolved = herald::net::resolve(host);
  BOOST_REQUIRE_MESSAGE(resolved.error.empty(), host << ": " << resolved.error);
  auto problem = herald::net::resolved_problem(resolved.addresses, {});
  BOOST_REQUIRE_MESSAGE(!problem.empty(), host << " resolves to a public address here");
  auto sub = web.subscribe();
  auto fake = sub["endpoint"].get<std::string>(); // http://127.0.0.1:<port>/push/<id>
  auto endpoint = "https://" + host + fake.substr(fake.rfind(':'));
  auto user = create_user(node);
  auto device = herald::make_uuid();
  herald::postgres::session db{
    herald::postgres::database_url(env("HERALD_TEST_PG_URL"), "user_db")};
  auto w = db.transact([&](pqxx::work& tx) {
    tx.exec_params("INSERT INTO push_tokens (id, user_id, kind, token, p256dh, auth) "
                   "VALUES ($1, $2, 'webpush', $3, $4, $5)",
                   device, user, endpoint, sub["keys"]["p256dh"].get<std::string>(),
                   sub["keys"]["auth"].get<std::string>());
  });
  BOOST_REQUIRE_MESSAGE(w.ok(), w.detail);

  auto id = post_notification(node, user, code, {{"name", "Ada"}, {"order", "A-1"}},
                              {{"notification_type", "push"}});
  std::string status;
  BOOST_REQUIRE_MESSAGE(eventually([&] { return (status = status_of(node, id)) == "dead"; }),
                        "status " << status);

  auto entries = device_entries(id);
  BOOST_REQUIRE_MESSAGE(entries.size() == 1, "one device entry: " << json(entries).dump());
  auto& entry = entries.front();
  BOOST_CHECK_EQUAL(entry.value("device_id", ""), device);
  BOOST_CHECK_EQUAL(entry.value("outcome", ""), "refused"); // permanent: not retried
  auto detail = entry.value("detail", "");
  BOOST_CHECK_MESSAGE(detail.find("resolves to " + resolved.addresses.front().text())
                        != std::string::npos,
                      detail);
  BOOST_CHECK_EQUAL(web.attempts(sub["endpoint"].get<std::string>()), 0u);
  BOOST_CHECK_MESSAGE(web.refusals().empty(), web.refusals().front().reason);
  BOOST_CHECK_EQUAL(notification(node, id).value("attempts", 0), 1);
}

BOOST_AUTO_TEST_SUITE_END()
