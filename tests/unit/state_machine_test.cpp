// SlimData's replicated state machine: every operation through the typed
// command/query/result API, time from the commands only, idempotence by log
// index, snapshots, and a randomized comparison with a plain reference model.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "store/state_machine.hpp"

using namespace slimfaas::store;

namespace {

// Applies commands at consecutive log indexes, as the Raft layer would.
class Replica {
 public:
  std::string apply(std::string command) {
    Entry entry{1, machine.last_applied() + 1, Entry::Kind::Command, std::move(command)};
    return machine.apply(entry);
  }
  std::vector<std::string> apply_split(std::string command) {
    Entry entry{1, machine.last_applied() + 1, Entry::Kind::Command, std::move(command)};
    return machine.apply_split(entry);
  }
  std::string query(const std::string& q) const { return machine.query(q); }
  StateMachine machine;
};

}  // namespace

TEST_CASE("state machine sets gets and deletes keys", "[state_machine]") {
  Replica r;
  results::kv_set(r.apply(commands::kv_set("a", "1", 1000)));
  results::kv_set(r.apply(commands::kv_set("b", std::string(4096, 'b'), 1000)));
  CHECK(results::kv_get(r.query(queries::kv_get("a", 1000))) == "1");
  CHECK(results::kv_get(r.query(queries::kv_get("b", 1000))) == std::string(4096, 'b'));
  CHECK(results::kv_get(r.query(queries::kv_get("missing", 1000))) == std::nullopt);
  results::kv_set(r.apply(commands::kv_set("a", "2", 1000)));
  CHECK(results::kv_get(r.query(queries::kv_get("a", 1000))) == "2");
  CHECK(results::kv_delete(r.apply(commands::kv_delete("a"))));
  CHECK_FALSE(results::kv_delete(r.apply(commands::kv_delete("a"))));
  CHECK(results::kv_get(r.query(queries::kv_get("a", 1000))) == std::nullopt);
}

TEST_CASE("state machine expires keys by the clock written in the commands", "[state_machine]") {
  Replica r;
  results::kv_set(r.apply(commands::kv_set("session", "x", 10'000, 500)));
  results::kv_set(r.apply(commands::kv_set("forever", "y", 10'000)));
  CHECK(r.machine.clock_ms() == 10'000);
  // Reads at a time of their own, never the machine's wall clock.
  CHECK(results::kv_get(r.query(queries::kv_get("session", 10'499))) == "x");
  CHECK(results::kv_get(r.query(queries::kv_get("session", 10'500))) == std::nullopt);

  SECTION("a later command purges the key on every replica alike") {
    Replica other;
    other.machine.restore(r.machine.snapshot());
    for (Replica* replica : {&r, &other}) results::counter_add(replica->apply(commands::counter_add("tick", 1)));
    for (Replica* replica : {&r, &other}) results::kv_set(replica->apply(commands::kv_set("k", "v", 10'600)));
    CHECK(r.machine.snapshot() == other.machine.snapshot());
    // Purged, not just hidden: a read at an earlier time cannot see it.
    CHECK(results::kv_get(r.query(queries::kv_get("session", 0))) == std::nullopt);
    CHECK_FALSE(results::kv_delete(r.apply(commands::kv_delete("session"))));
    CHECK(results::kv_get(r.query(queries::kv_get("forever", 99'999'999))) == "y");
  }
  SECTION("a lagging proposer cannot move the clock back nor shorten a ttl") {
    results::kv_set(r.apply(commands::kv_set("late", "z", 5'000, 1'000)));
    CHECK(r.machine.clock_ms() == 10'000);
    CHECK(results::kv_get(r.query(queries::kv_get("late", 10'999))) == "z");
    CHECK(results::kv_get(r.query(queries::kv_get("late", 11'000))) == std::nullopt);
  }
  SECTION("setting a key again replaces its ttl") {
    results::kv_set(r.apply(commands::kv_set("session", "x2", 10'100)));
    CHECK(results::kv_get(r.query(queries::kv_get("session", 99'999))) == "x2");
    results::kv_set(r.apply(commands::kv_set("other", "o", 20'000)));
    CHECK(results::kv_get(r.query(queries::kv_get("session", 20'000))) == "x2");
  }
}

TEST_CASE("state machine hashsets set delete get and clear fields", "[state_machine]") {
  Replica r;
  CHECK(results::hash_set(r.apply(commands::hash_set("activity", "fibonacci", "100"))));
  CHECK(results::hash_set(r.apply(commands::hash_set("activity", "echo", "200"))));
  CHECK_FALSE(results::hash_set(r.apply(commands::hash_set("activity", "echo", "300"))));
  CHECK(results::hash_get(r.query(queries::hash_get("activity", "echo"))) == "300");
  CHECK(results::hash_get(r.query(queries::hash_get("activity", "nope"))) == std::nullopt);
  CHECK(results::hash_get_all(r.query(queries::hash_get_all("activity"))) ==
        std::map<std::string, std::string>{{"echo", "300"}, {"fibonacci", "100"}});
  CHECK(results::hash_delete(r.apply(commands::hash_delete("activity", "echo"))));
  CHECK_FALSE(results::hash_delete(r.apply(commands::hash_delete("activity", "echo"))));
  CHECK(results::hash_get_all(r.query(queries::hash_get_all("activity"))).size() == 1);
  CHECK(results::hash_clear(r.apply(commands::hash_clear("activity"))) == 1);
  CHECK(results::hash_get_all(r.query(queries::hash_get_all("activity"))).empty());
  CHECK(results::hash_clear(r.apply(commands::hash_clear("activity"))) == 0);
}

TEST_CASE("state machine queues hand out items in push order and ack removes them", "[state_machine]") {
  Replica r;
  ElementId a = results::queue_push(r.apply(commands::queue_push("q", "a")));
  ElementId b = results::queue_push(r.apply(commands::queue_push("q", "b")));
  ElementId other = results::queue_push(r.apply(commands::queue_push("other", "x")));
  ElementId c = results::queue_push(r.apply(commands::queue_push("q", "c")));
  CHECK(a < b);
  CHECK(b < other);  // ids are unique across queues
  CHECK(other < c);

  auto first = results::queue_take(r.apply(commands::queue_take("q", 2, 1000, 30'000)));
  CHECK(first == std::vector<TakenItem>{{a, 0, "a", ""}, {b, 0, "b", ""}});
  // Taken items are invisible to the next take.
  auto second = results::queue_take(r.apply(commands::queue_take("q", 5, 1000, 30'000)));
  CHECK(second == std::vector<TakenItem>{{c, 0, "c", ""}});
  CHECK(results::queue_take(r.apply(commands::queue_take("q", 5, 1000, 30'000))).empty());
  CHECK(results::queue_take(r.apply(commands::queue_take("missing", 5, 1000, 30'000))).empty());

  CHECK(results::queue_ack(r.apply(commands::queue_ack("q", b))));
  CHECK_FALSE(results::queue_ack(r.apply(commands::queue_ack("q", b))));
  CHECK_FALSE(results::queue_ack(r.apply(commands::queue_ack("other", a))));
  CHECK(results::queue_status(r.query(queries::queue_status("q", 1000))) == QueueStatus{0, 2, 0});
  CHECK(results::queue_item(r.query(queries::queue_item("q", b, 1000))) == std::nullopt);
}

TEST_CASE("state machine changes the state alike when a take's result is unread", "[state_machine]") {
  // The leader reads its takes' results; a follower applies the same
  // entries without anyone reading them: same state, no bodies copied.
  Replica leader, follower;
  const std::string body(4096, 'p');
  std::uint64_t index = 0;
  auto both = [&](const std::string& command) {
    ++index;
    std::string read = leader.machine.apply(Entry{1, index, Entry::Kind::Command, command});
    std::string unread = follower.machine.apply(Entry{1, index, Entry::Kind::Command, command},
                                                StateMachine::ResultUse::unread);
    return std::make_pair(read, unread);
  };
  for (int i = 0; i < 3; ++i) both(commands::queue_push("q", body));
  auto [read, unread] = both(commands::queue_take("q", 2, 1000, 500));
  CHECK(results::queue_take(read).size() == 2);
  CHECK(unread.size() < body.size());  // no body in it
  CHECK(follower.machine.snapshot() == leader.machine.snapshot());
  // Taken inside a batch too (the leader merges proposals into one).
  std::vector<std::string> batch{commands::queue_take("q", 5, 1000, 500)};
  auto [read_batch, unread_batch] = both(commands::batch(batch));
  CHECK(results::queue_take(results::batch(read_batch).at(0)).size() == 1);
  CHECK(unread_batch.size() < body.size());
  CHECK(follower.machine.snapshot() == leader.machine.snapshot());
  // After the leases end, both hand the items out again as second tries.
  auto [read_again, unread_again] = both(commands::queue_take("q", 5, 1600, 500));
  auto again = results::queue_take(read_again);
  REQUIRE(again.size() == 3);
  CHECK(again[0].try_number == 1);
  CHECK(follower.machine.snapshot() == leader.machine.snapshot());
  // A result nobody reads leaves out only the taken items: other commands'
  // results are whole.
  auto [read_push, unread_push] = both(commands::queue_push("q", "x"));
  CHECK(read_push == unread_push);
}

TEST_CASE("state machine lease expiry makes an item visible again as the next try", "[state_machine]") {
  Replica r;
  ElementId a = results::queue_push(r.apply(commands::queue_push("q", "a")));
  ElementId b = results::queue_push(r.apply(commands::queue_push("q", "b")));
  CHECK(results::queue_take(r.apply(commands::queue_take("q", 1, 1000, 500))) ==
        std::vector<TakenItem>{{a, 0, "a", ""}});
  CHECK(results::queue_item(r.query(queries::queue_item("q", a, 1000))) ==
        QueueItemState{QueueItemState::Phase::InFlight, 1, 1500});
  // Before the lease ends only b is visible.
  CHECK(results::queue_take(r.apply(commands::queue_take("q", 5, 1499, 500))) ==
        std::vector<TakenItem>{{b, 0, "b", ""}});
  CHECK(results::queue_status(r.query(queries::queue_status("q", 1499))) == QueueStatus{0, 2, 0});
  CHECK(results::queue_status(r.query(queries::queue_status("q", 1500))) == QueueStatus{1, 1, 0});
  // At the lease's end a comes back, counted as its second try.
  CHECK(results::queue_take(r.apply(commands::queue_take("q", 5, 1500, 500))) ==
        std::vector<TakenItem>{{a, 1, "a", ""}});
}

TEST_CASE("state machine requeues an item at a time and ignores stale requeues", "[state_machine]") {
  Replica r;
  ElementId a = results::queue_push(r.apply(commands::queue_push("q", "a")));
  ElementId b = results::queue_push(r.apply(commands::queue_push("q", "b")));
  REQUIRE(results::queue_take(r.apply(commands::queue_take("q", 1, 1000, 30'000))).size() == 1);
  CHECK(results::queue_requeue(r.apply(commands::queue_requeue("q", a, 0, 5000))) ==
        RequeueOutcome::Requeued);
  CHECK(results::queue_status(r.query(queries::queue_status("q", 1000))) == QueueStatus{1, 0, 1});
  // b was never taken: no take to answer.
  CHECK(results::queue_requeue(r.apply(commands::queue_requeue("q", b, 0, 0))) == RequeueOutcome::Stale);
  CHECK(results::queue_requeue(r.apply(commands::queue_requeue("q", b, UINT32_MAX, 0))) ==
        RequeueOutcome::Stale);
  CHECK(results::queue_item(r.query(queries::queue_item("q", a, 1000))) ==
        QueueItemState{QueueItemState::Phase::WaitingRetry, 1, 5000});
  // Waiting for its retry time: b goes first.
  CHECK(results::queue_take(r.apply(commands::queue_take("q", 5, 4999, 30'000))) ==
        std::vector<TakenItem>{{b, 0, "b", ""}});
  // At the retry time a is back, as try 1.
  CHECK(results::queue_take(r.apply(commands::queue_take("q", 5, 5000, 100))) ==
        std::vector<TakenItem>{{a, 1, "a", ""}});
  // The lease of try 1 ends and a is taken again (try 2); the late outcome of
  // try 1 must not disturb try 2.
  CHECK(results::queue_take(r.apply(commands::queue_take("q", 5, 5100, 100))) ==
        std::vector<TakenItem>{{a, 2, "a", ""}});
  CHECK(results::queue_requeue(r.apply(commands::queue_requeue("q", a, 1, 9000))) == RequeueOutcome::Stale);
  CHECK(results::queue_item(r.query(queries::queue_item("q", a, 5100)))->phase ==
        QueueItemState::Phase::InFlight);
  // A requeue at a time already past makes the item visible at once.
  CHECK(results::queue_requeue(r.apply(commands::queue_requeue("q", a, 2, 0))) == RequeueOutcome::Requeued);
  CHECK(results::queue_status(r.query(queries::queue_status("q", 5100))) == QueueStatus{1, 1, 0});
  CHECK(results::queue_ack(r.apply(commands::queue_ack("q", a))));
  CHECK(results::queue_requeue(r.apply(commands::queue_requeue("q", a, 2, 0))) == RequeueOutcome::NotFound);
}

TEST_CASE("state machine releases a leased item in its place without counting the take as a try",
          "[state_machine]") {
  Replica r;
  ElementId a = results::queue_push(r.apply(commands::queue_push("q", "a")));
  ElementId b = results::queue_push(r.apply(commands::queue_push("q", "b")));
  REQUIRE(results::queue_take(r.apply(commands::queue_take("q", 2, 1000, 30'000))).size() == 2);
  // b is given back: visible at once, and its next take is try 0 again.
  CHECK(results::queue_requeue(r.apply(commands::queue_release("q", b, 0))) == RequeueOutcome::Requeued);
  CHECK(results::queue_status(r.query(queries::queue_status("q", 1000))) == QueueStatus{1, 1, 0});
  CHECK(results::queue_item(r.query(queries::queue_item("q", b, 1000))) ==
        QueueItemState{QueueItemState::Phase::Ready, 0, 0});
  // Not leased any more: a second release is stale, as is one for an old take.
  CHECK(results::queue_requeue(r.apply(commands::queue_release("q", b, 0))) == RequeueOutcome::Stale);
  CHECK(results::queue_requeue(r.apply(commands::queue_release("q", a, 1))) == RequeueOutcome::Stale);
  // a is given back too; both come again in push order, as first tries.
  CHECK(results::queue_requeue(r.apply(commands::queue_release("q", a, 0))) == RequeueOutcome::Requeued);
  CHECK(results::queue_take(r.apply(commands::queue_take("q", 5, 1001, 30'000))) ==
        std::vector<TakenItem>{{a, 0, "a", ""}, {b, 0, "b", ""}});
  // Requeued for a retry: there is no lease left to give back.
  CHECK(results::queue_requeue(r.apply(commands::queue_requeue("q", a, 0, 5000))) == RequeueOutcome::Requeued);
  CHECK(results::queue_requeue(r.apply(commands::queue_release("q", a, 0))) == RequeueOutcome::Stale);
  CHECK(results::queue_item(r.query(queries::queue_item("q", a, 1001))) ==
        QueueItemState{QueueItemState::Phase::WaitingRetry, 1, 5000});
  CHECK(results::queue_ack(r.apply(commands::queue_ack("q", b))));
  CHECK(results::queue_requeue(r.apply(commands::queue_release("q", b, 0))) == RequeueOutcome::NotFound);
}

TEST_CASE("state machine applies a batch in order, each command with its own result", "[state_machine]") {
  Replica r;
  ElementId a = results::queue_push(r.apply(commands::queue_push("q", "a")));
  ElementId b = results::queue_push(r.apply(commands::queue_push("q", "b")));
  results::queue_take(r.apply(commands::queue_take("q", 2, 1000, 30'000)));
  const std::string truncated = commands::kv_set("k", "v", 1000).substr(0, 3);
  auto out = results::batch(r.apply(commands::batch({
      commands::queue_ack("q", a),
      commands::queue_ack("q", a),  // already gone: the second ack says so
      truncated,                    // malformed: its own error, the others apply
      commands::batch({commands::counter_add("c", 1)}),  // no nesting
      commands::queue_requeue("q", b, 0, 5000),
      commands::counter_add("c", 2),
  })));
  REQUIRE(out.size() == 6);
  CHECK(results::queue_ack(out[0]));
  CHECK_FALSE(results::queue_ack(out[1]));
  CHECK(results::status(out[2]) == results::Status::Error);
  CHECK(results::status(out[3]) == results::Status::Error);
  CHECK(results::queue_requeue(out[4]) == RequeueOutcome::Requeued);
  CHECK(results::counter_add(out[5]) == 2);  // the nested batch did not run
  CHECK(results::queue_status(r.query(queries::queue_status("q", 1000))) == QueueStatus{0, 0, 1});
  CHECK(results::batch(r.apply(commands::batch({}))).empty());

  // A batch whose framing is truncated changes nothing at all.
  const std::string before = r.machine.snapshot();
  std::string whole = commands::batch({commands::counter_add("c", 5), commands::counter_add("c", 6)});
  CHECK(results::status(r.apply(whole.substr(0, whole.size() - 1))) == results::Status::Error);
  StateMachine reference;
  reference.restore(before);
  CHECK(results::counter_get(r.query(queries::counter_get("c"))) ==
        results::counter_get(reference.query(queries::counter_get("c"))));
}

TEST_CASE("state machine splits a batch's results without encoding them, as apply would give them",
          "[state_machine]") {
  // Two replicas in the same state: one applies with apply(), the other
  // with apply_split(); results, state and applied index must agree.
  Replica whole, split;
  for (Replica* r : {&whole, &split}) {
    results::queue_push(r->apply(commands::queue_push("q", std::string(4096, 'a'))));
    results::queue_push(r->apply(commands::queue_push("q", "b")));
  }
  const std::string truncated = commands::kv_set("k", "v", 1000).substr(0, 3);
  const std::string batch = commands::batch({
      commands::queue_take("q", 2, 1000, 30'000),
      truncated,
      commands::batch({commands::counter_add("c", 1)}),
      commands::counter_add("c", 2),
  });
  const auto expected = results::batch(whole.apply(batch));
  const auto parts = split.apply_split(batch);
  CHECK(parts == expected);
  REQUIRE(parts.size() == 4);
  const auto taken = results::queue_take(parts[0]);
  REQUIRE(taken.size() == 2);
  CHECK(taken[0].payload == std::string(4096, 'a'));
  CHECK(results::status(parts[1]) == results::Status::Error);
  CHECK(results::status(parts[2]) == results::Status::Error);
  CHECK(results::counter_add(parts[3]) == 2);
  CHECK(split.machine.last_applied() == whole.machine.last_applied());
  CHECK(split.machine.snapshot() == whole.machine.snapshot());

  SECTION("an entry that is not a batch gives apply()'s one result") {
    const auto one = split.apply_split(commands::counter_add("c", 3));
    REQUIRE(one.size() == 1);
    CHECK(results::counter_add(one[0]) == 5);
  }
  SECTION("a batch whose framing is truncated gives one error and changes nothing but the index") {
    std::string framed = commands::batch({commands::counter_add("c", 5), commands::counter_add("c", 6)});
    const auto one = split.apply_split(framed.substr(0, framed.size() - 1));
    REQUIRE(one.size() == 1);
    CHECK(results::status(one[0]) == results::Status::Error);
    CHECK(results::counter_get(split.query(queries::counter_get("c"))) == 2);
    CHECK(split.machine.last_applied() == whole.machine.last_applied() + 1);
  }
  SECTION("an entry at or below the applied index is skipped, like apply()") {
    Entry again{1, split.machine.last_applied(), Entry::Kind::Command, commands::batch({commands::counter_add("c", 7)})};
    const auto one = split.machine.apply_split(again);
    REQUIRE(one.size() == 1);
    CHECK(results::counter_get(split.query(queries::counter_get("c"))) == 2);
  }
}

TEST_CASE("state machine releases an item's attachment when the item is acked, on every replica", "[state_machine]") {
  Replica r;
  const std::string blob = "0123456789abcdef0123456789abcdef";
  ElementId a = results::queue_push(r.apply(commands::queue_push("q", "meta", blob)));
  ElementId plain = results::queue_push(r.apply(commands::queue_push("q", "small")));
  auto taken = results::queue_take(r.apply(commands::queue_take("q", 5, 1000, 30'000)));
  CHECK(taken == std::vector<TakenItem>{{a, 0, "meta", blob}, {plain, 0, "small", ""}});
  CHECK(results::attachment_live(r.query(queries::attachment_live(blob))));
  CHECK(r.machine.take_released_attachments().empty());

  // It survives a snapshot, and a requeue does not release it.
  Replica copy;
  copy.machine.restore(r.machine.snapshot());
  CHECK(results::attachment_live(copy.query(queries::attachment_live(blob))));
  results::queue_requeue(r.apply(commands::queue_requeue("q", a, 0, 0)));
  CHECK(r.machine.take_released_attachments().empty());

  CHECK(results::queue_ack(r.apply(commands::queue_ack("q", plain))));
  CHECK(r.machine.take_released_attachments().empty());
  CHECK(results::queue_ack(r.apply(commands::queue_ack("q", a))));
  CHECK(r.machine.take_released_attachments() == std::vector<std::string>{blob});
  CHECK(r.machine.take_released_attachments().empty());  // reported once
  CHECK_FALSE(results::attachment_live(r.query(queries::attachment_live(blob))));
  CHECK(results::queue_ack(copy.apply(commands::queue_ack("q", a))));
  CHECK(copy.machine.take_released_attachments() == std::vector<std::string>{blob});

  // Two items naming the same blob: released with the last of them.
  ElementId x = results::queue_push(r.apply(commands::queue_push("q", "1", blob)));
  ElementId y = results::queue_push(r.apply(commands::queue_push("q", "2", blob)));
  results::queue_ack(r.apply(commands::queue_ack("q", x)));
  CHECK(r.machine.take_released_attachments().empty());
  results::queue_ack(r.apply(commands::queue_ack("q", y)));
  CHECK(r.machine.take_released_attachments() == std::vector<std::string>{blob});
}

TEST_CASE("state machine bounds a queue by items and bytes and refuses what does not fit", "[state_machine]") {
  Replica r;
  const QueueLimits two_items{2, 0};
  PushOutcome first = results::queue_push_bounded(r.apply(commands::queue_push("q", "aaaa", "", two_items)));
  REQUIRE(first.id);
  REQUIRE(results::queue_push_bounded(r.apply(commands::queue_push("q", "bbbb", "", two_items))).id);
  // Full: refused with the queue's size, and nothing changes.
  const std::string before = r.machine.snapshot();
  CHECK(results::queue_push_bounded(r.apply(commands::queue_push("q", "cccc", "", two_items))) ==
        PushOutcome{std::nullopt, 2, 8});
  CHECK(results::queue_status(r.query(queries::queue_status("q", 0))).total() == 2);
  Replica same;
  same.machine.restore(before);
  CHECK(r.machine.snapshot().substr(1 + 1) == same.machine.snapshot().substr(1 + 1));  // past version and index
  // An unbounded push still goes in; an ack makes room.
  REQUIRE(results::queue_push(r.apply(commands::queue_push("q", "dddd"))));
  CHECK_FALSE(results::queue_push_bounded(r.apply(commands::queue_push("q", "eeee", "", two_items))).id);
  CHECK(results::queue_ack(r.apply(commands::queue_ack("q", *first.id))));
  CHECK_FALSE(results::queue_push_bounded(r.apply(commands::queue_push("q", "eeee", "", two_items))).id);
  results::queue_take(r.apply(commands::queue_take("q", 10, 1000, 30'000)));
  for (const auto& item : results::queue_take(r.apply(commands::queue_take("q", 10, 100'000, 30'000))))
    results::queue_ack(r.apply(commands::queue_ack("q", item.id)));
  CHECK(results::queue_push_bounded(r.apply(commands::queue_push("q", "eeee", "", two_items))).id);

  SECTION("bytes: payloads and blob ids, freed by acks, and any item fits an empty queue") {
    const QueueLimits ten_bytes{0, 10};
    Replica b;
    CHECK(results::queue_push_bounded(b.apply(commands::queue_push("b", std::string(50, 'x'), "", ten_bytes))).id);
    CHECK(results::queue_push_bounded(b.apply(commands::queue_push("b", "y", "", ten_bytes))) ==
          PushOutcome{std::nullopt, 1, 50});
    Replica c;
    auto six = results::queue_push_bounded(c.apply(commands::queue_push("c", "123456", "", ten_bytes)));
    CHECK(results::queue_push_bounded(c.apply(commands::queue_push("c", "1234", "", ten_bytes))).id);  // 10: fits
    CHECK(results::queue_push_bounded(c.apply(commands::queue_push("c", "1", "", ten_bytes))) ==
          PushOutcome{std::nullopt, 2, 10});
    CHECK(results::queue_push_bounded(c.apply(commands::queue_push("c", "", "ab", ten_bytes))) ==
          PushOutcome{std::nullopt, 2, 10});  // a blob id counts too
    results::queue_ack(c.apply(commands::queue_ack("c", *six.id)));
    CHECK(results::queue_push_bounded(c.apply(commands::queue_push("c", "123456", "", ten_bytes))).id);
    // The byte count survives a snapshot.
    Replica d;
    d.machine.restore(c.machine.snapshot());
    CHECK(results::queue_push_bounded(d.apply(commands::queue_push("c", "1", "", ten_bytes))) ==
          PushOutcome{std::nullopt, 2, 10});
  }

  SECTION("a refused item's blob is released on every replica") {
    const std::string blob = "0123456789abcdef0123456789abcdef";
    REQUIRE(results::queue_push_bounded(r.apply(commands::queue_push("q", "fill", "", two_items))).id);
    CHECK_FALSE(results::queue_push_bounded(r.apply(commands::queue_push("q", "meta", blob, two_items))).id);
    CHECK(r.machine.take_released_attachments() == std::vector<std::string>{blob});
    CHECK_FALSE(results::attachment_live(r.query(queries::attachment_live(blob))));
  }
}

TEST_CASE("state machine tells a refused push before it is logged, and nothing else", "[state_machine]") {
  Replica r;
  const QueueLimits two_items{2, 0};
  const std::string third = commands::queue_push("q", "cccc", "", two_items);
  // No queue yet, then room: nothing to refuse.
  CHECK_FALSE(r.machine.refusal(third));
  PushOutcome first = results::queue_push_bounded(r.apply(commands::queue_push("q", "aaaa", "", two_items)));
  REQUIRE(first.id);
  CHECK_FALSE(r.machine.refusal(third));
  REQUIRE(results::queue_push_bounded(r.apply(commands::queue_push("q", "bbbb", "", two_items))).id);

  // Full: the very result apply() gives, and asking changes nothing.
  const std::string before = r.machine.snapshot();
  const auto early = r.machine.refusal(third);
  REQUIRE(early);
  CHECK(results::queue_push_bounded(*early) == PushOutcome{std::nullopt, 2, 8});
  CHECK(r.machine.snapshot() == before);
  CHECK(r.apply(third) == *early);

  // Not for: another queue, an unbounded push, a push with a side-stored
  // body (only the logged refusal releases its copies), other commands,
  // malformed bytes.
  CHECK_FALSE(r.machine.refusal(commands::queue_push("other", "cccc", "", two_items)));
  CHECK_FALSE(r.machine.refusal(commands::queue_push("q", "cccc")));
  CHECK_FALSE(r.machine.refusal(commands::queue_push("q", "meta", "0123456789abcdef0123456789abcdef", two_items)));
  CHECK_FALSE(r.machine.refusal(commands::queue_ack("q", *first.id)));
  CHECK_FALSE(r.machine.refusal(third.substr(0, third.size() - 1)));
  CHECK_FALSE(r.machine.refusal(""));

  // An ack makes room again once it is applied.
  results::queue_take(r.apply(commands::queue_take("q", 10, 1000, 30'000)));
  CHECK(results::queue_ack(r.apply(commands::queue_ack("q", *first.id))));
  CHECK_FALSE(r.machine.refusal(third));
}

TEST_CASE("state machine counters add and read", "[state_machine]") {
  Replica r;
  CHECK(results::counter_get(r.query(queries::counter_get("delivered"))) == 0);
  CHECK(results::counter_add(r.apply(commands::counter_add("delivered", 5))) == 5);
  CHECK(results::counter_add(r.apply(commands::counter_add("delivered", -7))) == -2);
  CHECK(results::counter_get(r.query(queries::counter_get("delivered"))) == -2);
  CHECK(results::counter_add(r.apply(commands::counter_add("big", INT64_MAX))) == INT64_MAX);
  CHECK(results::counter_add(r.apply(commands::counter_add("big", 1))) == INT64_MIN);  // wraps
}

TEST_CASE("state machine skips entries it already applied", "[state_machine]") {
  StateMachine machine;
  Entry push{1, 1, Entry::Kind::Command, commands::queue_push("q", "a")};
  Entry noop{2, 2, Entry::Kind::Noop, {}};
  CHECK(results::queue_push(machine.apply(push)) == 1);
  CHECK(results::status(machine.apply(push)) == results::Status::AlreadyApplied);
  CHECK_THROWS_AS(results::queue_push(machine.apply(push)), CommandError);
  CHECK(results::status(machine.apply(noop)) == results::Status::Ok);
  CHECK(machine.last_applied() == 2);
  CHECK(results::queue_status(machine.query(queries::queue_status("q", 0))) == QueueStatus{1, 0, 0});
  Entry gap{2, 4, Entry::Kind::Command, commands::queue_push("q", "b")};
  CHECK_THROWS_AS(machine.apply(gap), std::logic_error);
  CHECK(machine.last_applied() == 2);
}

TEST_CASE("state machine answers malformed commands with an error and no change", "[state_machine]") {
  Replica r;
  results::queue_push(r.apply(commands::queue_push("q", "a")));
  const std::string before = r.machine.snapshot();
  std::string full = commands::kv_set("key", "value", 1000, 10);
  std::vector<std::string> bad{
      "",                                        // no opcode
      std::string(1, char(200)),                 // unknown opcode
      queries::kv_get("key", 0),                 // a query proposed as a command
      full.substr(0, full.size() - 1),           // truncated
      full + "x",                                // trailing bytes
      std::string("\x06\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12),  // varint too long
  };
  for (std::size_t i = 0; i < bad.size(); ++i) {
    INFO("bad command " << i);
    std::string result = r.apply(bad[i]);
    CHECK(results::status(result) == results::Status::Error);
    CHECK_THROWS_AS(results::kv_set(result), CommandError);
  }
  // The state is unchanged except for the applied index.
  StateMachine reference;
  reference.restore(before);
  CHECK(r.machine.last_applied() == reference.last_applied() + bad.size());
  CHECK(results::status(r.query(commands::counter_add("c", 1))) == results::Status::Error);
  CHECK(results::status(r.query("")) == results::Status::Error);
  CHECK(results::queue_status(r.query(queries::queue_status("q", 0))) == QueueStatus{1, 0, 0});
}

TEST_CASE("state machine carries MiB bodies through push and take", "[state_machine]") {
  Replica r;
  std::string body(4 << 20, '\0');
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(i * 131 % 251);
  std::string command = commands::queue_push("big", body);
  CHECK(command.size() < body.size() + 16);
  ElementId id = results::queue_push(r.apply(std::move(command)));
  auto taken = results::queue_take(r.apply(commands::queue_take("big", 1, 1, 1000)));
  REQUIRE(taken.size() == 1);
  CHECK(taken[0].id == id);
  CHECK(taken[0].payload == body);
}

TEST_CASE("state machine snapshot and restore round trip", "[state_machine]") {
  Replica r;
  results::kv_set(r.apply(commands::kv_set("k", "v", 1000, 60'000)));
  results::kv_set(r.apply(commands::kv_set("plain", std::string(4096, 'p'), 1000)));
  results::hash_set(r.apply(commands::hash_set("h", "f", "v")));
  results::counter_add(r.apply(commands::counter_add("c", -42)));
  for (int i = 0; i < 6; ++i) results::queue_push(r.apply(commands::queue_push("q", "item" + std::to_string(i))));
  results::queue_take(r.apply(commands::queue_take("q", 2, 2000, 1000)));  // leased to 3000
  auto retried = results::queue_take(r.apply(commands::queue_take("q", 1, 2000, 1000)));
  results::queue_requeue(r.apply(commands::queue_requeue("q", retried[0].id, 0, 9000)));

  const std::string bytes = r.machine.snapshot();
  Replica copy;
  copy.machine.restore(bytes);
  CHECK(copy.machine.snapshot() == bytes);
  CHECK(copy.machine.last_applied() == r.machine.last_applied());
  CHECK(copy.machine.clock_ms() == r.machine.clock_ms());

  // Both go on identically: the same commands give the same results.
  std::vector<std::string> next{
      commands::queue_take("q", 10, 3500, 1000), commands::queue_push("q", "new"),
      commands::queue_take("q", 10, 9500, 1000), commands::kv_set("x", "y", 70'000),
      commands::counter_add("c", 2)};
  for (const std::string& command : next) CHECK(r.apply(command) == copy.apply(command));
  CHECK(r.machine.snapshot() == copy.machine.snapshot());
  for (const std::string& q : {queries::queue_status("q", 0), queries::kv_get("k", 0), queries::kv_get("plain", 0),
                               queries::hash_get_all("h"), queries::counter_get("c")})
    CHECK(r.query(q) == copy.query(q));

  SECTION("a frozen state encodes as of its freeze while the machine goes on") {
    // The node's snapshot writer encodes on its own thread while the node
    // applies more: nothing applied after freeze() may show in its bytes,
    // whatever it changed (a value replaced, an item leased, acked, pushed).
    const std::string at_freeze = r.machine.snapshot();
    const StateMachine::Frozen frozen = r.machine.freeze();
    const std::vector<std::string> later{commands::kv_set("plain", std::string(4096, 'q'), 9500),
                                         commands::kv_delete("k"),
                                         commands::hash_set("h", "f", "w"),
                                         commands::hash_set("h", "g", "new"),
                                         commands::queue_take("q", 10, 9600, 1000),
                                         commands::queue_ack("q", retried[0].id),
                                         commands::queue_push("q", "later"),
                                         commands::queue_push("other", "later"),
                                         commands::counter_add("c", 5)};
    std::string encoded;
    std::thread writer([&] { frozen.write_to([&](std::string_view piece) { encoded.append(piece); }, 64); });
    for (const std::string& command : later) r.apply(command);
    writer.join();
    REQUIRE(r.machine.snapshot() != at_freeze);
    CHECK(encoded == at_freeze);
    encoded.clear();
    frozen.write_to([&](std::string_view piece) { encoded.append(piece); });
    CHECK(encoded == at_freeze);
  }

  SECTION("a streamed snapshot has the same bytes, in pieces of about the asked size") {
    for (int i = 0; i < 50; ++i) results::queue_push(r.apply(commands::queue_push("q", std::string(1000, 'x'))));
    const std::string whole = r.machine.snapshot();
    std::vector<std::size_t> sizes;
    std::string streamed;
    r.machine.freeze().write_to(
        [&](std::string_view piece) {
          sizes.push_back(piece.size());
          streamed.append(piece);
        },
        8192);
    CHECK(streamed == whole);
    REQUIRE(sizes.size() > 3);
    for (std::size_t i = 0; i + 1 < sizes.size(); ++i) {  // the last one holds the rest
      CHECK(sizes[i] >= 8192);
      CHECK(sizes[i] < 8192 + 1100);
    }
  }

  SECTION("a malformed snapshot is refused and the state kept") {
    const std::string now = copy.machine.snapshot();
    CHECK_THROWS(copy.machine.restore(bytes.substr(0, bytes.size() / 2)));
    CHECK_THROWS(copy.machine.restore(""));
    CHECK(copy.machine.snapshot() == now);
  }
}

// --- randomized comparison with a reference model ---------------------------

namespace {

// The obvious implementation: linear scans, no indexes.
struct ReferenceModel {
  struct Item {
    ElementId id;
    std::string payload;
    TimeMs visible_at = 0;
    TimeMs lease_until = 0;
    std::uint32_t takes = 0;
    TimeMs available_at() const { return lease_until ? lease_until : visible_at; }
  };
  TimeMs clock = 0;
  ElementId next_id = 1;
  std::map<std::string, std::pair<std::string, TimeMs>> kv;
  std::map<std::string, std::map<std::string, std::string>> hashes;
  std::map<std::string, std::vector<Item>> queues;
  std::map<std::string, std::int64_t> counters;

  bool kv_live(const std::string& key, TimeMs t) const {
    auto it = kv.find(key);
    return it != kv.end() && (it->second.second == 0 || it->second.second > std::max(t, clock));
  }
  std::optional<std::string> kv_get(const std::string& key, TimeMs t) const {
    if (!kv_live(key, t)) return std::nullopt;
    return kv.at(key).first;
  }
  void kv_set(const std::string& key, const std::string& value, TimeMs now, std::uint64_t ttl) {
    clock = std::max(clock, now);
    kv[key] = {value, ttl ? clock + ttl : 0};
  }
  bool kv_delete(const std::string& key) {
    bool live = kv_live(key, clock);
    kv.erase(key);
    return live;
  }
  std::vector<TakenItem> take(const std::string& q, std::uint32_t max, TimeMs now, std::uint64_t lease) {
    clock = std::max(clock, now);
    std::vector<TakenItem> out;
    for (Item& item : queues[q]) {
      if (out.size() == max) break;
      if (item.available_at() > clock) continue;
      out.push_back({item.id, item.takes, item.payload, ""});
      item.takes++;
      item.lease_until = clock + std::max<std::uint64_t>(lease, 1);
    }
    return out;
  }
  Item* find(const std::string& q, ElementId id) {
    for (Item& item : queues[q])
      if (item.id == id) return &item;
    return nullptr;
  }
  bool ack(const std::string& q, ElementId id) {
    auto& items = queues[q];
    auto it = std::find_if(items.begin(), items.end(), [&](const Item& i) { return i.id == id; });
    if (it == items.end()) return false;
    items.erase(it);
    return true;
  }
  RequeueOutcome requeue(const std::string& q, ElementId id, std::uint32_t try_number, TimeMs at) {
    Item* item = find(q, id);
    if (!item) return RequeueOutcome::NotFound;
    if (item->takes != try_number + 1) return RequeueOutcome::Stale;
    item->lease_until = 0;
    item->visible_at = at;
    return RequeueOutcome::Requeued;
  }
  RequeueOutcome release(const std::string& q, ElementId id, std::uint32_t try_number) {
    Item* item = find(q, id);
    if (!item) return RequeueOutcome::NotFound;
    if (item->takes != try_number + 1 || item->lease_until == 0) return RequeueOutcome::Stale;
    item->lease_until = 0;
    --item->takes;
    return RequeueOutcome::Requeued;
  }
  QueueStatus status(const std::string& q, TimeMs t) {
    t = std::max(t, clock);
    QueueStatus s;
    for (const Item& item : queues[q]) {
      if (item.available_at() <= t)
        s.ready++;
      else if (item.lease_until)
        s.in_flight++;
      else
        s.waiting_retry++;
    }
    return s;
  }
};

}  // namespace

TEST_CASE("state machine matches a reference model on random operations", "[state_machine][random]") {
  for (std::uint32_t seed = 1; seed <= 20; ++seed) {
    INFO("seed " << seed);
    std::mt19937_64 rng(seed);
    auto pick = [&](std::uint64_t n) { return static_cast<std::uint64_t>(rng() % n); };
    const std::vector<std::string> names{"a", "b", "c"};
    auto name = [&] { return names[pick(names.size())]; };

    Replica sm;
    ReferenceModel model;
    TimeMs now = 1'000;
    std::vector<std::pair<std::string, TakenItem>> taken;  // for acks and requeues
    for (int step = 0; step < 3000; ++step) {
      INFO("step " << step);
      // Mostly forward; sometimes a proposer with a lagging clock.
      now += pick(50);
      TimeMs command_time = pick(10) == 0 ? now - std::min<TimeMs>(now, pick(300)) : now;
      switch (pick(13)) {
        case 0: {
          std::string key = name();
          std::string value = "v" + std::to_string(step);
          std::uint64_t ttl = pick(2) ? pick(200) : 0;
          results::kv_set(sm.apply(commands::kv_set(key, value, command_time, ttl)));
          model.kv_set(key, value, command_time, ttl);
          break;
        }
        case 1: {
          std::string key = name();
          CHECK(results::kv_delete(sm.apply(commands::kv_delete(key))) == model.kv_delete(key));
          break;
        }
        case 2: {
          std::string h = name(), f = name(), v = std::to_string(step);
          bool created = !model.hashes[h].count(f);
          model.hashes[h][f] = v;
          CHECK(results::hash_set(sm.apply(commands::hash_set(h, f, v))) == created);
          break;
        }
        case 3: {
          std::string h = name(), f = name();
          bool existed = model.hashes[h].erase(f) > 0;
          CHECK(results::hash_delete(sm.apply(commands::hash_delete(h, f))) == existed);
          break;
        }
        case 4:
        case 5: {
          std::string q = name();
          std::string payload = std::string(pick(64), 'p') + std::to_string(step);
          if (pick(2) == 0) {
            ElementId id = results::queue_push(sm.apply(commands::queue_push(q, payload)));
            CHECK(id == model.next_id);
            model.queues[q].push_back({model.next_id++, payload});
            break;
          }
          // Bounded: the model counts the queue's items and payload bytes.
          const QueueLimits limits{pick(2) ? 1 + pick(6) : 0, pick(2) ? 50 + pick(250) : 0};
          const auto& items = model.queues[q];
          std::uint64_t bytes = 0;
          for (const auto& item : items) bytes += item.payload.size();
          const bool full = !items.empty() && ((limits.max_items != 0 && items.size() >= limits.max_items) ||
                                               (limits.max_bytes != 0 && bytes + payload.size() > limits.max_bytes));
          const std::string push = commands::queue_push(q, payload, "", limits);
          const auto early = sm.machine.refusal(push);  // what a node answers without a log entry
          const std::string result = sm.apply(push);
          CHECK(early == (full ? std::optional<std::string>(result) : std::nullopt));
          const auto outcome = results::queue_push_bounded(result);
          if (full) {
            CHECK(outcome == PushOutcome{std::nullopt, items.size(), bytes});
          } else {
            CHECK(outcome.id == std::optional<ElementId>(model.next_id));
            model.queues[q].push_back({model.next_id++, payload});
          }
          break;
        }
        case 6:
        case 7: {
          std::string q = name();
          auto max = static_cast<std::uint32_t>(pick(4));
          std::uint64_t lease = pick(150);
          auto got = results::queue_take(sm.apply(commands::queue_take(q, max, command_time, lease)));
          auto expected = model.take(q, max, command_time, lease);
          CHECK(got == expected);
          for (auto& item : got) taken.emplace_back(q, item);
          break;
        }
        case 8: {
          if (taken.empty()) break;
          auto [q, item] = taken[pick(taken.size())];
          CHECK(results::queue_ack(sm.apply(commands::queue_ack(q, item.id))) == model.ack(q, item.id));
          break;
        }
        case 9: {
          if (taken.empty()) break;
          auto [q, item] = taken[pick(taken.size())];
          TimeMs at = now + pick(200);
          CHECK(results::queue_requeue(sm.apply(commands::queue_requeue(q, item.id, item.try_number, at))) ==
                model.requeue(q, item.id, item.try_number, at));
          break;
        }
        case 12: {
          if (taken.empty()) break;
          auto [q, item] = taken[pick(taken.size())];
          CHECK(results::queue_requeue(sm.apply(commands::queue_release(q, item.id, item.try_number))) ==
                model.release(q, item.id, item.try_number));
          break;
        }
        case 10: {
          std::string c = name();
          std::int64_t delta = static_cast<std::int64_t>(pick(21)) - 10;
          model.counters[c] += delta;
          CHECK(results::counter_add(sm.apply(commands::counter_add(c, delta))) == model.counters[c]);
          break;
        }
        case 11: {
          // Now and then the replica is rebuilt from its own snapshot: it
          // must go on exactly as before.
          StateMachine rebuilt;
          rebuilt.restore(sm.machine.snapshot());
          sm.machine = std::move(rebuilt);
          break;
        }
      }
      // Reads at the current time and a little ahead agree after every step.
      for (const std::string& n : names) {
        TimeMs t = now + pick(100);
        CHECK(results::kv_get(sm.query(queries::kv_get(n, t))) == model.kv_get(n, t));
        CHECK(results::queue_status(sm.query(queries::queue_status(n, t))) == model.status(n, t));
        CHECK(results::hash_get_all(sm.query(queries::hash_get_all(n))) == model.hashes[n]);
        CHECK(results::counter_get(sm.query(queries::counter_get(n))) == model.counters[n]);
      }
      CHECK(sm.machine.clock_ms() == model.clock);
    }
  }
}
