#pragma once
// The deterministic Raft core: the Raft paper's Figure 2 (plus pre-vote,
// check quorum, ReadIndex and snapshots from Ongaro's thesis) as a pure state
// machine, in the style of etcd's raft package. No threads, no clocks, no I/O;
// the only randomness is a generator seeded from RaftConfig::seed, used for
// the randomized election timeout. The actor shell (and the deterministic
// simulation in tests/sim) drives it.
//
// Inputs
//   tick()            one unit of logical time (the shell's timer);
//   step(message)     a message from a peer;
//   propose(data)     a client command (leader only, else says who leads);
//   read_index(ctx)   a linearizable read barrier (see "Reads" below);
//   compact(i, data)  the driver took a snapshot of its state machine at i.
// Outputs: ready(), then advance() once the driver has done what it says.
//
// THE READY CONTRACT. For each Ready, in this order:
//   1. persist, durably (fsync) and preferably as one atomic batch:
//        - snapshot, if set: store it and drop every stored entry;
//        - truncate_from, if non-zero: delete stored entries >= it;
//        - entries: append them (they start right after the stored log);
//        - hard_state, if set.
//      `must_sync` says whether an fsync is required (a commit-index-only
//      change is not: it is recomputed after a restart).
//   2. send `messages`. Never before step 1 is durable: a vote or an
//      acknowledgement of entries is a promise that survives a crash
//      (paper, Figure 2: "respond to RPCs only after updating stable
//      storage").
//   3. apply: restore the state machine from `snapshot` if set, then apply
//      `committed_entries` in order; serve `read_states` whose index is
//      <= the applied index. Without a snapshot, this may happen as soon
//      as step 1 starts: committed entries are durable on a majority
//      whatever this node's own write. Steps 2 and 3 may come in either
//      order once step 1 is durable.
//   4. call advance().
// Readies are processed one at a time, in order. Between ready() and
// advance() the shell may keep calling step/tick/propose (for instance while
// an asynchronous fsync runs); what they produce goes into the next Ready,
// except what take_messages_before_persist() and
// take_committed_before_persist() hand out early.
//
// Proposals: propose() returns the (index, term) the command will have if it
// commits. The shell acknowledges a proposal when it applies the entry at
// that index AND the entry's term is the returned term; a different term
// means a new leader overwrote it (the proposal failed and may be retried).
// On a non-leader propose() says who the leader is (0 when unknown) so the
// shell can forward the command; the core itself never forwards proposals.
//
// Reads (thesis §6.4, ReadIndex). A lease would depend on bounded clock
// drift; ReadIndex needs nothing but messages, so we use it. The leader:
//   1. waits until it has committed an entry of its own term (the Noop it
//      appends on election), so that its commit index is the cluster's;
//   2. records its commit index as the read index;
//   3. confirms it is still leader: a heartbeat round carrying a sequence
//      number, answered by a quorum;
//   4. emits ReadState{context, read index}; the shell serves the read once
//      its state machine has applied that index.
// A follower forwards read_index to the leader (MessageType::ReadIndex) and
// gets the read index back (ReadIndexResponse), then waits to apply it
// locally, so reads can be served on any node. Requests in flight when
// leadership changes are dropped: the shell's deadline turns them into
// errors.
//
// Elections: randomized timeout in [election_ticks, 2 * election_ticks).
// With pre_vote (thesis §9.6) a node first asks whether it could win without
// raising its term, so a node rejoining after a partition cannot depose a
// healthy leader. With check_quorum, a node that heard from a leader within
// the election timeout ignores (pre-)vote requests (leader stickiness), and a
// leader that has not heard from a quorum within an election timeout steps
// down so that clients get "not leader" instead of hanging.
//
// Snapshots: the driver calls compact(upto, data) after it applied `upto`;
// the core forgets entries up to it and keeps `data` to send. A follower
// that needs compacted entries receives the whole snapshot in one
// InstallSnapshot message (no chunking: our state machine snapshots are
// small next to the transport's message limit), restores it, and reports it
// in Ready::snapshot.
//
// Membership is static: the voters come from the configuration (node ids
// 1..N, never 0). No joint consensus.
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "store/raft_core_log.hpp"
#include "store/raft_core_progress.hpp"
#include "store/raft_types.hpp"

namespace slimfaas::store {

struct RaftConfig {
  NodeId id = 0;
  std::vector<NodeId> voters;  // every voter, this node included
  int election_ticks = 10;     // election timeout: [election_ticks, 2 * election_ticks)
  int heartbeat_ticks = 1;     // < election_ticks
  std::uint64_t seed = 0;      // randomized election timeouts
  bool pre_vote = true;
  bool check_quorum = true;
  std::size_t max_entries_per_append = 256;
  std::size_t max_bytes_per_append = 1 << 20;
  // While a follower has entries unanswered, new entries adding up to fewer
  // bytes than this wait for its answer and then leave with whatever came
  // meanwhile; more leave at once. A follower pays for every append it gets
  // (a log write, an fsync, a few wake-ups), so under load small appends
  // cost it that per few calls; large ones are worth sending without
  // waiting a round trip. An idle follower gets every entry at once. 0:
  // every batch leaves at once (see docs/slimdata.md, "Holding small
  // appends").
  std::size_t hold_append_bytes = 8 << 10;
};

// What the driver recovered from its durable store.
struct RecoveredState {
  HardState hard_state;
  std::optional<Snapshot> snapshot;
  std::vector<Entry> entries;  // contiguous, right after the snapshot (or from index 1)
};

enum class MessageType : std::uint8_t {
  PreVote,            // term = candidate's term + 1 (not adopted), index/log_term = its last entry
  PreVoteResponse,    // reject; term = the pre-vote's term when granted, the voter's when rejected
  Vote,               // RequestVote: index/log_term = candidate's last entry
  VoteResponse,       // reject
  Append,             // AppendEntries: index/log_term = previous entry, entries, commit
  AppendResponse,     // success: index = last index now known to match;
                      // reject: index = the rejected previous index, reject_hint and log_term below
  Heartbeat,          // commit = min(follower's match, leader's commit), context = read sequence
  HeartbeatResponse,  // context echoed
  InstallSnapshot,    // snapshot (whole); answered by AppendResponse
  ReadIndex,          // follower -> leader: context = the follower's read context
  ReadIndexResponse,  // leader -> follower: context echoed, index = read index
};

std::string_view to_string(MessageType type);

// One message between peers; plain data so the transport can serialize it.
struct Message {
  MessageType type = MessageType::Append;
  NodeId from = 0;
  NodeId to = 0;
  Term term = 0;
  Term log_term = 0;
  Index index = 0;
  std::vector<Entry> entries;
  Index commit = 0;
  bool reject = false;
  // On a rejected AppendEntries (fast backtracking, thesis §5.3):
  //   log_term == 0: the follower's log is too short; reject_hint is its last index;
  //   log_term != 0: the follower's entry at the previous index has term
  //                  log_term, and reject_hint is the first index of that term.
  Index reject_hint = 0;
  Snapshot snapshot;
  std::uint64_t context = 0;

  friend bool operator==(const Message&, const Message&) = default;
};

// Whether a message may leave before the Ready that produced it (or the
// one outstanding) is durable: it promises nothing about stable storage. A
// vote, or an acknowledgement of entries, must wait for the fsync (Figure 2:
// "respond to RPCs only after updating stable storage"); a leader's appends
// and heartbeats need not (thesis §10.2.1: the leader writes its log in
// parallel with replicating it, and counts itself only once durable).
constexpr bool may_send_before_persist(const Message& m) {
  return m.type != MessageType::Vote && m.type != MessageType::VoteResponse && m.type != MessageType::AppendResponse;
}

// A read may be served once the state machine applied `index`.
struct ReadState {
  std::uint64_t context = 0;
  Index index = 0;

  friend bool operator==(const ReadState&, const ReadState&) = default;
};

struct Ready {
  std::optional<HardState> hard_state;  // set when it changed
  std::optional<Snapshot> snapshot;     // received from the leader: persist, then restore
  Index truncate_from = 0;              // non-zero: delete stored entries >= it first
  std::vector<Entry> entries;           // to persist, contiguous
  std::vector<Message> messages;        // to send after persisting
  std::vector<Entry> committed_entries; // to apply, in order
  std::vector<ReadState> read_states;
  bool must_sync = false;
};

enum class Role : std::uint8_t { Follower, PreCandidate, Candidate, Leader };
std::string_view to_string(Role role);

struct ProposeResult {
  Index index = 0;   // 0: not accepted (not the leader)
  Term term = 0;
  NodeId leader = 0; // who leads, as far as this node knows (0: unknown)
  bool accepted() const { return index != 0; }
};

struct ReadIndexResult {
  bool accepted = false;  // false: no leader known; retry later or elsewhere
  NodeId leader = 0;
};

struct PeerStatus {
  NodeId id = 0;
  Index match = 0;
  Index next = 0;
  PeerProgress::State state = PeerProgress::State::Probe;
  bool recent_active = false;
};

struct Status {
  NodeId id = 0;
  Role role = Role::Follower;
  Term term = 0;
  NodeId vote = 0;
  NodeId leader = 0;
  Index commit = 0;
  Index applied = 0;
  Index snapshot_index = 0;
  Index last_index = 0;
  std::vector<PeerStatus> peers;  // filled on the leader only
};

class RaftCore {
 public:
  // Throws std::invalid_argument on a bad configuration and std::logic_error
  // on an inconsistent recovered state.
  explicit RaftCore(RaftConfig config, RecoveredState recovered = {});

  void tick();
  void step(const Message& message);
  ProposeResult propose(std::string data);
  ReadIndexResult read_index(std::uint64_t context);
  // Starts an election now (as if the election timer expired). For tests
  // and for an explicitly allowed single-node cold start.
  void campaign();

  bool has_ready() const;
  // At most one Ready is outstanding: call advance() before the next ready().
  Ready ready();
  void advance();
  // While a Ready is outstanding (its write running): the messages produced
  // since that may leave now (may_send_before_persist), appends for the
  // entries proposed since included; the others stay for the next Ready.
  // Lets a leader replicate new entries while its own write runs.
  std::vector<Message> take_messages_before_persist();
  // While a Ready is outstanding: the entries committed since it was built,
  // to apply now (committed means durable on a majority, whatever this
  // node's own write), up to the last entry of that write (what is applied
  // may be compacted after advance(), so it must be in the store by then).
  // Only once the outstanding Ready's own committed entries and snapshot
  // are applied, to keep the order; the next Ready's committed entries
  // start after these. Empty when no Ready is outstanding (the next ready()
  // hands them out) or a received snapshot waits.
  std::vector<Entry> take_committed_before_persist();

  // The driver applied up to `upto` (<= applied) and serialized its state
  // machine into `data`: forget entries up to `upto`, keep `data` to send to
  // followers that need it. The driver stores the snapshot and deletes its
  // own entries up to `upto`. Returns the snapshot now held.
  const Snapshot& compact(Index upto, std::string data);

  Status status() const;
  NodeId id() const { return config_.id; }
  Role role() const { return role_; }
  Term term() const { return term_; }
  NodeId leader() const { return leader_; }
  Index applied() const { return applied_; }
  const RaftCoreLog& log() const { return log_; }
  const Snapshot& snapshot() const { return snapshot_; }

 private:
  // --- Role transitions (paper §5.2; pre-candidate: thesis §9.6) ---
  void reset(Term term);
  void become_follower(Term term, NodeId leader);
  void become_pre_candidate();
  void become_candidate();
  void become_leader();
  void start_election(bool pre_vote);
  void handle_vote_response(const Message& message);

  // --- Messages by role ---
  bool check_term(const Message& message);
  void handle_vote_request(const Message& message);
  void step_leader(const Message& message);
  void step_candidate(const Message& message);
  void step_follower(const Message& message);

  // --- Log replication (paper §5.3, Figure 2 AppendEntries) ---
  void handle_append(const Message& message);
  void handle_heartbeat(const Message& message);
  void handle_install_snapshot(const Message& message);
  void handle_append_response(const Message& message);
  void handle_heartbeat_response(const Message& message);
  bool send_append(NodeId peer, bool send_if_empty);
  bool holds_back(const PeerProgress& progress) const;
  void flush_pending_appends();
  void broadcast_append();
  void send_commit(NodeId peer);
  void broadcast_commit();
  // read_sequence 0 (a plain tick): not to followers that got an append
  // since the last round; a ReadIndex round goes to all.
  void broadcast_heartbeat(std::uint64_t read_sequence);
  Index self_match() const;
  bool maybe_commit();
  bool committed_in_current_term() const;
  bool quorum_active() const;

  // --- Reads (thesis §6.4) ---
  struct PendingRead {
    std::uint64_t sequence = 0;
    std::uint64_t context = 0;
    NodeId from = 0;  // who asked: this node or a follower
    Index index = 0;
    std::set<NodeId> acks;
  };
  void leader_read(NodeId from, std::uint64_t context);
  void register_read(NodeId from, std::uint64_t context);
  void acknowledge_reads(NodeId peer, std::uint64_t sequence);
  void release_read(const PendingRead& read);

  // --- Timers ---
  void tick_election();
  void tick_heartbeat();
  void reset_randomized_election_timeout();
  bool in_leader_lease() const;

  void send(Message message);
  HardState hard_state() const { return HardState{term_, vote_, log_.commit()}; }
  std::size_t quorum() const { return config_.voters.size() / 2 + 1; }

  RaftConfig config_;
  std::mt19937_64 random_;

  // Persistent state (Figure 2), durable through Ready::hard_state.
  Term term_ = 0;
  NodeId vote_ = 0;
  RaftCoreLog log_;
  Snapshot snapshot_;  // the latest snapshot (ours or received), to send

  // Volatile state.
  Role role_ = Role::Follower;
  NodeId leader_ = 0;
  Index applied_ = 0;  // applied by the driver (advanced)
  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  int randomized_election_timeout_ = 0;
  VoteTally votes_;

  // Volatile state on leaders.
  std::map<NodeId, PeerProgress> progress_;  // peers only, not this node
  std::uint64_t read_sequence_ = 0;
  std::deque<PendingRead> pending_reads_;
  std::vector<std::pair<NodeId, std::uint64_t>> reads_awaiting_term_commit_;

  // Ready bookkeeping.
  std::vector<Message> outbox_;
  // Proposals since the last appends were built: one append per peer then
  // carries all of them (built by ready() or take_messages_before_persist).
  bool appends_pending_ = false;
  std::vector<ReadState> read_states_;
  std::optional<Snapshot> received_snapshot_;  // restored, not handed out yet
  HardState handed_hard_state_;                // last hard state handed out
  Index handed_applied_ = 0;                   // last index handed out to apply
  bool ready_outstanding_ = false;
  Index outstanding_applied_ = 0;              // applied once the outstanding Ready is
};

}  // namespace slimfaas::store
