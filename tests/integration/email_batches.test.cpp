// The email pipeline in batches, through real RabbitMQ, PostgreSQL, Redis and SMTP: a
// backlog is worked off in batches with every message sent exactly once, outcomes are per
// message within a batch, a redelivery of a notification already sent is not sent again,
// and an SMTP outage requeues messages until the relay is back, losing and doubling none.

#include <boost/test/unit_test.hpp>

#include <set>

#include "actors/common/ids.hpp"
#include "actors/messaging/topology.hpp"
#include "adapters/amqp/connection.hpp"
#include "support/herald_api.hpp"

using namespace herald::test;
using json = nlohmann::json;

namespace {

/// Everything but the email role: notifications posted through it wait in email.queue.
const std::map<std::string, std::string> without_email = {
  {"HERALD_ROLES", "gateway,users,templates"}};

std::string create_user(const running_node& node, const std::string& email, bool email_on = true) {
  return herald::test::create_user(node, {{"email", email}, {"preferences", {{"email", email_on}}}});
}

/// An email template whose subject and body carry the number {{n}}.
std::string create_template(const running_node& node) {
  return create_email_template(node, {{"template_code", unique("batch-")},
                                      {"subject", "Batch {{n}}"},
                                      {"body", "Message number {{n}}."},
                                      {"variables", {"n"}}});
}

std::string post_notification(const running_node& node, const std::string& user_id,
                              const std::string& code, int n) {
  return herald::test::post_notification(node, user_id, code, {{"n", std::to_string(n)}});
}

/// A counter of the email_sender's registry entry (0 when absent).
std::uint64_t sender_counter(const running_node& node, const std::string& name) {
  return actor_counter(node, "email_sender", name);
}

/// The subject of the mail the sink stored for notification `id` sent to `email`.
std::string subject_of(const std::string& email, const std::string& id) {
  for (auto& m : mails_to(env("HERALD_TEST_MAILDIR"), email)) {
    if (m.header("X-Herald-Notification-ID") == id) {
      return m.header("Subject");
    }
  }
  return {};
}

/// The notification ids of the mails the sink stored for `email`.
std::multiset<std::string> mailed_ids(const std::string& email) {
  std::multiset<std::string> ids;
  for (auto& m : mails_to(env("HERALD_TEST_MAILDIR"), email)) {
    ids.insert(m.header("X-Herald-Notification-ID"));
  }
  return ids;
}

} // namespace

BOOST_AUTO_TEST_SUITE(email_batches)

BOOST_AUTO_TEST_CASE(a_backlog_is_sent_in_batches_each_notification_exactly_once) {
  constexpr int users = 8;
  constexpr int per_user = 5;
  std::vector<std::string> emails;
  std::map<std::string, std::set<std::string>> expected; // email -> notification ids
  std::vector<std::string> ids;
  {
    running_node filler{without_email};
    auto code = create_template(filler);
    for (int u = 0; u < users; ++u) {
      emails.push_back(unique("backlog-") + "@example.com");
      auto user_id = create_user(filler, emails.back());
      for (int k = 0; k < per_user; ++k) {
        ids.push_back(post_notification(filler, user_id, code, u * per_user + k));
        expected[emails.back()].insert(ids.back());
      }
    }
  }
  running_node node;
  BOOST_REQUIRE(eventually(
    [&] {
      for (auto& id : ids) {
        if (status_of(node, id) != "sent") {
          return false;
        }
      }
      return true;
    },
    std::chrono::seconds{60}));
  for (auto& email : emails) {
    auto mailed = mailed_ids(email);
    BOOST_TEST_CONTEXT("recipient " << email) {
      BOOST_CHECK_EQUAL(mailed.size(), expected[email].size());
      BOOST_CHECK((std::set<std::string>(mailed.begin(), mailed.end()) == expected[email]));
    }
  }
  auto batches = sender_counter(node, "batches");
  auto messages = sender_counter(node, "batched_messages");
  BOOST_TEST_CONTEXT("batches " << batches << ", messages " << messages) {
    BOOST_CHECK_EQUAL(messages, ids.size());
    BOOST_CHECK_LT(batches, messages); // several messages per batch
    BOOST_CHECK_EQUAL(sender_counter(node, "sent"), ids.size());
    BOOST_CHECK_EQUAL(sender_counter(node, "requeued"), 0u);
  }
  auto record = notification(node, ids.front());
  BOOST_CHECK_EQUAL(record["template_version"], 1);
  BOOST_CHECK_EQUAL(record["language"], "en");
}

BOOST_AUTO_TEST_CASE(each_message_of_a_mixed_batch_ends_with_its_own_status) {
  auto good_email = unique("mixed-good-") + "@example.com";
  auto quiet_email = unique("mixed-quiet-") + "@example.com";
  std::string good, quiet, unknown;
  {
    running_node filler{without_email};
    auto code = create_template(filler);
    auto good_user = create_user(filler, good_email);
    auto quiet_user = create_user(filler, quiet_email, false);
    // Accepted while the user existed, deleted while the message waited.
    auto gone_user = create_user(filler, unique("mixed-gone-") + "@example.com");
    unknown = post_notification(filler, gone_user, code, 1);
    BOOST_REQUIRE_EQUAL(http_call("DELETE", filler.url(1) + "/api/v1/users/" + gone_user).status,
                        200);
    quiet = post_notification(filler, quiet_user, code, 2);
    good = post_notification(filler, good_user, code, 3);
  }
  running_node node;
  BOOST_REQUIRE(eventually([&] {
    return status_of(node, good) == "sent" && status_of(node, quiet) == "skipped"
           && status_of(node, unknown) == "dead"; // failed, then dead-lettered
  }));
  BOOST_CHECK_NE(notification(node, unknown)["last_error"].get<std::string>().find("unknown user"),
                 std::string::npos);
  BOOST_CHECK_EQUAL(mailed_ids(good_email).size(), 1u);
  BOOST_CHECK(mailed_ids(quiet_email).empty());
  BOOST_CHECK_EQUAL(sender_counter(node, "skipped"), 1u);
  BOOST_CHECK_EQUAL(sender_counter(node, "failed"), 1u);
  BOOST_CHECK_EQUAL(sender_counter(node, "sent"), 1u);
  // These three, and nothing else (the suite's virtual host holds no other messages). They
  // were waiting together and usually come as one batch; a loaded machine may split them,
  // which changes nothing above: outcomes are per message either way.
  BOOST_CHECK_EQUAL(sender_counter(node, "batched_messages"), 3u);
  BOOST_TEST_MESSAGE("mixed messages came in " << sender_counter(node, "batches") << " batch(es)");
}

BOOST_AUTO_TEST_CASE(an_address_changed_while_the_message_waited_is_the_one_used) {
  auto old_email = unique("before-") + "@example.com";
  auto new_email = unique("after-") + "@example.com";
  std::string id;
  {
    running_node filler{without_email};
    auto code = create_template(filler);
    auto user_id = create_user(filler, old_email);
    BOOST_REQUIRE_EQUAL(http_call("GET", filler.url(1) + "/api/v1/users/" + user_id).status,
                        200); // now cached in Redis too
    id = post_notification(filler, user_id, code, 1);
    auto patched = http_call("PATCH", filler.url(1) + "/api/v1/users/" + user_id,
                             json{{"email", new_email}}.dump());
    BOOST_REQUIRE_EQUAL(patched.status, 200);
  }
  running_node node;
  BOOST_REQUIRE(eventually([&] { return status_of(node, id) == "sent"; }));
  BOOST_CHECK_EQUAL(mailed_ids(new_email).size(), 1u);
  BOOST_CHECK(mailed_ids(old_email).empty());
}

BOOST_AUTO_TEST_CASE(a_redelivered_message_whose_notification_was_sent_is_not_sent_again) {
  auto email = unique("redelivered-") + "@example.com";
  std::string id;
  json message;
  {
    running_node node;
    auto code = create_template(node);
    auto user_id = create_user(node, email);
    id = post_notification(node, user_id, code, 1);
    BOOST_REQUIRE(eventually([&] { return status_of(node, id) == "sent"; }));
    message = {{"notification_id", id},       {"notification_type", "email"},
               {"user_id", user_id},          {"template_code", code},
               {"variables", {{"n", "1"}}},   {"request_id", ""},
               {"priority", 5},               {"metadata", json::object()},
               {"language", ""},              {"correlation_id", "redelivery-test"},
               {"attempt", 1}};
  }
  BOOST_REQUIRE_EQUAL(mailed_ids(email).size(), 1u);

  // The same message again, delivered once to a consumer that dies without acking it:
  // the broker hands it out again flagged as redelivered.
  namespace amqp = herald::amqp;
  namespace messaging = herald::messaging;
  publish_direct(message);
  {
    amqp::connection consumer{env("HERALD_TEST_AMQP_URL")};
    BOOST_REQUIRE_EQUAL(consumer.open(), "");
    BOOST_REQUIRE_EQUAL(consumer.set_prefetch(100), "");
    BOOST_REQUIRE_EQUAL(consumer.consume(messaging::email_queue), "");
    bool seen = false;
    for (int i = 0; i < 100 && !seen; ++i) {
      auto d = consumer.next_delivery(std::chrono::seconds{5});
      BOOST_REQUIRE(d);
      seen = json::parse(d->body).value("notification_id", "") == id;
    }
    BOOST_REQUIRE(seen);
  } // closed without an ack

  running_node node;
  BOOST_REQUIRE(eventually([&] { return sender_counter(node, "duplicates") >= 1; }));
  BOOST_CHECK_EQUAL(sender_counter(node, "sent"), 0u);
  BOOST_CHECK_EQUAL(sender_counter(node, "requeued"), 0u);
  BOOST_CHECK_EQUAL(mailed_ids(email).size(), 1u);
  BOOST_CHECK_EQUAL(status_of(node, id), "sent");
}

BOOST_AUTO_TEST_CASE(an_smtp_outage_requeues_messages_until_the_relay_is_back_none_lost_or_doubled) {
  running_node node{{{"HERALD_EMAIL_REQUEUE_DELAY_MS", "200"},
                     {"HERALD_SMTP_BREAKER_COOL_DOWN_MS", "1000"}}};
  auto email = unique("outage-") + "@example.com";
  auto code = create_template(node);
  auto user_id = create_user(node, email);
  constexpr int count = 6;

  std::set<std::string> ids;
  {
    stopped_server relay{"smtp"};
    for (int i = 0; i < count; ++i) {
      ids.insert(post_notification(node, user_id, code, i));
    }
    // Tried and requeued until the relay's circuit breaker opened (smtp.breaker.failures
    // failed sends); from then on they wait in the queue untried.
    BOOST_REQUIRE(eventually([&] {
      auto breaker = registry_entry(node, "smtp_breaker/primary");
      return sender_counter(node, "requeued") >= 1 && breaker.is_object()
             && breaker.value("state", "") == "open";
    }));
    // Their `queued` records are written asynchronously: wait for them, then look.
    std::vector<std::string> while_down;
    BOOST_REQUIRE(eventually([&] {
      while_down.clear();
      for (auto& id : ids) {
        while_down.push_back(status_of(node, id));
      }
      return std::find(while_down.begin(), while_down.end(), "") == while_down.end();
    }));
    for (auto& s : while_down) {
      BOOST_CHECK_EQUAL(s, "queued"); // not failed: the relay being down is not the message's fault
    }
    BOOST_REQUIRE(relay.start());
  }

  BOOST_REQUIRE(eventually(
    [&] {
      for (auto& id : ids) {
        if (status_of(node, id) != "sent") {
          return false;
        }
      }
      return true;
    },
    std::chrono::seconds{60}));
  auto mailed = mailed_ids(email);
  BOOST_CHECK_EQUAL(mailed.size(), ids.size());
  BOOST_CHECK((std::set<std::string>(mailed.begin(), mailed.end()) == ids));
  BOOST_CHECK_EQUAL(sender_counter(node, "sent"), ids.size());
}

BOOST_AUTO_TEST_CASE(a_status_detail_with_quotes_backslashes_and_commas_is_stored_as_it_is) {
  running_node node;
  auto email = unique("odd-") + "@example.com";
  auto user_id = create_user(node, email);
  auto id = herald::make_uuid();
  const std::string code = R"(no-such "code" \ it's, {odd})";
  publish_direct({{"notification_id", id},     {"notification_type", "email"},
           {"user_id", user_id},        {"template_code", code},
           {"variables", json::object()}, {"correlation_id", "odd-detail"},
           {"attempt", 1}});
  BOOST_REQUIRE(eventually([&] { return status_of(node, id) == "dead"; })); // failed, then dead-lettered
  auto record = notification(node, id);
  BOOST_CHECK_EQUAL(record["template_code"], code);
  BOOST_CHECK_NE(record["last_error"].get<std::string>().find(code), std::string::npos);
  BOOST_CHECK_EQUAL(record["correlation_id"], "odd-detail");
}

BOOST_AUTO_TEST_CASE(a_pinned_template_version_is_rendered_as_it_is_and_compiled_once) {
  running_node node;
  auto email = unique("pinned-") + "@example.com";
  auto user_id = create_user(node, email);
  auto code = unique("pinned-");
  BOOST_REQUIRE_EQUAL(post_json(node.url(2) + "/api/v1/templates",
                                {{"template_code", code},
                                 {"channel", "email"},
                                 {"subject", "Old {{n}}"},
                                 {"body", "Old body {{n}}."}})
                        .status,
                      201);
  auto put = http_call("PUT", node.url(2) + "/api/v1/templates/" + code,
                       json{{"subject", "New {{n}}"}}.dump());
  BOOST_REQUIRE_EQUAL(put.status, 201);
  auto message = [&](const std::string& id, int n, bool pinned) {
    json m = {{"notification_id", id},   {"notification_type", "email"},
              {"user_id", user_id},      {"template_code", code},
              {"variables", {{"n", std::to_string(n)}}},
              {"language", ""},          {"correlation_id", "pinned-" + std::to_string(n)},
              {"attempt", 1}};
    if (pinned) {
      m["template_language"] = "en";
      m["template_version"] = 1;
    }
    return m;
  };
  auto pinned = herald::make_uuid();
  auto latest = herald::make_uuid();
  publish_direct(message(pinned, 1, true));
  publish_direct(message(latest, 2, false));
  BOOST_REQUIRE(eventually(
    [&] { return status_of(node, pinned) == "sent" && status_of(node, latest) == "sent"; }));
  BOOST_CHECK_EQUAL(subject_of(email, pinned), "Old 1");
  BOOST_CHECK_EQUAL(subject_of(email, latest), "New 2");
  BOOST_CHECK_EQUAL(notification(node, pinned)["template_version"], 1);
  BOOST_CHECK_EQUAL(notification(node, latest)["template_version"], 2);

  // The same pinned version again: rendered from the sender's compiled copy, without
  // asking the template cache.
  auto lookups = actor_figure(node, "template_cache", "processed");
  auto again = herald::make_uuid();
  publish_direct(message(again, 3, true));
  BOOST_REQUIRE(eventually([&] { return status_of(node, again) == "sent"; }));
  BOOST_CHECK_EQUAL(subject_of(email, again), "Old 3");
  BOOST_CHECK_EQUAL(actor_figure(node, "template_cache", "processed"), lookups);
}

BOOST_AUTO_TEST_SUITE_END()
