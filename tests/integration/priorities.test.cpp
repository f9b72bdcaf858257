// Priorities through real RabbitMQ and SMTP: email.queue is a priority queue and the gateway
// publishes each notification with its priority, so a priority-10 notification posted
// after a backlog of priority-1 ones is sent among the first, not the last.

#include <boost/test/unit_test.hpp>

#include <algorithm>

#include "actors/messaging/topology.hpp"
#include "support/broker.hpp"
#include "support/herald_api.hpp"

using namespace herald::test;
using json = nlohmann::json;

namespace {

/// The sink's arrival counter of a stored mail (its file is <UTC stamp>-<counter>.eml).
long arrival_of(const stored_mail& m) {
  auto dash = m.path.rfind('-');
  auto dot = m.path.rfind(".eml");
  return std::stol(m.path.substr(dash + 1, dot - dash - 1));
}

} // namespace

BOOST_AUTO_TEST_SUITE(priorities)

BOOST_AUTO_TEST_CASE(a_priority_10_notification_overtakes_a_backlog_of_priority_1) {
  constexpr int backlog = 500;
  // The sending node: one consumer holding at most `prefetch` unacknowledged deliveries.
  constexpr int consumers = 1;
  constexpr int prefetch = 20;
  auto email = unique("prio-") + "@example.com";
  std::vector<std::string> low;
  std::string urgent;
  {
    // No email role: the backlog waits in email.queue, unconsumed.
    running_node filler{{{"HERALD_ROLES", "gateway,users,templates"},
                         {"HERALD_RATE_LIMIT_PER_USER", "0"}}};
    auto code = create_email_template(filler);
    auto user = create_user(filler, {{"email", email}});
    for (int i = 0; i < backlog; ++i) {
      low.push_back(post_notification(filler, user, code, {{"name", "low"}},
                                      {{"priority", 1}}));
    }
    urgent = post_notification(filler, user, code, {{"name", "urgent"}}, {{"priority", 10}});
  }
  running_node sender{{{"HERALD_ROLES", "email"},
                       {"HERALD_EMAIL_CONSUMERS", std::to_string(consumers)},
                       {"HERALD_AMQP_PREFETCH", std::to_string(prefetch)}}};
  std::vector<stored_mail> mails;
  BOOST_REQUIRE(eventually(
    [&] {
      mails = mails_to(env("HERALD_TEST_MAILDIR"), email);
      return mails.size() >= backlog + 1;
    },
    std::chrono::seconds{60}));
  BOOST_REQUIRE_EQUAL(mails.size(), static_cast<std::size_t>(backlog + 1));
  std::sort(mails.begin(), mails.end(),
            [](const stored_mail& a, const stored_mail& b) { return arrival_of(a) < arrival_of(b); });
  auto at = std::find_if(mails.begin(), mails.end(), [&](const stored_mail& m) {
    return m.header("X-Herald-Notification-ID") == urgent;
  });
  BOOST_REQUIRE(at != mails.end());
  auto sent_before = at - mails.begin();
  // When consumption starts the broker hands over the highest priority first, so the
  // urgent message is in each consumer's first window of `prefetch` deliveries: a window
  // may be sent in any order (a batch over several SMTP connections), so at most the
  // other consumers × prefetch + prefetch − 1 low ones go out before it. Without
  // priorities it would be the 501st.
  BOOST_TEST_CONTEXT("mails sent before the priority-10 one: " << sent_before) {
    BOOST_CHECK_LT(sent_before, consumers * prefetch);
  }
}

BOOST_AUTO_TEST_CASE(a_queue_declared_before_priorities_stops_start_up_naming_the_fix) {
  namespace messaging = herald::messaging;
  {
    broker_client broker;
    broker.delete_queue(messaging::email_queue);
    // As an older Herald declared it: durable, no arguments.
    broker.declare_queue(messaging::email_queue, messaging::exchange, "email");
  }
  std::string error;
  try {
    running_node node{{{"HERALD_ROLES", "gateway,users,templates"}}, false};
  } catch (const std::exception& e) {
    error = e.what();
  }
  broker_client{}.delete_queue(messaging::email_queue); // the next node declares it anew
  BOOST_TEST_CONTEXT("start-up error: " << error) {
    BOOST_CHECK_NE(error.find("queue 'email.queue'"), std::string::npos);
    BOOST_CHECK_NE(error.find("x-max-priority"), std::string::npos);
    BOOST_CHECK_NE(error.find("rabbitmqctl delete_queue email.queue"), std::string::npos);
  }
}

BOOST_AUTO_TEST_SUITE_END()
