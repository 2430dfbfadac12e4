#pragma once
// Files that a crash cannot leave half-written under their final name:
// written under another name, fsynced, renamed into place, and the
// directory fsynced. Shared by SlimData's snapshot files and the blob store.
// Errors throw std::system_error naming the path.
#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace slimfaas::store {

// Appends to a file (created if needed; emptied first when `truncate`).
// What is written goes to the disk in 1 MiB steps whose writeback starts as
// the next is written (sync_file_range, like RocksDB's bytes_per_sync), so
// hundreds of MiB never sit dirty in the page cache: the final fsync stays
// short, and other files' fsyncs do not queue behind this writeback. For
// content produced piece by piece (a streamed snapshot); close() reports a
// failed close, the destructor only closes.
class FileAppender {
 public:
  FileAppender(const std::filesystem::path& path, bool truncate);
  ~FileAppender();
  FileAppender(const FileAppender&) = delete;
  FileAppender& operator=(const FileAppender&) = delete;

  void append(std::string_view bytes);
  void close();

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  off_t start_ = 0;          // the file's size when opened
  std::size_t written_ = 0;  // bytes appended since
  std::size_t flushed_ = 0;  // of which writeback was started
  std::size_t step_start_ = 0;  // where the last started step began
};

// `bytes` appended to `path` in one go (a FileAppender).
void append_file(const std::filesystem::path& path, std::string_view bytes, bool truncate);

// Makes `from` durable and gives it the name `to` (fsync, rename, fsync of
// the directory). `sync` false skips both fsyncs (benchmarks of everything
// but the disk).
void commit_file(const std::filesystem::path& from, const std::filesystem::path& to, bool sync = true);

// `data` as the whole content of `path`: append_file to "<path>.tmp", then
// commit_file.
void write_file_durably(const std::filesystem::path& path, std::string_view data);
// The same, the content appended by `fill` piece by piece, so that it never
// needs to exist whole in memory.
void write_file_durably(const std::filesystem::path& path, const std::function<void(FileAppender&)>& fill);

// The whole content of `path`, read in one go (sized by fstat); nothing if
// it does not exist.
std::optional<std::string> read_file(const std::filesystem::path& path);

}  // namespace slimfaas::store
