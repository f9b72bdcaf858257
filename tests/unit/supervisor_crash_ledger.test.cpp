// The crash ledger a supervision tree keeps for its worker (runtime/supervision/
// crash_ledger.hpp): who is blamed for a crash, when a message becomes poison, and the
// sends that outlive a crashed sender. Pure logic.

#include <boost/test/unit_test.hpp>

#include "runtime/supervision/crash_ledger.hpp"

using herald::runtime::crash_ledger;

BOOST_AUTO_TEST_SUITE(supervisor_crash_ledger)

BOOST_AUTO_TEST_CASE(a_crash_blames_every_message_in_flight_once_and_no_other) {
  crash_ledger l;
  l.started("a");
  l.started("b");
  l.started("done");
  l.finished("done");
  BOOST_CHECK_EQUAL(l.crashed("boom"), 2u);
  BOOST_CHECK_EQUAL(l.crashes("a"), 1);
  BOOST_CHECK_EQUAL(l.crashes("b"), 1);
  BOOST_CHECK_EQUAL(l.crashes("done"), 0);
  BOOST_CHECK(l.suspect("a"));
  BOOST_CHECK(!l.poison("a"));
  BOOST_CHECK_EQUAL(l.last_error("a"), "boom");
  // The next crash blames only what is in flight then.
  BOOST_CHECK_EQUAL(l.crashed("again"), 0u);
  BOOST_CHECK_EQUAL(l.crashes("a"), 1);
}

BOOST_AUTO_TEST_CASE(a_message_in_flight_at_two_crashes_is_poison_with_the_last_error) {
  crash_ledger l;
  l.started("p");
  l.crashed("first");
  l.started("p"); // worked on alone after the restart
  l.crashed("second");
  BOOST_CHECK(l.poison("p"));
  BOOST_CHECK(!l.suspect("p"));
  BOOST_CHECK_EQUAL(l.last_error("p"), "second");
  l.forget("p"); // dead-lettered
  BOOST_CHECK_EQUAL(l.crashes("p"), 0);
}

BOOST_AUTO_TEST_CASE(an_innocent_suspect_that_settles_is_forgotten) {
  crash_ledger l;
  l.started("i");
  l.crashed("boom");
  l.started("i");
  l.finished("i");
  l.forget("i");
  BOOST_CHECK(!l.suspect("i"));
  BOOST_CHECK_EQUAL(l.blamed_count(), 0u);
}

BOOST_AUTO_TEST_CASE(a_send_is_remembered_until_it_is_forgotten) {
  crash_ledger l;
  l.sent("s");
  BOOST_CHECK(l.was_sent("s"));
  BOOST_CHECK(!l.was_sent("t"));
  l.forget("s");
  BOOST_CHECK(!l.was_sent("s"));
}

BOOST_AUTO_TEST_CASE(the_ledger_remembers_at_most_max_entries) {
  crash_ledger l{2, 2};
  for (auto id : {"a", "b", "c"}) {
    l.started(id);
    l.sent(id);
  }
  BOOST_CHECK_EQUAL(l.crashed("boom"), 2u);
  BOOST_CHECK_EQUAL(l.blamed_count(), 2u);
  int sent = l.was_sent("a") + l.was_sent("b") + l.was_sent("c");
  BOOST_CHECK_EQUAL(sent, 2);
}

BOOST_AUTO_TEST_SUITE_END()
