// Side storage for large async bodies: chunked durable writes, reads,
// removal, the orphan listing, and refusals that leave a blob as it was.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <system_error>

#include "store/blob_store.hpp"
#include "store/durable_file.hpp"
#include "tests/unit/store_temp_dir.hpp"

using slimfaas::store::BlobError;
using slimfaas::store::BlobStore;

namespace {
const std::string kId = "0123456789abcdef0123456789abcdef";
const std::string kOther = "fedcba9876543210fedcba9876543210";
}  // namespace

TEST_CASE("blob store writes a blob in chunks and reads it back after a reopen", "[blob_store]") {
  slimfaas::test::TempDir dir;
  const std::string body = std::string(1000, 'a') + std::string(1000, 'b') + "end";
  {
    BlobStore store(dir / "blobs", 1 << 20);
    CHECK_FALSE(store.put_chunk(kId, 0, body.size(), body.substr(0, 1000)));
    CHECK_FALSE(store.contains(kId));  // not complete: not readable
    CHECK_FALSE(store.get(kId));
    CHECK_FALSE(store.put_chunk(kId, 1000, body.size(), body.substr(1000, 1000)));
    CHECK(store.put_chunk(kId, 2000, body.size(), body.substr(2000)));
    CHECK(store.contains(kId));
  }
  BlobStore reopened(dir / "blobs", 1 << 20);
  REQUIRE(reopened.get(kId));
  CHECK(*reopened.get(kId) == body);
  // Written again (a retried upload): left alone, still complete.
  CHECK(reopened.put_chunk(kId, 0, 3, "xyz"));
  CHECK(*reopened.get(kId) == body);
  // An empty blob is complete at once.
  CHECK(reopened.put_chunk(kOther, 0, 0, ""));
  CHECK(reopened.get(kOther) == std::string());
}

TEST_CASE("blob store refuses bad ids, chunks out of order and blobs over the limit", "[blob_store]") {
  slimfaas::test::TempDir dir;
  BlobStore store(dir / "blobs", 100);
  CHECK_THROWS_AS(store.put_chunk("../../etc/passwd", 0, 1, "x"), BlobError);
  CHECK_THROWS_AS(store.put_chunk("0123456789ABCDEF0123456789ABCDEF", 0, 1, "x"), BlobError);  // upper case
  CHECK_THROWS_AS(store.put_chunk(kId, 0, 101, "x"), BlobError);
  CHECK_THROWS_AS(store.put_chunk(kId, 0, 2, "xyz"), BlobError);  // past the size
  CHECK_THROWS_AS(store.put_chunk(kId, 5, 10, "x"), BlobError);   // nothing written yet
  CHECK_FALSE(store.put_chunk(kId, 0, 10, "abc"));
  CHECK_THROWS_AS(store.put_chunk(kId, 4, 10, "x"), BlobError);  // a gap
  CHECK_FALSE(store.put_chunk(kId, 3, 10, "def"));               // the refusal changed nothing
  CHECK(store.put_chunk(kId, 6, 10, "ghij"));
  CHECK(*store.get(kId) == "abcdefghij");
  CHECK_FALSE(store.get("not-an-id"));
}

TEST_CASE("blob store removes blobs and lists old ones for the orphan sweep", "[blob_store]") {
  slimfaas::test::TempDir dir;
  BlobStore store(dir / "blobs", 1 << 20);
  CHECK(store.put_chunk(kId, 0, 1, "x"));
  CHECK_FALSE(store.put_chunk(kOther, 0, 2, "y"));  // partial
  CHECK(store.older_than(std::chrono::hours(1)).empty());
  auto old = store.older_than(std::chrono::seconds(0));
  std::sort(old.begin(), old.end());
  CHECK(old == std::vector<std::string>{kId, kOther});
  store.remove(kId);
  store.remove(kOther);
  store.remove("not-an-id");
  CHECK_FALSE(store.contains(kId));
  CHECK(store.older_than(std::chrono::seconds(0)).empty());
  CHECK(std::filesystem::is_empty(dir / "blobs"));
}

TEST_CASE("durable files are written whole in steps, appended to, and read back", "[blob_store][durable_file]") {
  slimfaas::test::TempDir dir;
  // Over several 1 MiB writeback steps, and not a multiple of one.
  std::string big(3 * (1 << 20) + 12345, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + (i * 31 + i / 7919) % 26);
  slimfaas::store::write_file_durably(dir / "whole", big);
  CHECK_FALSE(std::filesystem::exists(dir / "whole.tmp"));
  REQUIRE(slimfaas::store::read_file(dir / "whole"));
  CHECK(*slimfaas::store::read_file(dir / "whole") == big);
  // Appending after existing bytes (the steps count from the file's end).
  slimfaas::store::append_file(dir / "part", "head", true);
  slimfaas::store::append_file(dir / "part", big, false);
  slimfaas::store::commit_file(dir / "part", dir / "done");
  CHECK(*slimfaas::store::read_file(dir / "done") == "head" + big);
  CHECK_FALSE(slimfaas::store::read_file(dir / "missing"));
}

TEST_CASE("a file appender streams pieces of any size across writeback steps", "[durable_file]") {
  slimfaas::test::TempDir dir;
  std::string expected;
  {
    slimfaas::store::FileAppender file(dir / "streamed", true);
    // Pieces smaller and larger than a step, so steps end mid-piece.
    for (std::size_t size : {100u, 700'000u, 1u, 1'500'000u, 3'000'000u, 4096u}) {
      const std::string piece(size, static_cast<char>('a' + expected.size() % 26));
      file.append(piece);
      expected += piece;
    }
    file.close();
    CHECK_NOTHROW(file.close());  // closing twice is harmless
  }
  CHECK(*slimfaas::store::read_file(dir / "streamed") == expected);
  CHECK_THROWS_AS(slimfaas::store::FileAppender(dir / "no-such-dir" / "f", true), std::system_error);
}
