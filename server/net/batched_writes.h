// A scope that gathers a network thread's writes so that they leave together. Light on purpose, so a
// module can open one around a fan-out of its own (xep/muc does, around a room's handling of a stanza).
#pragma once

namespace parley::net {

// While one is alive on a network thread, the connections there that protect their own TLS records
// (tls13_records.h) hold what they are given to write, and the end of the outermost one writes all of
// it with one system call for the lot (batched_send.h): a fan-out's deliveries leave together. Used
// around the handling of what one read brought (so every delivery a stanza causes on this thread is
// batched) and around a batch of deliveries handed over from another thread.
class BatchedWrites {
 public:
  BatchedWrites();
  ~BatchedWrites();
  BatchedWrites(const BatchedWrites&) = delete;
  BatchedWrites& operator=(const BatchedWrites&) = delete;
};

}  // namespace parley::net
