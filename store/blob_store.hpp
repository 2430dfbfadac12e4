#pragma once
// Durable bodies kept beside the Raft log (side storage for large async
// bodies, docs/architecture.md "Large bodies"): one file per blob in a
// directory of its own, written in chunks and made durable before the
// writer is told so.
//
//   <dir>/<id>.part   a blob being written (chunks appended in order)
//   <dir>/<id>        a complete blob: fsynced, renamed, directory fsynced
//
// Ids are 32 lowercase hex characters (128 random bits): anything else is
// refused, so an id can never name a path outside the directory. Not
// thread-safe: one owner (actors/blob_actor.hpp).
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace slimfaas::store {

// A refused request (bad id, chunk out of order, size over the limit); the
// blob is left as it was. I/O failures throw std::system_error.
class BlobError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

bool valid_blob_id(std::string_view id);

class BlobStore {
 public:
  // Creates the directory if needed; `sync` false skips fsync (benchmarks of
  // everything but the disk, like the log's option).
  BlobStore(std::filesystem::path directory, std::uint64_t max_blob_bytes, bool sync = true);

  // Appends one chunk at `offset` of a blob of `total` bytes. offset 0
  // starts (or restarts) the blob; any other offset must equal the bytes
  // written so far. Returns true once the last chunk made the blob complete
  // and durable. A complete blob written again is left alone (true).
  bool put_chunk(std::string_view id, std::uint64_t offset, std::uint64_t total, std::string_view chunk);

  // The complete blob, or nothing.
  std::optional<std::string> get(std::string_view id) const;
  bool contains(std::string_view id) const;
  // Removes the blob and any partial write of it; unknown ids are ignored.
  void remove(std::string_view id);

  // Complete and partial blobs not modified for at least `age`, for the
  // orphan sweep.
  std::vector<std::string> older_than(std::chrono::seconds age) const;

  const std::filesystem::path& directory() const noexcept { return directory_; }

 private:
  std::filesystem::path directory_;
  std::uint64_t max_blob_bytes_;
  bool sync_;
};

}  // namespace slimfaas::store
