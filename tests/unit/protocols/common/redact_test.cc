// What captured text becomes before it leaves the node: valid UTF-8, URL query values and database error
// literals redacted (issue 13 items 5 and 6).
#include "protocols/common/redact.h"

#include <gtest/gtest.h>

#include "protocols/common/obfuscate.h"

namespace otelbpf::l7 {
namespace {

TEST(Redact, InvalidUtf8BecomesReplacementCharacters) {
  EXPECT_TRUE(is_valid_utf8("plain /path"));
  EXPECT_TRUE(is_valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  for (const std::string bad : {std::string("\xff"), std::string("\xc3"), std::string("\xc0\xaf"),  // overlong
                                std::string("\xed\xa0\x80"),                                          // surrogate
                                std::string("\xf4\x90\x80\x80"), std::string("a\x80z")})
    EXPECT_FALSE(is_valid_utf8(bad)) << testing::PrintToString(bad);
  EXPECT_EQ(to_valid_utf8("/a\xff\xfe/b\xc3"), "/a\xef\xbf\xbd\xef\xbf\xbd/b\xef\xbf\xbd");
  EXPECT_EQ(to_valid_utf8("caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_TRUE(is_valid_utf8(to_valid_utf8("\xe2\x82 half a euro")));
}

TEST(Redact, AnInvalidByteIsFoundAtEveryPositionOfALongText) {
  // The check skips plain ASCII eight bytes at a time: a bad byte (or a sequence cut short) anywhere in
  // and around those words must still be seen, and a valid sequence across a word boundary accepted.
  for (std::size_t at = 0; at < 24; ++at) {
    std::string text(24, 'a');
    text[at] = '\xff';
    EXPECT_FALSE(is_valid_utf8(text)) << at;
    std::string euro(24, 'b');
    euro.replace(at, 3, "\xe2\x82\xac");
    euro.resize(24);
    EXPECT_EQ(is_valid_utf8(euro), at + 3 <= 24) << at;
  }
}

TEST(Redact, UrlQueryKeepsNamesNotValuesExceptAllowed) {
  EXPECT_EQ(redact_url_query("token=abc123&page=2&flag&empty="), "token=REDACTED&page=REDACTED&flag&empty=");
  EXPECT_EQ(redact_url_query(redact_url_query("sig=x")), "sig=REDACTED") << "idempotent";
  set_url_query_redaction(true, {"page", "Q"});
  EXPECT_EQ(redact_url_query("token=abc&page=2&q=teapots"), "token=REDACTED&page=2&q=teapots");
  set_url_query_redaction(false, {});
  EXPECT_EQ(redact_url_query("token=abc"), "token=abc");
  set_url_query_redaction(true, {});
}

TEST(Redact, DatabaseErrorLiteralsAreHidden) {
  EXPECT_EQ(redact_error_message("Duplicate entry 'ann@example.org' for key 'users.email'"),
            "Duplicate entry ? for key ?");
  EXPECT_EQ(redact_error_message("Table 'shop.missing' doesn't exist"), "Table ? doesn't exist");
  EXPECT_EQ(redact_error_message("relation \"missing\" does not exist"), "relation ? does not exist");
  set_obfuscation(false, true);
  EXPECT_EQ(redact_error_message("Duplicate entry 'x'"), "Duplicate entry 'x'");
  set_obfuscation(true, true);
}

}  // namespace
}  // namespace otelbpf::l7
