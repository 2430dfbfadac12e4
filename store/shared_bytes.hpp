#pragma once
// Immutable bytes shared by reference: a Raft entry's data, handed to the
// log writer, to each peer's append and to the apply without a copy. Each
// copy of an entry (tens of merged calls, 4 KiB each in the benchmark) was
// a memmove, an allocation and often fresh pages; the Raft core made four
// of them per entry per node. Nothing changes the bytes once made, so the
// log writer's thread may share them with the node actor's.
#include <cstddef>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>

namespace slimfaas::store {

class SharedBytes {
 public:
  SharedBytes() = default;
  SharedBytes(std::string bytes)  // NOLINT: implicit, like the std::string it replaced
      : bytes_(bytes.empty() ? nullptr : std::make_shared<const std::string>(std::move(bytes))) {}
  SharedBytes(const char* bytes) : SharedBytes(std::string(bytes)) {}  // NOLINT

  std::string_view view() const { return bytes_ ? std::string_view(*bytes_) : std::string_view(); }
  operator std::string_view() const { return view(); }  // NOLINT: reads like a string
  const char* data() const { return view().data(); }
  std::size_t size() const { return bytes_ ? bytes_->size() : 0; }
  bool empty() const { return size() == 0; }
  // A copy of the bytes, for whoever must own or change them.
  std::string str() const { return std::string(view()); }

  friend bool operator==(const SharedBytes& a, const SharedBytes& b) { return a.view() == b.view(); }
  friend bool operator==(const SharedBytes& a, std::string_view b) { return a.view() == b; }
  friend bool operator==(const SharedBytes& a, const std::string& b) { return a.view() == b; }
  friend bool operator==(const SharedBytes& a, const char* b) { return a.view() == std::string_view(b); }
  friend std::ostream& operator<<(std::ostream& out, const SharedBytes& bytes) { return out << bytes.view(); }

 private:
  std::shared_ptr<const std::string> bytes_;
};

}  // namespace slimfaas::store
