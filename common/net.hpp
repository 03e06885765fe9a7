// Small socket helpers over a plain `int fd` (raw BSD socket API).
//
// This is the one place with the errno policy, so every caller gets it:
//  - EINTR is retried inside the helper, never seen by callers;
//  - recv() returning 0 is the peer closing (IoStatus::Closed), distinct from
//    an error;
//  - EAGAIN/EWOULDBLOCK on a non-blocking fd is IoStatus::WouldBlock;
//  - accept: ECONNABORTED and other per-connection failures are skipped; on
//    EMFILE/ENFILE/ENOBUFS/ENOMEM the helper reports AcceptStatus::Exhausted
//    so the caller backs off (sleeps in poll) instead of spinning;
//  - functions that create an fd close it on every failure path and keep the
//    errno of the failure across that close();
//  - MSG_NOSIGNAL on every send, so a closed peer is EPIPE, never SIGPIPE.
// This lives in common/ but in its own library (sockchat-net), apart from the
// pure codec: the codec must stay testable without any socket.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "protocol.hpp"

namespace sc::net {

// Listens on host:port.  Empty host: every address, with an IPv6 socket that
// also accepts IPv4 (IPV6_V6ONLY off), falling back to IPv4 alone where IPv6
// is unavailable.  The socket is SOCK_CLOEXEC and non-blocking.
// Returns the fd, or -1 with a message in err ("address already in use"
// keeps errno == EADDRINUSE for the caller).
int listen_tcp(const std::string& host, std::uint16_t port, int backlog, std::string& err);

// Resolves host/port with getaddrinfo and connects to the first address that
// answers, waiting at most timeout_ms per address.  Returns a blocking,
// SOCK_CLOEXEC fd, or -1 with a message in err.
int connect_tcp(const std::string& host, const std::string& port, int timeout_ms,
                std::string& err);

enum class IoStatus : std::uint8_t { Ok, WouldBlock, Closed, Error };

struct IoResult {
  IoStatus status;
  std::size_t bytes;  // bytes moved when Ok
  int err;            // errno when Error
};

// One recv(); EINTR retried.
IoResult recv_some(int fd, void* buf, std::size_t len);
// One send() with MSG_NOSIGNAL; EINTR retried.  Ok may move fewer bytes than
// asked: drop only the bytes the kernel took.
IoResult send_some(int fd, const void* buf, std::size_t len);
// Sends everything, waiting in poll() when the socket is non-blocking and
// full, at most timeout_ms in total (-1: no limit).  Returns true when all
// bytes went out.
bool send_all(int fd, const void* buf, std::size_t len, int timeout_ms = -1);

enum class AcceptStatus : std::uint8_t { Ok, WouldBlock, Exhausted, Error };
struct AcceptResult {
  AcceptStatus status;
  int fd;   // Ok: the new socket (SOCK_CLOEXEC | SOCK_NONBLOCK)
  int err;  // errno for Exhausted/Error
  Addr peer;
};
// accept4() once; skips connections that died before we accepted them.
AcceptResult accept_client(int listen_fd);

// Peer address as the protocol reports it (IPv4-mapped IPv6 -> family 4).
Addr addr_from_sockaddr(const sockaddr_storage& ss);
Addr peer_addr(int fd);
Addr local_addr(int fd);

bool set_nonblocking(int fd, bool on);
bool set_nodelay(int fd);
// SO_KEEPALIVE with TCP_KEEPIDLE/INTVL/CNT so that a vanished peer is noticed
// in about idle_s seconds, and TCP_USER_TIMEOUT so unacknowledged data does
// not linger for the kernel's default 15 minutes.
bool set_keepalive(int fd, int idle_s);

// Both: -1 on error with errno set.  The returned fds are CLOEXEC and
// non-blocking.  wake_fd() returns an eventfd; signal_wake() writes to it and
// drain_wake() empties it.
int make_wake_fd();
void signal_wake(int wake_fd);
void drain_wake(int wake_fd);

// close() that keeps errno.
void close_keep_errno(int fd);

}  // namespace sc::net
