#include "app/huge_page_code.hpp"

#include <link.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>

namespace slimfaas::app {
namespace {

constexpr std::uintptr_t kHugePage = std::uintptr_t(2) << 20;

struct Span {
  std::uintptr_t begin = 0;
  std::uintptr_t end = 0;
};

// The executable's (not a shared library's) executable PT_LOAD segment.
Span executable_code() {
  Span span;
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* out) -> int {
        // The first object reported is the program itself.
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X)) {
            auto* s = static_cast<Span*>(out);
            s->begin = info->dlpi_addr + ph.p_vaddr;
            s->end = s->begin + ph.p_memsz;
            break;
          }
        }
        return 1;
      },
      &span);
  return span;
}

std::string read_file(const char* path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

int thread_count() {
  std::istringstream status(read_file("/proc/self/status"));
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  return 0;
}

// The AnonHugePages of the mapping that starts at `begin`, in bytes.
std::size_t huge_page_bytes_at(std::uintptr_t begin) {
  std::istringstream smaps(read_file("/proc/self/smaps"));
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    std::uintptr_t from = 0, to = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> from >> dash >> to && dash == '-') {
      inside = from == begin;
      continue;
    }
    if (inside && line.rfind("AnonHugePages:", 0) == 0) return std::stoull(line.substr(14)) * 1024;
  }
  return 0;
}

std::string error_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

}  // namespace

HugePageCodeResult move_code_to_huge_pages() {
  HugePageCodeResult result;
  const std::string thp = read_file("/sys/kernel/mm/transparent_hugepage/enabled");
  if (thp.empty() || thp.find("[never]") != std::string::npos) {
    result.skipped = "transparent huge pages are off (/sys/kernel/mm/transparent_hugepage/enabled)";
    return result;
  }
  if (int threads = thread_count(); threads != 1) {
    result.skipped = "the process already runs " + std::to_string(threads) + " threads";
    return result;
  }
  const Span code = executable_code();
  const std::uintptr_t begin = (code.begin + kHugePage - 1) & ~(kHugePage - 1);
  const std::uintptr_t end = code.end & ~(kHugePage - 1);
  if (code.begin == 0 || end <= begin) {
    result.skipped = "the code segment holds no whole 2 MiB-aligned page";
    return result;
  }
  const std::size_t length = end - begin;

  // An aligned anonymous region: map one huge page more and trim.
  void* raw = mmap(nullptr, length + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) {
    result.skipped = error_text("mmap");
    return result;
  }
  const auto raw_begin = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t copy = (raw_begin + kHugePage - 1) & ~(kHugePage - 1);
  if (copy > raw_begin) munmap(raw, copy - raw_begin);
  if (const std::uintptr_t tail = raw_begin + length + kHugePage - (copy + length); tail > 0)
    munmap(reinterpret_cast<void*>(copy + length), tail);
  void* copy_ptr = reinterpret_cast<void*>(copy);

  auto give_up = [&](const char* what) {
    result.skipped = error_text(what);
    munmap(copy_ptr, length);
    return result;
  };
  // Advised before the first write, so that the copy's faults take huge
  // pages rather than 4 KiB ones to be collapsed later (if ever).
  if (madvise(copy_ptr, length, MADV_HUGEPAGE) != 0) return give_up("madvise");
  std::memcpy(copy_ptr, reinterpret_cast<const void*>(begin), length);
  if (mprotect(copy_ptr, length, PROT_READ | PROT_EXEC) != 0) return give_up("mprotect");
  // Atomic for this process: the old pages are replaced by the copy's, the
  // bytes at every address stay the same. On failure nothing changed.
  if (mremap(copy_ptr, length, length, MREMAP_MAYMOVE | MREMAP_FIXED, reinterpret_cast<void*>(begin)) ==
      MAP_FAILED)
    return give_up("mremap");
  result.moved_bytes = length;
  result.huge_page_bytes = huge_page_bytes_at(begin);
  return result;
}

void move_code_to_huge_pages_and_log() {
  const auto moved = move_code_to_huge_pages();
  if (moved.moved_bytes)
    spdlog::info("code: {} KiB moved onto huge pages ({} KiB backed by them)", moved.moved_bytes / 1024,
                 moved.huge_page_bytes / 1024);
  else
    spdlog::info("code: left on 4 KiB pages: {}", moved.skipped);
}

}  // namespace slimfaas::app
