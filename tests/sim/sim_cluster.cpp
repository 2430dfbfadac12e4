#include "tests/sim/sim_cluster.hpp"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

#include "store/raft_core.hpp"

namespace slimfaas::sim {

using store::Entry;
using store::HardState;
using store::Index;
using store::Message;
using store::NodeId;
using store::RaftConfig;
using store::RaftCore;
using store::Ready;
using store::RecoveredState;
using store::Role;
using store::Snapshot;
using store::Term;

namespace {

struct Violation : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// What survived on "disk": exactly what the Readies persisted.
struct DurableStore {
  HardState hard_state;
  std::optional<Snapshot> snapshot;
  std::vector<Entry> entries;  // contiguous after the snapshot

  Index last_index() const {
    if (!entries.empty()) return entries.back().index;
    return snapshot ? snapshot->meta.index : 0;
  }
};

// The replicated state machine: a hash chain over the applied commands, so
// two nodes that applied different entries at the same index disagree on
// the hash from then on, snapshots included.
struct StateMachine {
  Index index = 0;
  std::uint64_t hash = 0;

  std::string serialize() const { return std::to_string(index) + ":" + std::to_string(hash); }
  static StateMachine parse(const std::string& data) {
    StateMachine machine;
    const auto colon = data.find(':');
    machine.index = std::stoull(data.substr(0, colon));
    machine.hash = std::stoull(data.substr(colon + 1));
    return machine;
  }
};

std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::uint64_t fingerprint(std::string_view data) {
  std::uint64_t hash = 1469598103934665603ULL;  // FNV-1a: stable across runs and libraries
  for (unsigned char c : data) hash = (hash ^ c) * 1099511628211ULL;
  return hash;
}

struct Proposal {
  Term term = 0;
  std::string data;
};

struct PendingRead {
  NodeId node = 0;
  Index must_cover = 0;  // highest acknowledged index when the read was issued
};

struct SimNode {
  NodeId id = 0;
  bool alive = true;
  int incarnation = 0;
  DurableStore durable;
  std::unique_ptr<RaftCore> core;
  StateMachine machine;
  std::optional<Ready> taken;          // ready() called, not yet persisted
  std::map<Index, Proposal> proposals; // proposed here, outcome unknown
  // Signature of the log and role last checked, to skip unchanged nodes.
  std::tuple<Index, Index, Term, Index, Term, Role> checked{};
};

struct InFlight {
  std::uint64_t deliver_at = 0;
  std::uint64_t order = 0;  // random tie-break: reordering within a round
  Message message;
};

struct Faults {
  int drop_percent = 0;
  int duplicate_percent = 0;
  int max_delay = 0;
  int crash_per_mille = 0;
  int leader_crash_per_mille = 0;    // crash whoever leads: Figure 8 histories
  int leader_isolate_per_mille = 0;  // cut the leader off: stale leaders and reads
  int partition_per_mille = 0;
  int propose_percent = 0;
  int read_percent = 0;
  Index compact_every = 0;  // 0: never
  std::size_t max_entries_per_append = 8;
};

class Simulation {
 public:
  explicit Simulation(const SimOptions& options) : options_(options), random_(mix(options.seed)) {
    faults_.drop_percent = static_cast<int>(uniform(0, 20));
    faults_.duplicate_percent = static_cast<int>(uniform(0, 10));
    faults_.max_delay = static_cast<int>(uniform(0, 4));
    faults_.crash_per_mille = static_cast<int>(uniform(0, 15));
    faults_.leader_crash_per_mille = static_cast<int>(uniform(0, 20));
    faults_.leader_isolate_per_mille = static_cast<int>(uniform(0, 30));
    faults_.partition_per_mille = static_cast<int>(uniform(0, 25));
    faults_.propose_percent = static_cast<int>(uniform(20, 80));
    faults_.read_percent = static_cast<int>(uniform(0, 60));
    faults_.compact_every = uniform(0, 3) == 0 ? 0 : uniform(3, 25);
    faults_.max_entries_per_append = uniform(1, 8);
    for (int i = 1; i <= options_.nodes; ++i) voters_.push_back(static_cast<NodeId>(i));
    for (NodeId id : voters_) {
      SimNode node;
      node.id = id;
      nodes_.push_back(std::move(node));
    }
    for (auto& node : nodes_) start(node);
    trace("faults drop=" + std::to_string(faults_.drop_percent) + "% dup=" + std::to_string(faults_.duplicate_percent) +
          "% delay<=" + std::to_string(faults_.max_delay) + " crash=" + std::to_string(faults_.crash_per_mille) +
          "permille partition=" + std::to_string(faults_.partition_per_mille) +
          "permille compact_every=" + std::to_string(faults_.compact_every));
  }

  SimResult run() {
    SimResult result;
    try {
      for (int round = 0; round < options_.chaos_rounds; ++round) chaos_round();
      heal();
      converge();
      check_acknowledged_everywhere();
    } catch (const Violation& violation) {
      result.ok = false;
      result.failure = "round " + std::to_string(now_) + ": " + violation.what();
    } catch (const std::exception& error) {
      result.ok = false;
      result.failure = "round " + std::to_string(now_) + ": exception: " + error.what();
    }
    result.stats = stats_;
    result.stats.rounds = static_cast<int>(now_);
    return result;
  }

 private:
  // ---- randomness -------------------------------------------------------
  std::uint64_t uniform(std::uint64_t low, std::uint64_t high) {  // [low, high]
    return low + random_() % (high - low + 1);
  }
  bool chance_percent(int percent) { return static_cast<int>(random_() % 100) < percent; }
  bool chance_per_mille(int per_mille) { return static_cast<int>(random_() % 1000) < per_mille; }

  void trace(const std::string& line) {
    if (options_.trace) std::fprintf(stderr, "[sim %llu r%llu] %s\n", static_cast<unsigned long long>(options_.seed),
                                     static_cast<unsigned long long>(now_), line.c_str());
  }
  [[noreturn]] void violated(const std::string& what) { throw Violation(what); }

  SimNode& node(NodeId id) { return nodes_[id - 1]; }

  // ---- node lifecycle ---------------------------------------------------
  void start(SimNode& n) {
    RaftConfig config;
    config.id = n.id;
    config.voters = voters_;
    config.election_ticks = 10;
    config.heartbeat_ticks = 2;
    config.seed = mix(options_.seed * 1000003 + n.id * 101 + static_cast<std::uint64_t>(n.incarnation));
    config.max_entries_per_append = faults_.max_entries_per_append;  // small batches: more interleavings
    RecoveredState recovered{n.durable.hard_state, n.durable.snapshot, n.durable.entries};
    n.core = std::make_unique<RaftCore>(config, std::move(recovered));
    n.machine = n.durable.snapshot ? StateMachine::parse(n.durable.snapshot->data) : StateMachine{};
    n.alive = true;
    n.checked = {};
  }

  void crash(SimNode& n) {
    trace("crash n" + std::to_string(n.id) + (n.taken ? " (losing an unpersisted ready)" : ""));
    n.alive = false;
    n.core.reset();
    n.taken.reset();
    n.proposals.clear();
    n.machine = {};
    ++stats_.crashes;
  }

  void restart(SimNode& n) {
    ++n.incarnation;
    trace("restart n" + std::to_string(n.id) + " term=" + std::to_string(n.durable.hard_state.term) +
          " vote=" + std::to_string(n.durable.hard_state.vote) + " last=" + std::to_string(n.durable.last_index()));
    start(n);
  }

  // ---- network ------------------------------------------------------------
  bool connected(NodeId a, NodeId b) const { return partition_.empty() || partition_.at(a) == partition_.at(b); }

  void send(Message message) {
    if (chance_percent(faults_.drop_percent)) return;
    const int copies = chance_percent(faults_.duplicate_percent) ? 2 : 1;
    for (int i = 0; i < copies; ++i) {
      InFlight flight;
      flight.deliver_at = now_ + uniform(0, static_cast<std::uint64_t>(faults_.max_delay));
      flight.order = random_();
      flight.message = message;
      network_.push_back(std::move(flight));
    }
  }

  // Delivers everything due by now, including what the deliveries send
  // with no delay, in a random order.
  void deliver_due() {
    for (int batch = 0; batch < 50; ++batch) {
      std::vector<InFlight> due;
      auto split = std::partition(network_.begin(), network_.end(),
                                  [&](const InFlight& flight) { return flight.deliver_at > now_; });
      due.assign(std::make_move_iterator(split), std::make_move_iterator(network_.end()));
      network_.erase(split, network_.end());
      if (due.empty()) return;
      std::sort(due.begin(), due.end(), [](const InFlight& a, const InFlight& b) { return a.order < b.order; });
      for (auto& flight : due) {
        const Message& message = flight.message;
        SimNode& target = node(message.to);
        if (!target.alive || !connected(message.from, message.to)) continue;
        ++stats_.messages_delivered;
        if (options_.trace) {
          trace("deliver " + std::string(store::to_string(message.type)) + " n" + std::to_string(message.from) +
                "->n" + std::to_string(message.to) + " term=" + std::to_string(message.term) +
                " index=" + std::to_string(message.index) + " log_term=" + std::to_string(message.log_term) +
                " entries=" + std::to_string(message.entries.size()) + " commit=" + std::to_string(message.commit) +
                (message.reject ? " reject hint=" + std::to_string(message.reject_hint) : std::string()));
        }
        target.core->step(message);
        after_step(target);
      }
    }
  }

  // ---- the driver: Ready handling -------------------------------------------
  void after_step(SimNode& n) {
    check_node(n);
    // Sometimes leave the Ready for later, so that steps happen between
    // ready() and advance() and a crash can lose an unpersisted Ready.
    if (!n.taken && n.core->has_ready()) take_ready(n);
    // The node actor's early messages: what may leave while a write runs.
    if (n.taken && chance_percent(30))
      for (auto& message : n.core->take_messages_before_persist()) send(std::move(message));
    // ... and applies what was committed meanwhile, once the running Ready's
    // own committed entries are applied.
    if (n.taken && !n.taken->snapshot && n.taken->committed_entries.empty() && chance_percent(30))
      for (const Entry& entry : n.core->take_committed_before_persist()) apply(n, entry);
    if (n.taken && chance_percent(70)) process_ready(n);
  }

  // ready(), and what the node actor does as the write starts (each only
  // sometimes, so that both orders are explored): messages that promise
  // nothing about stable storage leave at once, and committed entries are
  // applied at once (they are durable on a majority already; acknowledged
  // proposals must survive any crash all the same).
  void take_ready(SimNode& n) {
    n.taken = n.core->ready();
    Ready& ready = *n.taken;
    if (chance_percent(50)) {
      std::vector<Message> later;
      for (auto& message : ready.messages) {
        if (may_send_before_persist(message))
          send(std::move(message));
        else
          later.push_back(std::move(message));
      }
      ready.messages = std::move(later);
    }
    if (!ready.snapshot && chance_percent(50)) {
      for (const Entry& entry : ready.committed_entries) apply(n, entry);
      for (const auto& read : ready.read_states) serve_read(n, read);
      ready.committed_entries.clear();
      ready.read_states.clear();
    }
  }

  void process_ready(SimNode& n) {
    Ready ready = std::move(*n.taken);
    n.taken.reset();
    persist(n, ready);
    for (auto& message : ready.messages) send(std::move(message));
    if (ready.snapshot) {
      const StateMachine restored = StateMachine::parse(ready.snapshot->data);
      check_snapshot(restored);
      trace("n" + std::to_string(n.id) + " installs snapshot at " + std::to_string(restored.index));
      n.machine = restored;
      std::erase_if(n.proposals, [&](const auto& item) { return item.first <= restored.index; });
      ++stats_.snapshots_installed;
    }
    for (const Entry& entry : ready.committed_entries) apply(n, entry);
    for (const auto& read : ready.read_states) serve_read(n, read);
    n.core->advance();
    maybe_compact(n);
    check_node(n);
    if (n.core->has_ready()) take_ready(n);
  }

  void persist(SimNode& n, const Ready& ready) {
    DurableStore& disk = n.durable;
    if (ready.snapshot) {
      disk.snapshot = ready.snapshot;
      disk.entries.clear();
    }
    if (ready.truncate_from != 0) {
      std::erase_if(disk.entries, [&](const Entry& entry) { return entry.index >= ready.truncate_from; });
    }
    if (!ready.entries.empty()) {
      // Strict: the Ready's truncate_from is the only way stale entries go.
      const Index first = ready.entries.front().index;
      if (first != disk.last_index() + 1) {
        violated("n" + std::to_string(n.id) + " ready entries start at " + std::to_string(first) +
                 " but the durable log ends at " + std::to_string(disk.last_index()));
      }
      disk.entries.insert(disk.entries.end(), ready.entries.begin(), ready.entries.end());
    }
    if (ready.hard_state) {
      if (ready.hard_state->term < disk.hard_state.term) violated("persisted term went backwards");
      disk.hard_state = *ready.hard_state;
    }
  }

  void maybe_compact(SimNode& n) {
    if (faults_.compact_every == 0) return;
    const Index applied = n.core->applied();
    if (applied < n.core->log().snapshot_index() + faults_.compact_every) return;
    if (n.machine.index != applied) violated("state machine index differs from the core's applied index");
    const Snapshot& snapshot = n.core->compact(applied, n.machine.serialize());
    n.durable.snapshot = snapshot;
    std::erase_if(n.durable.entries, [&](const Entry& entry) { return entry.index <= applied; });
    trace("n" + std::to_string(n.id) + " compacts up to " + std::to_string(applied));
  }

  // ---- state machine and clients --------------------------------------------
  void apply(SimNode& n, const Entry& entry) {
    if (entry.index != n.machine.index + 1) {
      violated("n" + std::to_string(n.id) + " applies index " + std::to_string(entry.index) + " after " +
               std::to_string(n.machine.index));
    }
    n.machine.index = entry.index;
    n.machine.hash = mix(n.machine.hash ^ fingerprint(entry.data) ^ static_cast<std::uint64_t>(entry.kind));
    // State Machine Safety: no two nodes apply different entries at an index.
    auto [committed, first_time] =
        committed_.try_emplace(entry.index, CommittedEntry{entry.term, entry.data.str(), n.machine.hash, n.core->term()});
    if (!first_time) {
      if (committed->second.term != entry.term || committed->second.data != entry.data ||
          committed->second.hash != n.machine.hash) {
        violated("state machine safety: n" + std::to_string(n.id) + " applied a different entry at index " +
                 std::to_string(entry.index));
      }
    } else {
      // A newly known committed entry: every leader of a later term must
      // already hold it (Leader Completeness).
      for (auto& other : nodes_) {
        if (other.alive && other.core->role() == Role::Leader && other.core->term() > committed->second.term_bound) {
          check_leader_holds(other, entry.index, committed->second);
        }
      }
    }
    if (auto proposal = n.proposals.find(entry.index); proposal != n.proposals.end()) {
      if (proposal->second.term == entry.term && proposal->second.data == entry.data) {
        acknowledged_.emplace_back(entry.index, entry.data);
        max_acknowledged_ = std::max(max_acknowledged_, entry.index);
        ++stats_.proposals_acknowledged;
        trace("ack " + entry.data.str() + " at " + std::to_string(entry.index));
      }
      n.proposals.erase(proposal);
    }
  }

  void check_snapshot(const StateMachine& restored) {
    auto committed = committed_.find(restored.index);
    if (committed == committed_.end() || committed->second.hash != restored.hash) {
      violated("state machine safety: snapshot at " + std::to_string(restored.index) +
               " differs from what was applied there");
    }
  }

  void propose(SimNode& n) {
    const std::string data = "c" + std::to_string(++client_counter_);
    auto result = n.core->propose(data);
    if (!result.accepted() && result.leader != 0 && node(result.leader).alive) {
      // The shell forwards to the leader it was told about.
      SimNode& leader = node(result.leader);
      result = leader.core->propose(data);
      if (result.accepted()) {
        leader.proposals[result.index] = Proposal{result.term, data};
        trace("propose " + data + " via n" + std::to_string(n.id) + " on n" + std::to_string(leader.id) + " at " +
              std::to_string(result.index));
      }
      after_step(leader);
      return;
    }
    if (result.accepted()) {
      n.proposals[result.index] = Proposal{result.term, data};
      trace("propose " + data + " on n" + std::to_string(n.id) + " at " + std::to_string(result.index));
    }
    after_step(n);
  }

  void read(SimNode& n) {
    const std::uint64_t context = ++read_counter_;
    if (n.core->read_index(context).accepted) reads_[context] = PendingRead{n.id, max_acknowledged_};
    after_step(n);
  }

  void serve_read(SimNode& n, const store::ReadState& state) {
    // Duplicated ReadIndex messages may answer a read twice; the shell
    // ignores contexts it no longer waits for. Every answer is checked.
    auto pending = reads_.find(state.context);
    if (pending == reads_.end()) violated("read state for a read nobody issued");
    if (pending->second.node != n.id) violated("read state delivered to a node that did not issue it");
    // Linearizability: a read issued after a write was acknowledged must see it.
    if (state.index < pending->second.must_cover) {
      violated("linearizability: read " + std::to_string(state.context) + " at index " + std::to_string(state.index) +
               " misses acknowledged index " + std::to_string(pending->second.must_cover));
    }
    ++stats_.reads_served;
  }

  // ---- invariants -------------------------------------------------------------
  struct CommittedEntry {
    Term term = 0;
    std::string data;
    std::uint64_t hash = 0;  // state machine hash after applying it
    Term term_bound = 0;     // >= the term in which it was committed
  };

  void check_leader_holds(SimNode& leader, Index index, const CommittedEntry& committed) {
    const auto& log = leader.core->log();
    if (index <= log.snapshot_index()) return;  // covered by its snapshot (checked by hash)
    if (index > log.last_index() || log.at(index).term != committed.term || log.at(index).data != committed.data) {
      violated("leader completeness: leader n" + std::to_string(leader.id) + " of term " +
               std::to_string(leader.core->term()) + " lacks committed index " + std::to_string(index));
    }
  }

  void check_node(SimNode& n) {
    const RaftCore& core = *n.core;
    const auto& log = core.log();
    // Election Safety: at most one leader per term, across the whole history.
    if (core.role() == Role::Leader) {
      auto [leader, first] = leaders_.try_emplace(core.term(), n.id);
      if (first) {
        ++stats_.elections_won;
        trace("n" + std::to_string(n.id) + " leads term " + std::to_string(core.term()));
      } else if (leader->second != n.id) {
        violated("election safety: n" + std::to_string(n.id) + " and n" + std::to_string(leader->second) +
                 " both lead term " + std::to_string(core.term()));
      }
    }
    const auto signature =
        std::make_tuple(log.snapshot_index(), log.last_index(), log.last_term(), log.commit(), core.term(), core.role());
    if (signature == n.checked) return;
    n.checked = signature;
    if (log.commit() > log.last_index()) violated("commit index past the last entry");
    // Log Matching: an (index, term) pair identifies the entry and the term
    // of the entry before it, on every node and at every time.
    for (Index i = log.first_index(); i <= log.last_index(); ++i) {
      const Entry& entry = log.at(i);
      if (entry.index != i) violated("entry stored at the wrong index");
      const EntryIdentity identity{fingerprint(entry.data) ^ static_cast<std::uint64_t>(entry.kind),
                                   *log.term_at(i - 1)};
      auto [known, first] = entries_seen_.try_emplace({i, entry.term}, identity);
      if (!first && !(known->second == identity)) {
        violated("log matching: n" + std::to_string(n.id) + " holds a different entry or history at index " +
                 std::to_string(i) + " term " + std::to_string(entry.term));
      }
    }
    // Leader Completeness for a leader: every entry committed in an earlier
    // term is in its log.
    if (core.role() == Role::Leader) {
      for (auto it = committed_.upper_bound(log.snapshot_index()); it != committed_.end(); ++it) {
        if (core.term() > it->second.term_bound) check_leader_holds(n, it->first, it->second);
      }
    }
  }

  struct EntryIdentity {
    std::uint64_t data = 0;
    Term previous_term = 0;
    bool operator==(const EntryIdentity&) const = default;
  };
  struct IndexTermHash {
    std::size_t operator()(const std::pair<Index, Term>& key) const {
      return static_cast<std::size_t>(mix(key.first) ^ (key.second * 0x100000001b3ULL));
    }
  };

  // ---- schedule -----------------------------------------------------------------
  void chaos_round() {
    ++now_;
    std::vector<NodeId> order = voters_;
    std::shuffle(order.begin(), order.end(), random_);
    for (NodeId id : order) {
      SimNode& n = node(id);
      if (!n.alive) continue;
      n.core->tick();
      after_step(n);
    }
    if (chance_percent(faults_.propose_percent)) {
      SimNode& n = node(voters_[uniform(0, voters_.size() - 1)]);
      if (n.alive) propose(n);
    }
    if (chance_percent(faults_.read_percent)) {
      SimNode& n = node(voters_[uniform(0, voters_.size() - 1)]);
      if (n.alive) read(n);
    }
    if (chance_per_mille(faults_.crash_per_mille)) {
      SimNode& n = node(voters_[uniform(0, voters_.size() - 1)]);
      if (n.alive) crash(n);
    }
    if (chance_per_mille(faults_.leader_crash_per_mille)) {
      if (SimNode* leader = some_leader()) crash(*leader);
    }
    for (auto& n : nodes_) {
      if (!n.alive && chance_percent(5)) restart(n);
    }
    if (chance_per_mille(faults_.leader_isolate_per_mille)) {
      if (SimNode* leader = some_leader()) {
        partition_.clear();
        for (NodeId id : voters_) partition_[id] = id == leader->id ? 1 : 0;
        trace("isolate leader n" + std::to_string(leader->id));
      }
    }
    if (chance_per_mille(faults_.partition_per_mille)) {
      partition_.clear();
      for (NodeId id : voters_) partition_[id] = static_cast<int>(uniform(0, 1));
      trace("partition");
    } else if (!partition_.empty() && chance_percent(3)) {
      partition_.clear();
      trace("partition healed");
    }
    deliver_due();
    for (auto& n : nodes_) {
      if (n.alive && n.taken && chance_percent(80)) process_ready(n);
    }
  }

  SimNode* some_leader() {
    SimNode* found = nullptr;
    for (auto& n : nodes_) {
      if (n.alive && n.core->role() == Role::Leader && (found == nullptr || n.core->term() > found->core->term())) {
        found = &n;
      }
    }
    return found;
  }

  void heal() {
    trace("heal: no more faults, every node up");
    partition_.clear();
    faults_.drop_percent = 0;
    faults_.duplicate_percent = 0;
    faults_.max_delay = std::min(faults_.max_delay, 1);
    for (auto& n : nodes_) {
      if (!n.alive) restart(n);
    }
  }

  void converge() {
    for (int round = 0; round < options_.converge_rounds; ++round) {
      ++now_;
      for (auto& n : nodes_) {
        n.core->tick();
        after_step(n);
      }
      deliver_due();
      for (auto& n : nodes_) {
        while (n.taken) process_ready(n);
      }
      if (converged()) {
        trace("converged");
        return;
      }
    }
    std::ostringstream state;
    for (auto& n : nodes_) {
      const auto status = n.core->status();
      state << " n" << n.id << "{" << store::to_string(status.role) << " term=" << status.term
            << " commit=" << status.commit << " applied=" << status.applied << " last=" << status.last_index;
      for (const auto& peer : status.peers) {
        state << " peer" << peer.id << "(" << store::to_string(peer.state) << " match=" << peer.match
              << " next=" << peer.next << ")";
      }
      state << "}";
    }
    violated("no convergence after healing:" + state.str());
  }

  bool converged() const {
    const SimNode* leader = nullptr;
    for (const auto& n : nodes_) {
      if (n.core->role() == Role::Leader) leader = &n;
    }
    if (leader == nullptr) return false;
    const Index last = leader->core->log().last_index();
    if (leader->core->log().commit() != last) return false;
    for (const auto& n : nodes_) {
      if (n.core->term() != leader->core->term() || n.core->leader() != leader->id) return false;
      if (n.core->applied() != last || n.core->log().last_index() != last || n.taken) return false;
    }
    return true;
  }

  void check_acknowledged_everywhere() {
    for (const auto& [index, data] : acknowledged_) {
      auto committed = committed_.find(index);
      if (committed == committed_.end() || committed->second.data != data) {
        violated("acknowledged " + data + " at " + std::to_string(index) + " is not what was committed there");
      }
      for (const auto& n : nodes_) {
        if (n.machine.index < index) {
          violated("acknowledged " + data + " at " + std::to_string(index) + " is not applied on n" +
                   std::to_string(n.id));
        }
      }
    }
  }

  SimOptions options_;
  std::mt19937_64 random_;
  Faults faults_;
  std::vector<NodeId> voters_;
  std::vector<SimNode> nodes_;
  std::vector<InFlight> network_;
  std::map<NodeId, int> partition_;  // empty: everyone connected
  std::uint64_t now_ = 0;

  std::map<Term, NodeId> leaders_;
  std::unordered_map<std::pair<Index, Term>, EntryIdentity, IndexTermHash> entries_seen_;
  std::map<Index, CommittedEntry> committed_;
  std::vector<std::pair<Index, std::string>> acknowledged_;
  Index max_acknowledged_ = 0;
  std::map<std::uint64_t, PendingRead> reads_;
  std::uint64_t client_counter_ = 0;
  std::uint64_t read_counter_ = 0;
  SimStats stats_;
};

}  // namespace

SimResult run_simulation(const SimOptions& options) { return Simulation(options).run(); }

}  // namespace slimfaas::sim
