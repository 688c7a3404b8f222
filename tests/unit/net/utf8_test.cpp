#include "net/utf8.hpp"

#include <gtest/gtest.h>

using chatd::net::valid_utf8;

TEST(Utf8, AcceptsWellFormedText) {
  for (const char* text : {"", "plain ascii",
                           "gr\xC3\xBC\xC3\x9F"
                           "e",
                           "\xE2\x82\xAC 20", "\xF0\x9F\x98\x80", "\xED\x9F\xBF", "\xEE\x80\x80", "\xF4\x8F\xBF\xBF"})
    EXPECT_TRUE(valid_utf8(text)) << text;
}

TEST(Utf8, RejectsCutShortOverlongSurrogateAndOutOfRange) {
  for (const char* text :
       {"\xE2", "ok \xE2\x82", "\xF0\x9F\x98", "\xC0\xAF", "\xC1\xBF", "\xE0\x80\xAF", "\xF0\x80\x80\xAF",
        "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\x80", "\xBF", "\xFE", "\xFF",
        "a\xC3"
        "b"})
    EXPECT_FALSE(valid_utf8(text)) << text;
}
