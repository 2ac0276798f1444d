// The c2s stream of the fuzz targets without sockets: a stream::InboundStream over an in-memory
// net::Transport (MemoryTransport), driven on a private io_context, with FuzzPolicy answering like
// C2sSession at the StreamPolicy seam (one account, juliet / pencil, on localhost). feed() hands bytes
// to the stream as a socket read would (one WebSocket message per call when framed) and runs the
// io_context until nothing is ready, so credential lookups and held input complete in between.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace parley::fuzz {

class C2sFixture {
 public:
  C2sFixture(bool framed, bool requireTls);
  ~C2sFixture();
  C2sFixture(const C2sFixture&) = delete;
  C2sFixture& operator=(const C2sFixture&) = delete;

  // Called with every write of the server (one message each when framed).
  std::function<void(std::string_view)> onOutput;

  void start();
  // Delivers one read (or one WebSocket message) if the stream is reading; runs ready work after it.
  void feed(std::string_view bytes);
  // The peer goes away; runs until everything settled and the stream is gone.
  void finish();

  bool ended() const;
  bool bound() const;
  // Stream header, SASL PLAIN as juliet, restart, bind: the reads a logged-in client has sent.
  static std::vector<std::string> loginPreamble(bool framed);

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace parley::fuzz
