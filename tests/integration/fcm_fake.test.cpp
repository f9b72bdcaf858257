// FCM HTTP v1 end to end at the protocol level: http::client + push::fcm driven by a
// sequential sender (the loop push_sender's workers run) against tests/support/fake_fcm,
// which verifies the RS256 assertion with the account's public key, issues expiring access
// tokens and checks every message's shape. The sender's clock is a fake one it is given,
// and the fake FCM's clock can be moved too, so expiry is shown without waiting.

#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <functional>

#include "adapters/http/client.hpp"
#include "adapters/push/fcm.hpp"
#include "support/fake_fcm.hpp"
#include "support/test_env.hpp"

using namespace std::chrono_literals;
namespace fcm = herald::push::fcm;
namespace http = herald::http;
using herald::test::fake_fcm;
using steady = std::chrono::steady_clock;

namespace {

/// A temporary folder for credentials files, removed afterwards.
struct temp_dir {
  std::filesystem::path path =
    std::filesystem::temp_directory_path() / herald::test::unique("herald-fcm-");
  temp_dir() { std::filesystem::create_directories(path); }
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

/// One worker's sender: its own client (connection), token cache and clock.
struct sequential_sender {
  fcm::service_account account;
  std::string endpoint;
  http::client client;
  fcm::token_cache cache;
  steady::time_point now = steady::now(); ///< the sender's clock; tests move it
  std::string last_token_error;

  sequential_sender(const std::string& credentials, std::string endpoint_,
                    http::client_settings settings = {})
      : endpoint(std::move(endpoint_)), client(std::move(settings)) {
    auto loaded = fcm::load_service_account(credentials);
    BOOST_REQUIRE_MESSAGE(loaded.account, loaded.error);
    account = *loaded.account;
  }

  /// The cached token, or a new one; nullopt when the token endpoint said no.
  std::optional<std::string> token() {
    if (auto t = cache.current(now)) {
      return t;
    }
    auto jwt = fcm::assertion(account, std::chrono::system_clock::now());
    BOOST_REQUIRE_MESSAGE(jwt.error.empty(), jwt.error);
    auto fetched_at = now;
    auto answer = fcm::read_token_response(client.send(fcm::token_request(account, jwt.jwt)));
    if (!answer.token) {
      last_token_error = answer.error;
      return std::nullopt;
    }
    cache.store(*answer.token, fetched_at);
    return answer.token->value;
  }

  fcm::send_outcome send(const std::string& device, const fcm::content& c) {
    auto message = fcm::build_message(device, c);
    BOOST_REQUIRE_MESSAGE(message.error.empty(), message.error);
    return send_json(message.json);
  }

  /// Sends a request body as it is; a 401 refreshes the token and sends once more.
  fcm::send_outcome send_json(const std::string& body) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      auto t = token();
      if (!t) {
        return {fcm::verdict::transient, {}, "no access token: " + last_token_error, {}};
      }
      auto out = fcm::classify(
        client.send(fcm::send_request(endpoint, account.project_id, *t, body)));
      if (out.result != fcm::verdict::token_rejected) {
        return out;
      }
      cache.invalidate(*t);
    }
    return {fcm::verdict::transient, {}, "FCM refused a freshly fetched access token", {}};
  }
};

fcm::content hello(int i = 0) {
  return {"Hello " + std::to_string(i), "Your order shipped", {}, {}, {}, fcm::priority::normal,
          {}};
}

} // namespace

BOOST_AUTO_TEST_SUITE(fcm_fake)

BOOST_AUTO_TEST_CASE(one_token_serves_many_messages_over_one_kept_alive_connection) {
  fake_fcm fake;
  temp_dir dir;
  sequential_sender sender{fake.write_credentials(dir.path.string()), fake.endpoint()};
  auto start = steady::now();
  for (int i = 0; i < 100; ++i) {
    auto out = sender.send("device-" + std::to_string(i % 7), hello(i));
    BOOST_REQUIRE_MESSAGE(out.result == fcm::verdict::accepted, out.detail);
    BOOST_REQUIRE(out.message_name.rfind("projects/herald-test/messages/", 0) == 0);
  }
  auto took = std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - start);
  BOOST_TEST_MESSAGE("100 messages (1 token fetch) in " << took.count() / 1000.0
                                                        << " ms on one connection");
  BOOST_TEST(fake.token_requests() == 1u);
  BOOST_TEST(fake.messages().size() == 100u);
  BOOST_TEST(fake.connections_accepted() == 1u);
  BOOST_TEST(sender.client.connections_opened() == 1u);
  BOOST_TEST(fake.problems().empty());
}

BOOST_AUTO_TEST_CASE(three_workers_hold_three_connections_for_all_their_messages) {
  fake_fcm fake;
  temp_dir dir;
  auto credentials = fake.write_credentials(dir.path.string());
  std::vector<std::unique_ptr<sequential_sender>> workers;
  for (int w = 0; w < 3; ++w) {
    workers.push_back(std::make_unique<sequential_sender>(credentials, fake.endpoint()));
  }
  for (int i = 0; i < 90; ++i) {
    auto out = workers[i % 3]->send("device-" + std::to_string(i), hello(i));
    BOOST_REQUIRE_MESSAGE(out.result == fcm::verdict::accepted, out.detail);
  }
  BOOST_TEST(fake.messages().size() == 90u);
  BOOST_TEST(fake.connections_accepted() == 3u);
  BOOST_TEST(fake.token_requests() == 3u); // one per worker: each owns its cache
}

BOOST_AUTO_TEST_CASE(a_token_is_refreshed_before_it_expires_never_sent_expired) {
  fake_fcm fake;
  fake.set_token_lifetime(60s); // refreshed a third of its lifetime early: after 40 s
  temp_dir dir;
  sequential_sender sender{fake.write_credentials(dir.path.string()), fake.endpoint()};
  BOOST_TEST((sender.send("d", hello()).result == fcm::verdict::accepted));
  sender.now += 39s;
  fake.advance(39s);
  BOOST_TEST((sender.send("d", hello()).result == fcm::verdict::accepted));
  BOOST_TEST(fake.token_requests() == 1u);
  sender.now += 2s; // 41 s: within the refresh margin, the token still valid at the fake
  fake.advance(2s);
  BOOST_TEST((sender.send("d", hello()).result == fcm::verdict::accepted));
  BOOST_TEST(fake.token_requests() == 2u);
  BOOST_TEST(fake.unauthorized() == 0u);
  sender.now += 30s; // 71 s: the first token has expired at the fake; the second is used
  fake.advance(30s);
  BOOST_TEST((sender.send("d", hello()).result == fcm::verdict::accepted));
  BOOST_TEST(fake.token_requests() == 2u);
  BOOST_TEST(fake.unauthorized() == 0u);
}

BOOST_AUTO_TEST_CASE(a_401_fetches_a_new_token_once_and_the_message_goes_through) {
  fake_fcm fake;
  temp_dir dir;
  sequential_sender sender{fake.write_credentials(dir.path.string()), fake.endpoint()};
  BOOST_TEST((sender.send("d", hello(1)).result == fcm::verdict::accepted));
  fake.revoke_tokens();
  auto out = sender.send("d", hello(2));
  BOOST_TEST((out.result == fcm::verdict::accepted), out.detail);
  BOOST_TEST(fake.unauthorized() == 1u);
  BOOST_TEST(fake.token_requests() == 2u);
  BOOST_TEST(fake.messages().size() == 2u);

  // A token expired at the fake while the sender still trusts it: the same path.
  fake.advance(3601s);
  BOOST_TEST((sender.send("d", hello(3)).result == fcm::verdict::accepted));
  BOOST_TEST(fake.unauthorized() == 2u);
  BOOST_TEST(fake.token_requests() == 3u);
}

BOOST_AUTO_TEST_CASE(a_second_401_is_a_transient_failure_not_a_loop) {
  fake_fcm fake;
  fake.refuse_all_tokens(true);
  temp_dir dir;
  sequential_sender sender{fake.write_credentials(dir.path.string()), fake.endpoint()};
  auto out = sender.send("d", hello());
  BOOST_TEST((out.result == fcm::verdict::transient));
  BOOST_TEST(fake.unauthorized() == 2u);
  BOOST_TEST(fake.token_requests() == 2u);
  BOOST_TEST(fake.messages().empty());
}

BOOST_AUTO_TEST_CASE(an_assertion_signed_with_another_key_gets_no_token) {
  fake_fcm fake;
  temp_dir dir;
  sequential_sender sender{fake.write_credentials(dir.path.string(), herald::test::make_rsa_key()),
                           fake.endpoint()};
  auto out = sender.send("d", hello());
  BOOST_TEST((out.result == fcm::verdict::transient));
  BOOST_TEST(out.detail.find("invalid_grant") != std::string::npos, out.detail);
  BOOST_TEST(fake.tokens_issued() == 0u);
  BOOST_TEST(fake.messages().empty());
}

BOOST_AUTO_TEST_CASE(the_full_message_shape_is_accepted_as_built) {
  fake_fcm fake;
  temp_dir dir;
  sequential_sender sender{fake.write_credentials(dir.path.string()), fake.endpoint()};
  fcm::content c{"Order 7", "Shipped today", "https://img.example.com/7.png",
                 "https://shop.example.com/orders/7",
                 fcm::string_data(nlohmann::json{{"order", 7}, {"carrier", "UPS"}}),
                 fcm::priority::high, "OPEN_ORDER"};
  auto out = sender.send("device-full", c);
  BOOST_TEST((out.result == fcm::verdict::accepted), out.detail);
  BOOST_TEST(fake.problems().empty());
  auto got = fake.messages();
  BOOST_REQUIRE(got.size() == 1u);
  BOOST_TEST(got[0].device_token == "device-full");
  BOOST_TEST(got[0].message == nlohmann::json::parse(fcm::build_message("device-full", c).json)["message"]);
  BOOST_TEST(got[0].message["data"]["order"] == "7");
  BOOST_TEST(got[0].message["webpush"]["fcm_options"]["link"] == "https://shop.example.com/orders/7");
}

BOOST_AUTO_TEST_CASE(the_fake_refuses_a_message_fcm_would_refuse) {
  fake_fcm fake;
  temp_dir dir;
  sequential_sender sender{fake.write_credentials(dir.path.string()), fake.endpoint()};
  auto number_in_data =
    sender.send_json(R"({"message": {"token": "d", "data": {"n": 5}}})");
  BOOST_TEST((number_in_data.result == fcm::verdict::message_rejected), number_in_data.detail);
  auto unknown_field =
    sender.send_json(R"({"message": {"token": "d", "priority": "high"}})");
  BOOST_TEST((unknown_field.result == fcm::verdict::message_rejected), unknown_field.detail);
  auto no_token = sender.send_json(R"({"message": {"notification": {"title": "t"}}})");
  BOOST_TEST((no_token.result != fcm::verdict::accepted));
  BOOST_TEST(fake.problems().size() == 3u);
  BOOST_TEST(fake.messages().empty());
}

BOOST_AUTO_TEST_CASE(each_fcm_answer_is_classified) {
  fake_fcm fake;
  fake.set_answer("gone", fake_fcm::answer::unregistered);
  fake.set_answer("bad", fake_fcm::answer::invalid_argument);
  fake.set_answer("busy", fake_fcm::answer::quota_exceeded, 7s);
  fake.set_answer("down", fake_fcm::answer::unavailable, 3s);
  temp_dir dir;
  sequential_sender sender{fake.write_credentials(dir.path.string()), fake.endpoint()};

  auto ok = sender.send("fine", hello());
  BOOST_TEST((ok.result == fcm::verdict::accepted));
  auto gone = sender.send("gone", hello());
  BOOST_TEST((gone.result == fcm::verdict::device_gone), gone.detail);
  BOOST_TEST(gone.permanent());
  auto bad = sender.send("bad", hello());
  BOOST_TEST((bad.result == fcm::verdict::device_gone), bad.detail);
  auto busy = sender.send("busy", hello());
  BOOST_TEST((busy.result == fcm::verdict::transient));
  BOOST_TEST(busy.retry_after.value_or(0s).count() == 7);
  auto down = sender.send("down", hello());
  BOOST_TEST((down.result == fcm::verdict::transient));
  BOOST_TEST(down.retry_after.value_or(0s).count() == 3);
  BOOST_TEST(fake.token_requests() == 1u);
}

BOOST_AUTO_TEST_CASE(an_fcm_that_never_answers_is_a_timeout_within_push_timeout) {
  fake_fcm fake;
  fake.set_answer("hang", fake_fcm::answer::silent);
  temp_dir dir;
  http::client_settings settings;
  settings.timeout = 400ms;
  sequential_sender sender{fake.write_credentials(dir.path.string()), fake.endpoint(), settings};
  auto start = steady::now();
  auto out = sender.send("hang", hello());
  auto took = steady::now() - start;
  BOOST_TEST((out.result == fcm::verdict::transient));
  BOOST_TEST(out.detail.find("(timeout)") != std::string::npos, out.detail);
  BOOST_TEST(took >= 400ms);
  BOOST_TEST(took < 5s);
  BOOST_TEST(fake.messages().size() == 1u); // it arrived; only the answer is missing
  // The timed-out connection is dropped; the next message goes out on a new one.
  BOOST_TEST((sender.send("fine", hello()).result == fcm::verdict::accepted));
  BOOST_TEST(fake.connections_accepted() == 2u);
}

BOOST_AUTO_TEST_CASE(a_fake_that_is_down_is_refused_and_transient_until_it_comes_back) {
  fake_fcm fake;
  temp_dir dir;
  sequential_sender sender{fake.write_credentials(dir.path.string()), fake.endpoint()};
  BOOST_TEST((sender.send("d", hello()).result == fcm::verdict::accepted));
  fake.go_down();
  auto out = sender.send("d", hello());
  BOOST_TEST((out.result == fcm::verdict::transient));
  BOOST_TEST(out.detail.find("refused") != std::string::npos, out.detail);
  fake.come_up();
  auto back = sender.send("d", hello());
  BOOST_TEST((back.result == fcm::verdict::accepted), back.detail);
  BOOST_TEST(fake.connections_accepted() == 2u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(fcm_fake_tls)

// The fake over TLS with the certificate scripts/test made for 127.0.0.1 (its relay's).

BOOST_AUTO_TEST_CASE(over_tls_the_ca_file_verifies_the_provider_and_one_connection_serves_all) {
  auto dir = herald::test::env("HERALD_TEST_TLS_DIR");
  fake_fcm fake{"herald-test", {dir + "/relay.pem", dir + "/relay.key"}};
  BOOST_REQUIRE(fake.endpoint().rfind("https://", 0) == 0);
  temp_dir creds;
  http::client_settings settings;
  settings.ca_file = herald::test::env("HERALD_TEST_TLS_CA");
  sequential_sender sender{fake.write_credentials(creds.path.string()), fake.endpoint(),
                           settings};
  for (int i = 0; i < 20; ++i) {
    auto out = sender.send("device-tls", hello(i));
    BOOST_REQUIRE_MESSAGE(out.result == fcm::verdict::accepted, out.detail);
  }
  BOOST_TEST(fake.token_requests() == 1u);
  BOOST_TEST(fake.connections_accepted() == 1u);
}

BOOST_AUTO_TEST_CASE(a_provider_certificate_from_another_ca_is_a_tls_failure) {
  auto dir = herald::test::env("HERALD_TEST_TLS_DIR");
  fake_fcm fake{"herald-test", {dir + "/relay.pem", dir + "/relay.key"}};
  temp_dir creds;
  http::client_settings settings;
  settings.ca_file = herald::test::env("HERALD_TEST_TLS_OTHER_CA");
  sequential_sender sender{fake.write_credentials(creds.path.string()), fake.endpoint(),
                           settings};
  auto out = sender.send("device-tls", hello());
  BOOST_TEST((out.result == fcm::verdict::transient));
  BOOST_TEST(out.detail.find("(tls)") != std::string::npos, out.detail);
  BOOST_TEST(fake.tokens_issued() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
