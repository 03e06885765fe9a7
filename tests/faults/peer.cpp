// fault-peer: a tiny real client process for the fault and dead-peer tests,
// so that a test can SIGKILL, SIGSTOP or move into a network namespace a
// client that is not part of the test binary itself.
//
//   fault-peer live HOST PORT   behave: PING every heartbeat, ACK every MESSAGE
//   fault-peer half HOST PORT   send half of a PING frame, then wait
//
// Both print "id N" (the id from HELLO) on stdout once connected, and end on
// their own after kLifetime at the latest, so a test that dies cannot leave
// one behind for long.
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "common/codec.hpp"
#include "common/net.hpp"

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kLifetime = std::chrono::seconds(120);

int usage() {
  std::fprintf(stderr, "usage: fault-peer live|half HOST PORT\n");
  return 2;
}

enum class Read { Frame, Timeout, Closed };

// Reads until the decoder yields a frame, the deadline passes or the
// connection ends (EOF, error, a frame we cannot decode).
Read read_frame(int fd, sc::FrameDecoder& dec, sc::Frame& f, Clock::time_point deadline) {
  for (;;) {
    const sc::DecodeResult r = dec.next(f);
    if (r == sc::DecodeResult::Frame) return Read::Frame;
    if (r != sc::DecodeResult::NeedMore) return Read::Closed;
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return Read::Timeout;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    auto space = dec.write_space(4096);
    const sc::net::IoResult io = sc::net::recv_some(fd, space.data(), space.size());
    dec.commit(io.status == sc::net::IoStatus::Ok ? io.bytes : 0);
    if (io.status == sc::net::IoStatus::Closed || io.status == sc::net::IoStatus::Error) return Read::Closed;
  }
}

void send_request(int fd, sc::Type type, std::uint32_t id, sc::ByteView payload) {
  sc::Bytes out;
  sc::put_frame(out, sc::Kind::Request, static_cast<std::uint8_t>(type), 0, id, payload);
  sc::net::send_all(fd, out.data(), out.size(), 2000);
}

// PINGs every heartbeat and ACKs every MESSAGE until the server closes.
int live(int fd, sc::FrameDecoder& dec, const sc::Hello& hello) {
  const auto end = Clock::now() + kLifetime;
  const auto beat = std::chrono::seconds(hello.heartbeat_s);
  std::uint32_t next_id = 1;
  auto next_ping = Clock::now() + beat;
  while (Clock::now() < end) {
    sc::Frame f;
    const Read r = read_frame(fd, dec, f, std::min(next_ping, end));
    if (r == Read::Closed) return 0;
    if (r == Read::Frame) {
      if (f.header.kind == static_cast<std::uint8_t>(sc::Kind::Indication) &&
          f.header.type == static_cast<std::uint8_t>(sc::Type::Message)) {
        sc::Bytes ack;
        sc::put_u32(ack, f.header.id);
        send_request(fd, sc::Type::Ack, next_id++, ack);
      }
      continue;
    }
    if (Clock::now() < next_ping) continue;  // the lifetime's end: the loop says
    send_request(fd, sc::Type::Ping, next_id++, {});
    next_ping = Clock::now() + beat;
  }
  return 0;
}

// Half a PING with a 10-byte payload: the header and 3 payload bytes.
int half(int fd) {
  sc::Bytes frame;
  const sc::Bytes payload(10, 'x');
  sc::put_frame(frame, sc::Kind::Request, static_cast<std::uint8_t>(sc::Type::Ping), 0, 1,
                sc::ByteView(payload.data(), payload.size()));
  sc::net::send_all(fd, frame.data(), sc::kHeaderSize + 3, 2000);
  std::printf("sent half\n");
  std::fflush(stdout);
  std::this_thread::sleep_for(kLifetime);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) return usage();
  const std::string mode = argv[1];
  if (mode != "live" && mode != "half") return usage();
  std::string err;
  const int fd = sc::net::connect_tcp(argv[2], argv[3], 5000, err);
  if (fd < 0) {
    std::fprintf(stderr, "fault-peer: %s\n", err.c_str());
    return 1;
  }
  sc::FrameDecoder dec(sc::Role::Client, sc::kMaxServerPayload);
  sc::Frame f;
  sc::Hello hello;
  if (read_frame(fd, dec, f, Clock::now() + std::chrono::seconds(10)) != Read::Frame ||
      sc::decode_hello(f.payload, hello) != sc::Status::Ok) {
    std::fprintf(stderr, "fault-peer: no HELLO\n");
    return 1;
  }
  std::printf("id %u\n", hello.client_id);
  std::fflush(stdout);
  const int rc = mode == "live" ? live(fd, dec, hello) : half(fd);
  close(fd);
  return rc;
}
