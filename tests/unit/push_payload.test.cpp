// The Web Push payload a browser's service worker gets (actors/push_sender/push_providers).

#include <boost/test/unit_test.hpp>

#include <nlohmann/json.hpp>

#include "actors/push_sender/push_providers.hpp"

using namespace herald;
using json = nlohmann::json;

BOOST_AUTO_TEST_SUITE(push_payload)

BOOST_AUTO_TEST_CASE(the_payload_carries_the_rendered_parts_and_the_notification_id) {
  push_delivery d;
  d.title = "Order A-1";
  d.body = "Hello \"Ada\",\nit shipped.";
  d.link = "https://shop.example.com/orders/A-1";
  d.data = R"({"order_id":"A-1"})";
  d.notification_id = "6f1c7a52-3b1e-4e7a-9c1e-0b5d2a9e4f10";
  auto p = json::parse(webpush_payload(d));
  BOOST_CHECK_EQUAL(p["title"], "Order A-1");
  BOOST_CHECK_EQUAL(p["body"], "Hello \"Ada\",\nit shipped.");
  BOOST_CHECK_EQUAL(p["link"], d.link);
  BOOST_CHECK_EQUAL(p["data"]["order_id"], "A-1");
  BOOST_CHECK_EQUAL(p["notification_id"], d.notification_id);
  BOOST_CHECK(!p.contains("image")); // absent parts are left out
}

BOOST_AUTO_TEST_CASE(empty_data_and_no_link_are_left_out) {
  push_delivery d;
  d.title = "t";
  d.data = "{}";
  auto p = json::parse(webpush_payload(d));
  BOOST_CHECK(!p.contains("data"));
  BOOST_CHECK(!p.contains("link"));
  BOOST_CHECK_EQUAL(p["body"], "");
}

BOOST_AUTO_TEST_SUITE_END()
