#pragma once
// How many messages wait in an actor's mailbox (for /debug/actors), asked
// by the actor itself from one of its handlers.
//
// Why a function of its own, in a file built without UBSan's vptr check:
// CAF 0.17's mailbox().size() first moves newly arrived messages from the
// lock-free inbox into the per-category queues, and appending to an empty
// queue static_casts the queue's sentinel node to a mailbox_element
// (intrusive/task_queue.hpp, promote()). The pointer is only used as a node,
// so nothing goes wrong, but the cast names a type the object is not, and
// the sanitizer build (which stops at the first report) killed a node that
// was asked for /debug/actors just as a message arrived. CAF's own code does
// the same inside libcaf_core, which is not instrumented; only the
// instantiation in our code was.
#include <cstddef>

namespace caf {
class scheduled_actor;
}

namespace slimfaas::actors {

std::size_t mailbox_size(caf::scheduled_actor* self);

}  // namespace slimfaas::actors
