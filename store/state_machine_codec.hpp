#pragma once
// The byte primitives of the state machine's wire format (commands, queries,
// results, snapshots): unsigned LEB128 varints, zigzag varints for signed
// numbers, and length-prefixed byte strings. Internal to store/.
//
// Writers reserve the whole size up front, so a command carrying a MiB body
// costs one allocation and one copy; readers hand out string_views into the
// encoded bytes, so decoding copies nothing until the state keeps a value.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace slimfaas::store::codec {

// Bytes that do not decode: a truncated or foreign command, result or snapshot.
class MalformedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Upper bound of a varint's size, for reservations.
constexpr std::size_t kMaxVarintBytes = 10;

class Writer {
 public:
  explicit Writer(std::size_t reserve = 0) { out_.reserve(reserve); }

  Writer& u8(std::uint8_t v) {
    out_.push_back(static_cast<char>(v));
    return *this;
  }
  Writer& varint(std::uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7F) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
    return *this;
  }
  Writer& zigzag(std::int64_t v) {
    return varint((static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63));
  }
  Writer& bytes(std::string_view v) {
    varint(v.size());
    out_.append(v);
    return *this;
  }
  std::string take() && { return std::move(out_); }
  std::size_t size() const { return out_.size(); }
  // For output streamed in pieces: what was written since the last clear().
  std::string_view view() const { return out_; }
  void clear() { out_.clear(); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  std::uint8_t u8() {
    need(1);
    return static_cast<std::uint8_t>(in_[pos_++]);
  }
  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      std::uint8_t byte = u8();
      v |= std::uint64_t(byte & 0x7F) << shift;
      if ((byte & 0x80) == 0) return v;
    }
    throw MalformedError("varint longer than 10 bytes");
  }
  std::int64_t zigzag() {
    std::uint64_t v = varint();
    return static_cast<std::int64_t>((v >> 1) ^ (~(v & 1) + 1));
  }
  std::string_view bytes() {
    std::uint64_t size = varint();
    need(size);
    std::string_view v = in_.substr(pos_, size);
    pos_ += size;
    return v;
  }
  bool at_end() const { return pos_ == in_.size(); }
  void expect_end() const {
    if (!at_end()) throw MalformedError("trailing bytes");
  }

 private:
  void need(std::uint64_t n) const {
    if (n > in_.size() - pos_) throw MalformedError("truncated");
  }
  std::string_view in_;
  std::size_t pos_ = 0;
};

}  // namespace slimfaas::store::codec
