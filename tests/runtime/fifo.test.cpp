// switchboard: an embeddable C++ actor runtime. MIT License.

#include <switchboard/fifo.hpp>

#include <string>

#include <catch2/catch.hpp>

using switchboard::fifo;

TEST_CASE("fifo: first in, first out, through bursts and compaction") {
  fifo<std::string> q;
  CHECK(q.empty());
  // Interleaved pushes and pops across the compaction threshold.
  size_t next_in = 0;
  size_t next_out = 0;
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < 100; ++i)
      q.push_back(std::to_string(next_in++));
    CHECK(q.size() == next_in - next_out);
    CHECK(q[1] == std::to_string(next_out + 1));
    for (int i = 0; i < 70; ++i) {
      REQUIRE(q.front() == std::to_string(next_out++));
      q.pop_front();
    }
  }
  while (!q.empty()) {
    REQUIRE(q.front() == std::to_string(next_out++));
    q.pop_front();
  }
  CHECK(next_out == next_in);
  q.push_back("again");
  CHECK(q.size() == 1);
  q.clear();
  CHECK(q.empty());
}
