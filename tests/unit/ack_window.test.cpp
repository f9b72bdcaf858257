#include <boost/test/unit_test.hpp>

#include "adapters/amqp/ack_window.hpp"

using herald::amqp::ack_window;

namespace {

ack_window delivered(std::uint64_t first, std::uint64_t last) {
  ack_window w;
  for (auto t = first; t <= last; ++t) {
    w.delivered(t);
  }
  return w;
}

} // namespace

BOOST_AUTO_TEST_SUITE(ack_window_suite)

BOOST_AUTO_TEST_CASE(a_settled_prefix_is_acked_with_one_multiple_ack_of_its_last_acked_tag) {
  auto w = delivered(1, 5);
  for (std::uint64_t t : {3, 1, 2}) {
    BOOST_CHECK(w.acked(t));
  }
  auto last = w.take_prefix_ack();
  BOOST_REQUIRE(last);
  BOOST_CHECK_EQUAL(*last, 3u);
  BOOST_CHECK_EQUAL(w.outstanding(), 2u);
  BOOST_CHECK_EQUAL(w.held(), 0u);
  BOOST_CHECK(!w.take_prefix_ack());
}

BOOST_AUTO_TEST_CASE(acks_behind_an_unsettled_tag_are_held_until_it_settles) {
  auto w = delivered(1, 4);
  BOOST_CHECK(w.acked(2));
  BOOST_CHECK(w.acked(4));
  BOOST_CHECK(!w.take_prefix_ack()); // 1 is still open
  BOOST_CHECK_EQUAL(w.held(), 2u);
  BOOST_CHECK(w.acked(1));
  auto last = w.take_prefix_ack();
  BOOST_REQUIRE(last);
  BOOST_CHECK_EQUAL(*last, 2u); // 3 is open: 4 stays held
  BOOST_CHECK_EQUAL(w.held(), 1u);
}

BOOST_AUTO_TEST_CASE(a_rejected_tag_is_never_covered_by_a_multiple_ack) {
  auto w = delivered(1, 3);
  w.acked(1);
  w.rejected(2);
  w.acked(3);
  auto last = w.take_prefix_ack();
  BOOST_REQUIRE(last);
  BOOST_CHECK_EQUAL(*last, 3u);
  BOOST_CHECK_EQUAL(w.outstanding(), 0u);

  auto v = delivered(1, 3);
  v.acked(1);
  v.acked(2);
  v.rejected(3);
  last = v.take_prefix_ack();
  BOOST_REQUIRE(last);
  BOOST_CHECK_EQUAL(*last, 2u); // the last ACKED tag, not the rejected one after it
}

BOOST_AUTO_TEST_CASE(only_rejections_give_no_ack_at_all) {
  auto w = delivered(1, 2);
  w.rejected(1);
  w.rejected(2);
  BOOST_CHECK(!w.take_prefix_ack());
  BOOST_CHECK_EQUAL(w.outstanding(), 0u);
}

BOOST_AUTO_TEST_CASE(held_acks_taken_one_by_one_are_not_acked_again_by_the_prefix) {
  auto w = delivered(1, 4);
  w.acked(2);
  w.acked(3);
  auto held = w.take_held();
  BOOST_CHECK((held == std::vector<std::uint64_t>{2, 3}));
  BOOST_CHECK_EQUAL(w.held(), 0u);
  w.acked(1);
  auto last = w.take_prefix_ack();
  BOOST_REQUIRE(last);
  BOOST_CHECK_EQUAL(*last, 1u);
  BOOST_CHECK_EQUAL(w.outstanding(), 1u);
}

BOOST_AUTO_TEST_CASE(unknown_or_twice_settled_tags_are_left_to_the_caller) {
  auto w = delivered(5, 6);
  BOOST_CHECK(!w.acked(4)); // before the window
  BOOST_CHECK(!w.acked(9)); // never delivered
  BOOST_CHECK(w.acked(5));
  BOOST_CHECK(!w.acked(5)); // twice
}

BOOST_AUTO_TEST_CASE(a_gap_in_the_tags_counts_as_settled) {
  ack_window w;
  w.delivered(1);
  w.delivered(3);
  w.acked(1);
  w.acked(3);
  auto last = w.take_prefix_ack();
  BOOST_REQUIRE(last);
  BOOST_CHECK_EQUAL(*last, 3u);
  BOOST_CHECK_EQUAL(w.outstanding(), 0u);
}

BOOST_AUTO_TEST_SUITE_END()
