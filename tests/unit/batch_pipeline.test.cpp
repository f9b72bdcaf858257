// messaging/batch_pipeline's step 3 as a pure function: decide_delivery asks the channel
// whether the user opted out, and only that decides between delivering and skipping.

#include <boost/test/unit_test.hpp>

#include "actors/messaging/batch_pipeline.hpp"

using namespace herald;
using namespace herald::messaging;

namespace {

/// A channel whose only preference is email_enabled; it sends nothing.
class email_preference final : public channel_steps {
public:
  std::string opted_out(const user_record& user) const override {
    return user.email_enabled ? std::string{} : "user turned this channel off";
  }
  void send(const batch_ptr&, std::vector<rendered_item>, std::function<void()> done) override {
    done();
  }
  std::optional<retry_plan> plan_retry(const batch_item&, double) override {
    return std::nullopt;
  }
  route_status route() override { return {}; }
};

notification_job job() {
  notification_job j;
  j.notification_id = "6f1c7a52-3b1e-4e7a-9c1e-0b5d2a9e4f10";
  j.user_id = "0b5d2a9e-3b1e-4e7a-9c1e-6f1c7a524f10";
  return j;
}

} // namespace

BOOST_AUTO_TEST_SUITE(batch_pipeline_decisions)

BOOST_AUTO_TEST_CASE(a_user_who_opted_out_of_the_channel_is_skipped_with_the_channels_reason) {
  user_record user;
  user.email_enabled = false;
  auto d = decide_delivery(job(), user, email_preference{});
  BOOST_TEST(!d.deliver);
  BOOST_TEST(d.why == "user turned this channel off");
}

BOOST_AUTO_TEST_CASE(a_user_who_did_not_opt_out_is_delivered_to_now) {
  user_record user;
  user.email_enabled = true;
  user.push_enabled = false; // another channel's preference changes nothing here
  auto d = decide_delivery(job(), user, email_preference{});
  BOOST_TEST(d.deliver);
  BOOST_TEST(d.why.empty());
}

BOOST_AUTO_TEST_SUITE_END()
