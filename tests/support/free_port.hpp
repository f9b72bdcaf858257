#pragma once

// A free loopback port for a test server (header-only: unit tests use it too).

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace herald::test {

/// A port nobody listens on right now (the kernel's pick, released at once).
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

} // namespace herald::test
