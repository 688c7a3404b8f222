#include "net/v1_protocol.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <string>

namespace {

using chatd::message_kind;
using json = nlohmann::json;
namespace net = chatd::net;

std::shared_ptr<chatd::frame> message(std::string_view payload, message_kind kind, std::string user = {},
                                      std::string name = {}) {
  auto f = chatd::make_message_frame("lobby", payload, kind == message_kind::binary, std::chrono::steady_clock::now());
  f->kind = kind;
  f->user = std::move(user);
  f->name = std::move(name);
  f->ts_ms = 1764547200123;
  return f;
}

TEST(V1Negotiation, FindsTheTokenInAList) {
  EXPECT_TRUE(net::offers_subprotocol("chatd.v1", "chatd.v1"));
  EXPECT_TRUE(net::offers_subprotocol("a, chatd.v1", "chatd.v1"));
  EXPECT_TRUE(net::offers_subprotocol(" \tchatd.v1\t ,b", "chatd.v1"));
  EXPECT_TRUE(net::offers_subprotocol("a,,chatd.v1", "chatd.v1"));
  EXPECT_FALSE(net::offers_subprotocol("", "chatd.v1"));
  EXPECT_FALSE(net::offers_subprotocol("chatd.v10, chatd", "chatd.v1"));
  EXPECT_FALSE(net::offers_subprotocol("chatd.v1x", "chatd.v1"));
  EXPECT_FALSE(net::offers_subprotocol("CHATD.V1", "chatd.v1"));
}

TEST(V1Envelope, TextIsAStringWithTheSenderAndTime) {
  auto text = net::encode_v1_message(*message("hi", message_kind::text, "alice", "Alice"));
  EXPECT_EQ(text, R"({"type":"message","room":"lobby","from":{"user":"alice","name":"Alice"},"ts":1764547200123,)"
                  R"("data":"hi"})");
}

TEST(V1Envelope, AnOrderedMessageCarriesItsEpochAndOffset) {
  auto f = message("hi", message_kind::text);
  f->offset = 42;
  f->epoch = std::make_shared<const std::string>("3f9a0c1b22de-0-1");
  EXPECT_EQ(net::encode_v1_message(*f), R"({"type":"message","room":"lobby","from":null,"ts":1764547200123,)"
                                        R"("epoch":"3f9a0c1b22de-0-1","offset":42,"data":"hi"})");
  EXPECT_EQ(net::encode_v1_resumed(true, "3f9a0c1b22de-0-1", 42),
            R"({"type":"resumed","recovered":true,"epoch":"3f9a0c1b22de-0-1","offset":42})");
  EXPECT_EQ(json::parse(net::encode_v1_resumed(false, "", 0)),
            json({{"type", "resumed"}, {"recovered", false}, {"epoch", ""}, {"offset", 0}}));
}

TEST(V1Envelope, FromIsNullForAnonymousAndHasNoNameWithoutOne) {
  EXPECT_EQ(net::v1_from("", ""), "null");
  EXPECT_EQ(net::v1_from("", "ignored"), "null");
  EXPECT_EQ(net::v1_from("bob", ""), R"({"user":"bob"})");
  EXPECT_EQ(net::v1_from("api", ""), R"({"user":"api"})");
  auto parsed = json::parse(net::encode_v1_message(*message("x", message_kind::text)));
  EXPECT_TRUE(parsed["from"].is_null());
}

TEST(V1Envelope, EscapesQuotesControlsAndKeepsUnicode) {
  const std::string tricky = "say \"hi\" \\ \n\t\x01 caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80";
  auto text = net::encode_v1_message(*message(tricky, message_kind::text, "u\"ser", "N\xc3\xa4me\n"));
  auto parsed = json::parse(text);
  EXPECT_EQ(parsed["data"], tricky);
  EXPECT_EQ(parsed["from"]["user"], "u\"ser");
  EXPECT_EQ(parsed["from"]["name"], "N\xc3\xa4me\n");
  EXPECT_NE(text.find("\\u0001"), std::string::npos);
  EXPECT_NE(text.find("caf\xc3\xa9"), std::string::npos); // UTF-8 as it is, not \u escapes
}

TEST(V1Envelope, BinaryIsBase64WithItsEncoding) {
  auto text = net::encode_v1_message(*message(std::string("\0\xff\x10zz", 5), message_kind::binary));
  EXPECT_EQ(text, R"({"type":"message","room":"lobby","from":null,"ts":1764547200123,"encoding":"base64",)"
                  R"("data":"AP8Qeno="})");
  auto empty = json::parse(net::encode_v1_message(*message("", message_kind::binary)));
  EXPECT_EQ(empty["data"], "");
  EXPECT_EQ(empty["encoding"], "base64");
}

TEST(V1Envelope, JsonDataGoesInAsItIs) {
  auto text = net::encode_v1_message(*message(R"({"a":[1,2.5,null,true],"b":"\u00e9"})", message_kind::json, "c"));
  auto parsed = json::parse(text);
  EXPECT_EQ(parsed["data"], json::parse(R"({"a":[1,2.5,null,true],"b":"é"})"));
  EXPECT_FALSE(parsed.contains("encoding"));
  EXPECT_EQ(parsed["type"], "message");
  EXPECT_EQ(parsed["room"], "lobby");
  EXPECT_EQ(parsed["ts"], 1764547200123);
}

TEST(V1Envelope, IsMadeOnceAndSharedAsATextFrameForV1Only) {
  auto f = message("hello", message_kind::text, "alice");
  const auto& first = net::v1_form(*f);
  const auto& second = net::v1_form(*f);
  ASSERT_TRUE(first);
  EXPECT_EQ(first.get(), second.get());
  EXPECT_TRUE(first->v1_only);
  EXPECT_FALSE(first->binary);
  EXPECT_EQ(first->room, "lobby");
  EXPECT_EQ(first->payload(), net::encode_v1_message(*f));
  EXPECT_EQ(static_cast<unsigned char>(first->bytes()[0]), 0x81); // FIN + text
}

TEST(V1Parse, APublishGivesItsDataAsCompactJson) {
  auto p = net::parse_v1_message(R"( { "type" : "publish", "data" : { "x" : [ 1 , "two" ] } } )");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p.data, R"({"x":[1,"two"]})");
  EXPECT_EQ(net::parse_v1_message(R"({"type":"publish","data":"hi"})").data, R"("hi")");
  EXPECT_EQ(net::parse_v1_message(R"({"type":"publish","data":null})").data, "null");
  EXPECT_EQ(net::parse_v1_message(R"({"data":7,"type":"publish","extra":1})").data, "7");
  EXPECT_EQ(net::parse_v1_message(R"({"type":"publish","data":"\u00e9\ud83d\ude00"})").data,
            "\"\xc3\xa9\xf0\x9f\x98\x80\"");
}

TEST(V1Parse, EveryMistakeHasItsCode) {
  EXPECT_EQ(net::parse_v1_message("hello").code, "not_json");
  EXPECT_EQ(net::parse_v1_message("").code, "not_json");
  EXPECT_EQ(net::parse_v1_message(R"({"type":"publish","data":1} trailing)").code, "not_json");
  EXPECT_EQ(net::parse_v1_message("[1,2]").code, "bad_message");
  EXPECT_EQ(net::parse_v1_message(R"("publish")").code, "bad_message");
  EXPECT_EQ(net::parse_v1_message(R"({"data":1})").code, "unknown_type");
  EXPECT_EQ(net::parse_v1_message(R"({"type":"shout","data":1})").code, "unknown_type");
  EXPECT_EQ(net::parse_v1_message(R"({"type":7,"data":1})").code, "unknown_type");
  EXPECT_EQ(net::parse_v1_message(R"({"type":"publish"})").code, "missing_data");
  EXPECT_FALSE(net::parse_v1_message("hello").message.empty());
}

TEST(V1Error, IsAnErrorEnvelope) {
  EXPECT_EQ(net::encode_v1_error("not_json", "not \"JSON\""),
            R"({"type":"error","code":"not_json","message":"not \"JSON\""})");
}

} // namespace
