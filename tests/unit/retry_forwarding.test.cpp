// Where a failed delivery goes next (actors/messaging/forwarding.hpp) and how a worker
// reads the attempt it is on and settles a retried message (actors/messaging/notification_job).

#include <boost/test/unit_test.hpp>

#include <nlohmann/json.hpp>

#include "actors/messaging/notification_job.hpp"
#include "actors/messaging/forwarding.hpp"
#include "runtime/config/settings.hpp"

using namespace herald;
using json = nlohmann::json;
using std::chrono::milliseconds;

namespace {

const std::string id = "6f1c7a52-3b1e-4e7a-9c1e-0b5d2a9e4f10";

runtime::retry_schedule short_steps() {
  runtime::retry_schedule s;
  s.steps = {milliseconds{100}, milliseconds{200}};
  return s;
}

} // namespace

BOOST_AUTO_TEST_SUITE(retry_forwarding)

BOOST_AUTO_TEST_CASE(each_failed_attempt_takes_the_next_step_and_the_last_one_takes_none) {
  auto s = short_steps();
  auto first = messaging::plan_retry(1, s, 0.5);
  BOOST_REQUIRE(first);
  BOOST_CHECK_EQUAL(first->step.count(), 100);
  BOOST_CHECK_EQUAL(first->delay.count(), 100);
  BOOST_CHECK_EQUAL(first->next_attempt, 2);
  auto second = messaging::plan_retry(2, s, 0.0);
  BOOST_REQUIRE(second);
  BOOST_CHECK_EQUAL(second->step.count(), 200);
  BOOST_CHECK_EQUAL(second->delay.count(), 180); // jitter: 10 % less at most
  BOOST_CHECK(!messaging::plan_retry(3, s, 0.5));
}

BOOST_AUTO_TEST_CASE(a_retry_goes_to_its_steps_delay_queue_with_its_own_expiration_and_attempt) {
  auto plan = *messaging::plan_retry(1, short_steps(), 0.99);
  auto m = messaging::to_delay_queue("{}", "email", id, "c-1", plan);
  BOOST_CHECK_EQUAL(m.exchange, messaging::retry_exchange);
  BOOST_CHECK_EQUAL(m.routing_key, "email"); // dead-lettered back with it
  BOOST_CHECK_EQUAL(m.headers.at(messaging::delay_queue_header), "retry.100ms");
  BOOST_CHECK_EQUAL(m.int_headers.at(messaging::attempt_header), 2);
  BOOST_CHECK_EQUAL(m.expiration, std::to_string(plan.delay.count()));
  BOOST_CHECK_EQUAL(m.message_id, id);
  // The delay queue of that step exists in the topology, bound by that header, and
  // dead-letters to the channels' exchange.
  auto t = messaging::topology(short_steps().steps);
  auto q = std::find_if(t.queues.begin(), t.queues.end(),
                        [](auto& q) { return q.name == "retry.100ms"; });
  BOOST_REQUIRE(q != t.queues.end());
  BOOST_CHECK_EQUAL(q->headers_exchange, messaging::retry_exchange);
  BOOST_CHECK_EQUAL(q->match_headers.at(messaging::delay_queue_header), "retry.100ms");
  // RabbitMQ's headers exchange ignores `x-` headers: a binding on one matches every retry.
  for (auto& [name, value] : q->match_headers) {
    BOOST_CHECK_MESSAGE(name.rfind("x-", 0) != 0, name);
  }
  // The binding of the old `x-` header is removed.
  BOOST_CHECK_EQUAL(q->unbind_headers.at(messaging::old_delay_queue_header), "retry.100ms");
  BOOST_CHECK_EQUAL(q->string_args.at("x-dead-letter-exchange"), messaging::exchange);
  BOOST_CHECK(q->string_args.count("x-dead-letter-routing-key") == 0);
}

BOOST_AUTO_TEST_CASE(a_dead_letter_carries_its_reason_detail_attempts_and_channel) {
  auto m = messaging::to_failed_queue("{}", "email", id, "c-1", messaging::reason::smtp_refused,
                                      std::string(5000, 'x'), 3);
  BOOST_CHECK_EQUAL(m.routing_key, messaging::failed_routing_key);
  BOOST_CHECK_EQUAL(m.headers.at(messaging::reason_header), "smtp_refused");
  BOOST_CHECK_EQUAL(m.headers.at(messaging::detail_header).size(), 1000u);
  BOOST_CHECK_EQUAL(m.headers.at(messaging::channel_header), "email");
  BOOST_CHECK_EQUAL(m.int_headers.at(messaging::attempts_header), 3);
}

BOOST_AUTO_TEST_CASE(the_attempt_comes_from_the_header_else_the_body_else_one) {
  json body = {{"notification_id", id}, {"attempt", 1}};
  queued_message m{1, false, body.dump(), "", "email", {}};
  std::string why;
  BOOST_CHECK_EQUAL(messaging::parse_notification_job(m, why)->attempt, 1);
  m.headers[messaging::attempt_header] = "3";
  BOOST_CHECK_EQUAL(messaging::parse_notification_job(m, why)->attempt, 3);
  m.headers[messaging::attempt_header] = "zero";
  BOOST_CHECK_EQUAL(messaging::parse_notification_job(m, why)->attempt, 1);
  BOOST_CHECK_EQUAL(messaging::parse_notification_job(m, why)->body, body.dump()); // forwarded unchanged
}

BOOST_AUTO_TEST_CASE(a_retried_message_is_acked_once_recorded_and_requeued_otherwise) {
  BOOST_CHECK_EQUAL(messaging::status_name(messaging::verdict::retry), std::string{"retrying"});
  auto s = messaging::settle({{1, messaging::verdict::retry}, {2, messaging::verdict::failed}, {3, messaging::verdict::requeue}}, true);
  BOOST_CHECK((s.ack == std::vector<std::uint64_t>{1, 2}));
  BOOST_CHECK((s.requeue == std::vector<std::uint64_t>{3}));
  s = messaging::settle({{1, messaging::verdict::retry}}, false);
  BOOST_CHECK((s.requeue == std::vector<std::uint64_t>{1}));
}

BOOST_AUTO_TEST_CASE(retry_steps_are_a_list_of_milliseconds_and_bad_ones_name_the_key) {
  config::sources in;
  in.environment = {{"HERALD_RETRY_STEPS_MS", "100, 200,400"}};
  auto ok = config::load(in);
  BOOST_REQUIRE(ok.value);
  auto steps = ok.value->get_ms_list("retry.steps_ms");
  BOOST_CHECK_EQUAL(steps.size(), 3u);
  BOOST_CHECK_EQUAL(steps[1].count(), 200);
  for (std::string bad : {"", "100,x", "0", "5"}) {
    in.environment = {{"HERALD_RETRY_STEPS_MS", bad}};
    auto r = config::load(in);
    BOOST_CHECK_MESSAGE(!r.value && r.error.find("retry.steps_ms") != std::string::npos,
                        "'" << bad << "': " << r.error);
  }
}

BOOST_AUTO_TEST_SUITE_END()
