#include "actors/raft_node_actor.hpp"

#include <caf/io/all.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <spdlog/spdlog.h>

#include "actors/blob_actor.hpp"
#include "actors/mailbox_size.hpp"
#include "actors/raft_wire.hpp"
#include "actors/snapshot_sender.hpp"
#include "net/thread_name.hpp"
#include "store/raft_core.hpp"
#include "store/durable_file.hpp"
#include "store/raft_log.hpp"
#include "store/snapshot_assembly.hpp"
#include "store/snapshot_policy.hpp"
#include "store/state_machine.hpp"

namespace slimfaas::actors {

// One Ready's durable part, for the log writer (never crosses nodes).
struct PersistJob {
  std::optional<store::HardState> hard_state;
  std::optional<store::Snapshot> snapshot;
  store::Index truncate_from = 0;
  std::vector<store::Entry> entries;
  bool sync = true;  // false: only the commit index changed (recomputed after a crash)
  // Messages that promise this write (votes, acknowledgements of entries):
  // the writer sends them, as `node`, the moment the write is durable.
  std::vector<std::pair<caf::actor, std::vector<store::Message>>> after;
  caf::actor node;
};

}  // namespace slimfaas::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(slimfaas::actors::PersistJob)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<slimfaas::store::Snapshot>)

namespace slimfaas::actors {
namespace {

using nlohmann::json;
using store::Index;
using store::NodeId;
using store::Role;
using Clock = std::chrono::steady_clock;

using persist_atom = caf::atom_constant<caf::atom("persist")>;
using compact_atom = caf::atom_constant<caf::atom("compact")>;
using snapshot_written_atom = caf::atom_constant<caf::atom("snapwrote")>;
using connect_atom = caf::atom_constant<caf::atom("connect")>;
using peer_atom = caf::atom_constant<caf::atom("peer")>;
using early_atom = caf::atom_constant<caf::atom("early")>;
using merge_atom = caf::atom_constant<caf::atom("merge")>;

// Small proposals of one burst go into one log entry (see propose_here):
// a command up to this size may be merged, into an entry of at most this
// many bytes and commands. A larger command keeps an entry of its own.
constexpr std::size_t kMergeableCommandBytes = 64u << 10;
constexpr std::size_t kMergedEntryBytes = 1u << 20;
constexpr std::size_t kMergedEntryCommands = 1024;

SlimDataReply reply_of(SlimDataReply::Status status, std::string detail) {
  SlimDataReply r;
  r.status = status;
  r.detail = std::move(detail);
  return r;
}

bool same_secret(const std::string& a, const std::string& b) {
  // Constant time in the length of the expected secret.
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < b.size(); ++i) diff |= static_cast<unsigned char>(b[i] ^ (i < a.size() ? a[i] : 0));
  return diff == 0;
}

// ------------------------------------------------------------ snapshot files
//
// A node's own snapshots are written to a file of their own by a detached
// actor, off the path of commits; the log then stores only a reference
// (marker + file name) in place of the data, in a small write. Snapshots
// received from a leader are rare and stored inline.

const std::string snapshot_file_marker{"\0slimfaas-snapshot-file\0", 24};

std::filesystem::path snapshot_directory(const std::filesystem::path& log_directory) {
  return log_directory.string() + ".snapshots";
}

std::filesystem::path blob_directory(const std::filesystem::path& log_directory) {
  return log_directory.string() + ".blobs";
}

std::string snapshot_file_name(Index index) { return "snapshot-" + std::to_string(index) + ".bin"; }

bool is_file_reference(const std::string& data) { return data.rfind(snapshot_file_marker, 0) == 0; }

// The file a snapshot's reference names (is_file_reference(data)).
std::filesystem::path referenced_snapshot_file(const std::filesystem::path& log_directory, const std::string& data) {
  return snapshot_directory(log_directory) / data.substr(snapshot_file_marker.size());
}

// The data of a recovered snapshot: read back from its file when the log
// holds a reference.
void load_snapshot_file(const std::filesystem::path& log_directory, store::Snapshot& snapshot) {
  if (!is_file_reference(snapshot.data)) return;
  const auto path = referenced_snapshot_file(log_directory, snapshot.data);
  auto data = store::read_file(path);
  if (!data) throw store::StorageError("snapshot file " + path.string() + " is missing");
  snapshot.data = std::move(*data);
}

// ------------------------------------------------------------ log writer
//
// Owns the RocksDB log. Its mailbox orders the writes; each job is one
// atomic, fsynced WriteBatch. A storage failure is fatal: a Raft node that
// cannot keep its promises must stop rather than answer.

caf::behavior log_writer(caf::event_based_actor* self, std::shared_ptr<store::RaftLog> log) {
  (void)self;
  return {
      [log](persist_atom, PersistJob& job) -> bool {
        net::name_this_thread_once("raft-log");
        try {
          auto batch = log->batch(store::RaftLog::append_bytes(job.entries));
          if (job.snapshot) {
            batch.save_snapshot(*job.snapshot);
            batch.truncate_from(job.snapshot->meta.index + 1);
          }
          if (job.truncate_from != 0) batch.truncate_from(job.truncate_from);
          if (!job.entries.empty()) batch.append(job.entries);
          if (job.hard_state) batch.set_hard_state(*job.hard_state);
          log->write(std::move(batch), job.sync);
        } catch (const std::exception& e) {
          spdlog::critical("slimdata: cannot write the Raft log: {}; stopping", e.what());
          std::_Exit(70);
        }
        // Straight from here rather than through the node actor: an
        // acknowledgement is on the cluster's commit path, and the node may
        // be busy or asleep.
        for (auto& [peer, messages] : job.after) caf::send_as(job.node, peer, raft_atom::value, std::move(messages));
        return true;
      },
      [log](compact_atom, std::shared_ptr<store::Snapshot>& snapshot, const std::string& files) {
        try {
          if (snapshot->meta.index > log->snapshot_meta().index) log->save_snapshot(*snapshot);
        } catch (const std::exception& e) {
          spdlog::critical("slimdata: cannot write a snapshot: {}; stopping", e.what());
          std::_Exit(70);
        }
        // Older snapshot files are not referenced any more.
        std::error_code ec;
        const std::string keep = snapshot->data.substr(snapshot_file_marker.size());
        for (const auto& entry : std::filesystem::directory_iterator(files, ec)) {
          const auto name = entry.path().filename().string();
          if (name.rfind("snapshot-", 0) == 0 && name != keep) std::filesystem::remove(entry.path(), ec);
        }
      },
  };
}

// Encodes a frozen state (see maybe_compact) into its snapshot file, as it
// goes, tells the node how it went, and quits. Detached: the encoding, the
// writes and the fsync take this thread, not the node's. At a lower CPU
// priority than the node's own threads (Linux's nice is per thread): a
// snapshot may wait, a call should not.
caf::behavior snapshot_file_writer(caf::event_based_actor* self, caf::actor node, std::filesystem::path path,
                                   std::shared_ptr<const store::StateMachine::Frozen> state) {
  [[maybe_unused]] const int ignored = ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);
  bool written = true;
  try {
    store::write_file_durably(path, [&state](store::FileAppender& file) {
      state->write_to([&file](std::string_view piece) { file.append(piece); });
    });
  } catch (const std::exception& e) {
    spdlog::error("slimdata: cannot write snapshot file {}: {}", path.string(), e.what());
    written = false;
  }
  self->send(node, snapshot_written_atom::value, written);
  self->quit();
  return {};
}

// ------------------------------------------------------------ connector
//
// Connects to one peer (blocking remote_actor: hence a detached actor),
// retrying with backoff, hands the handle to the node and quits.
//
// Only the node with the lower id dials; the other learns its handle from
// the hello that comes over that connection (adopt_dialing_peer). When two
// nodes dialed each other at once, CAF's middleman sometimes closed both
// connections right after they met: each side dropped the proxy it held and
// they reconnected (once in about 56 cluster starts, bench/async.py). One
// dialer per pair means one connection per pair.
bool dials(NodeId self, NodeId peer) { return self < peer; }

caf::behavior peer_connector(caf::event_based_actor* self, caf::actor node, NodeId peer, RaftPeerAddress address) {
  self->send(self, connect_atom::value, 0);
  return {
      [=](connect_atom, int attempt) {
        auto handle = self->system().middleman().remote_actor(address.host, address.port);
        if (handle) {
          self->send(node, peer_atom::value, peer, *handle);
          self->quit();
          return;
        }
        if (attempt == 0 || attempt % 20 == 0)
          spdlog::debug("slimdata: peer {} at {}:{} not reachable yet: {}", peer, address.host, address.port,
                        self->system().render(handle.error()));
        const auto delay = std::chrono::milliseconds(std::min(2000, 50 << std::min(attempt, 6)));
        self->delayed_send(self, delay, connect_atom::value, attempt + 1);
      },
  };
}

// ------------------------------------------------------------ node

struct PendingProposal {
  store::Term term = 0;
  caf::response_promise promise;
  // A merged entry: one promise per command, in order (`promise` unused).
  std::vector<caf::response_promise> parts;
  std::size_t callers() const { return parts.empty() ? 1 : parts.size(); }
};

struct PendingRead {
  std::string query;
  caf::response_promise promise;
  Clock::time_point deadline;
  std::optional<Index> index;  // known once the read is confirmed
};

// A request that waits for a leader to be known (and connected).
struct WaitingRequest {
  std::string command;
  caf::response_promise promise;
  Clock::time_point deadline;
};

struct RaftNodeState {
  static inline const char* name = "raft";
  RaftNodeSetup setup;
  std::unique_ptr<store::RaftCore> core;
  store::StateMachine machine;
  caf::actor writer;
  bool snapshot_writing = false;   // a snapshot file is being written (one at a time)
  Index snapshot_writing_index = 0;  // the index it snapshots
  std::size_t snapshot_writing_log_bytes = 0;  // log bytes it will cover
  std::uint64_t snapshots_written = 0;  // snapshot files written durably
  // How long the node actor paused to freeze its state for a snapshot
  // (the last one, the longest): the only part of a snapshot it waits for.
  std::chrono::microseconds snapshot_freeze_last{0}, snapshot_freeze_max{0};
  // Snapshots in chunks (actors/snapshot_sender.hpp): the followers a
  // sender runs for (one each), and the one being received.
  std::set<NodeId> snapshots_sending;
  store::SnapshotAssembly incoming_snapshot;
  std::uint64_t snapshots_sent = 0, snapshots_received = 0;
  caf::actor blobs;  // side-stored bodies (actors/blob_actor.hpp)
  Role role = Role::Follower;
  NodeId leader = 0;

  std::map<NodeId, caf::actor> peers;                // connected, hello sent
  std::map<caf::actor_addr, NodeId> authenticated;   // senders that said a valid hello
  // Their processes: any actor there may ask what a local actor may
  // (forwarded proposals, side-stored bodies); Raft messages still come only
  // from the peer's node actor itself.
  std::map<caf::node_id, NodeId> authenticated_nodes;
  bool persisting = false;
  bool early_messages_scheduled = false;  // an early_atom is on its way
  std::optional<store::Ready> in_flight;             // persisting now

  std::map<Index, PendingProposal> proposals;        // leader: by log index
  std::size_t proposal_callers = 0;                  // promises in `proposals` (a merged entry has many)
  std::vector<WaitingRequest> held;                  // leader: small proposals of this burst, merged at its end
  std::size_t held_bytes = 0;
  bool merge_scheduled = false;                      // a merge_atom is on its way
  std::deque<std::pair<Clock::time_point, Index>> proposal_deadlines;
  std::deque<WaitingRequest> waiting;                // proposals waiting for a leader
  std::map<std::uint64_t, PendingRead> reads;        // by context
  std::uint64_t next_read = 1;
  Index snapshot_index = 0;
  std::uint64_t ticks = 0;
  std::size_t log_bytes_since_snapshot = 0;
  std::size_t last_snapshot_bytes = 0;
  store::Term persisted_term = 0;  // the hard state's term and vote as last written
  NodeId persisted_vote = 0;

  std::uint64_t proposed = 0, forwarded = 0, applied_entries = 0, persists = 0, persisted_entries = 0;
  std::uint64_t refused_unlogged = 0;  // proposals the applied state refused, answered without an entry
  std::uint64_t merged_entries = 0, merged_proposals = 0;  // entries holding several proposals; those proposals
  std::uint64_t peer_batches = 0, empty_appends = 0;  // CAF messages to peers; AppendEntries without entries
  std::uint64_t rejected_unauthenticated = 0;
  std::vector<caf::actor> subscribers;  // local actors told of leadership and applied entries
};

using Self = caf::stateful_actor<RaftNodeState>*;

caf::behavior role_behavior(Self self, Role role);
void process_ready(Self self);

// One batch per connected peer (Raft tolerates the loss of the others').
std::vector<std::pair<caf::actor, RaftMessages>> by_peer(Self self, std::vector<store::Message>& messages) {
  auto& s = self->state;
  std::map<NodeId, RaftMessages> batches;
  for (auto& m : messages) {
    if (m.type == store::MessageType::Append && m.entries.empty()) ++s.empty_appends;
    batches[m.to].push_back(std::move(m));
  }
  s.peer_batches += batches.size();
  std::vector<std::pair<caf::actor, RaftMessages>> out;
  for (auto& [peer, batch] : batches)
    if (auto it = s.peers.find(peer); it != s.peers.end()) out.emplace_back(it->second, std::move(batch));
  return out;
}

// A snapshot goes in chunks, read and sent by a detached sender, one
// sender per follower at a time (store/snapshot_assembly.hpp says why).
// The core keeps a reference to this node's own snapshot file, or the
// bytes of one it received and has not replaced yet.
void send_snapshot(Self self, store::Message message) {
  auto& s = self->state;
  auto peer = s.peers.find(message.to);
  if (peer == s.peers.end() || !s.snapshots_sending.insert(message.to).second) return;
  SnapshotSource source;
  if (is_file_reference(message.snapshot.data)) {
    source.file = referenced_snapshot_file(s.setup.directory, message.snapshot.data);
  } else {
    source.data = std::make_shared<const std::string>(std::move(message.snapshot.data));
  }
  ++s.snapshots_sent;
  const NodeId follower = message.to;
  auto sender = self->spawn<caf::detached>(snapshot_sender, peer->second, std::move(message), std::move(source),
                                           s.setup.request_timeout, kSnapshotChunkBytes);
  // However the sender ends (done, failed, or thrown), the follower may get
  // a sender again.
  sender->attach_functor([node = caf::actor_cast<caf::actor>(self), follower](const caf::error&) {
    caf::anon_send(node, snapshot_sent_atom::value, follower);
  });
}

void send_messages(Self self, std::vector<store::Message>& messages) {
  std::vector<store::Message> sendable;
  sendable.reserve(messages.size());
  for (auto& m : messages) {
    if (m.type == store::MessageType::InstallSnapshot) {
      send_snapshot(self, std::move(m));
      continue;
    }
    sendable.push_back(std::move(m));
  }
  for (auto& [peer, batch] : by_peer(self, sendable)) self->send(peer, raft_atom::value, std::move(batch));
}

void answer_read(Self self, std::uint64_t context) {
  auto& s = self->state;
  auto it = s.reads.find(context);
  if (it == s.reads.end()) return;
  SlimDataReply r;
  r.value = s.machine.query(it->second.query);
  it->second.promise.deliver(std::move(r));
  s.reads.erase(it);
}

void serve_reads_up_to(Self self, Index applied) {
  auto& s = self->state;
  std::vector<std::uint64_t> ready;
  for (const auto& [context, read] : s.reads)
    if (read.index && *read.index <= applied) ready.push_back(context);
  for (auto context : ready) answer_read(self, context);
}

void deliver_all(PendingProposal& proposal, const SlimDataReply& reply) {
  if (proposal.parts.empty()) return proposal.promise.deliver(reply);
  for (auto& part : proposal.parts) part.deliver(reply);
}

// A merged entry's callers, each with its own command's result (moved,
// not copied: a queue take's result carries the bodies it took).
void answer_parts(PendingProposal& proposal, std::vector<std::string> results) {
  if (results.size() != proposal.parts.size()) {
    // Not the batch that was proposed: its one result says why, if it is an error.
    std::string why = "result count differs";
    if (results.size() == 1) {
      try {
        store::results::batch(results.front());
      } catch (const std::exception& e) {
        why = e.what();
      }
    }
    return deliver_all(proposal, reply_of(SlimDataReply::Status::failed, "merged entry: " + why));
  }
  for (std::size_t i = 0; i < results.size(); ++i) {
    SlimDataReply r;
    r.value = std::move(results[i]);
    proposal.parts[i].deliver(std::move(r));
  }
}

void apply_committed(Self self, store::Ready& ready) {
  auto& s = self->state;
  if (ready.snapshot) {
    s.machine.restore(ready.snapshot->data);
    s.snapshot_index = ready.snapshot->meta.index;
    s.last_snapshot_bytes = ready.snapshot->data.size();
    s.log_bytes_since_snapshot = 0;
  }
  for (const auto& entry : ready.committed_entries) {
    if (entry.index <= s.machine.last_applied()) continue;  // covered by a snapshot
    // Only a proposer here reads the result (a follower's never does).
    auto it = s.proposals.find(entry.index);
    ++s.applied_entries;
    s.log_bytes_since_snapshot += entry.data.size();
    if (it == s.proposals.end()) {
      s.machine.apply(entry, store::StateMachine::ResultUse::unread);
      continue;
    }
    PendingProposal& proposal = it->second;
    if (proposal.term != entry.term) {
      s.machine.apply(entry, store::StateMachine::ResultUse::unread);
      deliver_all(proposal, reply_of(SlimDataReply::Status::no_quorum,
                                     "leadership changed before the entry committed; it was not applied, retry"));
    } else if (!proposal.parts.empty()) {
      answer_parts(proposal, s.machine.apply_split(entry));
    } else {
      SlimDataReply r;
      r.value = s.machine.apply(entry);
      proposal.promise.deliver(std::move(r));
    }
    s.proposal_callers -= it->second.callers();
    s.proposals.erase(it);
  }
  for (const auto& rs : ready.read_states) {
    auto it = s.reads.find(rs.context);
    if (it != s.reads.end()) it->second.index = rs.index;
  }
  serve_reads_up_to(self, s.machine.last_applied());
  // Acked items' side-stored bodies: this node's copies go.
  if (auto released = s.machine.take_released_attachments(); !released.empty())
    self->send(s.blobs, blob_drop_atom::value, std::move(released));
  if (!ready.committed_entries.empty() || ready.snapshot)
    for (const auto& subscriber : s.subscribers)
      self->send(subscriber, applied_atom::value, static_cast<std::uint64_t>(s.machine.last_applied()));
}

// A snapshot's file is written off this actor, and once it is durable the
// core forgets the entries it covers and keeps a reference to the file
// (read back only to send an InstallSnapshot). When: store/snapshot_policy.hpp.
// One at a time.
//
// The state is frozen here (StateMachine::freeze: its records copied, its
// bodies shared), a pause in the number of entries and items, not in their
// bytes; a detached writer encodes it into the file while this actor goes
// on. Neither an encoding here (about 1 ms a MiB, heartbeats included) nor
// a forked child (each page the node wrote while the child lived faulted
// once: with a backlog of 4 KiB calls, 1-2.2 faults a call on every node
// and half the calls accepted) is needed (docs/slimdata.md, "Snapshots").
void maybe_compact(Self self) {
  auto& s = self->state;
  if (s.snapshot_writing) return;
  const Index applied = s.core->applied();
  const store::SnapshotProgress progress{applied - std::min(applied, s.snapshot_index), s.log_bytes_since_snapshot,
                                         s.last_snapshot_bytes};
  if (!store::snapshot_due(progress, s.setup.snapshot_interval_entries, s.setup.snapshot_log_bytes)) return;
  if (s.machine.last_applied() != applied) return;
  const auto directory = snapshot_directory(s.setup.directory);
  std::error_code ec;
  std::filesystem::create_directories(directory, ec);
  const auto freeze_start = std::chrono::steady_clock::now();
  auto frozen = std::make_shared<const store::StateMachine::Frozen>(s.machine.freeze());
  s.snapshot_freeze_last =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - freeze_start);
  s.snapshot_freeze_max = std::max(s.snapshot_freeze_max, s.snapshot_freeze_last);
  s.snapshot_writing = true;
  s.snapshot_writing_index = applied;
  s.snapshot_writing_log_bytes = s.log_bytes_since_snapshot;
  self->spawn<caf::detached>(snapshot_file_writer, caf::actor_cast<caf::actor>(self),
                             directory / snapshot_file_name(applied), std::move(frozen));
}

// The writer wrote the snapshot file durably: compact to it, and have the
// log name it (the log writer then deletes older files).
void snapshot_written(Self self, bool written) {
  auto& s = self->state;
  const Index index = s.snapshot_writing_index;
  s.snapshot_writing = false;
  const auto name = snapshot_file_name(index);
  if (!written) {
    spdlog::error("slimdata: writing snapshot {} failed; trying again later", name);
    return;
  }
  ++s.snapshots_written;
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(snapshot_directory(s.setup.directory) / name, ec);
  const auto& snapshot = s.core->compact(index, snapshot_file_marker + name);
  if (snapshot.meta.index != index) return;  // a newer snapshot came meanwhile (InstallSnapshot)
  s.snapshot_index = index;
  s.last_snapshot_bytes = ec ? 0 : static_cast<std::size_t>(bytes);
  s.log_bytes_since_snapshot -= std::min(s.log_bytes_since_snapshot, s.snapshot_writing_log_bytes);
  self->send(s.writer, compact_atom::value, std::make_shared<store::Snapshot>(snapshot),
             snapshot_directory(s.setup.directory).string());
}

// Steps 2-4 of the Ready contract, once step 1 (persist) is durable.
// Committed entries are applied (their proposers answered) before the
// messages go: what waits here on a leader is mostly the new commit index
// for the followers, who need it only to apply, while a caller waits for
// its answer, which thus starts on its way before the broadcast is handed
// to CAF's network thread (paced calls, bench/async.py --trace-fsync:
// quorum -> 202 shorter at p50 in 5 of 6 alternated runs, by about 40 µs).
// Messages that must follow the persist still do.
void finish_ready(Self self) {
  auto& s = self->state;
  store::Ready ready = std::move(*s.in_flight);
  s.in_flight.reset();
  s.persisting = false;
  apply_committed(self, ready);
  send_messages(self, ready.messages);
  s.core->advance();
  maybe_compact(self);
  process_ready(self);
}

void observe_role(Self self);

// While a write runs, what the core produced since (appends of new
// proposals, heartbeats, their answers) leaves once the events queued with
// it are handled: one self-message per burst, so proposals that arrived
// together share one append per peer. The followers then write new entries
// while the leader's own write of earlier ones still runs; without it they
// waited for that write to end. Votes and acknowledgements of entries wait
// for the fsync (store::may_send_before_persist).
void schedule_early_messages(Self self) {
  auto& s = self->state;
  if (s.early_messages_scheduled) return;
  s.early_messages_scheduled = true;
  self->send(self, early_atom::value);
}

void send_early_messages(Self self) {
  auto& s = self->state;
  s.early_messages_scheduled = false;
  if (!s.persisting) return;  // the Ready that ended took them
  auto messages = s.core->take_messages_before_persist();
  if (!messages.empty()) send_messages(self, messages);
  // Entries committed meanwhile (the followers acknowledged them) are
  // applied and answered now, once the running Ready's own ones were (see
  // process_ready): they are durable on a majority already.
  if (s.in_flight && !s.in_flight->snapshot && s.in_flight->committed_entries.empty()) {
    store::Ready committed;
    committed.committed_entries = s.core->take_committed_before_persist();
    if (!committed.committed_entries.empty()) apply_committed(self, committed);
  }
}

void process_ready(Self self) {
  auto& s = self->state;
  observe_role(self);
  if (s.persisting) return schedule_early_messages(self);
  if (!s.core->has_ready()) return;
  s.in_flight = s.core->ready();
  store::Ready& ready = *s.in_flight;
  // A commit index alone need not be stored: it is learnt again after a
  // restart. Skipping it saves a log write per proposal.
  const bool term_or_vote_changed =
      ready.hard_state && (ready.hard_state->term != s.persisted_term || ready.hard_state->vote != s.persisted_vote);
  const bool durable = term_or_vote_changed || ready.snapshot || ready.truncate_from != 0 || !ready.entries.empty();
  if (!durable) {
    finish_ready(self);
    return;
  }
  std::vector<store::Message> now, later;
  for (auto& m : ready.messages) (store::may_send_before_persist(m) ? now : later).push_back(std::move(m));
  ready.messages.clear();
  send_messages(self, now);
  PersistJob job;
  job.after = by_peer(self, later);
  job.node = caf::actor_cast<caf::actor>(self);
  job.hard_state = ready.hard_state;
  if (ready.hard_state) {
    s.persisted_term = ready.hard_state->term;
    s.persisted_vote = ready.hard_state->vote;
  }
  job.snapshot = ready.snapshot;
  job.truncate_from = ready.truncate_from;
  job.entries = std::move(ready.entries);
  job.sync = ready.must_sync || term_or_vote_changed || !job.entries.empty() || job.snapshot || job.truncate_from;
  s.persisting = true;
  ++s.persists;
  s.persisted_entries += job.entries.size();
  self->request(s.writer, caf::infinite, persist_atom::value, std::move(job)).then([=](bool) { finish_ready(self); });
  // Committed entries are durable on a majority already, whatever this
  // node's own write: apply them (answering their proposers) while it runs,
  // not after it. Under load a leader always has a write running, and its
  // commits would otherwise wait for the next one to end (etcd's raft
  // allows the same with asynchronous storage writes). A received snapshot
  // keeps the contract's order: it replaces the state only once stored.
  if (!ready.snapshot) {
    apply_committed(self, ready);
    ready.committed_entries.clear();
    ready.read_states.clear();
  }
}

// ------------------------------------------------------------ requests

void forward_proposal(Self self, WaitingRequest request);

void flush_waiting(Self self) {
  auto& s = self->state;
  if (s.waiting.empty()) return;
  std::deque<WaitingRequest> waiting;
  waiting.swap(s.waiting);
  for (auto& w : waiting) forward_proposal(self, std::move(w));
}

void propose_entry(Self self, std::string command, caf::response_promise promise, Clock::time_point deadline) {
  auto& s = self->state;
  auto result = s.core->propose(std::move(command));
  if (!result.accepted()) {
    // Lost the leadership since the message was dispatched: forward.
    forward_proposal(self, WaitingRequest{{}, std::move(promise), deadline});
    return;
  }
  ++s.proposed;
  ++s.proposal_callers;
  s.proposals.emplace(result.index, PendingProposal{result.term, std::move(promise), {}});
  s.proposal_deadlines.emplace_back(deadline, result.index);
}

// The proposals held during a burst, in one entry (a `batch` command,
// which the state machine applies command by command, each with its own
// result), or alone when there is one.
void flush_held(Self self) {
  auto& s = self->state;
  if (s.held.empty()) return;
  std::vector<WaitingRequest> held;
  held.swap(s.held);
  s.held_bytes = 0;
  if (s.role != Role::Leader) {
    for (auto& h : held) forward_proposal(self, std::move(h));
    return;
  }
  if (held.size() == 1) return propose_entry(self, std::move(held[0].command), std::move(held[0].promise), held[0].deadline);
  std::vector<std::string> commands;
  commands.reserve(held.size());
  for (auto& h : held) commands.push_back(std::move(h.command));
  auto result = s.core->propose(store::commands::batch(commands));
  if (!result.accepted()) {
    for (auto& h : held) forward_proposal(self, WaitingRequest{{}, std::move(h.promise), h.deadline});
    return;
  }
  ++s.proposed;
  ++s.merged_entries;
  s.merged_proposals += held.size();
  s.proposal_callers += held.size();
  PendingProposal proposal{result.term, {}, {}};
  proposal.parts.reserve(held.size());
  for (auto& h : held) proposal.parts.push_back(std::move(h.promise));
  s.proposals.emplace(result.index, std::move(proposal));
  // The first held arrived first: its deadline is the earliest, and not
  // earlier than any proposal before it (the deque stays in order).
  s.proposal_deadlines.emplace_back(held.front().deadline, result.index);
}

// On the leader, a small command waits for the end of the burst it came
// in (the messages already in the mailbox), then goes with the others of
// that burst into one entry: under load tens of calls share a persist
// round, and one entry instead of one each saves every node a RocksDB
// put, a memtable node, a Raft slot, a serialized header and an apply
// step per call. An idle node's lone command leaves after one
// self-message.
void propose_here(Self self, std::string command, caf::response_promise promise, Clock::time_point deadline) {
  auto& s = self->state;
  const bool mergeable = command.size() <= kMergeableCommandBytes && !store::commands::is_batch(command);
  if (!mergeable) {
    flush_held(self);  // those came first
    return propose_entry(self, std::move(command), std::move(promise), deadline);
  }
  // Each command adds its length's varint to the batch's framing.
  const std::size_t framed = command.size() + 16;
  const std::size_t entry_bytes = std::min(kMergedEntryBytes, s.setup.max_entry_bytes);
  if (s.held_bytes + framed > entry_bytes || s.held.size() >= kMergedEntryCommands) flush_held(self);
  s.held_bytes += framed;
  s.held.push_back(WaitingRequest{std::move(command), std::move(promise), deadline});
  if (!s.merge_scheduled) {
    s.merge_scheduled = true;
    self->send(self, merge_atom::value);
  }
}

// A proposal on a node that does not lead: forward it to the leader, or
// keep it until one is known (until its deadline).
void forward_proposal(Self self, WaitingRequest request) {
  auto& s = self->state;
  if (request.command.empty()) {
    request.promise.deliver(
        reply_of(SlimDataReply::Status::no_quorum, "leadership changed while the proposal was being handled; retry"));
    return;
  }
  if (s.role == Role::Leader) {
    propose_here(self, std::move(request.command), std::move(request.promise), request.deadline);
    return;
  }
  auto it = s.peers.find(s.leader);
  if (s.leader == 0 || it == s.peers.end()) {
    s.waiting.push_back(std::move(request));
    return;
  }
  ++s.forwarded;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(request.deadline - Clock::now());
  auto promise = request.promise;
  auto command = std::make_shared<std::string>(std::move(request.command));
  const auto deadline = request.deadline;
  self->request(it->second, std::max(left, std::chrono::milliseconds(1)), propose_atom::value, *command)
      .then(
          [=](SlimDataReply& r) mutable {
            // The node we asked no longer leads: try again while time is left.
            if (r.status == SlimDataReply::Status::no_quorum && r.detail == "not_leader" && Clock::now() < deadline) {
              forward_proposal(self, WaitingRequest{std::move(*command), promise, deadline});
              return;
            }
            promise.deliver(std::move(r));
          },
          [=](caf::error&) mutable {
            promise.deliver(reply_of(SlimDataReply::Status::no_quorum,
                                     "no answer from the leader within the request timeout"));
          });
}

// A snapshot transfer whose sender gave up (it waits at most the request
// timeout for each chunk's answer) holds up to a state's bytes: dropped.
void drop_stale_snapshot_transfer(Self self) {
  auto& s = self->state;
  const auto idle = 2 * s.setup.request_timeout;
  if (!s.incoming_snapshot.stale(Clock::now(), idle)) return;
  spdlog::warn("slimdata: node {} dropped an unfinished snapshot transfer (no chunk for {} ms)", s.setup.id,
               idle.count());
  s.incoming_snapshot.drop();
}

void expire_requests(Self self) {
  auto& s = self->state;
  const auto now = Clock::now();
  while (!s.proposal_deadlines.empty() && s.proposal_deadlines.front().first <= now) {
    auto it = s.proposals.find(s.proposal_deadlines.front().second);
    if (it != s.proposals.end()) {
      deliver_all(it->second, reply_of(SlimDataReply::Status::no_quorum,
                                       "not committed within the request timeout (no quorum?); it may still "
                                       "commit later"));
      s.proposal_callers -= it->second.callers();
      s.proposals.erase(it);
    }
    s.proposal_deadlines.pop_front();
  }
  while (!s.waiting.empty() && s.waiting.front().deadline <= now) {
    s.waiting.front().promise.deliver(
        reply_of(SlimDataReply::Status::no_quorum, "no leader known within the request timeout"));
    s.waiting.pop_front();
  }
  for (auto it = s.reads.begin(); it != s.reads.end();) {
    if (it->second.deadline <= now) {
      it->second.promise.deliver(reply_of(SlimDataReply::Status::no_quorum,
                                          "the read could not be confirmed by a quorum within the request timeout"));
      it = s.reads.erase(it);
    } else {
      ++it;
    }
  }
}

// Reads the core dropped (no leader when asked, or leadership changed) are
// asked again; answered ones are gone from the map.
void retry_unconfirmed_reads(Self self) {
  auto& s = self->state;
  for (auto& [context, read] : s.reads)
    if (!read.index) s.core->read_index(context);
}

void observe_role(Self self) {
  auto& s = self->state;
  const Role role = s.core->role();
  const NodeId leader = s.core->leader();
  const bool changed = role != s.role || leader != s.leader;
  if (role != s.role) {
    spdlog::info("slimdata: node {} is now {} (term {}, leader {})", s.setup.id, store::to_string(role),
                 s.core->term(), leader);
    const bool was_leader = s.role == Role::Leader;
    s.role = role;
    self->become(role_behavior(self, role));
    if (was_leader != (role == Role::Leader))
      for (const auto& subscriber : s.subscribers)
        self->send(subscriber, leader_atom::value, role == Role::Leader, static_cast<std::uint64_t>(s.core->term()));
  }
  s.leader = leader;
  if (changed) {
    flush_waiting(self);
    retry_unconfirmed_reads(self);
  }
}

json status_json(Self self) {
  auto& s = self->state;
  const auto st = s.core->status();
  json peers = json::array();
  std::map<NodeId, const store::PeerStatus*> progress;
  for (const auto& p : st.peers) progress[p.id] = &p;
  for (const auto& [id, address] : s.setup.peers) {
    json p{{"id", id}, {"address", address.host + ":" + std::to_string(address.port)},
           {"connected", s.peers.count(id) != 0}};
    if (auto it = progress.find(id); it != progress.end()) {
      p["match_index"] = it->second->match;
      p["next_index"] = it->second->next;
      p["recent_active"] = it->second->recent_active;
    }
    peers.push_back(std::move(p));
  }
  return {{"id", st.id},
          {"role", std::string(store::to_string(st.role))},
          {"term", st.term},
          {"vote", st.vote},
          {"leader", st.leader},
          {"commit_index", st.commit},
          {"last_applied", s.machine.last_applied()},
          {"snapshot_index", st.snapshot_index},
          {"last_index", st.last_index},
          {"cluster_id", s.setup.cluster_id},
          {"peers", peers},
          {"pending_proposals", s.proposal_callers + s.held.size()},
          {"waiting_for_leader", s.waiting.size()},
          {"pending_reads", s.reads.size()},
          {"persisting", s.persisting},
          {"snapshot_freeze_us", {{"last", s.snapshot_freeze_last.count()}, {"max", s.snapshot_freeze_max.count()}}},
          {"counters",
           {{"proposed", s.proposed},
            {"forwarded", s.forwarded},
            {"applied", s.applied_entries},
            {"refused_unlogged", s.refused_unlogged},
            {"merged_entries", s.merged_entries},
            {"merged_proposals", s.merged_proposals},
            {"persists", s.persists},
            {"snapshots_written", s.snapshots_written},
            {"snapshots_sent", s.snapshots_sent},
            {"snapshots_received", s.snapshots_received},
            {"persisted_entries", s.persisted_entries},
            {"peer_batches", s.peer_batches},
            {"empty_appends", s.empty_appends},
            {"rejected_unauthenticated", s.rejected_unauthenticated}}}};
}

bool too_many_requests(Self self) {
  auto& s = self->state;
  return s.proposal_callers + s.held.size() + s.waiting.size() + s.reads.size() >= s.setup.max_pending_requests;
}

// The peer takes nothing from this node before it.
void say_hello(Self self, const caf::actor& peer) {
  const auto& setup = self->state.setup;
  self->send(peer, hello_atom::value, setup.cluster_id, setup.secret, setup.id, slimdata_protocol);
}

// A connection to a peer is up, whichever side dialed: watch it, say
// hello, and send there.
void connected_to_peer(Self self, NodeId id, caf::actor handle) {
  auto& s = self->state;
  self->monitor(handle);
  say_hello(self, handle);
  s.peers[id] = std::move(handle);
  spdlog::info("slimdata: node {} connected to peer {}", s.setup.id, id);
  flush_waiting(self);
}

// A peer with a lower id dialed this node and said a valid hello: its node
// actor is the handle to send to, and it gets this node's hello back. Every
// time: a hello means the peer (re)connected and trusts nothing from here
// until then. That holds even when the handle is the one already held: the
// peer closed a connection this node had not yet seen close (this node was
// frozen), and CAF hands the same proxy out again. A new handle (the peer
// restarted) replaces the old one, whose down message then matches nothing.
void adopt_dialing_peer(Self self, NodeId id, caf::actor handle) {
  auto& s = self->state;
  if (!handle) return;
  auto it = s.peers.find(id);
  if (it != s.peers.end()) {
    if (it->second == handle) return say_hello(self, handle);
    const caf::actor_addr old = it->second.address();
    self->demonitor(old);
    s.authenticated.erase(old);
    if (old.node() != handle.node()) s.authenticated_nodes.erase(old.node());
  }
  connected_to_peer(self, id, std::move(handle));
}

// Whether a request comes from this node or from a peer that said hello;
// a refused one is counted. A message without a sender is neither: this
// node's own requesters always have one (an answer needs it), and CAF
// delivers a remote message without one when it cannot name the sender,
// e.g. while the connection it came on closes.
bool trusted_sender(Self self) {
  auto sender = self->current_sender();
  const bool trusted = sender && (sender->node() == self->node() ||
                                  self->state.authenticated_nodes.count(sender->node()) != 0);
  if (!trusted) ++self->state.rejected_unauthenticated;
  return trusted;
}

caf::message_handler common_handlers(Self self) {
  return {
      [=](raft_atom, RaftMessages& messages) {
        auto& s = self->state;
        auto it = s.authenticated.find(caf::actor_cast<caf::actor_addr>(self->current_sender()));
        if (it == s.authenticated.end()) {
          ++s.rejected_unauthenticated;
          return;
        }
        for (const auto& m : messages) {
          if (m.from != it->second) continue;  // a peer speaks only for itself
          s.core->step(m);
        }
        process_ready(self);
      },
      // A chunk of a snapshot from the leader's sender (a detached actor of
      // its node, hence trusted by node, and speaking for that node only).
      [=](snapshot_chunk_atom, const store::Message& header, std::uint64_t offset, std::uint64_t total,
          const std::string& chunk) -> bool {
        auto& s = self->state;
        auto sender = self->current_sender();
        auto from = sender ? s.authenticated_nodes.find(sender->node()) : s.authenticated_nodes.end();
        if (from == s.authenticated_nodes.end() || header.from != from->second ||
            header.type != store::MessageType::InstallSnapshot) {
          ++s.rejected_unauthenticated;
          return false;
        }
        switch (s.incoming_snapshot.add(header, offset, total, chunk)) {
          case store::SnapshotAssembly::Outcome::refused: return false;
          case store::SnapshotAssembly::Outcome::more: return true;
          case store::SnapshotAssembly::Outcome::complete: break;
        }
        ++s.snapshots_received;
        s.core->step(s.incoming_snapshot.message());
        process_ready(self);
        return true;
      },
      [=](snapshot_sent_atom, NodeId follower) {
        auto sender = self->current_sender();
        if (sender && sender->node() != self->node()) return;  // only this node's own senders end
        self->state.snapshots_sending.erase(follower);
      },
      [=](hello_atom, const std::string& cluster, const std::string& secret, NodeId from, std::uint32_t protocol) {
        auto& s = self->state;
        auto sender = caf::actor_cast<caf::actor_addr>(self->current_sender());
        if (!sender) {
          // Nothing to trust (see trusted_sender). If this node dials that
          // peer, its own hello makes the peer say hello again; otherwise
          // the peer, hearing nothing from here, dials again after the peer
          // timeout and says hello then.
          spdlog::warn("slimdata: node {} ignored a hello claiming node {} that came without a sender", s.setup.id,
                       from);
          ++s.rejected_unauthenticated;
          if (auto it = s.peers.find(from); it != s.peers.end() && dials(s.setup.id, from)) say_hello(self, it->second);
          return;
        }
        if (cluster != s.setup.cluster_id || !same_secret(secret, s.setup.secret) || s.setup.peers.count(from) == 0) {
          spdlog::warn("slimdata: refused a hello claiming node {} of cluster '{}' (wrong cluster, secret or node id)",
                       from, cluster);
          ++s.rejected_unauthenticated;
          return;
        }
        if (protocol != slimdata_protocol) {
          spdlog::warn("slimdata: refused node {}: it speaks SlimData protocol {}, this node {}; run one version per "
                       "cluster (upgrade one node at a time)",
                       from, protocol, slimdata_protocol);
          ++s.rejected_unauthenticated;
          return;
        }
        s.authenticated[sender] = from;
        s.authenticated_nodes[sender.node()] = from;
        spdlog::info("slimdata: node {} accepted peer {}", s.setup.id, from);
        if (!dials(s.setup.id, from)) adopt_dialing_peer(self, from, caf::actor_cast<caf::actor>(self->current_sender()));
      },
      [=](hello_atom, const std::string& cluster, const std::string&, NodeId from) {
        // The hello of versions before protocol 2.
        spdlog::warn("slimdata: refused node {} of cluster '{}': it speaks a SlimData protocol older than {}; run "
                     "one version per cluster (upgrade one node at a time)",
                     from, cluster, slimdata_protocol);
        ++self->state.rejected_unauthenticated;
      },
      [=](peer_atom, NodeId id, caf::actor& handle) { connected_to_peer(self, id, std::move(handle)); },
      [=](read_atom, std::string& query) -> caf::result<SlimDataReply> {
        auto& s = self->state;
        if (!trusted_sender(self)) return reply_of(SlimDataReply::Status::failed, "unauthenticated");
        if (too_many_requests(self))
          return reply_of(SlimDataReply::Status::overloaded, "too many SlimData requests waiting");
        const auto context = s.next_read++;
        auto promise = self->make_response_promise();
        s.reads.emplace(context, PendingRead{std::move(query), promise, Clock::now() + s.setup.request_timeout, {}});
        s.core->read_index(context);
        process_ready(self);
        return promise;
      },
      [=](peek_atom, const std::string& query) -> SlimDataReply {
        if (!trusted_sender(self)) return reply_of(SlimDataReply::Status::failed, "unauthenticated");
        SlimDataReply r;
        r.value = self->state.machine.query(query);
        return r;
      },
      // Side-stored bodies (actors/blob_actor.hpp): the blob actor answers.
      [=](blob_put_atom atom, std::string& id, std::uint64_t offset, std::uint64_t total, std::string& chunk) {
        if (!trusted_sender(self)) return self->make_response_promise().deliver(static_cast<std::uint8_t>(BlobPut::refused));
        self->delegate(self->state.blobs, atom, std::move(id), offset, total, std::move(chunk));
      },
      [=](blob_get_atom atom, std::string& id) {
        if (!trusted_sender(self)) return self->make_response_promise().deliver(false, std::string());
        self->delegate(self->state.blobs, atom, std::move(id));
      },
      [=](blob_targets_atom) -> caf::result<std::vector<caf::actor>, std::uint64_t> {
        auto& s = self->state;
        auto sender = self->current_sender();
        if (!sender || sender->node() != self->node()) return caf::make_error(caf::sec::unexpected_message);
        std::vector<caf::actor> nodes{caf::actor_cast<caf::actor>(self)};
        for (const auto& [_, handle] : s.peers) nodes.push_back(handle);
        return caf::result<std::vector<caf::actor>, std::uint64_t>(std::move(nodes),
                                                                  static_cast<std::uint64_t>(s.setup.peers.size() + 1));
      },
      [=](snapshot_written_atom, bool written) { snapshot_written(self, written); },
      [=](status_atom) -> std::string { return status_json(self).dump(); },
      [=](subscribe_atom, caf::actor& subscriber) {
        auto& s = self->state;
        if (!subscriber || subscriber->node() != self->node()) return;  // local actors only
        self->monitor(subscriber);
        self->send(subscriber, leader_atom::value, s.role == Role::Leader, static_cast<std::uint64_t>(s.core->term()));
        self->send(subscriber, applied_atom::value, static_cast<std::uint64_t>(s.machine.last_applied()));
        s.subscribers.push_back(std::move(subscriber));
      },
      [=](inspect_atom) -> std::string {
        json out{{"mailbox", mailbox_size(self)}, {"state", status_json(self)}};
        return out.dump();
      },
      [=](tick_atom) {
        auto& s = self->state;
        s.core->tick();
        // A ReadIndex request or answer lost on the way is asked again.
        if (++s.ticks % 4 == 0) retry_unconfirmed_reads(self);
        expire_requests(self);
        drop_stale_snapshot_transfer(self);
        process_ready(self);
        self->delayed_send(self, s.setup.tick, tick_atom::value);
      },
      [=](early_atom) { send_early_messages(self); },
      [=](merge_atom) {
        self->state.merge_scheduled = false;
        flush_held(self);
        process_ready(self);
      },
  };
}

// A command the state as this node applied it already refuses (a push
// into a full queue) is answered here, without a log entry: see
// StateMachine::refusal. Only once this node has applied everything it
// knows to be committed, so a node still catching up does not refuse on an
// old state. Entries not yet committed may free room meanwhile; the call is
// then refused a moment early, as a racing push would have been.
std::optional<SlimDataReply> refused_by_applied_state(Self self, const std::string& command) {
  auto& s = self->state;
  if (s.machine.last_applied() < s.core->log().commit()) return std::nullopt;
  auto refused = s.machine.refusal(command);
  if (!refused) return std::nullopt;
  ++s.refused_unlogged;
  SlimDataReply r;
  r.value = std::move(*refused);
  return r;
}

caf::result<SlimDataReply> admit_proposal(Self self, std::string& command, bool here) {
  auto& s = self->state;
  if (!trusted_sender(self)) return reply_of(SlimDataReply::Status::failed, "unauthenticated");
  if (command.size() > s.setup.max_entry_bytes)
    return reply_of(SlimDataReply::Status::too_large, "the command has " + std::to_string(command.size()) +
                                                          " bytes; SlimData takes at most " +
                                                          std::to_string(s.setup.max_entry_bytes));
  if (auto refused = refused_by_applied_state(self, command)) return *refused;
  if (too_many_requests(self)) return reply_of(SlimDataReply::Status::overloaded, "too many SlimData requests waiting");
  const bool from_peer = self->current_sender() && self->current_sender()->node() != self->node();
  if (!here && from_peer) {
    // A peer forwarded it believing we lead; we do not (any more).
    return reply_of(SlimDataReply::Status::no_quorum, "not_leader");
  }
  auto promise = self->make_response_promise();
  const auto deadline = Clock::now() + s.setup.request_timeout;
  if (here) propose_here(self, std::move(command), promise, deadline);
  else forward_proposal(self, WaitingRequest{std::move(command), promise, deadline});
  process_ready(self);
  return promise;
}

caf::behavior role_behavior(Self self, Role role) {
  if (role == Role::Leader) {
    return caf::message_handler{
        [=](propose_atom, std::string& command) { return admit_proposal(self, command, true); },
    }.or_else(common_handlers(self));
  }
  return caf::message_handler{
      [=](propose_atom, std::string& command) { return admit_proposal(self, command, false); },
  }.or_else(common_handlers(self));
}

caf::behavior raft_node(Self self, RaftNodeSetup setup, std::shared_ptr<store::RaftLog> log) {
  auto& s = self->state;
  auto recovered = log->recover();
  if (recovered.snapshot) load_snapshot_file(setup.directory, *recovered.snapshot);
  store::RecoveredState state{recovered.hard_state, recovered.snapshot, std::move(recovered.entries)};
  if (state.snapshot) {
    s.machine.restore(state.snapshot->data);
    s.snapshot_index = state.snapshot->meta.index;
    s.last_snapshot_bytes = state.snapshot->data.size();
  }
  store::RaftConfig config;
  config.id = setup.id;
  config.voters.push_back(setup.id);
  for (const auto& [id, _] : setup.peers) config.voters.push_back(id);
  config.election_ticks = setup.election_ticks;
  config.heartbeat_ticks = 1;
  config.seed = setup.seed ? setup.seed
                           : setup.id * 0x9E3779B97F4A7C15ull ^
                                 static_cast<std::uint64_t>(Clock::now().time_since_epoch().count());
  s.persisted_term = recovered.hard_state.term;
  s.persisted_vote = recovered.hard_state.vote;
  s.core = std::make_unique<store::RaftCore>(config, std::move(state));
  spdlog::info("slimdata: node {} recovered term {} commit {} snapshot {} last index {} (CRC32C: {})", setup.id,
               s.core->term(), recovered.hard_state.commit, s.snapshot_index, s.core->status().last_index,
               store::RaftLog::checksum_implementation());
  s.setup = std::move(setup);
  s.writer = self->spawn<caf::detached + caf::linked>(log_writer, log);
  BlobStoreSetup blobs;
  blobs.store = std::make_shared<store::BlobStore>(blob_directory(s.setup.directory), s.setup.max_blob_bytes, s.setup.sync);
  blobs.node = caf::actor_cast<caf::actor>(self);
  s.blobs = self->spawn<caf::detached + caf::linked>(blob_store_actor, std::move(blobs));
  for (const auto& [id, address] : s.setup.peers)
    if (dials(s.setup.id, id))
      self->spawn<caf::detached + caf::linked>(peer_connector, caf::actor_cast<caf::actor>(self), id, address);
  self->set_down_handler([=](caf::down_msg& down) {
    auto& s = self->state;
    std::erase_if(s.subscribers, [&](const caf::actor& a) { return a.address() == down.source; });
    for (auto it = s.peers.begin(); it != s.peers.end(); ++it) {
      if (it->second.address() != down.source) continue;
      const NodeId id = it->first;
      s.peers.erase(it);
      for (auto a = s.authenticated.begin(); a != s.authenticated.end();)
        a = a->second == id ? s.authenticated.erase(a) : std::next(a);
      std::erase_if(s.authenticated_nodes, [id](const auto& entry) { return entry.second == id; });
      if (dials(s.setup.id, id)) {
        spdlog::warn("slimdata: node {} lost peer {}; reconnecting", s.setup.id, id);
        self->spawn<caf::detached + caf::linked>(peer_connector, caf::actor_cast<caf::actor>(self), id,
                                                 s.setup.peers.at(id));
      } else {
        spdlog::warn("slimdata: node {} lost peer {}; waiting for it to connect again", s.setup.id, id);
      }
      break;
    }
  });
  self->send(self, tick_atom::value);
  return role_behavior(self, Role::Follower);
}

}  // namespace

caf::actor spawn_raft_node(caf::actor_system& system, RaftNodeSetup setup) {
  if (setup.peers.empty() && !setup.allow_cold_start)
    throw std::invalid_argument(
        "SlimData has no peers: a single node may only lead alone with SLIMDATA_ALLOW_COLD_START=true");
  if (setup.peers.count(setup.id))
    throw std::invalid_argument("SlimData: the peer list names this node (" + std::to_string(setup.id) + ") too");
  std::error_code ec;
  std::filesystem::create_directories(setup.directory, ec);
  if (ec) throw std::invalid_argument("cannot create " + setup.directory.string() + ": " + ec.message());
  store::RaftLogOptions options;
  options.sync = setup.sync;
  options.write_buffer_bytes = setup.write_buffer_bytes;
  auto log = std::make_shared<store::RaftLog>(store::RaftLog::open(setup.directory, options));
  return system.spawn(raft_node, std::move(setup), std::move(log));
}

}  // namespace slimfaas::actors
