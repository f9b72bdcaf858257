// as_text: any bytes as valid UTF-8 without NUL (actors/common/text.hpp).

#include <boost/test/unit_test.hpp>

#include "actors/common/text.hpp"

using herald::as_text;

BOOST_AUTO_TEST_SUITE(text)

BOOST_AUTO_TEST_CASE(valid_utf8_is_kept_as_it_is) {
  BOOST_TEST(as_text("plain") == "plain");
  BOOST_TEST(as_text("Grüße, 東京 🚀") == "Grüße, 東京 🚀");
  BOOST_TEST(as_text("") == "");
}

BOOST_AUTO_TEST_CASE(stray_bytes_and_nul_are_written_as_escapes) {
  BOOST_TEST(as_text(std::string{"a\xff" "b"}) == "a\\xffb");
  BOOST_TEST(as_text(std::string{"a\0b", 3}) == "a\\x00b");
  // A lead byte without its continuation, an overlong form, a lone continuation byte.
  BOOST_TEST(as_text(std::string{"\xc3("}) == "\\xc3(");
  BOOST_TEST(as_text(std::string{"\xc0\xaf"}) == "\\xc0\\xaf");
  BOOST_TEST(as_text(std::string{"\x80"}) == "\\x80");
  // A UTF-16 surrogate encoded in UTF-8 is not valid UTF-8.
  BOOST_TEST(as_text(std::string{"\xed\xa0\x80"}) == "\\xed\\xa0\\x80");
}

BOOST_AUTO_TEST_SUITE_END()
