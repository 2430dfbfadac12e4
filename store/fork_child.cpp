#include "store/fork_child.hpp"

#include <climits>
#include <unistd.h>

namespace slimfaas::store {

void close_inherited_descriptors() noexcept {
  if (::close_range(3, UINT_MAX, 0) == 0) return;
  // Kernels before 5.9: one by one, up to the descriptor limit.
  const long limit = ::sysconf(_SC_OPEN_MAX);
  for (long fd = 3; fd < (limit > 0 ? limit : 65536); ++fd) ::close(static_cast<int>(fd));
}

}  // namespace slimfaas::store
