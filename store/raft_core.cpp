#include "store/raft_core.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace slimfaas::store {

std::string_view to_string(MessageType type) {
  switch (type) {
    case MessageType::PreVote: return "PreVote";
    case MessageType::PreVoteResponse: return "PreVoteResponse";
    case MessageType::Vote: return "Vote";
    case MessageType::VoteResponse: return "VoteResponse";
    case MessageType::Append: return "Append";
    case MessageType::AppendResponse: return "AppendResponse";
    case MessageType::Heartbeat: return "Heartbeat";
    case MessageType::HeartbeatResponse: return "HeartbeatResponse";
    case MessageType::InstallSnapshot: return "InstallSnapshot";
    case MessageType::ReadIndex: return "ReadIndex";
    case MessageType::ReadIndexResponse: return "ReadIndexResponse";
  }
  return "Unknown";
}

std::string_view to_string(Role role) {
  switch (role) {
    case Role::Follower: return "follower";
    case Role::PreCandidate: return "pre-candidate";
    case Role::Candidate: return "candidate";
    case Role::Leader: return "leader";
  }
  return "unknown";
}

namespace {

RaftCoreLog recovered_log(const RecoveredState& recovered) {
  const Index snapshot_index = recovered.snapshot ? recovered.snapshot->meta.index : 0;
  const Term snapshot_term = recovered.snapshot ? recovered.snapshot->meta.term : 0;
  return RaftCoreLog(snapshot_index, snapshot_term, recovered.entries, recovered.hard_state.commit);
}

void validate(const RaftConfig& config) {
  if (config.id == 0) throw std::invalid_argument("raft: node id 0 is reserved for 'none'");
  if (std::find(config.voters.begin(), config.voters.end(), config.id) == config.voters.end()) {
    throw std::invalid_argument("raft: this node is not among the voters");
  }
  if (std::find(config.voters.begin(), config.voters.end(), NodeId{0}) != config.voters.end()) {
    throw std::invalid_argument("raft: voter id 0 is reserved for 'none'");
  }
  if (config.heartbeat_ticks <= 0 || config.election_ticks <= config.heartbeat_ticks) {
    throw std::invalid_argument("raft: need 0 < heartbeat_ticks < election_ticks");
  }
  if (config.max_entries_per_append == 0) throw std::invalid_argument("raft: max_entries_per_append must be > 0");
}

}  // namespace

RaftCore::RaftCore(RaftConfig config, RecoveredState recovered)
    : config_(std::move(config)), random_(config_.seed), log_(recovered_log(recovered)) {
  validate(config_);
  std::sort(config_.voters.begin(), config_.voters.end());
  config_.voters.erase(std::unique(config_.voters.begin(), config_.voters.end()), config_.voters.end());

  term_ = recovered.hard_state.term;
  vote_ = recovered.hard_state.vote;
  if (recovered.snapshot) {
    snapshot_ = std::move(*recovered.snapshot);
  } else {
    snapshot_.meta.voters = config_.voters;
  }
  // The state machine is rebuilt from the snapshot, then from the committed
  // entries that the first Ready hands out again.
  applied_ = log_.snapshot_index();
  handed_applied_ = applied_;
  handed_hard_state_ = recovered.hard_state;
  become_follower(term_, 0);
}

// ---------------------------------------------------------------------------
// Role transitions (paper §5.2, Figure 2 "Rules for Servers").
// ---------------------------------------------------------------------------

void RaftCore::reset(Term term) {
  if (term_ != term) {
    term_ = term;
    vote_ = 0;
  }
  leader_ = 0;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  reset_randomized_election_timeout();
  votes_ = VoteTally(config_.voters.size());
  progress_.clear();
  // Pending reads were confirmed by nobody in the new role; their callers'
  // deadlines turn them into errors.
  pending_reads_.clear();
  reads_awaiting_term_commit_.clear();
}

void RaftCore::become_follower(Term term, NodeId leader) {
  reset(term);
  role_ = Role::Follower;
  leader_ = leader;
}

void RaftCore::become_pre_candidate() {
  // A pre-candidate changes neither its term nor its vote (thesis §9.6): a
  // failed pre-election leaves no trace that could disrupt the cluster.
  votes_ = VoteTally(config_.voters.size());
  progress_.clear();
  pending_reads_.clear();
  reads_awaiting_term_commit_.clear();
  role_ = Role::PreCandidate;
  leader_ = 0;
  election_elapsed_ = 0;
  reset_randomized_election_timeout();
}

void RaftCore::become_candidate() {
  // Figure 2, Candidates: increment currentTerm, vote for self, reset the
  // election timer.
  reset(term_ + 1);
  vote_ = config_.id;
  role_ = Role::Candidate;
}

void RaftCore::become_leader() {
  reset(term_);
  role_ = Role::Leader;
  leader_ = config_.id;
  for (NodeId peer : config_.voters) {
    if (peer == config_.id) continue;
    PeerProgress progress;
    progress.next = log_.last_index() + 1;
    progress.recent_active = true;  // give everyone one election timeout
    progress_.emplace(peer, progress);
  }
  // §5.4.2 / §8: a leader cannot tell how far entries of earlier terms are
  // committed until it commits one of its own; the Noop is that entry.
  log_.append(Entry{term_, log_.last_index() + 1, Entry::Kind::Noop, {}});
  broadcast_append();
  // A single voter commits as soon as its own log is durable (advance()).
}

void RaftCore::start_election(bool pre_vote) {
  if (pre_vote) {
    become_pre_candidate();
  } else {
    become_candidate();
  }
  const Term election_term = pre_vote ? term_ + 1 : term_;
  const MessageType request = pre_vote ? MessageType::PreVote : MessageType::Vote;
  votes_.record(config_.id, true);
  if (votes_.outcome() == VoteTally::Outcome::Won) {
    // A single voter wins its own election.
    if (pre_vote) {
      start_election(false);
    } else {
      become_leader();
    }
    return;
  }
  for (NodeId peer : config_.voters) {
    if (peer == config_.id) continue;
    Message message;
    message.type = request;
    message.to = peer;
    message.term = election_term;
    message.index = log_.last_index();
    message.log_term = log_.last_term();
    send(std::move(message));
  }
}

void RaftCore::campaign() {
  if (role_ == Role::Leader) return;
  start_election(config_.pre_vote);
}

// ---------------------------------------------------------------------------
// Messages: the term rules first (Figure 2, "All Servers": a higher term
// makes us a follower; a lower term means a stale sender), then by role.
// ---------------------------------------------------------------------------

void RaftCore::step(const Message& message) {
  if (message.to != config_.id || message.from == config_.id) return;
  if (!std::binary_search(config_.voters.begin(), config_.voters.end(), message.from)) return;
  if (!check_term(message)) return;

  switch (message.type) {
    case MessageType::PreVote:
    case MessageType::Vote:
      handle_vote_request(message);
      return;
    default:
      break;
  }
  switch (role_) {
    case Role::Leader: step_leader(message); return;
    case Role::PreCandidate:
    case Role::Candidate: step_candidate(message); return;
    case Role::Follower: step_follower(message); return;
  }
}

bool RaftCore::in_leader_lease() const {
  // Leader stickiness (thesis §9.6, with check quorum): while we heard from
  // a live leader less than an election timeout ago, a vote request can only
  // come from a node that would disrupt it.
  return config_.check_quorum && leader_ != 0 && election_elapsed_ < config_.election_ticks;
}

bool RaftCore::check_term(const Message& message) {
  const bool vote_request = message.type == MessageType::PreVote || message.type == MessageType::Vote;
  if (message.term > term_) {
    if (vote_request && in_leader_lease()) return false;
    // A pre-vote's term is the candidate's next term, not adopted by anyone;
    // a granted pre-vote answer carries that same future term.
    if (message.type == MessageType::PreVote) return true;
    if (message.type == MessageType::PreVoteResponse && !message.reject) return true;
    const bool from_leader = message.type == MessageType::Append || message.type == MessageType::Heartbeat ||
                             message.type == MessageType::InstallSnapshot;
    become_follower(message.term, from_leader ? message.from : 0);
    return true;
  }
  if (message.term < term_) {
    if (message.type == MessageType::Append || message.type == MessageType::Heartbeat) {
      // A stale leader (or a node whose term we inflated) learns our term
      // from the answer and steps down; without pre-vote this is Figure 2's
      // reply with currentTerm, with it this unsticks a leader that kept
      // an old term across a partition.
      Message answer;
      answer.type = MessageType::AppendResponse;
      answer.to = message.from;
      answer.term = term_;
      send(std::move(answer));
    } else if (message.type == MessageType::PreVote) {
      Message answer;
      answer.type = MessageType::PreVoteResponse;
      answer.to = message.from;
      answer.term = term_;
      answer.reject = true;
      send(std::move(answer));
    }
    return false;
  }
  return true;
}

void RaftCore::handle_vote_request(const Message& message) {
  // Figure 2, RequestVote receiver: grant if we have not voted for someone
  // else in this term and the candidate's log is at least as up to date as
  // ours (§5.4.1). A pre-vote for a future term is granted on the log check
  // alone: it binds nothing.
  const bool pre_vote = message.type == MessageType::PreVote;
  const bool can_vote = vote_ == message.from || (vote_ == 0 && leader_ == 0) || (pre_vote && message.term > term_);
  Message answer;
  answer.type = pre_vote ? MessageType::PreVoteResponse : MessageType::VoteResponse;
  answer.to = message.from;
  if (can_vote && log_.is_up_to_date(message.index, message.log_term)) {
    answer.term = message.term;
    if (!pre_vote) {
      vote_ = message.from;  // durable before the answer leaves (Ready contract)
      election_elapsed_ = 0;
    }
  } else {
    answer.term = term_;
    answer.reject = true;
  }
  send(std::move(answer));
}

void RaftCore::step_candidate(const Message& message) {
  switch (message.type) {
    case MessageType::PreVoteResponse:
      // A grant counts only for the pre-election in progress (term + 1).
      if (role_ == Role::PreCandidate && (message.reject || message.term == term_ + 1)) handle_vote_response(message);
      return;
    case MessageType::VoteResponse:
      if (role_ == Role::Candidate) handle_vote_response(message);
      return;
    case MessageType::Append:
      // Figure 2, Candidates: AppendEntries from the new leader of our term.
      become_follower(term_, message.from);
      handle_append(message);
      return;
    case MessageType::Heartbeat:
      become_follower(term_, message.from);
      handle_heartbeat(message);
      return;
    case MessageType::InstallSnapshot:
      become_follower(term_, message.from);
      handle_install_snapshot(message);
      return;
    default:
      return;  // ReadIndex and the rest: nobody leads as far as we know
  }
}

void RaftCore::handle_vote_response(const Message& message) {
  votes_.record(message.from, !message.reject);
  switch (votes_.outcome()) {
    case VoteTally::Outcome::Won:
      if (role_ == Role::PreCandidate) {
        start_election(false);
      } else {
        become_leader();
      }
      return;
    case VoteTally::Outcome::Lost:
      become_follower(term_, 0);
      return;
    case VoteTally::Outcome::Pending:
      return;
  }
}

void RaftCore::step_follower(const Message& message) {
  switch (message.type) {
    case MessageType::Append:
      election_elapsed_ = 0;
      leader_ = message.from;
      handle_append(message);
      return;
    case MessageType::Heartbeat:
      election_elapsed_ = 0;
      leader_ = message.from;
      handle_heartbeat(message);
      return;
    case MessageType::InstallSnapshot:
      election_elapsed_ = 0;
      leader_ = message.from;
      handle_install_snapshot(message);
      return;
    case MessageType::ReadIndexResponse:
      read_states_.push_back(ReadState{message.context, message.index});
      return;
    default:
      return;
  }
}

// ---------------------------------------------------------------------------
// Log replication, receiver side (Figure 2, AppendEntries RPC).
// ---------------------------------------------------------------------------

void RaftCore::handle_append(const Message& message) {
  Message answer;
  answer.type = MessageType::AppendResponse;
  answer.to = message.from;
  answer.term = term_;
  if (message.index < log_.commit()) {
    // Everything up to our commit index is known to match; an older
    // (duplicated or reordered) message says nothing new.
    answer.index = log_.commit();
    send(std::move(answer));
    return;
  }
  if (log_.matches(message.index, message.log_term)) {
    // Steps 3-5: append, then commitIndex = min(leaderCommit, index of
    // last new entry).
    const Index last_new = log_.append_after(message.index, message.entries);
    log_.commit_to(std::min(message.commit, last_new));
    answer.index = last_new;
    send(std::move(answer));
    return;
  }
  // Step 2: our log has no entry at prevLogIndex with prevLogTerm. Tell
  // the leader where to look next (thesis §5.3, fast backtracking).
  answer.reject = true;
  answer.index = message.index;
  if (message.index > log_.last_index()) {
    answer.reject_hint = log_.last_index();
    answer.log_term = 0;
  } else {
    answer.log_term = *log_.term_at(message.index);
    answer.reject_hint = log_.first_index_of_term_at(message.index);
  }
  send(std::move(answer));
}

void RaftCore::handle_heartbeat(const Message& message) {
  // The leader sends min(our match, its commit), so this never commits an
  // entry we do not hold.
  log_.commit_to(std::min(message.commit, log_.last_index()));
  Message answer;
  answer.type = MessageType::HeartbeatResponse;
  answer.to = message.from;
  answer.term = term_;
  answer.context = message.context;
  send(std::move(answer));
}

void RaftCore::handle_install_snapshot(const Message& message) {
  // Thesis §5.1 / paper §7, InstallSnapshot receiver.
  const SnapshotMeta& meta = message.snapshot.meta;
  Message answer;
  answer.type = MessageType::AppendResponse;
  answer.to = message.from;
  answer.term = term_;
  if (meta.index <= log_.commit()) {
    answer.index = log_.commit();
  } else if (log_.matches(meta.index, meta.term)) {
    // Step 6: our log already holds the snapshot's last entry: keep the
    // entries after it; they commit up to it.
    log_.commit_to(meta.index);
    answer.index = log_.commit();
  } else {
    // Steps 7-8: discard the whole log, reset the state machine from the
    // snapshot (the driver does it from Ready::snapshot).
    log_.restore(meta.index, meta.term);
    snapshot_ = message.snapshot;
    received_snapshot_ = message.snapshot;
    handed_applied_ = meta.index;
    answer.index = meta.index;
  }
  send(std::move(answer));
}

// ---------------------------------------------------------------------------
// Leader (Figure 2, Leaders).
// ---------------------------------------------------------------------------

void RaftCore::step_leader(const Message& message) {
  if (message.type == MessageType::ReadIndex) {
    leader_read(message.from, message.context);
    return;
  }
  auto found = progress_.find(message.from);
  if (found == progress_.end()) return;
  found->second.recent_active = true;
  switch (message.type) {
    case MessageType::AppendResponse: handle_append_response(message); return;
    case MessageType::HeartbeatResponse: handle_heartbeat_response(message); return;
    default: return;
  }
}

void RaftCore::handle_append_response(const Message& message) {
  PeerProgress& progress = progress_.at(message.from);
  if (message.reject) {
    // Fast backtracking: jump over a whole conflicting term at once.
    Index hinted_next = message.reject_hint + 1;
    if (message.log_term != 0) {
      const auto ours = log_.last_index_of_term(message.log_term, message.index);
      hinted_next = ours ? *ours + 1 : message.reject_hint;
    }
    if (progress.back_off(message.index, hinted_next)) {
      if (progress.state == PeerProgress::State::Replicate) progress.become_probe();
      send_append(message.from, false);
    }
    return;
  }
  const bool was_paused = progress.paused();
  if (!progress.acknowledge(message.index)) {
    if (was_paused && !progress.paused()) send_append(message.from, false);
    return;
  }
  switch (progress.state) {
    case PeerProgress::State::Probe: progress.become_replicate(); break;
    case PeerProgress::State::Snapshot:
      if (progress.match >= progress.pending_snapshot) progress.become_replicate();
      break;
    case PeerProgress::State::Replicate: break;
  }
  if (maybe_commit()) {
    broadcast_commit();
  } else {
    send_commit(message.from);
  }
}

void RaftCore::handle_heartbeat_response(const Message& message) {
  PeerProgress& progress = progress_.at(message.from);
  progress.probe_sent = false;
  if (progress.state == PeerProgress::State::Replicate && progress.match < log_.last_index()) {
    // A lost final AppendEntries would never be rejected: after two
    // heartbeat answers without progress, probe again from `match`.
    if (progress.match == progress.match_at_last_heartbeat) {
      if (++progress.heartbeats_without_progress >= 2) progress.become_probe();
    } else {
      progress.heartbeats_without_progress = 0;
    }
  }
  progress.match_at_last_heartbeat = progress.match;
  // Even with nothing new past `next`, an (empty) AppendEntries probes
  // where the follower's log really ends.
  if (progress.match < log_.last_index()) send_append(message.from, true);
  if (message.context != 0) acknowledge_reads(message.from, message.context);
}

bool RaftCore::send_append(NodeId peer, bool send_if_empty) {
  PeerProgress& progress = progress_.at(peer);
  if (progress.paused()) return false;
  const Index previous = progress.next - 1;
  const auto previous_term = log_.term_at(previous);
  Message message;
  message.to = peer;
  message.term = term_;
  if (!previous_term) {
    // The follower needs entries we compacted: send the snapshot.
    message.type = MessageType::InstallSnapshot;
    message.snapshot = snapshot_;
    progress.become_snapshot(snapshot_.meta.index);
    send(std::move(message));
    return false;
  }
  if (holds_back(progress)) return false;
  message.type = MessageType::Append;
  message.index = previous;
  message.log_term = *previous_term;
  message.entries =
      log_.slice(progress.next, log_.last_index(), config_.max_entries_per_append, config_.max_bytes_per_append);
  message.commit = log_.commit();
  const bool has_entries = !message.entries.empty();
  if (!has_entries && !send_if_empty) return false;
  progress.commit_sent = std::max(progress.commit_sent, message.commit);
  if (progress.state == PeerProgress::State::Replicate) {
    if (has_entries) progress.next = message.entries.back().index + 1;
  } else {
    progress.probe_sent = true;
  }
  progress.append_since_heartbeat = true;
  send(std::move(message));
  return has_entries && progress.state == PeerProgress::State::Replicate;
}

// Small entries wait for the answer to what the follower has in flight
// (config: hold_append_bytes). That answer comes back to handle_append_response,
// whose send_commit sends them; if it never comes (a lost append), the
// heartbeat answers turn the follower to Probe, where nothing is held.
// Decided before the append is built: a held batch costs no slice.
bool RaftCore::holds_back(const PeerProgress& progress) const {
  if (config_.hold_append_bytes == 0 || progress.state != PeerProgress::State::Replicate ||
      !progress.awaiting_answer() || progress.next > log_.last_index())
    return false;
  std::size_t bytes = 0;
  for (Index i = progress.next; i <= log_.last_index(); ++i) {
    bytes += log_.at(i).data.size();
    if (bytes >= config_.hold_append_bytes) return false;
  }
  return true;
}

void RaftCore::flush_pending_appends() {
  if (!std::exchange(appends_pending_, false) || role_ != Role::Leader) return;
  for (auto& [peer, progress] : progress_) {
    while (send_append(peer, false)) {
    }
  }
}

void RaftCore::broadcast_append() {
  for (auto& [peer, progress] : progress_) send_append(peer, true);
}

// A follower needs the new commit index only to apply, and any append
// carries it. While the follower has entries in flight, its answer comes
// back and this runs again, and new proposals reach it with appends that
// carry the commit anyway: an AppendEntries sent only for the commit index
// would cost a message, a wake-up and an answer on both nodes for nothing.
// Once nothing is in flight, it is told at once, so an idle follower
// applies everything without waiting for a heartbeat. (Under sustained
// load, 3 nodes: about 60% of the leader's appends carried no entries.)
void RaftCore::send_commit(NodeId peer) {
  const PeerProgress& progress = progress_.at(peer);
  const bool tell = progress.commit_sent < log_.commit() && !progress.awaiting_answer();
  if (!send_append(peer, tell)) return;
  while (send_append(peer, false)) {
  }
}

void RaftCore::broadcast_commit() {
  for (auto& [peer, progress] : progress_) send_commit(peer);
}

// A round that carries no read (read_sequence 0, a plain tick) skips the
// followers that got an append since the last one: the append reset their
// election timers and told them the commit. A read's round goes to all.
void RaftCore::broadcast_heartbeat(std::uint64_t read_sequence) {
  for (auto& [peer, progress] : progress_) {
    const bool skip = read_sequence == 0 && progress.append_since_heartbeat;
    progress.append_since_heartbeat = false;
    if (skip) continue;
    Message message;
    message.type = MessageType::Heartbeat;
    message.to = peer;
    message.term = term_;
    message.commit = std::min(progress.match, log_.commit());
    progress.commit_sent = std::max(progress.commit_sent, message.commit);
    message.context = read_sequence;
    send(std::move(message));
  }
}

Index RaftCore::self_match() const { return std::min(log_.persisted_last(), log_.last_index()); }

bool RaftCore::maybe_commit() {
  // Figure 2, Leaders: commit N if a majority has matchIndex >= N and
  // log[N].term == currentTerm. Only entries of the current term are
  // committed by counting (§5.4.2); earlier ones follow by Log Matching.
  std::vector<Index> matches{self_match()};
  for (const auto& [peer, progress] : progress_) matches.push_back(progress.match);
  const Index candidate = quorum_index(std::move(matches));
  if (candidate <= log_.commit() || log_.term_at(candidate) != term_) return false;
  const bool first_in_term = !committed_in_current_term();
  log_.commit_to(candidate);
  if (first_in_term) {
    auto waiting = std::move(reads_awaiting_term_commit_);
    reads_awaiting_term_commit_.clear();
    for (const auto& [from, context] : waiting) register_read(from, context);
  }
  return true;
}

bool RaftCore::committed_in_current_term() const { return log_.term_at(log_.commit()) == term_; }

bool RaftCore::quorum_active() const {
  std::size_t active = 1;  // ourselves
  for (const auto& [peer, progress] : progress_) active += progress.recent_active ? 1 : 0;
  return active >= quorum();
}

ProposeResult RaftCore::propose(std::string data) {
  if (role_ != Role::Leader) return ProposeResult{0, term_, leader_};
  const Index index = log_.last_index() + 1;
  log_.append(Entry{term_, index, Entry::Kind::Command, std::move(data)});
  // Sent with the next Ready (or take_messages_before_persist): proposals
  // that arrive together share one append per peer.
  appends_pending_ = true;
  return ProposeResult{index, term_, config_.id};
}

// ---------------------------------------------------------------------------
// Reads (thesis §6.4, ReadIndex).
// ---------------------------------------------------------------------------

ReadIndexResult RaftCore::read_index(std::uint64_t context) {
  if (role_ == Role::Leader) {
    leader_read(config_.id, context);
    return ReadIndexResult{true, config_.id};
  }
  if (leader_ == 0) return ReadIndexResult{false, 0};
  Message message;
  message.type = MessageType::ReadIndex;
  message.to = leader_;
  message.term = term_;
  message.context = context;
  send(std::move(message));
  return ReadIndexResult{true, leader_};
}

void RaftCore::leader_read(NodeId from, std::uint64_t context) {
  // Step 1: until an entry of this term is committed, our commit index may
  // be behind the cluster's; wait for the Noop.
  if (!committed_in_current_term()) {
    reads_awaiting_term_commit_.emplace_back(from, context);
    return;
  }
  register_read(from, context);
}

void RaftCore::register_read(NodeId from, std::uint64_t context) {
  PendingRead read;
  read.sequence = ++read_sequence_;
  read.context = context;
  read.from = from;
  read.index = log_.commit();  // step 2
  read.acks.insert(config_.id);
  if (read.acks.size() >= quorum()) {
    release_read(read);  // a single voter is always the leader
    return;
  }
  pending_reads_.push_back(std::move(read));
  broadcast_heartbeat(read_sequence_);  // step 3
}

void RaftCore::acknowledge_reads(NodeId peer, std::uint64_t sequence) {
  // A heartbeat answer for sequence s confirms leadership for every read
  // registered before that heartbeat was sent.
  std::size_t confirmed = 0;
  for (std::size_t i = 0; i < pending_reads_.size(); ++i) {
    PendingRead& read = pending_reads_[i];
    if (read.sequence > sequence) break;
    read.acks.insert(peer);
    if (read.acks.size() >= quorum()) confirmed = i + 1;
  }
  for (std::size_t i = 0; i < confirmed; ++i) {
    release_read(pending_reads_.front());
    pending_reads_.pop_front();
  }
}

void RaftCore::release_read(const PendingRead& read) {
  // Step 4.
  if (read.from == config_.id) {
    read_states_.push_back(ReadState{read.context, read.index});
    return;
  }
  Message answer;
  answer.type = MessageType::ReadIndexResponse;
  answer.to = read.from;
  answer.term = term_;
  answer.index = read.index;
  answer.context = read.context;
  send(std::move(answer));
}

// ---------------------------------------------------------------------------
// Timers.
// ---------------------------------------------------------------------------

void RaftCore::tick() {
  if (role_ == Role::Leader) {
    tick_heartbeat();
  } else {
    tick_election();
  }
}

void RaftCore::tick_election() {
  ++election_elapsed_;
  if (election_elapsed_ >= randomized_election_timeout_) {
    election_elapsed_ = 0;
    start_election(config_.pre_vote);
  }
}

void RaftCore::tick_heartbeat() {
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  for (auto& [peer, progress] : progress_) {
    if (progress.state == PeerProgress::State::Snapshot && ++progress.snapshot_ticks >= config_.election_ticks) {
      // The snapshot (or its answer) was probably lost: probe again, which
      // sends it again if still needed.
      progress.become_probe();
    }
  }
  if (election_elapsed_ >= config_.election_ticks) {
    election_elapsed_ = 0;
    if (config_.check_quorum) {
      if (!quorum_active()) {
        // Check quorum: we may be on the minority side of a partition;
        // step down so that clients are told, not kept waiting.
        become_follower(term_, 0);
        return;
      }
      for (auto& [peer, progress] : progress_) progress.recent_active = false;
    }
  }
  if (heartbeat_elapsed_ >= config_.heartbeat_ticks) {
    heartbeat_elapsed_ = 0;
    // Under load the appends keep every follower's timer reset, and on a
    // quiet cluster a tick that falls inside a call costs no messages on
    // three nodes beside it (broadcast_heartbeat skips those followers).
    broadcast_heartbeat(pending_reads_.empty() ? 0 : pending_reads_.back().sequence);
  }
}

void RaftCore::reset_randomized_election_timeout() {
  const auto span = static_cast<std::uint64_t>(config_.election_ticks);
  randomized_election_timeout_ = config_.election_ticks + static_cast<int>(random_() % span);
}

// ---------------------------------------------------------------------------
// Ready.
// ---------------------------------------------------------------------------

void RaftCore::send(Message message) {
  message.from = config_.id;
  outbox_.push_back(std::move(message));
}

bool RaftCore::has_ready() const {
  if (ready_outstanding_) return false;
  return !outbox_.empty() || !read_states_.empty() || received_snapshot_ || log_.has_unstable() ||
         hard_state() != handed_hard_state_ || log_.commit() > handed_applied_;
}

Ready RaftCore::ready() {
  if (ready_outstanding_) throw std::logic_error("raft: ready() called again before advance()");
  flush_pending_appends();
  Ready ready;
  ready.snapshot = std::move(received_snapshot_);
  received_snapshot_.reset();
  ready.truncate_from = log_.take_truncate_from();
  ready.entries = log_.take_unstable();
  const HardState current = hard_state();
  if (current != handed_hard_state_) {
    ready.must_sync = current.term != handed_hard_state_.term || current.vote != handed_hard_state_.vote;
    ready.hard_state = current;
    handed_hard_state_ = current;
  }
  ready.must_sync = ready.must_sync || ready.snapshot || ready.truncate_from != 0 || !ready.entries.empty();
  for (Index i = handed_applied_ + 1; i <= log_.commit(); ++i) ready.committed_entries.push_back(log_.at(i));
  handed_applied_ = log_.commit();
  ready.messages = std::move(outbox_);
  outbox_.clear();
  ready.read_states = std::move(read_states_);
  read_states_.clear();
  ready_outstanding_ = true;
  outstanding_applied_ = handed_applied_;
  return ready;
}

std::vector<Message> RaftCore::take_messages_before_persist() {
  flush_pending_appends();
  std::vector<Message> now;
  std::vector<Message> later;
  for (auto& m : outbox_) (may_send_before_persist(m) ? now : later).push_back(std::move(m));
  outbox_ = std::move(later);
  return now;
}

std::vector<Entry> RaftCore::take_committed_before_persist() {
  std::vector<Entry> committed;
  if (!ready_outstanding_ || received_snapshot_) return committed;
  // Not past what the outstanding write holds: the driver may compact up to
  // what it applied once that write is durable, never past its store.
  const Index upto = std::min(log_.commit(), log_.handed_out_last());
  for (Index i = handed_applied_ + 1; i <= upto; ++i) committed.push_back(log_.at(i));
  handed_applied_ = std::max(handed_applied_, upto);
  outstanding_applied_ = handed_applied_;  // applied by the time advance() comes
  return committed;
}

void RaftCore::advance() {
  if (!ready_outstanding_) throw std::logic_error("raft: advance() without an outstanding ready()");
  ready_outstanding_ = false;
  log_.mark_handed_out_persisted();
  applied_ = std::max(applied_, outstanding_applied_);
  // Our own log just became durable: it may complete a quorum.
  if (role_ == Role::Leader && maybe_commit()) broadcast_commit();
}

const Snapshot& RaftCore::compact(Index upto, std::string data) {
  if (upto > applied_) throw std::logic_error("raft: compact beyond the applied index");
  if (upto <= log_.snapshot_index()) return snapshot_;
  const Term term = *log_.term_at(upto);
  log_.compact(upto);
  snapshot_.meta.index = upto;
  snapshot_.meta.term = term;
  snapshot_.meta.voters = config_.voters;
  snapshot_.data = std::move(data);
  return snapshot_;
}

Status RaftCore::status() const {
  Status status;
  status.id = config_.id;
  status.role = role_;
  status.term = term_;
  status.vote = vote_;
  status.leader = leader_;
  status.commit = log_.commit();
  status.applied = applied_;
  status.snapshot_index = log_.snapshot_index();
  status.last_index = log_.last_index();
  for (const auto& [peer, progress] : progress_) {
    status.peers.push_back(PeerStatus{peer, progress.match, progress.next, progress.state, progress.recent_active});
  }
  return status;
}

}  // namespace slimfaas::store
