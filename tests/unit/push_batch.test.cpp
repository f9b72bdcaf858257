// The push sender's pure logic (actors/push_sender/push_batch.hpp): which devices an
// attempt sends to, how device outcomes decide a notification, the retry's delay queue,
// the per-device timeline entries, and the priority -> TTL/Urgency mapping.

#include <boost/test/unit_test.hpp>

#include <nlohmann/json.hpp>

#include "actors/push_sender/push_batch.hpp"

using namespace herald;
using messaging::verdict;
using json = nlohmann::json;

namespace {

const std::string a = "00000000-0000-4000-8000-00000000000a";
const std::string b = "00000000-0000-4000-8000-00000000000b";
const std::string c = "00000000-0000-4000-8000-00000000000c";

push_token device(const std::string& id, const std::string& kind = "fcm") {
  return {id, kind, kind == "fcm" ? "token-" + id : "https://push.example.net/" + id, "", ""};
}

device_report report(const std::string& id, device_outcome o) {
  return {device(id), std::move(o), false};
}

device_report deferred(const std::string& id) {
  return {device(id), {}, true};
}

} // namespace

BOOST_AUTO_TEST_SUITE(push_batch)

BOOST_AUTO_TEST_CASE(one_accepted_device_of_settled_ones_makes_the_notification_sent) {
  auto d = decide_push({report(a, device_outcome::accepted("200")),
                        report(b, device_outcome::gone("410 Gone"))},
                       {}, true);
  BOOST_CHECK(d.verdict == verdict::sent);
  BOOST_CHECK(d.done == (std::set<std::string>{a}));
  BOOST_CHECK_MESSAGE(d.detail.find("accepted by 1 of 2 devices") != std::string::npos, d.detail);
}

BOOST_AUTO_TEST_CASE(no_accepted_device_and_none_waiting_is_dead_lettered_with_each_device) {
  auto d = decide_push({report(a, device_outcome::refused("fcm is not configured: set "
                                                          "HERALD_FCM_CREDENTIALS")),
                        report(b, device_outcome::gone("UNREGISTERED"))},
                       {}, true);
  BOOST_CHECK(d.verdict == verdict::failed);
  BOOST_CHECK_EQUAL(d.reason, no_device_accepted);
  BOOST_CHECK_MESSAGE(d.detail.find("HERALD_FCM_CREDENTIALS") != std::string::npos, d.detail);
  BOOST_CHECK_MESSAGE(d.detail.find("UNREGISTERED") != std::string::npos, d.detail);
}

BOOST_AUTO_TEST_CASE(a_transient_device_retries_even_when_another_accepted_and_carries_it_as_done) {
  auto d = decide_push({report(a, device_outcome::accepted()),
                        report(b, device_outcome::transient("503", true))},
                       {}, true);
  BOOST_CHECK(d.verdict == verdict::retry);
  BOOST_CHECK(d.spend_attempt);
  BOOST_CHECK(d.done == (std::set<std::string>{a}));
}

BOOST_AUTO_TEST_CASE(a_retry_sends_only_to_the_devices_that_have_not_accepted) {
  auto done = parse_push_done(format_push_done({a, c}));
  BOOST_CHECK(done == (std::set<std::string>{a, c}));
  auto left = devices_to_send({device(a), device(b), device(c)}, done);
  BOOST_REQUIRE_EQUAL(left.size(), 1u);
  BOOST_CHECK_EQUAL(left[0].id, b);
  // The accepted ones from before count: b accepting now makes it sent, 3 of 3.
  auto d = decide_push({report(b, device_outcome::accepted())}, done, true);
  BOOST_CHECK(d.verdict == verdict::sent);
  BOOST_CHECK(d.done == (std::set<std::string>{a, b, c}));
  BOOST_CHECK_MESSAGE(d.detail.find("accepted by 3 of 3") != std::string::npos, d.detail);
}

BOOST_AUTO_TEST_CASE(the_done_header_keeps_only_device_ids) {
  auto done = parse_push_done(a + ",not-an-id,," + b + ",x'); drop table");
  BOOST_CHECK(done == (std::set<std::string>{a, b}));
  BOOST_CHECK(parse_push_done("").empty());
}

BOOST_AUTO_TEST_CASE(retries_spent_end_sent_with_an_accepted_device_else_dead) {
  auto some = decide_push({report(a, device_outcome::accepted()),
                           report(b, device_outcome::transient("503", true))},
                          {}, false);
  BOOST_CHECK(some.verdict == verdict::sent);
  BOOST_CHECK_MESSAGE(some.detail.find("retries spent") != std::string::npos, some.detail);
  auto none = decide_push({report(b, device_outcome::transient("503", true))}, {}, false);
  BOOST_CHECK(none.verdict == verdict::failed);
  BOOST_CHECK_EQUAL(none.reason, messaging::reason::retries_exhausted);
}

BOOST_AUTO_TEST_CASE(deferred_devices_retry_without_spending_an_attempt) {
  auto d = decide_push({report(a, device_outcome::accepted()), deferred(b)}, {}, false);
  BOOST_CHECK(d.verdict == verdict::retry); // steps spent do not matter: no attempt is used
  BOOST_CHECK(!d.spend_attempt);
  BOOST_CHECK(d.done == (std::set<std::string>{a}));
  auto mixed = decide_push({deferred(a), report(b, device_outcome::transient("timeout", true))},
                           {}, true);
  BOOST_CHECK(mixed.verdict == verdict::retry);
  BOOST_CHECK(mixed.spend_attempt);
}

BOOST_AUTO_TEST_CASE(nothing_attempted_is_requeued_as_it_is) {
  auto d = decide_push({deferred(a), deferred(b)}, {c}, true);
  BOOST_CHECK(d.verdict == verdict::requeue);
  BOOST_CHECK(!d.spend_attempt);
}

BOOST_AUTO_TEST_CASE(the_longest_retry_after_is_kept) {
  auto d = decide_push({report(a, device_outcome::transient("429", false, 3000)),
                        report(b, device_outcome::transient("429", false, 7000))},
                       {}, true);
  BOOST_CHECK_EQUAL(d.retry_after_ms, 7000);
}

BOOST_AUTO_TEST_CASE(a_retry_spends_the_next_step_or_stays_at_the_same_attempt) {
  runtime::retry_schedule s;
  s.steps = {std::chrono::milliseconds{1000}, std::chrono::milliseconds{4000}};
  s.jitter = 0;
  auto first = plan_push_retry(1, true, s, 0.5);
  BOOST_REQUIRE(first);
  BOOST_CHECK_EQUAL(first->step.count(), 1000);
  BOOST_CHECK_EQUAL(first->next_attempt, 2);
  BOOST_CHECK(!plan_push_retry(3, true, s, 0.5)); // spent
  auto same = plan_push_retry(3, false, s, 0.5);   // deferred only: never spent
  BOOST_REQUIRE(same);
  BOOST_CHECK_EQUAL(same->step.count(), 4000);
  BOOST_CHECK_EQUAL(same->next_attempt, 3);
}

BOOST_AUTO_TEST_CASE(a_retry_after_moves_the_retry_to_a_step_that_can_hold_it) {
  runtime::retry_schedule s;
  s.steps = {std::chrono::milliseconds{1000}, std::chrono::milliseconds{4000},
             std::chrono::milliseconds{16000}};
  s.jitter = 0;
  auto p = plan_push_retry(1, true, s, 0.5, 6000);
  BOOST_REQUIRE(p);
  BOOST_CHECK_EQUAL(p->step.count(), 4000); // 2 x 4000 holds 6000; 2 x 1000 does not
  BOOST_CHECK_EQUAL(p->delay.count(), 6000);
  auto capped = plan_push_retry(1, true, s, 0.5, 600000);
  BOOST_REQUIRE(capped);
  BOOST_CHECK_EQUAL(capped->delay.count(), 32000);
  auto shorter = plan_push_retry(1, true, s, 0.5, 10); // the step's own delay is longer
  BOOST_CHECK_EQUAL(shorter->delay.count(), 1000);
}

BOOST_AUTO_TEST_CASE(each_device_is_one_timeline_entry_with_id_kind_and_outcome) {
  auto events = json::parse(device_events(
    {report(a, device_outcome::accepted("201 Created")), deferred(b),
     {device(c, "webpush"), device_outcome::gone(std::string(1000, 'x')), false}}));
  BOOST_REQUIRE_EQUAL(events.size(), 3u);
  BOOST_CHECK_EQUAL(events[0]["status"], "device");
  BOOST_CHECK_EQUAL(events[0]["device_id"], a);
  BOOST_CHECK_EQUAL(events[0]["kind"], "fcm");
  BOOST_CHECK_EQUAL(events[0]["outcome"], "accepted");
  BOOST_CHECK_EQUAL(events[0]["detail"], "201 Created");
  BOOST_CHECK_EQUAL(events[1]["outcome"], "deferred");
  BOOST_CHECK_EQUAL(events[2]["kind"], "webpush");
  BOOST_CHECK_EQUAL(events[2]["outcome"], "gone");
  BOOST_CHECK_EQUAL(events[2]["detail"].get<std::string>().size(), 300u);
  auto gone = gone_devices({report(a, device_outcome::accepted()),
                            report(b, device_outcome::gone("410"))});
  BOOST_REQUIRE_EQUAL(gone.size(), 1u);
  BOOST_CHECK_EQUAL(gone[0].id, b);
}

BOOST_AUTO_TEST_CASE(priority_maps_to_urgency_and_ttl) {
  struct row {
    int priority;
    const char* urgency;
    int ttl_s;
    bool high;
  };
  for (auto r : {row{1, "very-low", 86400, false}, row{2, "very-low", 86400, false},
                 row{3, "low", 86400, false}, row{4, "low", 86400, false},
                 row{5, "normal", 86400, false}, row{7, "normal", 86400, false},
                 row{8, "high", 3600, true}, row{10, "high", 3600, true},
                 row{0, "normal", 86400, false}, row{11, "normal", 86400, false}}) {
    BOOST_TEST_CONTEXT("priority " << r.priority) {
      auto o = push_options_for(r.priority);
      BOOST_CHECK_EQUAL(o.urgency, r.urgency);
      BOOST_CHECK_EQUAL(o.ttl_s, r.ttl_s);
      BOOST_CHECK_EQUAL(o.high, r.high);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
