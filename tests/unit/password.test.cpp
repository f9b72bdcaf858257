#include "runtime/auth/base64.hpp"
#include "runtime/auth/password.hpp"

#include <boost/test/unit_test.hpp>

#include <set>

using namespace herald::auth;

BOOST_AUTO_TEST_SUITE(password)

// RFC 7914 §11: PBKDF2-HMAC-SHA256 ("Password", "NaCl", c = 80000); its first 32 bytes
// are the hash part of the encoded form.
BOOST_AUTO_TEST_CASE(pbkdf2_sha256_matches_the_rfc_7914_test_vector) {
  std::string expected_hex =
    "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56";
  std::string expected;
  for (std::size_t i = 0; i < expected_hex.size(); i += 2) {
    expected += static_cast<char>(std::stoi(expected_hex.substr(i, 2), nullptr, 16));
  }
  auto encoded = hash_password("Password", 80000, "NaCl");
  BOOST_TEST(encoded == "pbkdf2-sha256$80000$" + base64_encode("NaCl") + "$"
                          + base64_encode(expected));
}

BOOST_AUTO_TEST_CASE(a_hash_verifies_its_password_and_no_other) {
  auto encoded = hash_password("correct horse battery staple", 1000);
  BOOST_TEST(verify_password("correct horse battery staple", encoded));
  BOOST_TEST(!verify_password("correct horse battery stapler", encoded));
  BOOST_TEST(!verify_password("", encoded));
}

BOOST_AUTO_TEST_CASE(hashes_are_self_describing_with_a_fresh_16_byte_salt) {
  std::set<std::string> salts;
  for (int i = 0; i < 5; ++i) {
    auto encoded = hash_password("same password", 1000);
    BOOST_TEST(encoded.rfind("pbkdf2-sha256$1000$", 0) == 0u);
    auto salt_start = encoded.find('$', encoded.find('$') + 1) + 1;
    auto salt_end = encoded.find('$', salt_start);
    auto salt = base64_decode(encoded.substr(salt_start, salt_end - salt_start));
    BOOST_REQUIRE(salt);
    BOOST_TEST(salt->size() == 16u);
    salts.insert(*salt);
    BOOST_TEST((password_hash_iterations(encoded) == 1000));
  }
  BOOST_TEST(salts.size() == 5u);
}

BOOST_AUTO_TEST_CASE(the_iteration_count_is_read_from_the_stored_hash) {
  auto old_hash = hash_password("hunter22", 1200);
  BOOST_TEST(verify_password("hunter22", old_hash));
  BOOST_TEST((password_hash_iterations(old_hash) == 1200));
}

BOOST_AUTO_TEST_CASE(malformed_or_tampered_hashes_never_verify) {
  auto good = hash_password("a password", 1000);
  BOOST_TEST(!verify_password("a password", ""));
  BOOST_TEST(!verify_password("a password", "a password"));
  BOOST_TEST(!verify_password("a password", "bcrypt$1000$c2FsdA$aGFzaA"));
  auto tampered = good;
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  BOOST_TEST(!verify_password("a password", tampered));
  auto more_work = good;
  more_work.replace(more_work.find("1000"), 4, "1001");
  BOOST_TEST(!verify_password("a password", more_work));
  BOOST_TEST(!verify_password("a password", "pbkdf2-sha256$99999999999$c2FsdA$aGFzaA"));
  BOOST_TEST(!password_hash_iterations("pbkdf2-sha256$x$c2FsdA$aGFzaA"));
}

BOOST_AUTO_TEST_CASE(bad_iteration_counts_are_refused_when_hashing) {
  BOOST_CHECK_THROW(hash_password("pw", 0), std::invalid_argument);
  BOOST_CHECK_THROW(hash_password("pw", max_password_iterations + 1), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(base64)

BOOST_AUTO_TEST_CASE(rfc_4648_test_vectors_round_trip_without_padding) {
  std::pair<const char*, const char*> vectors[] = {
    {"", ""},         {"f", "Zg"},         {"fo", "Zm8"},       {"foo", "Zm9v"},
    {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
  for (auto [plain, encoded] : vectors) {
    BOOST_TEST(base64_encode(plain) == encoded);
    BOOST_TEST(base64url_encode(plain) == encoded);
    BOOST_TEST((base64_decode(encoded) == std::optional<std::string>{plain}));
    BOOST_TEST((base64url_decode(encoded) == std::optional<std::string>{plain}));
  }
  BOOST_TEST((base64_decode("Zm8=") == std::optional<std::string>{"fo"}));
}

BOOST_AUTO_TEST_CASE(url_alphabet_uses_dash_and_underscore) {
  std::string bytes{"\xfb\xff\xbf", 3};
  BOOST_TEST(base64_encode(bytes) == "+/+/");
  BOOST_TEST(base64url_encode(bytes) == "-_-_");
  BOOST_TEST((base64url_decode("-_-_") == std::optional<std::string>{bytes}));
  BOOST_TEST(!base64url_decode("+/+/"));
}

BOOST_AUTO_TEST_CASE(decoders_refuse_bad_characters_lengths_padding_and_trailing_bits) {
  BOOST_TEST(!base64url_decode("Zm8="));  // base64url: no padding
  BOOST_TEST(!base64_decode("Zm9v!"));
  BOOST_TEST(!base64_decode("Z"));        // 6 bits cannot make a byte
  BOOST_TEST(!base64_decode("Zm9=="));    // padding that does not complete a quantum
  BOOST_TEST(!base64url_decode("Zm9"));   // "fo" is Zm8: a set trailing bit is refused
}

BOOST_AUTO_TEST_SUITE_END()
