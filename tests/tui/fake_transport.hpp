// A Transport in memory and a clock the test moves by hand, for unit tests
// of Session and App.  The test plays the server: it queues events with
// the helpers below and reads what the client wrote as decoded requests.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "common/codec.hpp"
#include "tui-client/session.hpp"

namespace sc::tui::test {

// What the test and the transport share; the Session owns the transport.
struct FakeWire {
  std::deque<Incoming> events;       // test -> client
  Bytes written;                     // client -> test, everything taken
  std::size_t accept = SIZE_MAX;     // bytes the "kernel" takes before it is full
  bool broken = false;               // the next write fails
  bool closed = false;
  int connects = 0;
  std::string last_host, last_port;
  bool last_tls = false;
  std::vector<bool> answers;         // the user's answers to Question events

  // The requests written so far, decoded (the written bytes are consumed).
  struct Request {
    Header header;
    Bytes payload;
  };
  std::vector<Request> requests() {
    FrameDecoder d(Role::Server, 1u << 20);
    d.feed(ByteView(written.data(), written.size()));
    written.clear();
    std::vector<Request> out;
    Frame f;
    while (d.next(f) == DecodeResult::Frame) out.push_back({f.header, Bytes(f.payload.begin(), f.payload.end())});
    return out;
  }
};

class FakeTransport final : public Transport {
 public:
  explicit FakeTransport(std::shared_ptr<FakeWire> wire, std::string peer)
      : wire_(std::move(wire)), peer_(std::move(peer)) {}
  int wake_fd() const override { return 100; }
  int write_fd() const override { return 101; }
  bool take(std::vector<Incoming>& out, std::size_t max) override {
    for (std::size_t n = 0; n < max && !wire_->events.empty(); ++n) {
      out.push_back(std::move(wire_->events.front()));
      wire_->events.pop_front();
    }
    return !wire_->events.empty();
  }
  WriteResult write_some(const std::uint8_t* data, std::size_t len) override {
    if (wire_->broken) return WriteResult{0, true, "Broken pipe"};
    const std::size_t n = std::min(len, wire_->accept);
    if (wire_->accept != SIZE_MAX) wire_->accept -= n;
    wire_->written.insert(wire_->written.end(), data, data + n);
    return WriteResult{n, false, {}};
  }
  void answer(bool trust) override { wire_->answers.push_back(trust); }
  void close() override { wire_->closed = true; }
  const std::string& peer_text() const override { return peer_; }

 private:
  std::shared_ptr<FakeWire> wire_;
  std::string peer_;
};

inline Connector fake_connector(std::shared_ptr<FakeWire> wire) {
  return [wire](const std::string& host, const std::string& port, bool tls, std::string&) -> std::unique_ptr<Transport> {
    wire->last_tls = tls;
    ++wire->connects;
    wire->last_host = host;
    wire->last_port = port;
    wire->closed = false;
    return std::make_unique<FakeTransport>(wire, host + ":" + port);
  };
}

struct FakeClock {
  Clock::time_point now = Clock::time_point() + std::chrono::hours(1);
  Session::Now fn() {
    return [this] { return now; };
  }
};

// A Session over a fake transport and a fake clock, for the tests that
// play the server.
struct SessionRig {
  std::shared_ptr<FakeWire> wire = std::make_shared<FakeWire>();
  FakeClock clock;
  SessionState state;
  Scrollback log;
  Session session{state, log, fake_connector(wire), clock.fn()};

  void deliver(Incoming in) {
    wire->events.push_back(std::move(in));
    session.on_ready();
  }
};

inline Type type_of(const FakeWire::Request& r) { return static_cast<Type>(r.header.type); }

inline Incoming event(Incoming::What what, std::string why = {}) {
  Incoming in;
  in.what = what;
  in.why = std::move(why);
  return in;
}

inline Incoming frame(Kind kind, Type type, Status status, std::uint32_t id, Bytes payload = {}) {
  Incoming in;
  in.header.kind = static_cast<std::uint8_t>(kind);
  in.header.type = static_cast<std::uint8_t>(type);
  in.header.status = static_cast<std::uint8_t>(status);
  in.header.id = id;
  in.header.length = static_cast<std::uint32_t>(payload.size());
  in.payload = std::move(payload);
  return in;
}

inline Incoming response(const FakeWire::Request& r, Status status = Status::Ok, Bytes payload = {}) {
  return frame(Kind::Response, static_cast<Type>(r.header.type), status, r.header.id, std::move(payload));
}

inline Incoming hello(std::uint32_t id, std::uint16_t heartbeat_s = 10, std::uint16_t idle_s = 30,
                      std::uint8_t flags = 0) {
  Hello h;
  h.client_id = id;
  h.heartbeat_s = heartbeat_s;
  h.idle_timeout_s = idle_s;
  h.delivery_timeout_s = 5;
  h.max_payload = 65536;
  h.server_name = "fake";
  h.flags = flags;
  Bytes p;
  put_hello(p, h);
  return frame(Kind::Indication, Type::Hello, Status::Ok, 0, std::move(p));
}

inline Entry entry(std::uint32_t id, std::string nick) {
  Entry e;
  e.id = id;
  e.nick = std::move(nick);
  e.connected_at_us = 1'700'000'000'000'000;
  return e;
}

inline Bytes text_payload(const std::string& s) {
  Bytes p;
  put_text(p, s);
  return p;
}

inline Bytes list_payload(const std::vector<Entry>& entries) {
  Bytes p;
  put_list_reply(p, entries);
  return p;
}

inline Incoming message(std::uint32_t message_id, std::uint32_t sender, std::string nick, std::string text) {
  Message m;
  m.sender = sender;
  m.nick = std::move(nick);
  m.text = std::move(text);
  m.sent_at_us = 1'700'000'000'000'000;
  Bytes p;
  put_message(p, m);
  return frame(Kind::Indication, Type::Message, Status::Ok, message_id, std::move(p));
}

inline Incoming presence(PresenceEvent ev, Entry e) {
  Presence pr;
  pr.event = ev;
  pr.entry = std::move(e);
  Bytes p;
  put_presence(p, pr);
  return frame(Kind::Indication, Type::Presence, Status::Ok, 0, std::move(p));
}

// The SEND request a decoded request carries.
inline SendRequest send_request_of(const FakeWire::Request& r) {
  SendRequest sr;
  decode_send_request(ByteView(r.payload.data(), r.payload.size()), sr);
  return sr;
}

inline bool has_line(const Scrollback& log, const std::string& part) {
  for (std::size_t i = 0; i < log.size(); ++i) {
    if (log[i].text.find(part) != std::string::npos) return true;
  }
  return false;
}

}  // namespace sc::tui::test
