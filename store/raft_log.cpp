#include "store/raft_log.hpp"

#include "store/rocksdb_crc32c.hpp"

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/write_batch.h>

#include <array>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

namespace slimfaas::store {
namespace {

constexpr std::uint32_t kFormatVersion = 1;
constexpr std::string_view kFormatKey = "Mformat";
constexpr std::string_view kHardStateKey = "Mhard_state";
constexpr std::string_view kSnapshotKey = "S";
constexpr char kLogPrefix = 'L';
// Every log key sorts below "M" ('L' + 1): the exclusive end of "all entries".
constexpr std::string_view kLogEnd = "M";
constexpr std::size_t kEntryHeaderBytes = 1 + 8;            // kind, term
constexpr std::size_t kSnapshotHeaderBytes = 8 + 8 + 4;     // index, term, voter count

void put_u64_le(char* out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}
void put_u32_le(char* out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}
std::uint64_t get_u64_le(const char* in) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= std::uint64_t(static_cast<unsigned char>(in[i])) << (8 * i);
  return v;
}
std::uint32_t get_u32_le(const char* in) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= std::uint32_t(static_cast<unsigned char>(in[i])) << (8 * i);
  return v;
}

using LogKey = std::array<char, 9>;

LogKey log_key(Index index) {
  LogKey key;
  key[0] = kLogPrefix;
  for (int i = 0; i < 8; ++i) key[1 + i] = static_cast<char>((index >> (8 * (7 - i))) & 0xFF);
  return key;
}
rocksdb::Slice slice(const LogKey& key) { return {key.data(), key.size()}; }
rocksdb::Slice slice(std::string_view s) { return {s.data(), s.size()}; }

bool is_log_key(const rocksdb::Slice& key) { return key.size() == 9 && key[0] == kLogPrefix; }
Index index_of(const rocksdb::Slice& key) {
  Index index = 0;
  for (int i = 0; i < 8; ++i) index = (index << 8) | static_cast<unsigned char>(key[1 + i]);
  return index;
}

std::string encode_hard_state(const HardState& hs) {
  std::string out(24, '\0');
  put_u64_le(out.data(), hs.term);
  put_u64_le(out.data() + 8, hs.vote);
  put_u64_le(out.data() + 16, hs.commit);
  return out;
}

[[noreturn]] void fail(const std::string& path, std::string_view what, const rocksdb::Status& status) {
  throw StorageError("raft log " + path + ": " + std::string(what) + ": " + status.ToString());
}
[[noreturn]] void corrupt(const std::string& path, std::string_view what) {
  throw StorageError("raft log " + path + ": corrupt: " + std::string(what));
}

Entry decode_entry(const std::string& path, Index index, const rocksdb::Slice& value) {
  if (value.size() < kEntryHeaderBytes) corrupt(path, "entry " + std::to_string(index) + " too short");
  auto kind = static_cast<std::uint8_t>(value[0]);
  if (kind > static_cast<std::uint8_t>(Entry::Kind::Noop))
    corrupt(path, "entry " + std::to_string(index) + " has unknown kind " + std::to_string(kind));
  Entry entry;
  entry.index = index;
  entry.kind = static_cast<Entry::Kind>(kind);
  entry.term = get_u64_le(value.data() + 1);
  entry.data = SharedBytes(std::string(value.data() + kEntryHeaderBytes, value.size() - kEntryHeaderBytes));
  return entry;
}

SnapshotMeta decode_snapshot_meta(const std::string& path, const rocksdb::Slice& value,
                                  std::size_t* data_offset) {
  if (value.size() < kSnapshotHeaderBytes) corrupt(path, "snapshot header too short");
  SnapshotMeta meta;
  meta.index = get_u64_le(value.data());
  meta.term = get_u64_le(value.data() + 8);
  std::uint32_t voters = get_u32_le(value.data() + 16);
  std::size_t offset = kSnapshotHeaderBytes + std::size_t(voters) * 8;
  if (value.size() < offset) corrupt(path, "snapshot voter list truncated");
  meta.voters.reserve(voters);
  for (std::uint32_t i = 0; i < voters; ++i)
    meta.voters.push_back(get_u64_le(value.data() + kSnapshotHeaderBytes + 8 * i));
  *data_offset = offset;
  return meta;
}

}  // namespace

struct RaftLog::Impl {
  std::string path;
  Options options;
  std::unique_ptr<rocksdb::DB> db;
  Batch::Shape shape;
  // Bumped by every write, so a batch built before another write is caught.
  std::uint64_t generation = 0;

  void check(const rocksdb::Status& status, std::string_view what) const {
    if (!status.ok()) fail(path, what, status);
  }
};

// --- Batch ---------------------------------------------------------------

RaftLog::Batch::Batch(const RaftLog& log, std::size_t reserve_bytes)
    : rocks_batch_(std::make_unique<rocksdb::WriteBatch>(reserve_bytes)),
      shape_(log.impl_->shape),
      base_generation_(log.impl_->generation) {}
RaftLog::Batch::Batch(Batch&&) noexcept = default;
RaftLog::Batch& RaftLog::Batch::operator=(Batch&&) noexcept = default;
RaftLog::Batch::~Batch() = default;

bool RaftLog::Batch::empty() const noexcept { return rocks_batch_->Count() == 0; }
std::size_t RaftLog::Batch::bytes() const noexcept { return rocks_batch_->GetDataSize(); }

RaftLog::Batch& RaftLog::Batch::set_hard_state(const HardState& hard_state) {
  std::string value = encode_hard_state(hard_state);
  rocks_batch_->Put(slice(kHardStateKey), value);
  shape_.hard_state = hard_state;
  return *this;
}

RaftLog::Batch& RaftLog::Batch::truncate_from(Index from) {
  if (from <= shape_.snapshot.index)
    throw std::invalid_argument("raft log: cannot truncate from " + std::to_string(from) +
                                ", at or below the snapshot index " +
                                std::to_string(shape_.snapshot.index));
  if (from > shape_.last_index) return *this;  // nothing stored there
  LogKey begin = log_key(from);
  rocks_batch_->DeleteRange(slice(begin), slice(kLogEnd));
  shape_.last_index = from - 1;
  return *this;
}

RaftLog::Batch& RaftLog::Batch::append(std::span<const Entry> entries) {
  if (entries.empty()) return *this;
  const Index first = entries.front().index;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].index != first + i)
      throw std::invalid_argument("raft log: appended entries are not contiguous at index " +
                                  std::to_string(entries[i].index));
  }
  if (first <= shape_.snapshot.index || first > shape_.last_index + 1)
    throw std::invalid_argument("raft log: append at " + std::to_string(first) +
                                " would leave a gap or rewrite the snapshot (snapshot index " +
                                std::to_string(shape_.snapshot.index) + ", last index " +
                                std::to_string(shape_.last_index) + ")");
  const Index new_last = entries.back().index;
  // Entries in [first, new_last] are overwritten by the puts below; only an
  // older, longer suffix past new_last needs deleting.
  if (new_last < shape_.last_index) {
    LogKey begin = log_key(new_last + 1);
    rocks_batch_->DeleteRange(slice(begin), slice(kLogEnd));
  }
  for (const Entry& entry : entries) {
    // Header and data go in as two slice parts: the MiB body is copied once,
    // into the batch, never into a concatenated temporary first.
    std::array<char, kEntryHeaderBytes> header;
    header[0] = static_cast<char>(entry.kind);
    put_u64_le(header.data() + 1, entry.term);
    LogKey key = log_key(entry.index);
    rocksdb::Slice key_slice = slice(key);
    std::array<rocksdb::Slice, 2> value_parts{rocksdb::Slice(header.data(), header.size()),
                                              rocksdb::Slice(entry.data.data(), entry.data.size())};
    rocks_batch_->Put(rocksdb::SliceParts(&key_slice, 1),
                      rocksdb::SliceParts(value_parts.data(), static_cast<int>(value_parts.size())));
  }
  shape_.last_index = new_last;
  return *this;
}

RaftLog::Batch& RaftLog::Batch::save_snapshot(const Snapshot& snapshot) {
  const SnapshotMeta& meta = snapshot.meta;
  if (meta.index < shape_.snapshot.index)
    throw std::invalid_argument("raft log: snapshot at " + std::to_string(meta.index) +
                                " is older than the stored one at " +
                                std::to_string(shape_.snapshot.index));
  std::string header(kSnapshotHeaderBytes + meta.voters.size() * 8, '\0');
  put_u64_le(header.data(), meta.index);
  put_u64_le(header.data() + 8, meta.term);
  put_u32_le(header.data() + 16, static_cast<std::uint32_t>(meta.voters.size()));
  for (std::size_t i = 0; i < meta.voters.size(); ++i)
    put_u64_le(header.data() + kSnapshotHeaderBytes + 8 * i, meta.voters[i]);
  rocksdb::Slice key_slice = slice(kSnapshotKey);
  std::array<rocksdb::Slice, 2> value_parts{rocksdb::Slice(header), rocksdb::Slice(snapshot.data)};
  rocks_batch_->Put(rocksdb::SliceParts(&key_slice, 1),
                    rocksdb::SliceParts(value_parts.data(), static_cast<int>(value_parts.size())));
  // Compaction: the snapshot replaces every entry up to its index.
  LogKey end = log_key(meta.index + 1);
  rocks_batch_->DeleteRange(rocksdb::Slice(&kLogPrefix, 1), slice(end));
  shape_.snapshot = meta;
  if (shape_.last_index < meta.index) shape_.last_index = meta.index;
  return *this;
}

// --- RaftLog -------------------------------------------------------------

RaftLog::RaftLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RaftLog::RaftLog(RaftLog&&) noexcept = default;
RaftLog& RaftLog::operator=(RaftLog&&) noexcept = default;
RaftLog::~RaftLog() = default;

// Also what makes the link take store/rocksdb_crc32c.cpp's CRC over the
// RocksDB archive's: this reference pulls that object in first.
std::string RaftLog::checksum_implementation() { return rocksdb::crc32c::IsFastCrc32Supported(); }

RaftLog RaftLog::open(const std::filesystem::path& path, Options options) {
  auto impl = std::make_unique<Impl>();
  impl->path = path.string();
  impl->options = options;

  rocksdb::Options db_options;
  db_options.create_if_missing = options.create_if_missing;
  db_options.write_buffer_size = options.write_buffer_bytes;
  db_options.max_background_jobs = 2;
  // A synced write is durable as a whole; after a crash, replay the WAL up
  // to the last intact batch and stop there, so what comes back is always a
  // prefix of what was written.
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  rocksdb::DB* raw = nullptr;
  impl->check(rocksdb::DB::Open(db_options, impl->path, &raw), "cannot open");
  impl->db.reset(raw);
  rocksdb::DB& db = *impl->db;

  std::string value;
  rocksdb::Status status = db.Get(rocksdb::ReadOptions(), slice(kFormatKey), &value);
  if (status.IsNotFound()) {
    std::unique_ptr<rocksdb::Iterator> any(db.NewIterator(rocksdb::ReadOptions()));
    any->SeekToFirst();
    if (any->Valid()) corrupt(impl->path, "not a SlimData raft log (no format key)");
    impl->check(any->status(), "cannot read");
    std::string version(4, '\0');
    put_u32_le(version.data(), kFormatVersion);
    rocksdb::WriteOptions write_options;
    write_options.sync = true;
    impl->check(db.Put(write_options, slice(kFormatKey), version), "cannot write the format key");
  } else {
    impl->check(status, "cannot read the format key");
    if (value.size() != 4 || get_u32_le(value.data()) != kFormatVersion)
      corrupt(impl->path, "unsupported format version");
  }

  status = db.Get(rocksdb::ReadOptions(), slice(kHardStateKey), &value);
  if (!status.IsNotFound()) {
    impl->check(status, "cannot read the hard state");
    if (value.size() != 24) corrupt(impl->path, "hard state has the wrong size");
    impl->shape.hard_state = {get_u64_le(value.data()), get_u64_le(value.data() + 8),
                              get_u64_le(value.data() + 16)};
  }

  rocksdb::PinnableSlice snapshot_value;
  status = db.Get(rocksdb::ReadOptions(), db.DefaultColumnFamily(), slice(kSnapshotKey), &snapshot_value);
  if (!status.IsNotFound()) {
    impl->check(status, "cannot read the snapshot");
    std::size_t data_offset = 0;
    impl->shape.snapshot = decode_snapshot_meta(impl->path, snapshot_value, &data_offset);
  }

  // The last entry: the key just below "M" (the format key always exists).
  impl->shape.last_index = impl->shape.snapshot.index;
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions()));
  it->Seek(slice(kLogEnd));
  if (it->Valid()) it->Prev();
  impl->check(it->status(), "cannot read the log");
  if (it->Valid() && is_log_key(it->key())) {
    Index last = index_of(it->key());
    if (last > impl->shape.last_index) impl->shape.last_index = last;
  }
  return RaftLog(std::move(impl));
}

RaftLog::Recovered RaftLog::recover() const {
  Recovered recovered;
  recovered.hard_state = impl_->shape.hard_state;
  recovered.snapshot = snapshot();
  const Index first = impl_->shape.snapshot.index + 1;
  recovered.entries = entries(first, impl_->shape.last_index + 1);
  // entries() checks contiguity from `first`; here also check nothing is
  // missing at the end (the last key was read at open).
  Index expected_last = recovered.entries.empty() ? impl_->shape.snapshot.index
                                                  : recovered.entries.back().index;
  if (expected_last != impl_->shape.last_index)
    corrupt(impl_->path, "log ends at " + std::to_string(expected_last) + " but its last key is " +
                             std::to_string(impl_->shape.last_index));
  return recovered;
}

std::vector<Entry> RaftLog::entries(Index lo, Index hi, std::size_t max_bytes) const {
  if (lo <= impl_->shape.snapshot.index)
    throw std::invalid_argument("raft log: entries from " + std::to_string(lo) +
                                " are compacted into the snapshot at " +
                                std::to_string(impl_->shape.snapshot.index));
  std::vector<Entry> out;
  if (hi > impl_->shape.last_index + 1) hi = impl_->shape.last_index + 1;
  if (lo >= hi) return out;
  LogKey begin = log_key(lo);
  LogKey end = log_key(hi);
  rocksdb::Slice upper = slice(end);
  rocksdb::ReadOptions read_options;
  read_options.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(read_options));
  std::size_t bytes = 0;
  Index expected = lo;
  for (it->Seek(slice(begin)); it->Valid(); it->Next()) {
    Index index = index_of(it->key());
    if (index != expected)
      corrupt(impl_->path, "missing entry " + std::to_string(expected) + " (next is " +
                               std::to_string(index) + ")");
    bytes += it->value().size();
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(decode_entry(impl_->path, index, it->value()));
    ++expected;
  }
  impl_->check(it->status(), "cannot read entries");
  if (out.size() < hi - lo && bytes <= max_bytes)
    corrupt(impl_->path, "missing entry " + std::to_string(expected));
  return out;
}

std::optional<Term> RaftLog::term(Index index) const {
  const auto& shape = impl_->shape;
  if (index == shape.snapshot.index) return shape.snapshot.term;
  if (index < shape.snapshot.index || index > shape.last_index) return std::nullopt;
  LogKey key = log_key(index);
  rocksdb::PinnableSlice value;
  rocksdb::Status status =
      impl_->db->Get(rocksdb::ReadOptions(), impl_->db->DefaultColumnFamily(), slice(key), &value);
  if (status.IsNotFound()) corrupt(impl_->path, "missing entry " + std::to_string(index));
  impl_->check(status, "cannot read an entry");
  if (value.size() < kEntryHeaderBytes) corrupt(impl_->path, "entry " + std::to_string(index) + " too short");
  return get_u64_le(value.data() + 1);
}

RaftLog::Batch RaftLog::batch(std::size_t reserve_bytes) const { return Batch(*this, reserve_bytes); }

std::size_t RaftLog::append_bytes(std::span<const Entry> entries) noexcept {
  // WriteBatch's own header, then per record: its tag, the key and the
  // value, each after a varint32 length (at most 5 bytes).
  constexpr std::size_t kBatchHeader = 12;
  constexpr std::size_t kRecord = 1 + 5 + 5;
  constexpr std::size_t kHardState = kRecord + kHardStateKey.size() + 24;
  std::size_t bytes = kBatchHeader + kHardState;
  for (const Entry& entry : entries) bytes += kRecord + sizeof(LogKey) + kEntryHeaderBytes + entry.data.size();
  return bytes;
}

void RaftLog::write(Batch&& batch) { write(std::move(batch), true); }

void RaftLog::write(Batch&& batch, bool sync) {
  if (batch.base_generation_ != impl_->generation)
    throw std::logic_error("raft log: batch built before another write to the log");
  if (batch.empty()) return;
  rocksdb::WriteOptions write_options;
  write_options.sync = impl_->options.sync && sync;
  impl_->check(impl_->db->Write(write_options, batch.rocks_batch_.get()), "cannot write");
  impl_->shape = std::move(batch.shape_);
  ++impl_->generation;
}

void RaftLog::persist(const std::optional<HardState>& hard_state, Index truncate_from,
                      std::span<const Entry> entries) {
  Batch b = batch(append_bytes(entries));
  if (hard_state) b.set_hard_state(*hard_state);
  if (truncate_from != 0) b.truncate_from(truncate_from);
  b.append(entries);
  write(std::move(b));
}

void RaftLog::save_snapshot(const Snapshot& snapshot) {
  Batch b = batch();
  b.save_snapshot(snapshot);
  write(std::move(b));
}

Index RaftLog::first_index() const noexcept { return impl_->shape.snapshot.index + 1; }
Index RaftLog::last_index() const noexcept { return impl_->shape.last_index; }
const HardState& RaftLog::hard_state() const noexcept { return impl_->shape.hard_state; }
SnapshotMeta RaftLog::snapshot_meta() const { return impl_->shape.snapshot; }

std::optional<Snapshot> RaftLog::snapshot() const {
  rocksdb::PinnableSlice value;
  rocksdb::Status status = impl_->db->Get(rocksdb::ReadOptions(), impl_->db->DefaultColumnFamily(),
                                          slice(kSnapshotKey), &value);
  if (status.IsNotFound()) return std::nullopt;
  impl_->check(status, "cannot read the snapshot");
  Snapshot snapshot;
  std::size_t data_offset = 0;
  snapshot.meta = decode_snapshot_meta(impl_->path, value, &data_offset);
  snapshot.data.assign(value.data() + data_offset, value.size() - data_offset);
  return snapshot;
}

}  // namespace slimfaas::store
