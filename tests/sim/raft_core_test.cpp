// Transitions of the Raft core (store/raft_core), driven by hand: a tiny
// synchronous network where the test decides which links are cut.
#include <catch2/catch.hpp>

#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "store/raft_core.hpp"

namespace {

using namespace slimfaas::store;

// `hold_append_bytes`: the core's default unless a test says otherwise.
RaftConfig config_for(NodeId id, std::vector<NodeId> voters,
                      std::size_t hold_append_bytes = RaftConfig{}.hold_append_bytes) {
  RaftConfig config;
  config.hold_append_bytes = hold_append_bytes;
  config.id = id;
  config.voters = std::move(voters);
  config.election_ticks = 10;
  config.heartbeat_ticks = 1;
  config.seed = id * 7919;
  return config;
}

std::vector<Entry> entries_with_terms(const std::vector<Term>& terms, Index first = 1) {
  std::vector<Entry> entries;
  for (std::size_t i = 0; i < terms.size(); ++i) entries.push_back(Entry{terms[i], first + i, Entry::Kind::Command, "e"});
  return entries;
}

// Cores 1..n; every Ready is "persisted", its messages queued, its committed
// entries recorded, then advanced.
struct TestCluster {
  std::map<NodeId, std::unique_ptr<RaftCore>> cores;
  std::deque<Message> in_flight;
  std::set<std::pair<NodeId, NodeId>> cut;
  std::map<NodeId, std::vector<Entry>> applied;
  std::map<NodeId, std::vector<ReadState>> reads;
  std::map<NodeId, std::vector<Ready>> readies;
  std::vector<Message> delivered;

  explicit TestCluster(std::size_t nodes, std::map<NodeId, RecoveredState> recovered = {},
                       std::size_t hold_append_bytes = RaftConfig{}.hold_append_bytes) {
    std::vector<NodeId> voters;
    for (NodeId id = 1; id <= nodes; ++id) voters.push_back(id);
    for (NodeId id : voters)
      cores[id] = std::make_unique<RaftCore>(config_for(id, voters, hold_append_bytes), recovered[id]);
    for (NodeId id : voters) drain(id);
  }

  RaftCore& operator[](NodeId id) { return *cores.at(id); }

  void drain(NodeId id) {
    RaftCore& core = *cores.at(id);
    while (core.has_ready()) {
      Ready ready = core.ready();
      for (auto& message : ready.messages) in_flight.push_back(message);
      for (auto& entry : ready.committed_entries) applied[id].push_back(entry);
      for (auto& read : ready.read_states) reads[id].push_back(read);
      readies[id].push_back(std::move(ready));
      core.advance();
    }
  }

  void isolate(NodeId id) {
    for (auto& [other, core] : cores) {
      if (other == id) continue;
      cut.insert({id, other});
      cut.insert({other, id});
    }
  }
  void heal() { cut.clear(); }

  void deliver_all() {
    for (int guard = 0; guard < 100000 && !in_flight.empty(); ++guard) {
      Message message = in_flight.front();
      in_flight.pop_front();
      if (cut.contains({message.from, message.to})) continue;
      delivered.push_back(message);
      cores.at(message.to)->step(message);
      drain(message.to);
    }
  }

  void tick(NodeId id, int times = 1) {
    for (int i = 0; i < times; ++i) {
      cores.at(id)->tick();
      drain(id);
    }
  }

  // Ticks everyone (heartbeats), delivering after each round.
  void run(int rounds) {
    for (int i = 0; i < rounds; ++i) {
      for (auto& [id, core] : cores) tick(id);
      deliver_all();
    }
  }

  void elect(NodeId id) {
    cores.at(id)->campaign();
    drain(id);
    deliver_all();
  }

  int count_delivered(MessageType type, NodeId from, bool reject) const {
    int count = 0;
    for (const auto& message : delivered) count += message.type == type && message.from == from && message.reject == reject;
    return count;
  }
};

}  // namespace

TEST_CASE("a campaign with pre-vote elects a leader and commits its noop everywhere", "[raft]") {
  TestCluster cluster(3);
  cluster.elect(1);
  REQUIRE(cluster[1].role() == Role::Leader);
  CHECK(cluster[1].term() == 1);
  cluster.run(1);
  for (NodeId id : {1, 2, 3}) {
    CHECK(cluster[id].leader() == 1);
    CHECK(cluster[id].log().commit() == 1);
    REQUIRE(cluster.applied[id].size() == 1);
    CHECK(cluster.applied[id][0].kind == Entry::Kind::Noop);
  }
}

TEST_CASE("the randomized election timeout lies between election_ticks and twice that", "[raft]") {
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    auto config = config_for(1, {1, 2, 3});
    config.seed = seed;
    RaftCore core(config);
    int ticks = 0;
    while (core.role() == Role::Follower && ticks < 100) {
      core.tick();
      ++ticks;
    }
    CHECK(core.role() == Role::PreCandidate);
    CHECK(ticks >= 10);
    CHECK(ticks < 20);
  }
}

TEST_CASE("a vote is in the same ready as the hard state that records it", "[raft]") {
  TestCluster cluster(3);
  cluster[1].campaign();
  cluster.drain(1);
  cluster.deliver_all();
  // Node 2 granted a pre-vote (nothing durable) and then a vote.
  bool found = false;
  for (const Ready& ready : cluster.readies[2]) {
    for (const Message& message : ready.messages) {
      if (message.type == MessageType::VoteResponse && !message.reject) {
        REQUIRE(ready.hard_state.has_value());
        CHECK(ready.hard_state->vote == 1);
        CHECK(ready.hard_state->term == 1);
        CHECK(ready.must_sync);
        found = true;
      }
    }
  }
  CHECK(found);
}

TEST_CASE("pre-vote keeps a rejoining node from deposing a healthy leader", "[raft]") {
  TestCluster cluster(3);
  cluster.elect(1);
  cluster.run(1);
  cluster.isolate(3);
  for (int i = 0; i < 100; ++i) {
    cluster.run(1);
  }
  // Node 3 tried pre-elections but never raised its term.
  CHECK(cluster[3].term() == 1);
  CHECK(cluster[3].role() != Role::Leader);
  cluster.heal();
  cluster.run(3);
  CHECK(cluster[1].role() == Role::Leader);
  CHECK(cluster[1].term() == 1);
  CHECK(cluster[3].leader() == 1);
}

TEST_CASE("followers that hear from a leader ignore vote requests of a higher term", "[raft]") {
  TestCluster cluster(3);
  cluster.elect(1);
  cluster.run(1);
  Message vote;
  vote.type = MessageType::Vote;
  vote.from = 3;
  vote.to = 2;
  vote.term = 5;
  vote.index = cluster[2].log().last_index();
  vote.log_term = cluster[2].log().last_term();
  cluster[2].step(vote);
  CHECK(cluster[2].term() == 1);
  CHECK_FALSE(cluster[2].has_ready());
}

TEST_CASE("fast backtracking skips a whole conflicting term in one round trip", "[raft]") {
  // Node 2 holds a long tail of term 2 that the leader never had.
  std::map<NodeId, RecoveredState> recovered;
  recovered[1] = RecoveredState{HardState{3, 0, 2}, std::nullopt, entries_with_terms({1, 1, 3, 3, 3, 3, 3, 3})};
  recovered[2] = RecoveredState{HardState{3, 0, 2}, std::nullopt, entries_with_terms({1, 1, 2, 2, 2, 2, 2, 2, 2, 2})};
  recovered[3] = RecoveredState{HardState{3, 0, 2}, std::nullopt, entries_with_terms({1, 1, 3, 3, 3, 3, 3, 3})};
  TestCluster cluster(3, recovered);
  cluster.elect(1);
  REQUIRE(cluster[1].role() == Role::Leader);
  cluster.run(2);
  CHECK(cluster.count_delivered(MessageType::AppendResponse, 2, true) == 1);
  REQUIRE(cluster[2].log().last_index() == 9);
  for (Index i = 1; i <= 9; ++i) CHECK(cluster[2].log().term_at(i) == cluster[1].log().term_at(i));
  CHECK(cluster[2].log().commit() == 9);
}

TEST_CASE("a follower with a short log hints its last index", "[raft]") {
  std::map<NodeId, RecoveredState> recovered;
  recovered[1] = RecoveredState{HardState{3, 0, 1}, std::nullopt, entries_with_terms({1, 3, 3, 3, 3, 3})};
  recovered[2] = RecoveredState{HardState{3, 0, 1}, std::nullopt, entries_with_terms({1})};
  recovered[3] = RecoveredState{HardState{3, 0, 1}, std::nullopt, entries_with_terms({1, 3, 3, 3, 3, 3})};
  TestCluster cluster(3, recovered);
  cluster.elect(1);
  cluster.run(2);
  CHECK(cluster.count_delivered(MessageType::AppendResponse, 2, true) == 1);
  CHECK(cluster[2].log().last_index() == 7);
}

TEST_CASE("a leader commits an earlier term's entry only with one of its own", "[raft]") {
  // Figure 8: node 1 holds index 2 from term 2, replicated nowhere else.
  std::map<NodeId, RecoveredState> recovered;
  recovered[1] = RecoveredState{HardState{3, 0, 1}, std::nullopt, entries_with_terms({1, 2})};
  recovered[2] = RecoveredState{HardState{3, 0, 1}, std::nullopt, entries_with_terms({1})};
  recovered[3] = RecoveredState{HardState{3, 0, 1}, std::nullopt, entries_with_terms({1})};
  TestCluster cluster(3, recovered);
  cluster.isolate(1);
  cluster[1].campaign();
  cluster.drain(1);
  cluster.in_flight.clear();
  // Hand the votes to node 1 directly, then the acknowledgements.
  for (NodeId voter : {2, 3}) {
    Message grant;
    grant.type = MessageType::PreVoteResponse;
    grant.from = voter;
    grant.to = 1;
    grant.term = 4;
    cluster[1].step(grant);
  }
  cluster.drain(1);
  Message vote;
  vote.type = MessageType::VoteResponse;
  vote.from = 2;
  vote.to = 1;
  vote.term = 4;
  cluster[1].step(vote);
  cluster.drain(1);
  REQUIRE(cluster[1].role() == Role::Leader);
  REQUIRE(cluster[1].log().last_index() == 3);  // the Noop of term 4
  Message ack;
  ack.type = MessageType::AppendResponse;
  ack.from = 2;
  ack.to = 1;
  ack.term = 4;
  ack.index = 2;  // node 2 now holds the term-2 entry: a majority has it
  cluster[1].step(ack);
  cluster.drain(1);
  CHECK(cluster[1].log().commit() == 1);
  ack.index = 3;  // and now the Noop of term 4
  cluster[1].step(ack);
  cluster.drain(1);
  CHECK(cluster[1].log().commit() == 3);
}

TEST_CASE("ReadIndex on the leader waits for a quorum heartbeat round", "[raft]") {
  TestCluster cluster(3);
  cluster.elect(1);
  cluster.run(1);
  const Index commit = cluster[1].log().commit();
  REQUIRE(cluster[1].read_index(42).accepted);
  cluster.drain(1);
  CHECK(cluster.reads[1].empty());
  cluster.deliver_all();
  REQUIRE(cluster.reads[1].size() == 1);
  CHECK(cluster.reads[1][0] == ReadState{42, commit});
}

TEST_CASE("ReadIndex on a follower is forwarded and answered with the leader's index", "[raft]") {
  TestCluster cluster(3);
  cluster.elect(1);
  cluster.run(1);
  REQUIRE(cluster[2].read_index(7).accepted);
  cluster.drain(2);
  cluster.deliver_all();
  REQUIRE(cluster.reads[2].size() == 1);
  CHECK(cluster.reads[2][0] == ReadState{7, cluster[1].log().commit()});
}

TEST_CASE("ReadIndex on a leader cut off from the quorum never answers", "[raft]") {
  TestCluster cluster(3);
  cluster.elect(1);
  cluster.run(1);
  cluster.isolate(1);
  REQUIRE(cluster[1].read_index(9).accepted);
  cluster.drain(1);
  cluster.deliver_all();
  cluster.tick(1, 3);
  cluster.deliver_all();
  CHECK(cluster.reads[1].empty());
}

TEST_CASE("a new leader answers reads only after committing in its term", "[raft]") {
  TestCluster cluster(3);
  cluster[1].campaign();
  cluster.drain(1);
  // Deliver only the (pre-)votes: node 1 becomes leader but its Noop is not acknowledged yet.
  while (cluster[1].role() != Role::Leader) {
    Message message = cluster.in_flight.front();
    cluster.in_flight.pop_front();
    cluster.cores.at(message.to)->step(message);
    cluster.drain(message.to);
  }
  cluster.in_flight.clear();
  REQUIRE(cluster[1].log().commit() == 0);
  cluster[1].read_index(5);
  cluster.drain(1);
  cluster.tick(1);  // heartbeats
  cluster.deliver_all();
  cluster.run(2);
  REQUIRE(cluster.reads[1].size() == 1);
  CHECK(cluster.reads[1][0].index == 1);  // the Noop, committed before the read was answered
}

TEST_CASE("a proposal to a follower names the leader", "[raft]") {
  TestCluster cluster(3);
  auto before = cluster[2].propose("x");
  CHECK_FALSE(before.accepted());
  CHECK(before.leader == 0);
  cluster.elect(1);
  cluster.run(1);
  auto after = cluster[2].propose("x");
  CHECK_FALSE(after.accepted());
  CHECK(after.leader == 1);
  auto on_leader = cluster[1].propose("x");
  CHECK(on_leader.accepted());
  CHECK(on_leader.index == 2);
  CHECK(on_leader.term == 1);
}

TEST_CASE("a leader that loses its quorum steps down within an election timeout", "[raft]") {
  TestCluster cluster(3);
  cluster.elect(1);
  cluster.run(1);
  cluster.isolate(1);
  for (int i = 0; i < 20 && cluster[1].role() == Role::Leader; ++i) cluster.run(1);
  CHECK(cluster[1].role() == Role::Follower);
  auto proposal = cluster[1].propose("late");
  CHECK_FALSE(proposal.accepted());
}

TEST_CASE("a lagging follower catches up through InstallSnapshot", "[raft]") {
  TestCluster cluster(3);
  cluster.elect(1);
  cluster.run(1);
  cluster.isolate(3);
  for (int i = 0; i < 10; ++i) cluster[1].propose("p" + std::to_string(i));
  cluster.drain(1);
  cluster.deliver_all();
  cluster.run(1);
  const Index applied = cluster[1].applied();
  REQUIRE(applied == 11);
  cluster[1].compact(applied, "state at 11");
  CHECK(cluster[1].log().snapshot_index() == 11);
  cluster.heal();
  cluster.run(3);
  bool installed = false;
  for (const Ready& ready : cluster.readies[3]) {
    if (ready.snapshot) {
      installed = true;
      CHECK(ready.snapshot->meta.index == 11);
      CHECK(ready.snapshot->data == "state at 11");
      CHECK(ready.must_sync);
    }
  }
  CHECK(installed);
  CHECK(cluster[3].log().snapshot_index() == 11);
  CHECK(cluster[3].log().commit() == 11);
  CHECK(cluster[3].applied() == 11);
  cluster[1].propose("after");
  cluster.drain(1);
  cluster.deliver_all();
  cluster.run(1);
  CHECK(cluster[3].applied() == 12);
  REQUIRE_FALSE(cluster.applied[3].empty());
  CHECK(cluster.applied[3].back().data == "after");
}

TEST_CASE("a restarted core resumes from its hard state snapshot and entries", "[raft]") {
  RecoveredState recovered;
  recovered.hard_state = HardState{5, 2, 3};
  recovered.snapshot = Snapshot{SnapshotMeta{2, 4, {1, 2, 3}}, "state at 2"};
  recovered.entries = entries_with_terms({4, 5, 5}, 3);
  RaftCore core(config_for(1, {1, 2, 3}), recovered);
  const Status status = core.status();
  CHECK(status.role == Role::Follower);
  CHECK(status.term == 5);
  CHECK(status.vote == 2);
  CHECK(status.commit == 3);
  CHECK(status.applied == 2);
  CHECK(status.snapshot_index == 2);
  CHECK(status.last_index == 5);
  REQUIRE(core.has_ready());
  Ready ready = core.ready();
  CHECK_FALSE(ready.hard_state.has_value());
  CHECK(ready.entries.empty());
  CHECK_FALSE(ready.snapshot.has_value());
  REQUIRE(ready.committed_entries.size() == 1);
  CHECK(ready.committed_entries[0].index == 3);
  core.advance();
  CHECK(core.applied() == 3);
  // The vote survives: node 3 asking for the same term is refused.
  Message vote;
  vote.type = MessageType::Vote;
  vote.from = 3;
  vote.to = 1;
  vote.term = 5;
  vote.index = 10;
  vote.log_term = 5;
  core.step(vote);
  Ready answer = core.ready();
  REQUIRE(answer.messages.size() == 1);
  CHECK(answer.messages[0].reject);
}

TEST_CASE("a conflicting tail is truncated in the next ready", "[raft]") {
  RecoveredState recovered;
  recovered.hard_state = HardState{2, 0, 1};
  recovered.entries = entries_with_terms({1, 2, 2});
  RaftCore core(config_for(2, {1, 2, 3}), recovered);
  Message append;
  append.type = MessageType::Append;
  append.from = 1;
  append.to = 2;
  append.term = 3;
  append.index = 1;
  append.log_term = 1;
  append.entries = entries_with_terms({3}, 2);
  append.commit = 1;
  core.step(append);
  Ready ready = core.ready();
  CHECK(ready.truncate_from == 2);
  REQUIRE(ready.entries.size() == 1);
  CHECK(ready.entries[0].index == 2);
  CHECK(ready.entries[0].term == 3);
  CHECK(core.log().last_index() == 2);
  core.advance();
}

TEST_CASE("a single voter leads and commits alone", "[raft]") {
  RaftCore core(config_for(1, {1}));
  core.campaign();
  REQUIRE(core.role() == Role::Leader);
  auto proposal = core.propose("solo");
  REQUIRE(proposal.accepted());
  std::vector<Entry> applied;
  for (int i = 0; i < 3 && core.has_ready(); ++i) {
    Ready ready = core.ready();
    applied.insert(applied.end(), ready.committed_entries.begin(), ready.committed_entries.end());
    core.advance();
  }
  REQUIRE(applied.size() == 2);
  CHECK(applied[1].data == "solo");
  core.read_index(3);
  Ready ready = core.ready();
  REQUIRE(ready.read_states.size() == 1);
  CHECK(ready.read_states[0] == ReadState{3, 2});
  core.advance();
}

TEST_CASE("a follower never commits past the last entry the leader vouched for", "[raft]") {
  // Indices 3 and 4 are a stale tail of term 2; the leader of term 3 only
  // vouches for index 2 in this message (Figure 2: min(leaderCommit, index of
  // last new entry)).
  RecoveredState recovered;
  recovered.hard_state = HardState{2, 0, 1};
  recovered.entries = entries_with_terms({1, 1, 2, 2});
  RaftCore core(config_for(2, {1, 2, 3}), recovered);
  Message append;
  append.type = MessageType::Append;
  append.from = 1;
  append.to = 2;
  append.term = 3;
  append.index = 2;
  append.log_term = 1;
  append.commit = 4;
  core.step(append);
  CHECK(core.log().commit() == 2);
  CHECK(core.log().last_index() == 4);
}

TEST_CASE("proposals made together share one append per peer", "[raft]") {
  TestCluster cluster(3);
  cluster.elect(1);
  REQUIRE(cluster[1].role() == Role::Leader);
  cluster.delivered.clear();
  for (int i = 0; i < 5; ++i) REQUIRE(cluster[1].propose("p" + std::to_string(i)).accepted());
  Ready ready = cluster[1].ready();
  std::map<NodeId, int> appends;
  for (const auto& m : ready.messages)
    if (m.type == MessageType::Append) {
      ++appends[m.to];
      CHECK(m.entries.size() == 5);
    }
  CHECK(appends == std::map<NodeId, int>{{2, 1}, {3, 1}});
  cluster[1].advance();
}

TEST_CASE("a leader replicates new proposals while its own write runs, and acknowledgements wait", "[raft]") {
  // Every batch leaves at once here (hold_append_bytes 0): the followers
  // still have "first" unanswered when "second" and "third" come.
  TestCluster cluster(3, {}, 0);
  cluster.elect(1);
  REQUIRE(cluster[1].role() == Role::Leader);
  RaftCore& leader = cluster[1];
  REQUIRE(leader.propose("first").accepted());
  Ready writing = leader.ready();  // its write "runs": no advance() yet
  REQUIRE(writing.entries.size() == 1);

  // Proposed meanwhile: the appends may leave before the write ends.
  REQUIRE(leader.propose("second").accepted());
  REQUIRE(leader.propose("third").accepted());
  auto early = leader.take_messages_before_persist();
  std::map<NodeId, std::vector<std::string>> sent;
  for (const auto& m : early) {
    CHECK(may_send_before_persist(m));
    if (m.type == MessageType::Append)
      for (const auto& e : m.entries) sent[m.to].push_back(e.data.str());
  }
  CHECK(sent[2] == std::vector<std::string>{"second", "third"});
  CHECK(sent[3] == std::vector<std::string>{"second", "third"});
  CHECK(leader.take_messages_before_persist().empty());  // taken once

  // The followers write them and acknowledge; the leader commits through
  // them while its own write of "first" still runs... once "first" itself is
  // on the followers.
  for (auto& m : writing.messages) cluster.in_flight.push_back(m);
  for (auto& m : early) cluster.in_flight.push_back(m);
  // Deliver to the followers only (their Readies are drained, i.e. durable).
  std::vector<Message> to_leader;
  for (int guard = 0; guard < 1000 && !cluster.in_flight.empty(); ++guard) {
    Message m = cluster.in_flight.front();
    cluster.in_flight.pop_front();
    if (m.to == 1) {
      to_leader.push_back(m);
      continue;
    }
    cluster[m.to].step(m);
    cluster.drain(m.to);
  }
  for (const auto& m : to_leader) leader.step(m);
  CHECK(leader.log().commit() == leader.log().last_index());  // all three, committed by the followers

  // Committed meanwhile: "first" (in the running write) may be applied now;
  // "second" and "third" are in no write yet, so they wait for the next
  // Ready (what is applied may be compacted once the write is durable).
  REQUIRE(writing.committed_entries.empty());
  auto applied_now = leader.take_committed_before_persist();
  REQUIRE(applied_now.size() == 1);
  CHECK(applied_now[0].data == "first");
  CHECK(leader.take_committed_before_persist().empty());

  // A follower's acknowledgement is never an early message: on a follower
  // with a write running, it waits for the next Ready.
  RaftCore& follower = cluster[2];
  REQUIRE(leader.propose("fourth").accepted());
  for (auto& m : leader.take_messages_before_persist())
    if (m.to == 2) follower.step(m);
  Ready follower_writing = follower.ready();
  bool acknowledged_early = false;
  for (const auto& m : follower.take_messages_before_persist())
    acknowledged_early = acknowledged_early || m.type == MessageType::AppendResponse;
  for (const auto& m : follower_writing.messages)
    acknowledged_early = acknowledged_early || (m.type == MessageType::AppendResponse && may_send_before_persist(m));
  CHECK_FALSE(acknowledged_early);
  follower.advance();
  leader.advance();
  CHECK(leader.applied() == applied_now[0].index);
  Ready next = leader.ready();
  std::vector<std::string> committed;
  for (const auto& e : next.committed_entries) committed.push_back(e.data.str());
  CHECK(committed == std::vector<std::string>{"second", "third"});
  CHECK(leader.take_committed_before_persist().empty());  // nothing new since this Ready
  leader.advance();
}

TEST_CASE("a follower with entries in flight learns a new commit index with its next append, an idle one at once",
          "[raft]") {
  TestCluster cluster(3, {}, 0);  // small appends leave at once, so that two can be in flight
  cluster.elect(1);
  cluster.run(1);
  RaftCore& leader = cluster[1];
  // Two appends in flight to each follower ("a", then "b"), none answered.
  REQUIRE(leader.propose("a").accepted());
  cluster.drain(1);
  REQUIRE(leader.propose("b").accepted());
  cluster.drain(1);
  auto take = [&](auto matches) {
    for (auto it = cluster.in_flight.begin(); it != cluster.in_flight.end(); ++it) {
      if (!matches(*it)) continue;
      Message message = *it;
      cluster.in_flight.erase(it);
      return message;
    }
    FAIL("no such message in flight");
    return Message{};
  };
  cluster[2].step(take([](const Message& m) {
    return m.type == MessageType::Append && m.to == 2 && m.entries.size() == 1 && m.entries[0].data == "a";
  }));
  cluster.drain(2);
  const Index commit_before = leader.log().commit();
  leader.step(take([](const Message& m) { return m.type == MessageType::AppendResponse && m.from == 2; }));
  REQUIRE(leader.log().commit() == commit_before + 1);  // "a": the leader and follower 2
  const std::size_t queued = cluster.in_flight.size();
  cluster.drain(1);
  // Both followers have "b" in flight: their answers bring the leader back,
  // so an AppendEntries only for the commit index would be wasted.
  for (std::size_t i = queued; i < cluster.in_flight.size(); ++i)
    CHECK_FALSE((cluster.in_flight[i].type == MessageType::Append && cluster.in_flight[i].entries.empty()));

  // Once their answers are in, nothing is in flight: they are told the
  // commit index without waiting for a heartbeat (no tick here).
  cluster.deliver_all();
  REQUIRE(leader.log().commit() == leader.log().last_index());
  for (NodeId id : {2, 3}) {
    CHECK(cluster[id].log().commit() == leader.log().commit());
    CHECK(cluster.applied[id].size() == cluster.applied[1].size());
  }
}

namespace {

// The entries of the appends with entries queued for `to`, one vector per append.
std::vector<std::vector<std::string>> appends_to(const std::deque<Message>& queued, NodeId to) {
  std::vector<std::vector<std::string>> appends;
  for (const auto& m : queued) {
    if (m.type != MessageType::Append || m.to != to || m.entries.empty()) continue;
    appends.emplace_back();
    for (const auto& e : m.entries) appends.back().push_back(e.data.str());
  }
  return appends;
}

// Delivers the queued messages that `match`, in order; the others stay
// queued, ahead of what the deliveries caused.
template <class Match>
void deliver_where(TestCluster& cluster, Match match) {
  std::deque<Message> queued;
  queued.swap(cluster.in_flight);
  std::deque<Message> kept;
  for (auto& m : queued) {
    if (!match(m)) {
      kept.push_back(std::move(m));
      continue;
    }
    cluster[m.to].step(m);
    cluster.drain(m.to);
  }
  for (auto it = kept.rbegin(); it != kept.rend(); ++it) cluster.in_flight.push_front(std::move(*it));
}

void check_all_caught_up(TestCluster& cluster) {
  RaftCore& leader = cluster[1];
  REQUIRE(leader.log().commit() == leader.log().last_index());
  for (NodeId id : {2, 3}) {
    CHECK(cluster[id].log().last_index() == leader.log().last_index());
    CHECK(cluster[id].log().commit() == leader.log().commit());
    CHECK(cluster.applied[id].size() == cluster.applied[1].size());
  }
}

}  // namespace

TEST_CASE("small entries for a follower with an append unanswered wait for its answer, then leave together",
          "[raft]") {
  TestCluster cluster(3, {}, 64);  // appends under 64 bytes wait
  cluster.elect(1);
  cluster.run(1);
  REQUIRE(cluster.in_flight.empty());
  RaftCore& leader = cluster[1];
  using Appends = std::vector<std::vector<std::string>>;

  // Idle followers get an entry at once.
  REQUIRE(leader.propose("a").accepted());
  cluster.drain(1);
  CHECK(appends_to(cluster.in_flight, 2) == Appends{{"a"}});
  CHECK(appends_to(cluster.in_flight, 3) == Appends{{"a"}});

  // "a" is unanswered everywhere: "b" and "c" wait.
  REQUIRE(leader.propose("b").accepted());
  cluster.drain(1);
  REQUIRE(leader.propose("c").accepted());
  cluster.drain(1);
  CHECK(appends_to(cluster.in_flight, 2) == Appends{{"a"}});
  CHECK(appends_to(cluster.in_flight, 3) == Appends{{"a"}});

  // Follower 2 answers: both leave to it in one append. Follower 3, still
  // unanswered, keeps waiting.
  deliver_where(cluster, [](const Message& m) { return m.to == 2; });
  deliver_where(cluster, [](const Message& m) { return m.from == 2 && m.to == 1; });
  CHECK(appends_to(cluster.in_flight, 2) == Appends{{"b", "c"}});
  CHECK(appends_to(cluster.in_flight, 3) == Appends{{"a"}});

  // Entries worth the bytes leave at once, to both, with what waited.
  const std::string large(100, 'x');
  REQUIRE(leader.propose(large).accepted());
  cluster.drain(1);
  CHECK(appends_to(cluster.in_flight, 2) == Appends{{"b", "c"}, {large}});
  CHECK(appends_to(cluster.in_flight, 3) == Appends{{"a"}, {"b", "c", large}});

  cluster.deliver_all();
  check_all_caught_up(cluster);
}

TEST_CASE("an entry waiting for a lost append's answer still reaches the follower", "[raft]") {
  TestCluster cluster(3, {}, 64);
  cluster.elect(1);
  cluster.run(1);
  RaftCore& leader = cluster[1];
  REQUIRE(leader.propose("a").accepted());
  cluster.drain(1);
  // The append to follower 3 is lost: no answer will come for it.
  std::erase_if(cluster.in_flight, [](const Message& m) { return m.type == MessageType::Append && m.to == 3; });
  REQUIRE(leader.propose("b").accepted());
  cluster.drain(1);
  CHECK(appends_to(cluster.in_flight, 3).empty());  // "b" waits for the lost "a"
  cluster.deliver_all();
  CHECK(cluster[3].log().last_index() < leader.log().last_index());
  // Heartbeat answers without progress turn follower 3 to Probe, where
  // nothing waits: it gets both.
  cluster.run(5);
  check_all_caught_up(cluster);
}

namespace {

std::set<NodeId> heartbeats_to(const std::deque<Message>& queued) {
  std::set<NodeId> to;
  for (const auto& m : queued)
    if (m.type == MessageType::Heartbeat) to.insert(m.to);
  return to;
}

}  // namespace

TEST_CASE("a heartbeat tick skips the followers that got an append since the last tick", "[raft]") {
  TestCluster cluster(3);
  cluster.elect(1);
  cluster.run(2);
  RaftCore& leader = cluster[1];

  // A quiet tick: both followers get a heartbeat.
  cluster.tick(1);
  CHECK(heartbeats_to(cluster.in_flight) == std::set<NodeId>{2, 3});
  cluster.deliver_all();

  // An append to both since the last tick: that tick sends no heartbeat,
  // the append already reset their election timers and told the commit.
  REQUIRE(leader.propose("a").accepted());
  cluster.drain(1);
  cluster.deliver_all();
  cluster.in_flight.clear();
  cluster.tick(1);
  CHECK(heartbeats_to(cluster.in_flight).empty());
  // The next tick, with no append in between, sends them again.
  cluster.tick(1);
  CHECK(heartbeats_to(cluster.in_flight) == std::set<NodeId>{2, 3});
  cluster.deliver_all();

  // An append that reached one follower only (the other is probed and
  // paused): the heartbeat goes to the other.
  cluster.isolate(3);
  cluster.run(3);  // follower 3 misses the heartbeat answers' progress
  cluster.heal();
  cluster.deliver_all();
  cluster.in_flight.clear();
  REQUIRE(leader.propose("b").accepted());
  cluster.drain(1);
  std::set<NodeId> appended;
  for (const auto& m : cluster.in_flight)
    if (m.type == MessageType::Append) appended.insert(m.to);
  cluster.deliver_all();
  cluster.in_flight.clear();
  cluster.tick(1);
  std::set<NodeId> expected;
  for (NodeId id : {2, 3})
    if (!appended.contains(id)) expected.insert(id);
  CHECK(heartbeats_to(cluster.in_flight) == expected);
  cluster.deliver_all();
  cluster.run(3);
  check_all_caught_up(cluster);
}

TEST_CASE("reads waiting for a heartbeat round reach every follower, appends or not", "[raft]") {
  TestCluster cluster(3, {}, 0);  // nothing held: every proposal leaves at once
  cluster.elect(1);
  cluster.run(2);
  RaftCore& leader = cluster[1];
  REQUIRE(leader.propose("a").accepted());
  cluster.drain(1);
  cluster.in_flight.clear();  // the appends are lost: their answers will not confirm the read
  REQUIRE(leader.read_index(11).accepted);
  cluster.drain(1);
  CHECK(heartbeats_to(cluster.in_flight) == std::set<NodeId>{2, 3});  // the read's own round
  cluster.in_flight.clear();  // and that round is lost too
  REQUIRE(leader.propose("b").accepted());
  cluster.drain(1);
  CHECK(appends_to(cluster.in_flight, 2).size() == 1);
  CHECK(appends_to(cluster.in_flight, 3).size() == 1);
  cluster.in_flight.clear();
  // The tick's round carries the pending read: it goes to both followers
  // although both just got an append.
  cluster.tick(1);
  CHECK(heartbeats_to(cluster.in_flight) == std::set<NodeId>{2, 3});
  cluster.deliver_all();
  cluster.run(3);
  bool released = false;
  for (const auto& read : cluster.reads[1]) released = released || read.context == 11;
  CHECK(released);
  check_all_caught_up(cluster);
}
