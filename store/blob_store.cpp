#include "store/blob_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace slimfaas::store {
namespace {

constexpr std::string_view kPartSuffix = ".part";

[[noreturn]] void fail(const std::string& what, const std::filesystem::path& path) {
  throw std::system_error(errno, std::generic_category(), what + " " + path.string());
}

void fsync_path(const std::filesystem::path& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) fail("cannot open", path);
  if (::fsync(fd) != 0) {
    ::close(fd);
    fail("cannot fsync", path);
  }
  ::close(fd);
}

void append(const std::filesystem::path& path, std::string_view bytes, bool truncate) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : O_APPEND), 0600);
  if (fd < 0) fail("cannot open", path);
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      fail("cannot write", path);
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  ::close(fd);
}

}  // namespace

bool valid_blob_id(std::string_view id) {
  if (id.size() != 32) return false;
  for (char c : id)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

BlobStore::BlobStore(std::filesystem::path directory, std::uint64_t max_blob_bytes, bool sync)
    : directory_(std::move(directory)), max_blob_bytes_(max_blob_bytes), sync_(sync) {
  std::filesystem::create_directories(directory_);
}

bool BlobStore::put_chunk(std::string_view id, std::uint64_t offset, std::uint64_t total, std::string_view chunk) {
  if (!valid_blob_id(id)) throw BlobError("a blob id is 32 lowercase hex characters");
  if (total > max_blob_bytes_)
    throw BlobError("a blob of " + std::to_string(total) + " bytes is over the limit of " +
                    std::to_string(max_blob_bytes_));
  if (chunk.size() > total - std::min(offset, total) || offset > total)
    throw BlobError("the chunk ends past the blob's size");
  const auto complete = directory_ / std::string(id);
  if (std::filesystem::exists(complete)) return true;
  const auto part = directory_ / (std::string(id) + std::string(kPartSuffix));
  if (offset != 0) {
    std::error_code ec;
    const auto written = std::filesystem::file_size(part, ec);
    if (ec || written != offset)
      throw BlobError("chunk at offset " + std::to_string(offset) + " does not follow the " +
                      (ec ? std::string("missing") : std::to_string(written) + " bytes") + " written so far");
  }
  append(part, chunk, offset == 0);
  if (offset + chunk.size() < total) return false;
  if (sync_) fsync_path(part, O_RDONLY);
  std::filesystem::rename(part, complete);
  if (sync_) fsync_path(directory_, O_RDONLY | O_DIRECTORY);
  return true;
}

std::optional<std::string> BlobStore::get(std::string_view id) const {
  if (!valid_blob_id(id)) return std::nullopt;
  const auto path = directory_ / std::string(id);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
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

bool BlobStore::contains(std::string_view id) const {
  return valid_blob_id(id) && std::filesystem::exists(directory_ / std::string(id));
}

void BlobStore::remove(std::string_view id) {
  if (!valid_blob_id(id)) return;
  std::error_code ec;
  std::filesystem::remove(directory_ / std::string(id), ec);
  std::filesystem::remove(directory_ / (std::string(id) + std::string(kPartSuffix)), ec);
}

std::vector<std::string> BlobStore::older_than(std::chrono::seconds age) const {
  std::vector<std::string> out;
  const auto limit = std::filesystem::file_time_type::clock::now() - age;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(directory_, ec)) {
    std::string name = entry.path().filename().string();
    if (name.size() > kPartSuffix.size() && name.ends_with(kPartSuffix)) name.resize(name.size() - kPartSuffix.size());
    if (!valid_blob_id(name)) continue;
    std::error_code time_ec;
    const auto modified = entry.last_write_time(time_ec);
    if (!time_ec && modified <= limit) out.push_back(std::move(name));
  }
  return out;
}

}  // namespace slimfaas::store
