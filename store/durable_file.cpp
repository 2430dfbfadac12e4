#include "store/durable_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <system_error>
#include <utility>

namespace slimfaas::store {
namespace {

[[noreturn]] void fail(const std::string& what, const std::filesystem::path& path) {
  throw std::system_error(errno, std::generic_category(), what + " " + path.string());
}

void fsync_path(const std::filesystem::path& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) fail("cannot open", path);
  if (::fsync(fd) != 0) {
    ::close(fd);
    fail("cannot fsync", path);
  }
  ::close(fd);
}

}  // namespace

FileAppender::FileAppender(const std::filesystem::path& path, bool truncate) : path_(path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : O_APPEND), 0600);
  if (fd_ < 0) fail("cannot open", path);
  start_ = ::lseek(fd_, 0, SEEK_END);
}

FileAppender::~FileAppender() {
  if (fd_ >= 0) ::close(fd_);
}

void FileAppender::append(std::string_view bytes) {
  constexpr std::size_t kStep = 1u << 20;
  std::size_t done = 0;
  while (done < bytes.size()) {
    const auto n = ::write(fd_, bytes.data() + done, std::min(kStep, bytes.size() - done));
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot write", path_);
    }
    done += static_cast<std::size_t>(n);
    written_ += static_cast<std::size_t>(n);
    if (written_ - flushed_ >= kStep) {
      // Wait for the previous step's writeback, start this one's.
      if (flushed_ > step_start_)
        ::sync_file_range(fd_, start_ + static_cast<off_t>(step_start_), static_cast<off_t>(flushed_ - step_start_),
                          SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
      ::sync_file_range(fd_, start_ + static_cast<off_t>(flushed_), static_cast<off_t>(written_ - flushed_),
                        SYNC_FILE_RANGE_WRITE);
      step_start_ = std::exchange(flushed_, written_);
    }
  }
}

void FileAppender::close() {
  const int fd = std::exchange(fd_, -1);
  if (fd >= 0 && ::close(fd) != 0) fail("cannot close", path_);
}

void append_file(const std::filesystem::path& path, std::string_view bytes, bool truncate) {
  FileAppender file(path, truncate);
  file.append(bytes);
  file.close();
}

void commit_file(const std::filesystem::path& from, const std::filesystem::path& to, bool sync) {
  if (sync) fsync_path(from, O_RDONLY);
  std::filesystem::rename(from, to);
  if (sync) fsync_path(to.parent_path(), O_RDONLY | O_DIRECTORY);
}

void write_file_durably(const std::filesystem::path& path, std::string_view data) {
  write_file_durably(path, [data](FileAppender& file) { file.append(data); });
}

void write_file_durably(const std::filesystem::path& path, const std::function<void(FileAppender&)>& fill) {
  const std::filesystem::path temporary = path.string() + ".tmp";
  FileAppender file(temporary, true);
  fill(file);
  file.close();
  commit_file(temporary, path);
}

std::optional<std::string> read_file(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    fail("cannot open", path);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    fail("cannot stat", path);
  }
  std::string out(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::read(fd, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      fail("cannot read", path);
    }
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return out;
}

}  // namespace slimfaas::store
