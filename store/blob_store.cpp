#include "store/blob_store.hpp"

#include "store/durable_file.hpp"

namespace slimfaas::store {
namespace {

constexpr std::string_view kPartSuffix = ".part";

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
  append_file(part, chunk, offset == 0);
  if (offset + chunk.size() < total) return false;
  commit_file(part, complete, sync_);
  return true;
}

std::optional<std::string> BlobStore::get(std::string_view id) const {
  if (!valid_blob_id(id)) return std::nullopt;
  return read_file(directory_ / std::string(id));
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
