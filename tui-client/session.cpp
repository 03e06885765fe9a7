#include "session.hpp"

#include <algorithm>
#include <cstring>

#include "timefmt.hpp"
#include "windows.hpp"

namespace sc::tui {

namespace {

constexpr std::size_t kEventsPerTurn = 2048;  // keeps keys responsive under floods
constexpr auto kGreetingTimeout = std::chrono::seconds(10);
constexpr auto kByeTimeout = std::chrono::seconds(2);

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

int ms_until(Clock::time_point now, Clock::time_point when) {
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(when - now).count();
  return ms <= 0 ? 0 : static_cast<int>(std::min<long long>(ms, 24 * 3600 * 1000));
}

ByteView view(const Bytes& b) { return ByteView(b.data(), b.size()); }

const char* leave_word(LeaveReason r) {
  switch (r) {
    case LeaveReason::Bye: return "said goodbye";
    case LeaveReason::Closed: return "connection closed";
    case LeaveReason::IdleTimeout: return "idle timeout";
    case LeaveReason::ProtocolError: return "protocol error";
    case LeaveReason::SendqExceeded: return "stopped reading";
    case LeaveReason::ServerShutdown: return "server shutdown";
    case LeaveReason::NodeDown: return "its server node went down";
  }
  return "?";
}

// A server announcing 0 would otherwise have us PING in a tight loop.
std::chrono::seconds heartbeat_interval(const Hello& h) {
  return std::chrono::seconds(h.heartbeat_s > 0 ? h.heartbeat_s : 10);
}

bool is_ok(const Header& h) { return h.status == static_cast<std::uint8_t>(Status::Ok); }

// An ERROR about load, idleness or a full send queue may not happen again
// on a new connection; one about the protocol, the version, the password
// or encryption would.
bool retry_helps(Status s) {
  switch (s) {
    case Status::ServerFull:
    case Status::IdleTimeout:
    case Status::SendqExceeded:
    case Status::TooManyConnections:
    case Status::RateLimited:
    case Status::Internal: return true;
    default: return false;
  }
}

}  // namespace

std::string security_text(const Security& s) {
  if (!s.tls) return s.loopback ? "plaintext (loopback)" : "PLAINTEXT to non-loopback host";
  switch (s.trust) {
    case Security::Trust::Ca: return s.protocol + ", verified (CA)";
    case Security::Trust::PinnedKey: return s.protocol + ", verified (pinned key)";
    case Security::Trust::KnownKey: return s.protocol + ", verified (known key)";
    case Security::Trust::NewKey: return s.protocol + ", key trusted now (first use)";
    case Security::Trust::None: break;
  }
  return s.protocol + ", NOT verified";
}

std::string security_status(const SessionState& s) {
  if (s.phase != Phase::Connected && s.phase != Phase::Closing) return {};
  std::string t = security_text(s.security);
  if (!s.account.empty()) t += ", signed in as " + s.account;
  return t;
}

std::string status_word(Status s) {
  switch (s) {
    case Status::AuthRequired: return "sign-in required (/auth NAME)";
    case Status::AuthFailed: return "wrong account name or password";
    case Status::EncryptionRequired: return "the server takes passwords only over TLS (connect with --tls)";
    case Status::NoSuchClient: return "no such client";
    case Status::NotDelivered: return "not acknowledged";
    case Status::RateLimited: return "rate limited";
    case Status::TooLarge: return "too large";
    case Status::BadRequest: return "rejected";
    case Status::NickInUse: return "nick in use";
    default: return status_name(static_cast<std::uint8_t>(s));
  }
}

Session::Session(SessionState& state, Scrollback& log, Connector connector, Now now)
    : s_(state), log_(log), connector_(std::move(connector)), now_(std::move(now)) {}

Session::~Session() {
  if (conn_) conn_->close();
}

int Session::wake_fd() const { return conn_ ? conn_->wake_fd() : -1; }

int Session::write_fd() const {
  return conn_ && (queued_bytes() > 0 || conn_->output_waiting()) ? conn_->write_fd() : -1;
}

bool Session::take_bell() {
  const bool b = bell_;
  bell_ = false;
  return b;
}

std::size_t Session::undelivered() const {
  return static_cast<std::size_t>(
      std::count_if(pending_.begin(), pending_.end(), [](const auto& kv) { return kv.second.type == Type::Send; }));
}

std::string Session::client_label(std::uint32_t id) const {
  std::string label = std::to_string(id);
  auto it = s_.clients.find(id);
  if (it != s_.clients.end() && !it->second.nick.empty()) label += " (" + it->second.nick + ")";
  return label;
}

// --------------------------------------------------------------------------
// Commands.

// The user's connect: whatever reconnect was scheduled or under way, this
// replaces it, and the account signed in to with /auth is not carried over.
unsigned Session::connect(const std::string& host, const std::string& port, bool tls) {
  attempts_ = 0;
  s_.reconnect_in_s = -1;
  resume_account_.clear();
  return open(host, port, tls);
}

unsigned Session::open(const std::string& host, const std::string& port, bool tls) {
  last_host_ = host;
  last_port_ = port;
  std::string err;
  conn_ = connector_(host, port, tls, err);
  connect_failed_ = !conn_;
  last_tls_ = tls;
  greeted_ = fatal_ = false;
  s_.reconnect_in_s = -1;
  if (!conn_) {
    const unsigned d = add(LineKind::Error, "connect failed: " + err) | kStatus | kMenu;
    return may_reconnect() ? d | schedule_reconnect() : d;
  }
  s_.phase = Phase::Connecting;
  s_.server = conn_->peer_text();
  farewell_.clear();
  last_id_ = 0;
  subscribed_ = false;
  return add(LineKind::Info, std::string("connecting to ") + s_.server + (tls ? " with TLS" : "")) | kStatus | kMenu;
}

unsigned Session::answer_question(bool trust) {
  if (!conn_ || s_.question.empty()) return kNothing;
  s_.question.clear();
  conn_->answer(trust);
  return add(LineKind::Info, trust ? "trusting the key" : "not trusting the key") | kStatus | kInput;
}

unsigned Session::begin_sign_in(const std::string& account) {
  std::string_view why;
  if (check_nick(account, &why) != Status::Ok) {
    return add(LineKind::Error, "error: " + account + " cannot be an account name: " + std::string(why));
  }
  if (!s_.connected()) return add(LineKind::Error, "error: not connected; sign-in needs a connection");
  if (!s_.account.empty()) return add(LineKind::Error, "error: already signed in as " + s_.account);
  if (!password_source_) {
    s_.password_for = account;  // the UI asks, hidden, and calls sign_in()
    return kInput | kStatus;
  }
  std::string password, err;
  if (!password_source_(account, password, err)) return add(LineKind::Error, "sign-in as " + account + ": " + err);
  return sign_in(account, password);
}

unsigned Session::cancel_sign_in() {
  if (s_.password_for.empty()) return kNothing;
  s_.password_for.clear();
  return add(LineKind::Info, "sign-in cancelled") | kInput;
}

// The password lives in `password`, the payload and out_ only until sent:
// each is wiped (explicit_bzero, which the compiler may not drop).
unsigned Session::sign_in(const std::string& account, std::string& password) {
  s_.password_for.clear();
  if (password.empty() || password.size() > kMaxPasswordBytes || !valid_utf8(password)) {
    explicit_bzero(password.data(), password.size());
    return add(LineKind::Error, "sign-in as " + account + ": a password is 1 to 255 bytes of UTF-8") | kInput;
  }
  Bytes payload;
  payload.reserve(2 + account.size() + 4 + password.size());  // no reallocation leaves a copy behind
  put_auth(payload, AuthRequest{account, password});
  explicit_bzero(password.data(), password.size());
  Pending p;
  p.account = account;
  secret_out_ = true;
  const bool ok = request(Type::Auth, payload, p);
  explicit_bzero(payload.data(), payload.size());
  return (ok ? add(LineKind::Info, "signing in as " + account) : kEverything) | kInput;
}

unsigned Session::disconnect() {
  if (s_.reconnecting()) return cancel_reconnect();
  attempts_ = 0;  // a reconnect attempt in progress is cancelled for good
  if (s_.phase == Phase::Connecting || s_.phase == Phase::Greeting) {
    return drop("connect to " + s_.server + " cancelled", LineKind::Info);
  }
  if (s_.phase != Phase::Connected) return kNothing;
  if (!request(Type::Bye, {}, Pending{})) return kEverything;
  s_.phase = Phase::Closing;
  closing_since_ = now_();
  return add(LineKind::Info, "disconnecting") | kStatus | kMenu;
}

unsigned Session::ask_time(int count) {
  if (batch_.active) return add(LineKind::Error, "error: a /time batch is still running");
  Bytes frames;
  const auto now = now_();
  for (int i = 0; i < count; ++i) {
    Pending p;
    p.type = Type::Time;
    p.sent = now;
    p.in_batch = count > 1;
    const std::uint32_t id = next_request_id();
    pending_[id] = p;
    put_frame(frames, Kind::Request, static_cast<std::uint8_t>(Type::Time), 0, id, {});
  }
  if (count > 1) batch_ = TimeBatch{true, count, 0, 0, now, {}};
  // One write for the whole batch: this is what pipelining means.
  return queue(frames) ? kNothing : kEverything;
}

unsigned Session::ask_name() { return request(Type::Name, {}, Pending{}) ? kNothing : kEverything; }

unsigned Session::ask_list() { return request(Type::List, {}, Pending{}) ? kNothing : kEverything; }

unsigned Session::send_message(std::uint32_t target, const std::string& text) {
  const std::size_t max = s_.hello.max_payload > 4 ? s_.hello.max_payload - 4 : 0;
  if (text.size() > max) {
    return add(LineKind::Error, "error: message is " + std::to_string(text.size()) +
                                    " bytes; the server accepts at most " + std::to_string(max) +
                                    "; nothing was sent");
  }
  if (!valid_utf8(text)) return add(LineKind::Error, "error: message is not valid UTF-8; nothing was sent");
  Bytes payload;
  put_send_request(payload, SendRequest{target, text});
  Pending p;
  p.target = target;
  p.line_seq = log_.end_seq();
  unsigned d = add(LineKind::Pending, "sending to " + client_label(target) + ": " + text + " (pending)");
  if (auto it = s_.clients.find(target); it != s_.clients.end()) log_.back().peer = it->second.nick;
  if (!request(Type::Send, payload, p)) return kEverything;
  return d;
}

unsigned Session::ask_nick(const std::string& nick) {
  std::string_view why;
  if (check_nick(nick, &why) != Status::Ok) {
    return add(LineKind::Error, "error: nick " + nick + " cannot be used: " + std::string(why));
  }
  wanted_nick_ = nick;  // also the nick for later connections
  if (!s_.connected()) return add(LineKind::Info, "nick " + nick + " will be asked for after connecting");
  Pending p;
  p.nick = nick;
  Bytes payload;
  put_text(payload, nick);
  return request(Type::Nick, payload, p) ? kNothing : kEverything;
}

// --------------------------------------------------------------------------
// Wire out: everything goes through the output buffer.

bool Session::request(Type type, const Bytes& payload, Pending p) {
  if (!conn_) return false;
  const std::uint32_t id = next_request_id();
  p.type = type;
  p.sent = now_();
  pending_[id] = std::move(p);
  Bytes frame;
  frame.reserve(kHeaderSize + payload.size());  // one buffer: no stray copy of a password
  put_frame(frame, Kind::Request, static_cast<std::uint8_t>(type), 0, id, view(payload));
  const bool ok = queue(frame);
  if (type == Type::Auth) explicit_bzero(frame.data(), frame.size());
  return ok;
}

// Appends and writes what the kernel takes now.  False when that dropped
// the connection.
bool Session::queue(const Bytes& frames) {
  if (!conn_) return false;
  if (queued_bytes() == 0) {
    out_.clear();
    out_done_ = 0;
    last_progress_ = now_();  // the stall clock starts with the first byte waiting
  }
  if (queued_bytes() + frames.size() > kMaxOutput) {
    lose("connection lost: more than " + std::to_string(kMaxOutput >> 20) +
         " MiB wait for a server that does not read them");
    return false;
  }
  out_.insert(out_.end(), frames.begin(), frames.end());
  last_sent_ = now_();
  return flush();
}

bool Session::flush() {
  while (conn_ && queued_bytes() > 0) {
    const WriteResult r = conn_->write_some(out_.data() + out_done_, queued_bytes());
    if (r.broken) {
      lose("connection lost: " + r.why);
      return false;
    }
    if (r.bytes == 0) break;  // full: the loop waits for POLLOUT
    out_done_ += r.bytes;
    last_progress_ = now_();
  }
  if (conn_ && queued_bytes() == 0 && conn_->output_waiting()) {
    const WriteResult r = conn_->flush_output();
    if (r.broken) {
      lose("connection lost: " + r.why);
      return false;
    }
  }
  if (secret_out_ && queued_bytes() == 0) {  // the password went out: wipe what held it
    explicit_bzero(out_.data(), out_.size());
    out_.clear();
    out_done_ = 0;
    secret_out_ = false;
  }
  // Compact only now and then: erasing the front on every write is quadratic.
  // Not while a password is in it: the move would leave copies behind.
  if (!secret_out_ && out_done_ > 0 && out_done_ * 2 >= out_.size()) {
    out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(out_done_));
    out_done_ = 0;
  }
  return conn_ != nullptr;
}

unsigned Session::on_writable() { return flush() ? kNothing : kEverything; }

unsigned Session::ack_shown(const Shown& shown) {
  std::vector<Unshown> still;
  for (Unshown& u : unshown_) {
    if (u.line_seq < log_.first_seq()) continue;  // trimmed from the scrollback unseen: never shown
    if (!shown(u.line_seq)) {
      still.push_back(std::move(u));
      continue;
    }
    Bytes payload;
    put_u32(payload, u.message_id);
    Pending p;
    p.line_seq = u.line_seq;
    p.sender = std::move(u.sender);
    if (!request(Type::Ack, payload, p)) return kEverything;
  }
  unshown_.swap(still);
  return kNothing;
}

// A message shown after its sender's delivery window gets NO_SUCH_MESSAGE:
// the server told the sender NOT_DELIVERED already.  Said in plain words.
unsigned Session::on_ack_result(const Pending& pd, const Header& h, ByteView p) {
  if (is_ok(h)) return kNothing;
  if (static_cast<Status>(h.status) == Status::NoSuchMessage) {
    const std::string window =
        s_.hello.delivery_timeout_s != 0 ? std::to_string(s_.hello.delivery_timeout_s) + " s " : "";
    return add(LineKind::Info, "the message from " + pd.sender + " above arrived after " + pd.sender + "'s " +
                                   window + "delivery window; " + pd.sender + " was told it was not delivered");
  }
  return add(LineKind::Error, "could not confirm the message from " + pd.sender + " to the server: " +
                                  status_word(static_cast<Status>(h.status)) + " (" + error_text(h, p) + ")");
}

// --------------------------------------------------------------------------
// Wire in.

unsigned Session::on_ready() {
  if (!conn_) return kNothing;
  std::vector<Incoming> batch;
  events_waiting_ = conn_->take(batch, kEventsPerTurn);
  unsigned d = kNothing;
  for (Incoming& in : batch) {
    d |= handle(in);
    if (!conn_) break;  // the rest belonged to the connection just closed
  }
  return d;
}

unsigned Session::handle(Incoming& in) {
  if (in.what == Incoming::What::Connected || in.what == Incoming::What::Failed) {
    return on_connect_outcome(in);
  }
  if (in.what == Incoming::What::Question) return on_question(in);
  if (in.what == Incoming::What::Closed) {
    if (s_.phase == Phase::Closing) return drop("disconnected", LineKind::Info);
    // After SHUTDOWN or ERROR the close was announced: not a loss.
    if (!farewell_.empty()) return lose("disconnected: " + farewell_);
    return lose("connection lost: " + in.why);
  }
  last_received_ = now_();
  if (in.header.kind == static_cast<std::uint8_t>(Kind::Response)) return handle_response(in);
  return handle_indication(in.header, view(in.payload));
}

// The receiver finished connecting, one way or the other.
unsigned Session::on_connect_outcome(const Incoming& in) {
  if (in.what == Incoming::What::Failed) {
    connect_failed_ = true;
    return lose("connect failed: " + in.why);
  }
  s_.phase = Phase::Greeting;
  s_.question.clear();
  s_.security = in.security;
  last_sent_ = last_received_ = now_();  // the greeting timeout starts now
  if (!in.why.empty()) return add(LineKind::Info, in.why) | kStatus;
  return kStatus;
}

// The receiver waits for the user; the line says what is asked, the UI
// (which reads question) takes the answer.
unsigned Session::on_question(const Incoming& in) {
  s_.question = in.why;
  return add(LineKind::Error, in.why) | kStatus | kInput;
}

unsigned Session::handle_indication(const Header& h, ByteView p) {
  switch (static_cast<Type>(h.type)) {
    case Type::Hello: return on_hello(p);
    case Type::Message: return on_message(h, p);
    case Type::Presence: return on_presence(p);
    case Type::Shutdown: {
      std::string text;
      decode_text(p, text);
      farewell_ = "the server shut down";
      return add(LineKind::Error, "server shutting down: " + text);
    }
    case Type::Error: {
      std::string text;
      decode_text(p, text);
      farewell_ = std::string("server error ") + status_name(h.status);
      fatal_ = fatal_ || !retry_helps(static_cast<Status>(h.status));
      return add(LineKind::Error, std::string("server error ") + status_name(h.status) + ": " + text);
    }
    default: return add(LineKind::Error, "ignored an indication of unknown type " + std::to_string(h.type));
  }
}

unsigned Session::on_hello(ByteView p) {
  std::string_view why;
  if (decode_hello(p, s_.hello, &why) != Status::Ok) {
    fatal_ = true;  // another version of the protocol: retrying will not change it
    return drop("connection lost: bad HELLO from the server (" + std::string(why) + ")", LineKind::Error);
  }
  s_.phase = Phase::Connected;
  s_.nick.clear();
  greeted_ = true;
  attempts_ = 0;  // the next loss starts the backoff from the beginning
  unsigned d = add(LineKind::Info, "connected to " + s_.server + " as client " +
                                       std::to_string(s_.hello.client_id) + " (server " +
                                       s_.hello.server_name + ")");
  // A line of its own, so the "connected" line stays what scripts expect;
  // plaintext over loopback is the quiet, usual case.
  if (s_.security.tls || !s_.security.loopback) {
    d |= add(s_.security.tls ? LineKind::Info : LineKind::Error, "security " + security_text(s_.security));
  }
  // An account's name is its nick: no NICK when signing in.
  if (!account_.empty() || !resume_account_.empty()) {
    d |= begin_sign_in(account_.empty() ? resume_account_ : account_);
    return d | (s_.sign_in_required() ? kNothing : after_hello_requests()) | kEverything;
  }
  if (s_.sign_in_required()) {
    return d | add(LineKind::Info, "this server requires sign-in: /auth NAME (or --user NAME)") | kEverything;
  }
  if (!wanted_nick_.empty()) d |= ask_nick(wanted_nick_);
  return d | after_hello_requests() | kEverything;
}

// Presence and the client list; with SIGN_IN_REQUIRED only after AUTH,
// which they would otherwise fail with AUTH_REQUIRED.
unsigned Session::after_hello_requests() {
  if (subscribed_) return kNothing;
  subscribed_ = true;
  Bytes flags;
  put_u8(flags, kSubscribePresence);
  Pending quiet;
  quiet.quiet = true;
  if (request(Type::Subscribe, flags, Pending{})) request(Type::List, {}, quiet);
  return conn_ ? kNothing : kEverything;
}

unsigned Session::on_message(const Header& h, ByteView p) {
  Message m;
  std::string_view why;
  if (decode_message(p, m, &why) != Status::Ok) {
    return add(LineKind::Error, "bad MESSAGE " + std::to_string(h.id) + ": " + std::string(why));
  }
  std::string from = std::to_string(m.sender);
  if (!m.nick.empty()) from += " (" + m.nick + ")";
  // ACKed once this line is on screen (ack_shown), not before.
  unshown_.push_back(Unshown{log_.end_seq(), h.id, m.nick.empty() ? "client " + from : m.nick});
  bell_ = true;
  const unsigned d = add(LineKind::Incoming, "message from " + from + " " + format_addr(m.addr) + ": " + m.text,
             m.sent_at_us);
  log_.back().peer = m.nick;
  log_.back().screen = "<" + (m.nick.empty() ? std::to_string(m.sender) : m.nick) + "> " + m.text;
  log_.back().mention = !s_.nick.empty() && contains_nick(m.text, s_.nick);
  return d;
}

unsigned Session::on_presence(ByteView p) {
  Presence ev;
  std::string_view why;
  if (decode_presence(p, ev, &why) != Status::Ok) return add(LineKind::Error, "bad PRESENCE: " + std::string(why));
  const Entry& e = ev.entry;
  const std::string who = std::to_string(e.id) + " " + (e.nick.empty() ? "-" : e.nick);
  switch (ev.event) {
    case PresenceEvent::Joined:
      s_.clients[e.id] = e;
      return add(LineKind::Event, "joined " + who + " " + format_addr(e.addr)) | kClients;
    case PresenceEvent::Left:
      s_.clients.erase(e.id);
      return add(LineKind::Event, "left " + who + " (" + leave_word(ev.reason) + ")") | kClients | kInput;
    case PresenceEvent::Renamed:
      s_.clients[e.id] = e;
      if (e.id == s_.hello.client_id) {
        s_.nick = e.nick;
        // The screen said "nick NAME" already, when our NICK was answered.
        if (!plain_) return kClients | kStatus;
      }
      return add(LineKind::Event, "renamed " + who) | kClients | kStatus;
  }
  return kNothing;
}

std::string Session::error_text(const Header& h, ByteView p) const {
  std::string text;
  if (h.status == static_cast<std::uint8_t>(Status::NotDelivered)) {
    NotDelivered nd;
    if (decode_not_delivered(p, nd) == Status::Ok) text = nd.text;
  } else {
    decode_text(p, text);
  }
  return text;
}

unsigned Session::handle_response(const Incoming& in) {
  const Header& h = in.header;
  const ByteView p = view(in.payload);
  auto it = pending_.find(h.id);
  if (it == pending_.end() || static_cast<std::uint8_t>(it->second.type) != h.type) {
    return add(LineKind::Error, std::string("ignored a response to no request of ours (") + type_name(h.type) +
                                    " id " + std::to_string(h.id) + ")");
  }
  const Pending pd = std::move(it->second);
  pending_.erase(it);
  switch (pd.type) {
    case Type::Time: return on_time(pd, in);
    case Type::List: return on_list(pd, h, p);
    case Type::Send: return on_send_result(pd, h, p);
    case Type::Nick: return on_nick_result(pd, h, p);
    case Type::Auth: return on_auth_result(pd, h, p);
    case Type::Ack: return on_ack_result(pd, h, p);
    case Type::Bye: return drop("disconnected", LineKind::Info);
    case Type::Name:
      if (is_ok(h)) {
        std::string name;
        decode_text(p, name);
        return add(LineKind::Info, "name " + name);
      }
      break;
    case Type::Ping: return kNothing;  // life is all a PONG proves
    default:
      if (is_ok(h)) return kNothing;
      break;
  }
  return add(LineKind::Error, std::string(type_name(h.type)) + " failed: " + status_name(h.status) + " (" +
                                  error_text(h, p) + ")");
}

unsigned Session::on_time(const Pending& pd, const Incoming& in) {
  const Header& h = in.header;
  const ByteView p = view(in.payload);
  TimeReply t;
  const bool ok = is_ok(h) && decode_time_reply(p, t) == Status::Ok;
  if (pd.in_batch && batch_.active) {
    if (ok) {
      ++batch_.answered;
      batch_.rtts_ms.push_back(ms_between(pd.sent, in.received));
    } else {
      ++batch_.failed;
    }
    if (batch_.answered + batch_.failed == batch_.asked) return finish_batch(nullptr);
    return kNothing;
  }
  if (!ok) {
    return add(LineKind::Error, std::string("TIME failed: ") + status_name(h.status) + " (" + error_text(h, p) + ")");
  }
  return add(LineKind::Info, "time " + format_server_time(t.time_us, t.utc_offset_s, t.zone));
}

unsigned Session::finish_batch(const char* why) {
  if (!batch_.active) return kNothing;
  batch_.active = false;
  std::string line = format_time_batch(static_cast<std::size_t>(batch_.answered),
                                       static_cast<std::size_t>(batch_.asked),
                                       ms_between(batch_.start, now_()), batch_.rtts_ms);
  if (batch_.failed > 0) line += ", " + std::to_string(batch_.failed) + " failed";
  if (why != nullptr) line += std::string(", ") + why;
  return add(batch_.answered == batch_.asked ? LineKind::Info : LineKind::Error, line);
}

unsigned Session::on_list(const Pending& pd, const Header& h, ByteView p) {
  std::vector<Entry> entries;
  std::string_view why;
  if (!is_ok(h)) {
    return add(LineKind::Error, "LIST failed: " + status_word(static_cast<Status>(h.status)) + " (" +
                                    error_text(h, p) + ")");
  }
  if (decode_list_reply(p, entries, &why) != Status::Ok) {
    return add(LineKind::Error, "LIST failed: " + std::string(why));
  }
  s_.clients.clear();
  for (const Entry& e : entries) s_.clients[e.id] = e;
  if (pd.quiet) return kClients;
  unsigned d = add(LineKind::Info, "clients " + std::to_string(entries.size()));
  for (const Entry& e : entries) {
    std::string line =
        "client " + std::to_string(e.id) + " " + (e.nick.empty() ? "-" : e.nick) + " " + format_addr(e.addr);
    if (e.id == s_.hello.client_id) line += " (you)";
    d |= add(LineKind::Info, line);
  }
  return d | kClients;
}

unsigned Session::on_send_result(const Pending& pd, const Header& h, ByteView p) {
  const bool ok = is_ok(h);
  const std::string why =
      ok ? std::string() : status_word(static_cast<Status>(h.status)) + " (" + error_text(h, p) + ")";
  const unsigned d = log_.mark_send(pd.line_seq, ok, why);
  if (!plain_) return d;
  if (ok) {
    std::uint32_t message_id = 0;
    decode_u32(p, message_id);
    return add(LineKind::Delivered, "delivered " + std::to_string(message_id) + " to " + std::to_string(pd.target));
  }
  return add(LineKind::Error, "not delivered to " + std::to_string(pd.target) + ": " + why);
}

unsigned Session::on_nick_result(const Pending& pd, const Header& h, ByteView p) {
  if (is_ok(h)) {
    s_.nick = pd.nick;
    return add(LineKind::Info, "nick " + pd.nick) | kStatus;
  }
  const std::string keep = s_.nick.empty() ? "you have no nick" : "you stay " + s_.nick;
  const auto status = static_cast<Status>(h.status);
  std::string why;
  if (status == Status::NickInUse) {
    why = "another client is using it";
  } else if (status == Status::RateLimited) {
    why = "too many nick changes, wait a little and try again";
  } else {
    why = error_text(h, p);
  }
  return add(LineKind::Error, "nick " + pd.nick + " rejected: " + why + "; " + keep);
}

unsigned Session::on_auth_result(const Pending& pd, const Header& h, ByteView p) {
  const auto status = static_cast<Status>(h.status);
  if (is_ok(h)) {
    std::string account;
    std::string_view why;
    if (decode_auth_reply(p, account, &why) != Status::Ok) account = pd.account;
    s_.account = s_.nick = account;
    fatal_ = false;
    if (account_.empty()) resume_account_ = account;
    unsigned d = add(LineKind::Info, "signed in as " + account) | kStatus | kClients;
    return d | after_hello_requests();
  }
  fatal_ = true;  // until a sign-in succeeds, a lost connection is not retried: it would fail the same way
  if (status == Status::UnknownType) {
    return add(LineKind::Error, "sign-in as " + pd.account + " failed: this server has no accounts");
  }
  return add(LineKind::Error, "sign-in as " + pd.account + " failed: " + status_word(status) + " (" +
                                  error_text(h, p) + ")");
}

unsigned Session::drop(const std::string& line, LineKind kind) {
  if (!conn_) return kNothing;
  conn_->close();
  conn_.reset();
  events_waiting_ = false;
  if (secret_out_) explicit_bzero(out_.data(), out_.size());
  secret_out_ = false;
  out_.clear();
  out_done_ = 0;
  unsigned d = finish_batch("connection closed");
  for (const auto& [id, pd] : pending_) {
    if (pd.type != Type::Send) continue;
    d |= log_.mark_send(pd.line_seq, false, "connection closed before an answer");
    if (plain_) {
      d |= add(LineKind::Error,
               "not delivered to " + std::to_string(pd.target) + ": connection closed before an answer");
    }
  }
  pending_.clear();
  unshown_.clear();
  s_ = SessionState{};
  return d | add(kind, line) | kEverything;
}

// --------------------------------------------------------------------------
// Deadlines.

int Session::poll_timeout_ms(Clock::time_point now) const {
  if (events_waiting_) return 0;
  int stall = -1;
  if (conn_ && queued_bytes() > 0) stall = ms_until(now, last_progress_ + kStallLimit);
  auto with_stall = [stall](int t) { return stall < 0 ? t : t < 0 ? stall : std::min(t, stall); };
  switch (s_.phase) {
    case Phase::Disconnected: return reconnect_timeout_ms(now);
    case Phase::Connecting: return -1;  // the receiver bounds the connect
    case Phase::Greeting: return with_stall(ms_until(now, last_received_ + kGreetingTimeout));
    case Phase::Closing: return with_stall(ms_until(now, closing_since_ + kByeTimeout));
    case Phase::Connected: break;
  }
  auto deadline = last_sent_ + heartbeat_interval(s_.hello);
  if (s_.hello.idle_timeout_s > 0) {
    deadline = std::min(deadline, last_received_ + std::chrono::seconds(s_.hello.idle_timeout_s));
  }
  return with_stall(ms_until(now, deadline));
}

unsigned Session::on_tick(Clock::time_point now) {
  if (events_waiting_) return on_ready();
  if (conn_ && queued_bytes() > 0 && now >= last_progress_ + kStallLimit) {
    return lose("connection lost: the server has not read our data for " + std::to_string(kStallLimit.count()) +
                " s");
  }
  switch (s_.phase) {
    case Phase::Disconnected: return reconnect_tick(now);
    case Phase::Connecting: return kNothing;
    case Phase::Greeting:
      if (now >= last_received_ + kGreetingTimeout) {
        return lose("connection lost: no greeting from the server");
      }
      return kNothing;
    case Phase::Closing:
      if (now >= closing_since_ + kByeTimeout) return drop("disconnected", LineKind::Info);
      return kNothing;
    case Phase::Connected: break;
  }
  if (s_.hello.idle_timeout_s > 0 && now >= last_received_ + std::chrono::seconds(s_.hello.idle_timeout_s)) {
    return lose("connection lost: nothing from the server for " + std::to_string(s_.hello.idle_timeout_s) + " s");
  }
  if (now >= last_sent_ + heartbeat_interval(s_.hello)) {
    Bytes payload;
    put_u32(payload, 0x70696e67);  // "ping": any bytes are echoed
    if (!request(Type::Ping, payload, Pending{})) return kEverything;
  }
  return kNothing;
}

}  // namespace sc::tui
