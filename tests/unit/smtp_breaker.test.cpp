#include <boost/test/unit_test.hpp>

#include "actors/email_sender/email_batch.hpp"

using namespace herald;
using runtime::breaker_state;

namespace {

smtp::send_outcome smtp_outcome(smtp::send_status status, long code, bool message_specific,
                           std::string detail = "detail") {
  return {status, code, std::move(detail), message_specific};
}

send_result answered() { // sent, or refused by an answer
  send_result r;
  r.sent = true;
  return r;
}

send_result unreachable() {
  send_result r;
  r.relay_failure = true;
  r.detail = "Couldn't connect to server";
  return r;
}

} // namespace

BOOST_AUTO_TEST_SUITE(smtp_breaker)

BOOST_AUTO_TEST_CASE(a_refused_or_lost_connection_fails_the_relay_not_the_message) {
  auto r = to_send_result(smtp_outcome(smtp::send_status::transient_failure, 0, false));
  BOOST_CHECK(r.relay_failure);
  BOOST_CHECK(!r.message_specific);
  BOOST_CHECK(!r.sent);
  BOOST_CHECK(!r.permanent);
}

BOOST_AUTO_TEST_CASE(a_refused_session_fails_the_relay) {
  // 421 closes the session; 530/535 refuse it (authentication): the relay's configuration.
  for (long code : {421L, 530L, 535L}) {
    BOOST_TEST_CONTEXT("code " << code) {
      auto r = to_send_result(smtp_outcome(smtp::send_status::transient_failure, code, false));
      BOOST_CHECK(r.relay_failure);
      BOOST_CHECK(!r.message_specific);
    }
  }
}

BOOST_AUTO_TEST_CASE(silence_during_a_transaction_fails_the_relay_and_retries_the_message) {
  auto r = to_send_result(smtp_outcome(smtp::send_status::transient_failure, 0, true, "timed out"));
  BOOST_CHECK(r.relay_failure);
  BOOST_CHECK(r.message_specific);
}

BOOST_AUTO_TEST_CASE(an_answered_refusal_of_one_recipient_is_no_relay_failure) {
  auto deferred = to_send_result(smtp_outcome(smtp::send_status::transient_failure, 451, true));
  BOOST_CHECK(!deferred.relay_failure);
  BOOST_CHECK(deferred.message_specific);
  auto refused = to_send_result(smtp_outcome(smtp::send_status::permanent_failure, 550, false));
  BOOST_CHECK(!refused.relay_failure);
  BOOST_CHECK(refused.permanent);
  auto sent = to_send_result(smtp_outcome(smtp::send_status::sent, 250, false));
  BOOST_CHECK(!sent.relay_failure);
  BOOST_CHECK(sent.sent);
}

BOOST_AUTO_TEST_CASE(a_request_fails_the_relay_when_any_mail_could_not_be_talked_about) {
  auto refused = to_send_result(smtp_outcome(smtp::send_status::permanent_failure, 550, false));
  auto deferred = to_send_result(smtp_outcome(smtp::send_status::transient_failure, 451, true));
  BOOST_CHECK(!relay_failed({answered(), refused, deferred}, 3));
  BOOST_CHECK(relay_failed({answered(), unreachable(), unreachable()}, 3));
  BOOST_CHECK(relay_failed({unreachable()}, 1));
  BOOST_CHECK(relay_failed({answered()}, 2)); // a result missing
  BOOST_CHECK(!relay_failed(std::vector<send_result>{}, 0));
}

BOOST_AUTO_TEST_CASE(batches_go_to_the_primary_then_the_fallback_then_nowhere) {
  using route = smtp_route;
  BOOST_CHECK(choose_route(breaker_state::closed, std::nullopt) == route::primary);
  BOOST_CHECK(choose_route(breaker_state::closed, breaker_state::open) == route::primary);
  BOOST_CHECK(choose_route(breaker_state::open, std::nullopt) == route::paused);
  BOOST_CHECK(choose_route(breaker_state::half_open, std::nullopt) == route::paused);
  BOOST_CHECK(choose_route(breaker_state::open, breaker_state::closed) == route::fallback);
  BOOST_CHECK(choose_route(breaker_state::half_open, breaker_state::closed) == route::fallback);
  BOOST_CHECK(choose_route(breaker_state::open, breaker_state::open) == route::paused);
  BOOST_CHECK(choose_route(breaker_state::open, breaker_state::half_open) == route::paused);
}

BOOST_AUTO_TEST_SUITE_END()
