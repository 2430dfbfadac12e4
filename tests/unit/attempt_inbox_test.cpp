// actors/attempt_inbox: the delivery thread rings the queue actor once per
// batch, never loses a result, and keeps their order.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include "actors/attempt_inbox.hpp"

namespace {

using slimfaas::actors::AttemptInbox;
using slimfaas::actors::AttemptResult;

AttemptResult result(std::uint64_t id) {
  AttemptResult r;
  r.id = id;
  r.status = 200;
  return r;
}

}  // namespace

TEST_CASE("the first result of a batch rings and the later ones join it", "[attempt_inbox]") {
  AttemptInbox inbox;
  CHECK(inbox.put(result(1)));
  CHECK_FALSE(inbox.put(result(2)));
  CHECK_FALSE(inbox.put(result(3)));
  auto batch = inbox.take();
  REQUIRE(batch.size() == 3);
  CHECK(batch[0].id == 1);
  CHECK(batch[1].id == 2);
  CHECK(batch[2].id == 3);
  // Emptied: the next result starts a new batch and rings again.
  CHECK(inbox.put(result(4)));
  batch = inbox.take(std::move(batch));
  REQUIRE(batch.size() == 1);
  CHECK(batch[0].id == 4);
  CHECK(inbox.take().empty());  // a late ring finds nothing: harmless
}

TEST_CASE("results put from another thread while batches are taken are all seen once and in order",
          "[attempt_inbox]") {
  AttemptInbox inbox;
  constexpr std::uint64_t kResults = 20000;
  std::atomic<std::uint64_t> rings{0};
  std::thread producer([&] {
    for (std::uint64_t id = 1; id <= kResults; ++id)
      if (inbox.put(result(id))) rings.fetch_add(1);
  });
  std::uint64_t next = 1, batches = 0;
  std::vector<AttemptResult> batch;
  while (next <= kResults) {
    batch = inbox.take(std::move(batch));
    if (!batch.empty()) ++batches;
    for (const auto& r : batch) REQUIRE(r.id == next++);
  }
  producer.join();
  CHECK(inbox.take().empty());
  // Each batch began with the one put that found the inbox empty: exactly
  // one ring per batch, none lost and none spare.
  CHECK(rings.load() == batches);
}
