// SMTP over TLS, end to end: the scriptable relay listens with implicit TLS (smtps://) and
// with STARTTLS required, its certificate signed by a test CA that scripts/test made
// (HERALD_TEST_TLS_CA); another listener has a certificate for another host name, and
// HERALD_TEST_TLS_OTHER_CA signed neither. smtp.ca_file names the CA Herald trusts.
//
// A certificate Herald does not trust is a transient failure: the notification stays
// queued (requeued, never final), nothing reaches the relay, the email service's
// readiness names the certificate problem, and so does the SMTP client's outcome. The
// notifications left queued are sent through the plain relay at the end of each test, so
// no later suite finds them.

#include <boost/test/unit_test.hpp>

#include <optional>

#include "adapters/smtp/client.hpp"
#include "support/herald_api.hpp"
#include "support/smtp_relay.hpp"

using namespace herald::test;

namespace {

struct tls_fixture {
  std::optional<running_node> node;
  std::string code;

  /// A node sending through `url`, trusting `ca_file` ("" : the system's CAs).
  void start(const std::string& url, const std::string& ca_file) {
    node.reset();
    std::map<std::string, std::string> overrides = {{"HERALD_SMTP_URL", url},
                                                     {"HERALD_EMAIL_REQUEUE_DELAY_MS", "200"}};
    if (!ca_file.empty()) {
      overrides["HERALD_SMTP_CA_FILE"] = ca_file;
    }
    // Not waiting for readiness: with a wrong CA the email service is not ready, on purpose
    // (the tests read its readiness themselves).
    node.emplace(overrides, false);
    code = create_email_template(*node);
  }

  std::string notify(const std::string& email) {
    return post_notification(*node, create_user(*node, {{"email", email}}), code,
                             {{"name", "Ada"}});
  }

  static std::size_t stored(const std::string& email) {
    return mails_to(env("HERALD_TEST_RELAY_MAILDIR"), email).size();
  }

  /// The email service's readiness: its status code and the SMTP dependency's error.
  std::pair<int, std::string> smtp_readiness() {
    auto r = http_call("GET", node->url(3) + "/health/ready");
    auto smtp = r.body.is_object() ? r.body["data"]["dependencies"]["smtp"] : json{};
    return {r.status, smtp.is_object() ? smtp.value("error", "") : std::string{}};
  }

  /// Sends one mail through `url` with the SMTP client itself.
  static herald::smtp::send_outcome send_directly(const std::string& url,
                                                  const std::string& ca_file) {
    herald::smtp::client client{{url, std::chrono::seconds{5}, ca_file}};
    herald::smtp::mail m;
    m.from = "herald@localhost";
    m.to = relay_address("direct-");
    m.subject = "TLS";
    m.text_body = "Hello over TLS.";
    return client.send(m);
  }

  /// A relay whose certificate is not trusted: the notification is tried and requeued,
  /// stays queued, nothing is stored, and every place that tells why names `problem`.
  void check_refused(const std::string& url, const std::string& ca_file,
                     const std::string& problem) {
    start(url, ca_file);
    auto requeued_before = actor_counter(*node, "email_sender", "requeued");
    auto email = relay_address("tls-refused-");
    auto id = notify(email);
    BOOST_CHECK(eventually(
      [&] { return actor_counter(*node, "email_sender", "requeued") - requeued_before >= 2; }));
    BOOST_CHECK_EQUAL(status_of(*node, id), "queued"); // not final: it will be tried again
    BOOST_CHECK_EQUAL(stored(email), 0u);
    BOOST_CHECK_EQUAL(relay_answers(email).size(), 0u);

    auto [status, error] = smtp_readiness();
    BOOST_CHECK_EQUAL(status, 503);
    BOOST_CHECK_MESSAGE(error.find(problem) != std::string::npos, "readiness: " << error);

    auto outcome = send_directly(url, ca_file);
    BOOST_CHECK((outcome.status == herald::smtp::send_status::transient_failure));
    BOOST_CHECK_MESSAGE(outcome.detail.find(problem) != std::string::npos,
                        "outcome: " << outcome.detail);

    // Leave nothing queued behind: the plain listener takes it.
    start(env("HERALD_TEST_RELAY_URL"), "");
    BOOST_CHECK(eventually([&] { return status_of(*node, id) == "sent"; }));
    BOOST_CHECK_EQUAL(stored(email), 1u);
  }

  /// A relay whose certificate is trusted: the notification is sent, stored once.
  void check_delivered(const std::string& url) {
    start(url, env("HERALD_TEST_TLS_CA"));
    auto email = relay_address("tls-");
    auto id = notify(email);
    BOOST_CHECK(eventually([&] { return status_of(*node, id) == "sent"; }));
    BOOST_CHECK_EQUAL(stored(email), 1u);
    auto [status, error] = smtp_readiness();
    BOOST_CHECK_MESSAGE(status == 200, "readiness " << status << ": " << error);
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(smtp_tls, tls_fixture)

BOOST_AUTO_TEST_CASE(smtps_relay_signed_by_the_configured_ca_gets_the_mail) {
  check_delivered(env("HERALD_TEST_RELAY_SMTPS_URL"));
}

BOOST_AUTO_TEST_CASE(starttls_relay_signed_by_the_configured_ca_gets_the_mail) {
  // The listener refuses MAIL FROM before STARTTLS (530), so a delivery went over TLS.
  check_delivered(env("HERALD_TEST_RELAY_STARTTLS_URL"));
}

BOOST_AUTO_TEST_CASE(certificate_from_a_ca_not_configured_is_a_transient_failure_naming_it) {
  check_refused(env("HERALD_TEST_RELAY_SMTPS_URL"), env("HERALD_TEST_TLS_OTHER_CA"),
                "certificate problem");
}

BOOST_AUTO_TEST_CASE(certificate_for_another_host_name_is_a_transient_failure_naming_it) {
  check_refused(env("HERALD_TEST_RELAY_WRONG_HOST_URL"), env("HERALD_TEST_TLS_CA"),
                "subject name");
}

BOOST_AUTO_TEST_CASE(certificates_are_checked_by_default) {
  // No smtp.ca_file: the system's CAs, which never signed the test CA's certificates.
  check_refused(env("HERALD_TEST_RELAY_STARTTLS_URL"), "", "certificate problem");
}

BOOST_AUTO_TEST_CASE(insecure_1_skips_the_certificate_checks) {
  auto outcome = send_directly(env("HERALD_TEST_RELAY_WRONG_HOST_URL") + "?insecure=1", "");
  BOOST_CHECK((outcome.status == herald::smtp::send_status::sent));
  BOOST_TEST_MESSAGE(outcome.detail);
}

BOOST_AUTO_TEST_SUITE_END()
