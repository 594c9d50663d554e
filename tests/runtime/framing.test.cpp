// switchboard: an embeddable C++ actor runtime. MIT License.

#include <switchboard/framing.hpp>

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <switchboard/errc.hpp>
#include <switchboard/json_message.hpp>

using namespace switchboard;

namespace {

struct decoded {
  std::vector<std::string> frames;
  caf::error err;
};

// Feeds `bytes` in pieces of `step` bytes (0: all at once), then ends the
// stream.
decoded decode(framing how, const std::string& bytes, size_t step,
               size_t max_frame = 1 << 20) {
  decoded out;
  frame_decoder dec{how, max_frame};
  auto keep = [&](std::string&& f) {
    out.frames.push_back(std::move(f));
    return true;
  };
  if (step == 0)
    step = bytes.size() > 0 ? bytes.size() : 1;
  for (size_t i = 0; i < bytes.size() && !out.err; i += step)
    out.err =
      dec.feed(bytes.data() + i, std::min(step, bytes.size() - i), keep);
  if (!out.err)
    out.err = dec.finish(keep);
  return out;
}

std::string encode_all(framing how, const std::vector<std::string>& xs) {
  std::string out;
  for (auto& x : xs)
    REQUIRE(!encode_frame(how, x, out));
  return out;
}

} // namespace

TEST_CASE("framing names round-trip") {
  for (size_t i = 0; i < framing_count(); ++i) {
    auto f = framing_from_string(framing_names()[i]);
    REQUIRE(f);
    CHECK(std::string{to_string(*f)} == framing_names()[i]);
  }
  CHECK(!framing_from_string("line"));
}

TEST_CASE("every framing decodes what it encodes, a byte at a time and "
          "1,000 frames in one write") {
  std::vector<std::string> msgs;
  for (int i = 0; i < 1000; ++i)
    msgs.push_back("{\"i\":" + std::to_string(i) + ",\"s\":\"x{y}\\\"z\"}");
  for (auto how : {framing::lines, framing::length_prefixed,
                   framing::length_prefixed16, framing::json_stream}) {
    INFO(to_string(how));
    auto bytes = encode_all(how, msgs);
    for (size_t step : {size_t{1}, size_t{7}, size_t{0}}) {
      INFO("step " << step);
      auto out = decode(how, bytes, step);
      REQUIRE(!out.err);
      CHECK(out.frames == msgs);
    }
  }
}

TEST_CASE("raw framing hands over chunks as they come, cut at max-frame") {
  auto out = decode(framing::raw, "hello world", 0, 4);
  REQUIRE(!out.err);
  CHECK(out.frames == std::vector<std::string>{"hell", "o wo", "rld"});
}

TEST_CASE("lines drop a trailing CR and keep a last line without newline") {
  auto out = decode(framing::lines, "a\r\nb\n\nc", 1);
  REQUIRE(!out.err);
  CHECK(out.frames == std::vector<std::string>{"a", "b", "", "c"});
}

TEST_CASE("length prefixes are big-endian and may be zero") {
  auto out =
    decode(framing::length_prefixed, std::string("\0\0\0\3abc\0\0\0\0", 11), 1);
  REQUIRE(!out.err);
  CHECK(out.frames == std::vector<std::string>{"abc", ""});
  out = decode(framing::length_prefixed16,
               std::string("\1\0", 2) + std::string(256, 'x'), 0);
  REQUIRE(!out.err);
  REQUIRE(out.frames.size() == 1);
  CHECK(out.frames[0].size() == 256);
  std::string big(70000, 'x');
  std::string buf;
  CHECK(is(encode_frame(framing::length_prefixed16, big, buf),
           errc::frame_too_large));
  CHECK(buf.empty());
}

TEST_CASE("json-stream cuts values with no delimiter, split anywhere") {
  std::string in = R"({"a":{"b":[1,{"c":"}"}]}}{"q":"say \"hi\" {"}[1,[2]])"
                   R"("top \" string"  12 -3.5e2 true null{"x":"\\"})"
                   "\n[]\"}\"";
  std::vector<std::string> want = {R"({"a":{"b":[1,{"c":"}"}]}})",
                                   R"({"q":"say \"hi\" {"})",
                                   "[1,[2]]",
                                   R"("top \" string")",
                                   "12",
                                   "-3.5e2",
                                   "true",
                                   "null",
                                   R"({"x":"\\"})",
                                   "[]",
                                   "\"}\""};
  for (size_t step : {size_t{1}, size_t{2}, size_t{3}, size_t{0}}) {
    INFO("step " << step);
    auto out = decode(framing::json_stream, in, step);
    REQUIRE(!out.err);
    CHECK(out.frames == want);
    for (auto& f : out.frames)
      CHECK(is_json(f));
  }
}

TEST_CASE("json-stream keeps a number split across writes whole") {
  frame_decoder dec{framing::json_stream, 1024};
  std::vector<std::string> got;
  auto keep = [&](std::string&& f) {
    got.push_back(std::move(f));
    return true;
  };
  REQUIRE(!dec.feed("{\"n\":12", 7, keep));
  REQUIRE(!dec.feed("34}12", 5, keep));
  CHECK(got == std::vector<std::string>{"{\"n\":1234}"});
  REQUIRE(!dec.feed("34 ", 3, keep));
  CHECK(got.back() == "1234");
  REQUIRE(!dec.feed("5", 1, keep));
  REQUIRE(!dec.finish(keep));
  CHECK(got.back() == "5");
}

TEST_CASE("decoders refuse garbage and frames over the maximum") {
  SECTION("json-stream: bytes that cannot start a value") {
    auto out = decode(framing::json_stream, "{}}", 1);
    CHECK(is(out.err, errc::bad_message));
    CHECK(out.frames.size() == 1);
    out = decode(framing::json_stream, "hello", 0);
    CHECK(is(out.err, errc::bad_message));
    CHECK(render(out.err).find("'h'") != std::string::npos);
  }
  SECTION("json-stream: a value over max-frame, fed in pieces") {
    std::string big = "[\"" + std::string(5000, 'x') + "\"]";
    auto out = decode(framing::json_stream, big, 100, 1000);
    CHECK(is(out.err, errc::frame_too_large));
    CHECK(out.frames.empty());
  }
  SECTION("json-stream: a value cut short by the end of the stream") {
    auto out = decode(framing::json_stream, "{\"a\":[1,", 0);
    CHECK(is(out.err, errc::bad_message));
  }
  SECTION("lines: a line over max-frame") {
    auto out = decode(framing::lines, std::string(100, 'x') + "\n", 9, 50);
    CHECK(is(out.err, errc::frame_too_large));
  }
  SECTION("length-prefixed: a header over max-frame, before any payload") {
    auto out = decode(framing::length_prefixed, "\x7f\xff\xff\xff", 0, 1000);
    CHECK(is(out.err, errc::frame_too_large));
    CHECK(render(out.err).find("2147483647") != std::string::npos);
  }
  SECTION("length-prefixed: the stream ends inside a frame") {
    auto out =
      decode(framing::length_prefixed, std::string("\0\0\0\5ab", 6), 0);
    CHECK(is(out.err, errc::bad_message));
  }
  SECTION("a failed decoder stays failed") {
    frame_decoder dec{framing::lines, 4};
    auto keep = [](std::string&&) { return true; };
    CHECK(dec.feed("toolong\n", 8, keep));
    CHECK(dec.feed("ok\n", 3, keep));
  }
}

TEST_CASE("json-stream reports the first fault in the stream however it is "
          "cut into reads (found by fuzzing)") {
  std::string stream = "12345}";
  for (size_t step : {size_t{1}, size_t{2}, stream.size()}) {
    frame_decoder dec{framing::json_stream, 3};
    caf::error err;
    for (size_t off = 0; off < stream.size() && !err; off += step)
      err = dec.feed(stream.data() + off, std::min(step, stream.size() - off),
                     [](std::string&&) { return true; });
    INFO(step);
    CHECK(is(err, errc::frame_too_large));
  }
}

TEST_CASE("a consumer stops the decoder by returning false") {
  frame_decoder dec{framing::lines, 100};
  int n = 0;
  REQUIRE(!dec.feed("a\nb\nc\n", 6, [&](std::string&&) { return ++n < 2; }));
  CHECK(n == 2);
}
