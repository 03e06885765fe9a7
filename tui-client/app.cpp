#include "app.hpp"

#include <algorithm>

#include "common/codec.hpp"
#include "sanitize.hpp"
#include "timefmt.hpp"

namespace sc::tui {

namespace {

constexpr std::size_t kMaxLogLines = 10000;  // scrollback
constexpr int kConnectTimeoutMs = 5000;
constexpr int kSendTimeoutMs = 5000;
constexpr std::size_t kEventsPerTurn = 2048;  // keeps keys responsive under floods
constexpr auto kGreetingTimeout = std::chrono::seconds(10);
constexpr auto kByeTimeout = std::chrono::seconds(2);

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

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

bool needs_connection(MenuItem item) {
  switch (item) {
    case MenuItem::Disconnect:
    case MenuItem::Time:
    case MenuItem::Name:
    case MenuItem::List:
    case MenuItem::Send: return true;
    default: return false;
  }
}

}  // namespace

// --------------------------------------------------------------------------
// Menu and prompt texts.

bool menu_item_enabled(const State& s, MenuItem item) {
  if (item == MenuItem::Connect) return s.phase == Phase::Disconnected;
  // Disconnect also cancels a connect in progress.
  if (item == MenuItem::Disconnect) return s.phase != Phase::Disconnected && s.phase != Phase::Closing;
  return !needs_connection(item) || s.connected();
}

const char* menu_item_label(MenuItem item) {
  switch (item) {
    case MenuItem::Connect: return "Connect";
    case MenuItem::Disconnect: return "Disconnect";
    case MenuItem::Time: return "Get time";
    case MenuItem::Name: return "Get server name";
    case MenuItem::List: return "List clients";
    case MenuItem::Send: return "Send message";
    case MenuItem::Help: return "Help";
    case MenuItem::Quit: return "Quit";
  }
  return "?";
}

const char* menu_item_hotkey(MenuItem item) {
  switch (item) {
    case MenuItem::Connect: return "F2";
    case MenuItem::Disconnect: return "F3";
    case MenuItem::Time: return "F4";
    case MenuItem::Name: return "F5";
    case MenuItem::List: return "F6";
    case MenuItem::Send: return "F7";
    case MenuItem::Help: return "F1";
    case MenuItem::Quit: return "F10";
  }
  return "";
}

char menu_item_letter(MenuItem item) {
  switch (item) {
    case MenuItem::Connect: return 'c';
    case MenuItem::Disconnect: return 'd';
    case MenuItem::Time: return 't';
    case MenuItem::Name: return 'n';
    case MenuItem::List: return 'l';
    case MenuItem::Send: return 's';
    case MenuItem::Help: return 'h';
    case MenuItem::Quit: return 'q';
  }
  return 0;
}

std::string prompt_label(const Prompt& p) {
  if (p.action == MenuItem::Connect) return p.step == 0 ? "Host: " : "Port: ";
  return p.step == 0 ? "To (client id): " : "Message: ";
}

std::string input_label(const State& s) {
  if (s.prompt.active) return prompt_label(s.prompt);
  if (s.selected != 0 && s.connected()) {
    auto it = s.clients.find(s.selected);
    std::string who = std::to_string(s.selected);
    if (it != s.clients.end() && !it->second.nick.empty()) who += " " + it->second.nick;
    return "to " + who + "> ";
  }
  return "> ";
}

std::string status_word(Status s) {
  switch (s) {
    case Status::NoSuchClient: return "no such client";
    case Status::NotDelivered: return "not acknowledged";
    case Status::RateLimited: return "rate limited";
    case Status::TooLarge: return "too large";
    case Status::BadRequest: return "rejected";
    default: return status_name(static_cast<std::uint8_t>(s));
  }
}

// --------------------------------------------------------------------------
// Life cycle.

App::App(Options options) {
  s_.options = std::move(options);
  if (!s_.options.plain) {
    add_line(LineKind::Info, "sockchat " SOCKCHAT_VERSION ": F2 or /connect to connect, F1 or /help for help");
  }
}

App::~App() {
  if (conn_) conn_->close();
}

int App::wake_fd() const { return conn_ ? conn_->wake_fd() : -1; }

bool App::take_bell() {
  const bool b = bell_ && s_.options.bell;
  bell_ = false;
  return b;
}

unsigned App::on_resize(int rows, int cols) {
  s_.layout = compute_layout(rows, cols);
  return fitted(kEverything);
}

unsigned App::fitted(unsigned dirty) {
  if (dirty == kNothing || s_.layout.too_small) return dirty;
  const int field = s_.layout.cols - std::min(display_width(input_label(s_)), s_.layout.cols / 2) - 1;
  s_.input.fit(field);
  s_.prompt_input.fit(field);
  return dirty;
}

// --------------------------------------------------------------------------
// Output.

unsigned App::add_line(LineKind kind, std::string text, std::int64_t at_us) {
  s_.log.push_back(LogLine{at_us != 0 ? at_us : now_us(), kind, std::move(text)});
  if (s_.log.size() > kMaxLogLines) {
    s_.log.pop_front();
    ++s_.log_first_seq;
  }
  // Someone reading old lines keeps their place while new ones arrive.
  if (s_.scroll > 0) s_.scroll = std::min(s_.scroll + 1, s_.log.size() - 1);
  return kMessages;
}

unsigned App::error(std::string text) { return add_line(LineKind::Error, "error: " + text); }

unsigned App::note(std::string text, bool is_error) {
  s_.notice = std::move(text);
  s_.notice_is_error = is_error;
  return kInput;
}

// --------------------------------------------------------------------------
// Commands.

unsigned App::on_line(std::string_view line) {
  const ParseResult r = parse_command(line);
  if (!r.ok) return error(r.error) | note(r.error, true);
  return fitted(run(r.command));
}

unsigned App::run(const Command& c) {
  switch (c.kind) {
    case CommandKind::Empty: return kNothing;
    case CommandKind::Say: return say(c.text);
    case CommandKind::Connect:
      if (s_.phase != Phase::Disconnected) return refuse_disabled(MenuItem::Connect);
      return connect(c.host, c.port);
    case CommandKind::Disconnect: return activate(MenuItem::Disconnect);
    case CommandKind::Time:
      if (!s_.connected()) return refuse_disabled(MenuItem::Time);
      return ask_time(c.count);
    case CommandKind::Name: return activate(MenuItem::Name);
    case CommandKind::List: return activate(MenuItem::List);
    case CommandKind::Send:
      if (!s_.connected()) return refuse_disabled(MenuItem::Send);
      return send_message(c.target, c.text);
    case CommandKind::Nick: return ask_nick(c.text);
    case CommandKind::Help: return show_help();
    case CommandKind::Quit: return request_quit();
  }
  return kNothing;
}

unsigned App::refuse_disabled(MenuItem item) {
  std::string why;
  if (item == MenuItem::Connect && s_.phase == Phase::Connecting) {
    why = "already connecting to " + s_.server + "; Esc or /disconnect cancels";
  } else if (item == MenuItem::Connect) {
    why = "already connected to " + s_.server + "; disconnect first (F3 or /disconnect)";
  } else if (s_.phase == Phase::Disconnected) {
    why = std::string(menu_item_label(item)) + " needs a connection: connect first (F2 or /connect)";
  } else if (s_.phase == Phase::Closing) {
    why = std::string(menu_item_label(item)) + " is not available while disconnecting";
  } else {
    why = std::string(menu_item_label(item)) + " is not available until the server has greeted us";
  }
  return error(why) | note(why, true);
}

unsigned App::activate(MenuItem item) {
  if (!menu_item_enabled(s_, item)) return refuse_disabled(item);
  switch (item) {
    case MenuItem::Connect: return start_prompt(item);
    case MenuItem::Disconnect: return disconnect();
    case MenuItem::Time: return ask_time(1);
    case MenuItem::Name: return request(Type::Name, {}, Pending{}) ? kNothing : kEverything;
    case MenuItem::List: return request(Type::List, {}, Pending{}) ? kNothing : kEverything;
    case MenuItem::Send: return start_prompt(item);
    case MenuItem::Help: return show_help();
    case MenuItem::Quit: return request_quit();
  }
  return kNothing;
}

unsigned App::show_help() {
  unsigned d = add_line(LineKind::Info, "commands:");
  std::string_view all = command_help();
  while (!all.empty()) {
    const std::size_t nl = all.find('\n');
    d |= add_line(LineKind::Info, "  " + std::string(all.substr(0, nl)));
    all.remove_prefix(nl == std::string_view::npos ? all.size() : nl + 1);
  }
  if (!s_.options.plain) {
    d |= add_line(LineKind::Info, "keys: Tab switches input/menu/clients; in the menu arrows+Enter or the");
    d |= add_line(LineKind::Info, "  letter; F1-F10 work anywhere; in the clients pane arrows, PgUp/PgDn,");
    d |= add_line(LineKind::Info, "  Home/End pick who plain text goes to; elsewhere PgUp/PgDn scroll;");
    d |= add_line(LineKind::Info, "  Up/Down recall input; Esc cancels a prompt or a connect.");
  }
  return d;
}

unsigned App::say(const std::string& text) {
  if (!s_.connected()) return refuse_disabled(MenuItem::Send);
  if (s_.selected == 0 || !s_.clients.contains(s_.selected)) {
    const char* how = s_.options.plain
                          ? "no client selected: use /send ID TEXT"
                          : "no client selected: press Tab twice to reach the clients pane, pick one "
                            "with the arrows, or use /send ID TEXT";
    return error(how) | note(how, true);
  }
  return send_message(s_.selected, text);
}

unsigned App::send_message(std::uint32_t target, const std::string& text) {
  const std::size_t max = s_.hello.max_payload > 4 ? s_.hello.max_payload - 4 : 0;
  if (text.size() > max) {
    return error("message is " + std::to_string(text.size()) + " bytes; the server accepts at most " +
                 std::to_string(max) + "; nothing was sent");
  }
  if (!valid_utf8(text)) return error("message is not valid UTF-8; nothing was sent");
  Bytes payload;
  put_send_request(payload, SendRequest{target, text});
  Pending p;
  p.type = Type::Send;
  p.target = target;
  p.line_seq = s_.log_end_seq();
  unsigned d = add_line(LineKind::Pending, "sending to " + client_label(target) + ": " + text + " (pending)");
  if (!request(Type::Send, payload, p)) return kEverything;
  return d;
}

unsigned App::ask_time(int count) {
  if (batch_.active) return error("a /time batch is still running");
  Bytes frames;
  const auto now = Clock::now();
  for (int i = 0; i < count; ++i) {
    Pending p;
    p.type = Type::Time;
    p.sent = now;
    p.in_batch = count > 1;
    const std::uint32_t id = conn_->next_request_id();
    pending_[id] = p;
    put_frame(frames, Kind::Request, static_cast<std::uint8_t>(Type::Time), 0, id, {});
  }
  if (count > 1) batch_ = TimeBatch{true, count, 0, 0, now, {}};
  // One write for the whole batch: this is what pipelining means.
  return send_bytes(frames) ? kNothing : kEverything;
}

unsigned App::ask_nick(const std::string& nick) {
  std::string_view why;
  if (check_nick(nick, &why) != Status::Ok) {
    return error("nick " + nick + " cannot be used: " + std::string(why));
  }
  s_.options.nick = nick;  // also the nick for later connections
  if (!s_.connected()) return add_line(LineKind::Info, "nick " + nick + " will be asked for after connecting");
  Pending p;
  p.type = Type::Nick;
  p.nick = nick;
  Bytes payload;
  put_text(payload, nick);
  return request(Type::Nick, payload, p) ? kNothing : kEverything;
}

unsigned App::connect(const std::string& host, const std::string& port) {
  last_host_ = host;
  last_port_ = port;
  std::string err;
  conn_ = Connection::start(host, port, kConnectTimeoutMs, err);
  connect_failed_ = !conn_;
  if (!conn_) return add_line(LineKind::Error, "connect failed: " + err) | kStatus | kMenu;
  s_.phase = Phase::Connecting;
  s_.server = conn_->peer_text();
  farewell_.clear();
  return add_line(LineKind::Info, "connecting to " + s_.server) | kStatus | kMenu;
}

// The receiver finished connecting, one way or the other.
unsigned App::on_connect_outcome(const Incoming& in) {
  if (in.what == Incoming::What::Failed) {
    connect_failed_ = true;
    return drop_connection("connect failed: " + in.why, LineKind::Error);
  }
  s_.phase = Phase::Greeting;
  last_sent_ = last_received_ = Clock::now();  // the greeting timeout starts now
  return kStatus;
}

unsigned App::cancel_connect() {
  return drop_connection("connect to " + s_.server + " cancelled", LineKind::Info);
}

unsigned App::disconnect() {
  if (s_.phase == Phase::Connecting || s_.phase == Phase::Greeting) return cancel_connect();
  if (!request(Type::Bye, {}, Pending{})) return kEverything;
  s_.phase = Phase::Closing;
  closing_since_ = Clock::now();
  return add_line(LineKind::Info, "disconnecting") | kStatus | kMenu;
}

unsigned App::request_quit() {
  quit_ = true;
  if (s_.phase == Phase::Connected) return disconnect();
  if (s_.phase == Phase::Connecting || s_.phase == Phase::Greeting) {
    return drop_connection("disconnected", LineKind::Info);
  }
  return kNothing;
}

// --------------------------------------------------------------------------
// Keys.

unsigned App::on_key(const Key& key) {
  bool handled = false;
  unsigned d = key_global(key, handled);
  if (handled) return fitted(d);
  if (s_.prompt.active && s_.focus == Focus::Input) return fitted(key_input(key, s_.prompt_input));
  switch (s_.focus) {
    case Focus::Input: return fitted(key_input(key, s_.input));
    case Focus::Menu: return fitted(key_menu(key));
    case Focus::Clients: return fitted(key_clients(key));
  }
  return kNothing;
}

// Keys that mean the same in every pane.
unsigned App::key_global(const Key& key, bool& handled) {
  handled = true;
  switch (key.code) {
    case Key::Code::Function:
      switch (key.function) {
        case 1: return activate(MenuItem::Help);
        case 2: return activate(MenuItem::Connect);
        case 3: return activate(MenuItem::Disconnect);
        case 4: return activate(MenuItem::Time);
        case 5: return activate(MenuItem::Name);
        case 6: return activate(MenuItem::List);
        case 7: return activate(MenuItem::Send);
        case 10: return activate(MenuItem::Quit);
        default: return kNothing;
      }
    case Key::Code::PageUp:
    case Key::Code::PageDown: {
      // In the clients pane they page through the clients instead.
      handled = s_.focus != Focus::Clients;
      if (!handled) return kNothing;
      const long page = std::max(1, s_.layout.messages.h - 1);
      return scroll_by(key.code == Key::Code::PageUp ? page : -page);
    }
    case Key::Code::Redraw: return kEverything;
    case Key::Code::PasteBegin:
      s_.pasting = true;
      paste_lines_ = 0;
      s_.focus = Focus::Input;
      return kInput | kMenu | kClients;
    case Key::Code::PasteEnd:
      s_.pasting = false;
      if (paste_lines_ > 0) {
        return note("pasted " + std::to_string(paste_lines_ + 1) +
                    " lines joined into one; Enter sends it, Ctrl-U clears it");
      }
      return kNothing;
    case Key::Code::Tab:
    case Key::Code::BackTab: {
      s_.notice.clear();  // it was about the pane we are leaving
      if (s_.prompt.active && s_.prompt.action == MenuItem::Send && s_.prompt.step == 0) {
        s_.focus = s_.focus == Focus::Clients ? Focus::Input : Focus::Clients;
        if (s_.focus == Focus::Clients) note("arrows pick who plain text goes to; Enter takes it, Tab goes back");
        return kEverything;
      }
      const int dir = key.code == Key::Code::Tab ? 1 : 2;
      s_.focus = static_cast<Focus>((static_cast<int>(s_.focus) + dir) % 3);
      return kEverything;
    }
    default: handled = false; return kNothing;
  }
}

unsigned App::key_input(const Key& key, LineEditor& ed) {
  bool changed = false;
  switch (key.code) {
    case Key::Code::Char: ed.insert(key.ch); changed = true; break;
    case Key::Code::Enter:
      if (s_.pasting) {
        // A line break inside a paste never sends: it becomes a space.
        ed.insert(U' ');
        ++paste_lines_;
        changed = true;
        break;
      }
      return s_.prompt.active ? advance_prompt() : submit_input();
    case Key::Code::Escape:
      if (s_.prompt.active) return cancel_prompt();
      if (s_.phase == Phase::Connecting || s_.phase == Phase::Greeting) return cancel_connect();
      return note("") | kInput;
    case Key::Code::Backspace: changed = ed.erase_before(); break;
    case Key::Code::Delete: changed = ed.erase_at(); break;
    case Key::Code::Left: changed = ed.move_left(); break;
    case Key::Code::Right: changed = ed.move_right(); break;
    case Key::Code::Home: changed = ed.move_home(); break;
    case Key::Code::End: changed = ed.move_end(); break;
    case Key::Code::KillLine: changed = ed.kill_to_start(); break;
    case Key::Code::KillWord: changed = ed.kill_word_before(); break;
    case Key::Code::Up: changed = ed.history_up(); break;
    case Key::Code::Down: changed = ed.history_down(); break;
    default: break;
  }
  return changed ? kInput : kNothing;
}

unsigned App::key_menu(const Key& key) {
  switch (key.code) {
    case Key::Code::Up: s_.menu_index = (s_.menu_index + kMenuItems - 1) % kMenuItems; return kMenu;
    case Key::Code::Down: s_.menu_index = (s_.menu_index + 1) % kMenuItems; return kMenu;
    case Key::Code::Home: s_.menu_index = 0; return kMenu;
    case Key::Code::End: s_.menu_index = kMenuItems - 1; return kMenu;
    case Key::Code::Enter: return activate(static_cast<MenuItem>(s_.menu_index));
    case Key::Code::Escape: s_.focus = Focus::Input; return kEverything;
    case Key::Code::Char:
      for (int i = 0; i < kMenuItems; ++i) {
        const auto item = static_cast<MenuItem>(i);
        if (key.ch == static_cast<char32_t>(menu_item_letter(item)) ||
            key.ch == static_cast<char32_t>(menu_item_letter(item) - 'a' + 'A')) {
          s_.menu_index = i;
          return activate(item) | kMenu;
        }
      }
      return note("in the menu: arrows and Enter, or the highlighted letter; Tab leaves");
    default: return kNothing;
  }
}

// Moves the selection `steps` entries (negative: up), stopping at the ends.
unsigned App::select_next_client(int steps) {
  if (s_.clients.empty()) return kNothing;
  auto it = s_.clients.find(s_.selected);
  if (it == s_.clients.end()) {
    it = steps > 0 ? s_.clients.begin() : std::prev(s_.clients.end());
    steps += steps > 0 ? -1 : 1;
  }
  for (; steps > 0 && std::next(it) != s_.clients.end(); --steps) ++it;
  for (; steps < 0 && it != s_.clients.begin(); ++steps) --it;
  s_.selected = it->first;
  return kClients | kInput;
}

unsigned App::key_clients(const Key& key) {
  const int page = std::max(1, s_.layout.clients.h / 2);  // two rows per client
  const int all = static_cast<int>(s_.clients.size());
  switch (key.code) {
    case Key::Code::Up: return select_next_client(-1);
    case Key::Code::Down: return select_next_client(1);
    case Key::Code::PageUp: return select_next_client(-page);
    case Key::Code::PageDown: return select_next_client(page);
    case Key::Code::Home: return select_next_client(-all);
    case Key::Code::End: return select_next_client(all);
    case Key::Code::Escape: s_.focus = Focus::Input; return kEverything;
    case Key::Code::Enter:
      if (s_.selected == 0) return note("pick a client with the arrows first");
      s_.focus = Focus::Input;
      if (s_.prompt.active && s_.prompt.action == MenuItem::Send && s_.prompt.step == 0) {
        s_.prompt_input.set_text(std::to_string(s_.selected));
        return advance_prompt();
      }
      return note("typing now sends to " + client_label(s_.selected)) | kEverything;
    case Key::Code::Char:
      // Typing in the clients pane means typing a message to the selection.
      s_.focus = Focus::Input;
      s_.input.insert(key.ch);
      return kEverything;
    default: return kNothing;
  }
}

// How far back the messages pane can scroll: until the oldest line is at
// its top (counting wrapped rows), not until the pane is empty.
long App::max_scroll() const {
  const Rect& r = s_.layout.messages;
  const int first_w = r.w - kTimestampWidth, next_w = r.w - continuation_indent(r);
  long rows = 0;
  for (std::size_t i = 0; i < s_.log.size(); ++i) {
    rows += static_cast<long>(wrap_cells(sanitize(s_.log[i].text), first_w, next_w).size());
    if (rows >= r.h) return static_cast<long>(s_.log.size() - 1 - i);
  }
  return 0;
}

unsigned App::scroll_by(long lines) {
  const long max = max_scroll();
  const long next = std::clamp(static_cast<long>(s_.scroll) + lines, 0L, max);
  if (next == static_cast<long>(s_.scroll)) return kNothing;
  s_.scroll = static_cast<std::size_t>(next);
  return kMessages;
}

unsigned App::submit_input() {
  const std::string line = s_.input.submit();
  s_.notice.clear();
  s_.scroll = 0;  // whatever the answer is, show it
  return on_line(line) | kInput | kMessages;
}

unsigned App::start_prompt(MenuItem action) {
  s_.prompt = Prompt{true, action, 0, {}};
  s_.focus = Focus::Input;
  if (action == MenuItem::Connect) {
    s_.prompt_input.set_text(last_host_);
    return note("host name or address; Enter accepts, Esc cancels") | kEverything;
  }
  s_.prompt_input.set_text(s_.selected != 0 ? std::to_string(s_.selected) : "");
  return note("client id (Tab: pick in the clients pane); Enter accepts, Esc cancels") | kEverything;
}

unsigned App::cancel_prompt() {
  s_.prompt.active = false;
  s_.prompt_input.clear();
  return note("cancelled") | kEverything;
}

unsigned App::advance_prompt() {
  Prompt& p = s_.prompt;
  p.answers.push_back(s_.prompt_input.submit());
  const std::string& a = p.answers.back();
  if (p.action == MenuItem::Connect) {
    if (p.step == 0) {
      if (a.empty()) p.answers.back() = kDefaultHost;
      p.step = 1;
      s_.prompt_input.set_text(last_port_);
      return note("port number; Enter accepts, Esc cancels") | kInput;
    }
    const std::string port = a.empty() ? std::string(kDefaultPortText) : a;
    if (!parse_port(port)) {
      p.answers.pop_back();
      s_.prompt_input.set_text(port);
      return note("the port must be a number from 1 to 65535", true);
    }
    p.active = false;
    s_.notice.clear();
    return connect(p.answers[0], port) | kEverything;
  }
  if (p.step == 0) {
    std::uint32_t id = 0;
    if (!parse_client_id(a, id)) {
      p.answers.pop_back();
      s_.prompt_input.set_text(a);
      return note("type a client id from the clients pane, or Tab to pick one there", true);
    }
    p.answers.back() = std::to_string(id);
    p.step = 1;
    return note("message for " + client_label(id) + "; Enter sends, Esc cancels") | kInput;
  }
  std::uint32_t id = 0;
  parse_client_id(p.answers[0], id);
  p.active = false;
  s_.notice.clear();
  if (a.empty()) return note("empty message: nothing sent") | kEverything;
  if (!s_.connected()) return refuse_disabled(MenuItem::Send) | kEverything;
  s_.scroll = 0;
  return send_message(id, a) | kEverything;
}

// --------------------------------------------------------------------------
// Wire.

bool App::send_bytes(const Bytes& frame) {
  if (!conn_) return false;
  if (!conn_->send(frame, kSendTimeoutMs)) {
    drop_connection("connection lost: the server does not take our data", LineKind::Error);
    return false;
  }
  last_sent_ = Clock::now();
  return true;
}

bool App::request(Type type, const Bytes& payload, Pending p) {
  if (!conn_) return false;
  const std::uint32_t id = conn_->next_request_id();
  p.type = type;
  p.sent = Clock::now();
  pending_[id] = std::move(p);
  Bytes frame;
  put_frame(frame, Kind::Request, static_cast<std::uint8_t>(type), 0, id, view(payload));
  return send_bytes(frame);
}

unsigned App::send_due_acks() {
  if (acks_due_.empty()) return kNothing;
  std::vector<std::uint32_t> due;
  due.swap(acks_due_);
  for (std::uint32_t message_id : due) {
    Bytes payload;
    put_u32(payload, message_id);
    Pending p;
    p.type = Type::Ack;
    if (!request(Type::Ack, payload, p)) return kEverything;
  }
  return kNothing;
}

unsigned App::on_connection_ready() {
  if (!conn_) return kNothing;
  std::vector<Incoming> batch;
  events_waiting_ = conn_->take(batch, kEventsPerTurn);
  unsigned d = kNothing;
  for (Incoming& in : batch) {
    d |= handle(in);
    if (!conn_) break;  // the rest belonged to the connection just closed
  }
  return fitted(d);
}

unsigned App::handle(Incoming& in) {
  if (in.what == Incoming::What::Connected || in.what == Incoming::What::Failed) {
    return on_connect_outcome(in);
  }
  if (in.what == Incoming::What::Closed) {
    if (s_.phase == Phase::Closing) return drop_connection("disconnected", LineKind::Info);
    // After SHUTDOWN or ERROR the close was announced: not a loss.
    if (!farewell_.empty()) return drop_connection("disconnected: " + farewell_, LineKind::Error);
    return drop_connection("connection lost: " + in.why, LineKind::Error);
  }
  last_received_ = Clock::now();
  const ByteView p = view(in.payload);
  if (in.header.kind == static_cast<std::uint8_t>(Kind::Response)) return handle_response(in);
  return handle_indication(in.header, p);
}

unsigned App::handle_indication(const Header& h, ByteView p) {
  switch (static_cast<Type>(h.type)) {
    case Type::Hello: return on_hello(p);
    case Type::Message: return on_message(h, p);
    case Type::Presence: return on_presence(p);
    case Type::Shutdown: {
      std::string text;
      decode_text(p, text);
      farewell_ = "the server shut down";
      return add_line(LineKind::Error, "server shutting down: " + text);
    }
    case Type::Error: {
      std::string text;
      decode_text(p, text);
      farewell_ = std::string("server error ") + status_name(h.status);
      return add_line(LineKind::Error, std::string("server error ") + status_name(h.status) + ": " + text);
    }
    default:
      return add_line(LineKind::Error, "ignored an indication of unknown type " + std::to_string(h.type));
  }
}

unsigned App::on_hello(ByteView p) {
  std::string_view why;
  if (decode_hello(p, s_.hello, &why) != Status::Ok) {
    return drop_connection("connection lost: bad HELLO from the server (" + std::string(why) + ")",
                           LineKind::Error);
  }
  s_.phase = Phase::Connected;
  s_.nick.clear();
  unsigned d = add_line(LineKind::Info, "connected to " + s_.server + " as client " +
                                            std::to_string(s_.hello.client_id) + " (server " +
                                            s_.hello.server_name + ")");
  if (!s_.options.nick.empty()) d |= ask_nick(s_.options.nick);
  Bytes flags;
  put_u8(flags, kSubscribePresence);
  Pending quiet;
  quiet.quiet = true;
  if (request(Type::Subscribe, flags, Pending{})) request(Type::List, {}, quiet);
  return d | kEverything;
}

unsigned App::on_message(const Header& h, ByteView p) {
  Message m;
  std::string_view why;
  if (decode_message(p, m, &why) != Status::Ok) {
    return add_line(LineKind::Error, "bad MESSAGE " + std::to_string(h.id) + ": " + std::string(why));
  }
  std::string from = std::to_string(m.sender);
  if (!m.nick.empty()) from += " (" + m.nick + ")";
  acks_due_.push_back(h.id);  // sent after this line has been painted
  bell_ = true;
  return add_line(LineKind::Incoming, "message from " + from + " " + format_addr(m.addr) + ": " + m.text,
                  m.sent_at_us);
}

unsigned App::on_presence(ByteView p) {
  Presence ev;
  std::string_view why;
  if (decode_presence(p, ev, &why) != Status::Ok) {
    return add_line(LineKind::Error, "bad PRESENCE: " + std::string(why));
  }
  const Entry& e = ev.entry;
  const std::string who = std::to_string(e.id) + " " + (e.nick.empty() ? "-" : e.nick);
  switch (ev.event) {
    case PresenceEvent::Joined:
      s_.clients[e.id] = e;
      return add_line(LineKind::Event, "joined " + who + " " + format_addr(e.addr)) | kClients;
    case PresenceEvent::Left:
      s_.clients.erase(e.id);
      if (s_.selected == e.id) s_.selected = 0;
      return add_line(LineKind::Event, "left " + who + " (" + leave_word(ev.reason) + ")") | kClients |
             kInput;
    case PresenceEvent::Renamed:
      s_.clients[e.id] = e;
      if (e.id == s_.hello.client_id) {
        s_.nick = e.nick;
        // The screen said "nick NAME" already, when our NICK was answered.
        if (!s_.options.plain) return kClients | kStatus;
      }
      return add_line(LineKind::Event, "renamed " + who) | kClients | kStatus;
  }
  return kNothing;
}

std::string App::error_text(const Header& h, ByteView p) const {
  std::string text;
  if (h.status == static_cast<std::uint8_t>(Status::NotDelivered)) {
    NotDelivered nd;
    if (decode_not_delivered(p, nd) == Status::Ok) text = nd.text;
  } else {
    decode_text(p, text);
  }
  return text;
}

unsigned App::handle_response(const Incoming& in) {
  const Header& h = in.header;
  const ByteView p = view(in.payload);
  auto it = pending_.find(h.id);
  if (it == pending_.end() || static_cast<std::uint8_t>(it->second.type) != h.type) {
    return add_line(LineKind::Error, std::string("ignored a response to no request of ours (") +
                                         type_name(h.type) + " id " + std::to_string(h.id) + ")");
  }
  const Pending pd = std::move(it->second);
  pending_.erase(it);
  const bool ok = h.status == static_cast<std::uint8_t>(Status::Ok);
  switch (pd.type) {
    case Type::Time: return on_time(pd, in);
    case Type::List: return on_list(pd, h, p);
    case Type::Send: return on_send_result(pd, h, p);
    case Type::Nick: return on_nick_result(pd, h, p);
    case Type::Bye: return drop_connection("disconnected", LineKind::Info);
    case Type::Name:
      if (ok) {
        std::string name;
        decode_text(p, name);
        return add_line(LineKind::Info, "name " + name);
      }
      break;
    case Type::Ping: return kNothing;  // life is all a PONG proves
    default:
      if (ok) return kNothing;
      break;
  }
  return add_line(LineKind::Error, std::string(type_name(h.type)) + " failed: " + status_name(h.status) +
                                       " (" + error_text(h, p) + ")");
}

unsigned App::on_time(const Pending& pd, const Incoming& in) {
  const Header& h = in.header;
  const ByteView p = view(in.payload);
  TimeReply t;
  const bool ok = h.status == static_cast<std::uint8_t>(Status::Ok) && decode_time_reply(p, t) == Status::Ok;
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
    return add_line(LineKind::Error, std::string("TIME failed: ") + status_name(h.status) + " (" +
                                         error_text(h, p) + ")");
  }
  return add_line(LineKind::Info, "time " + format_server_time(t.time_us, t.utc_offset_s, t.zone));
}

unsigned App::finish_batch(const char* why) {
  if (!batch_.active) return kNothing;
  batch_.active = false;
  std::string line = format_time_batch(static_cast<std::size_t>(batch_.answered),
                                       static_cast<std::size_t>(batch_.asked),
                                       ms_between(batch_.start, Clock::now()), batch_.rtts_ms);
  if (batch_.failed > 0) line += ", " + std::to_string(batch_.failed) + " failed";
  if (why != nullptr) line += std::string(", ") + why;
  const bool all = batch_.answered == batch_.asked;
  return add_line(all ? LineKind::Info : LineKind::Error, line);
}

unsigned App::on_list(const Pending& pd, const Header& h, ByteView p) {
  std::vector<Entry> entries;
  std::string_view why;
  if (h.status != static_cast<std::uint8_t>(Status::Ok) || decode_list_reply(p, entries, &why) != Status::Ok) {
    return add_line(LineKind::Error, "LIST failed: " + std::string(why) + error_text(h, p));
  }
  s_.clients.clear();
  for (const Entry& e : entries) s_.clients[e.id] = e;
  if (s_.selected != 0 && !s_.clients.contains(s_.selected)) s_.selected = 0;
  if (pd.quiet) return kClients;
  unsigned d = add_line(LineKind::Info, "clients " + std::to_string(entries.size()));
  for (const Entry& e : entries) {
    std::string line = "client " + std::to_string(e.id) + " " + (e.nick.empty() ? "-" : e.nick) + " " +
                       format_addr(e.addr);
    if (e.id == s_.hello.client_id) line += " (you)";
    d |= add_line(LineKind::Info, line);
  }
  return d | kClients;
}

// Marks the "sending" line with its fate, where it was typed.  The screen
// shows only that line; --plain printed it already and prints the outcome
// as a line of its own.
unsigned App::mark_send_line(const Pending& pd, bool ok, const std::string& why) {
  if (pd.line_seq < s_.log_first_seq || pd.line_seq >= s_.log_end_seq()) return kNothing;
  LogLine& l = s_.log[pd.line_seq - s_.log_first_seq];
  const std::string suffix = " (pending)";
  if (l.text.ends_with(suffix)) l.text.resize(l.text.size() - suffix.size());
  if (ok && l.text.starts_with("sending ")) l.text.replace(0, 7, "sent");
  l.text += ok ? " (delivered)" : " (not delivered: " + why + ")";
  l.kind = ok ? LineKind::Delivered : LineKind::Error;
  return kMessages;
}

unsigned App::on_send_result(const Pending& pd, const Header& h, ByteView p) {
  const bool ok = h.status == static_cast<std::uint8_t>(Status::Ok);
  const std::string why = ok ? std::string() : status_word(static_cast<Status>(h.status)) + " (" + error_text(h, p) + ")";
  const unsigned d = mark_send_line(pd, ok, why);
  if (!s_.options.plain) return d;
  if (ok) {
    std::uint32_t message_id = 0;
    decode_u32(p, message_id);
    return add_line(LineKind::Delivered, "delivered " + std::to_string(message_id) + " to " +
                                             std::to_string(pd.target));
  }
  return add_line(LineKind::Error, "not delivered to " + std::to_string(pd.target) + ": " + why);
}

unsigned App::on_nick_result(const Pending& pd, const Header& h, ByteView p) {
  if (h.status == static_cast<std::uint8_t>(Status::Ok)) {
    s_.nick = pd.nick;
    return add_line(LineKind::Info, "nick " + pd.nick) | kStatus;
  }
  const std::string keep = s_.nick.empty() ? "you have no nick" : "you stay " + s_.nick;
  return add_line(LineKind::Error, "nick " + pd.nick + " rejected: " + error_text(h, p) + "; " + keep);
}

unsigned App::drop_connection(const std::string& line, LineKind kind) {
  if (!conn_) return kNothing;
  conn_->close();
  conn_.reset();
  events_waiting_ = false;
  unsigned d = finish_batch("connection closed");
  for (const auto& [id, pd] : pending_) {
    if (pd.type != Type::Send) continue;
    d |= mark_send_line(pd, false, "connection closed before an answer");
    if (s_.options.plain) {
      d |= add_line(LineKind::Error, "not delivered to " + std::to_string(pd.target) +
                                         ": connection closed before an answer");
    }
  }
  pending_.clear();
  acks_due_.clear();
  s_.phase = Phase::Disconnected;
  s_.clients.clear();
  s_.selected = 0;
  s_.hello = Hello{};
  s_.nick.clear();
  s_.server.clear();
  if (s_.prompt.active && s_.prompt.action == MenuItem::Send) {
    s_.prompt.active = false;
    s_.prompt_input.clear();
  }
  return d | add_line(kind, line) | kEverything;
}

std::string App::client_label(std::uint32_t id) const {
  std::string label = std::to_string(id);
  auto it = s_.clients.find(id);
  if (it != s_.clients.end() && !it->second.nick.empty()) label += " (" + it->second.nick + ")";
  return label;
}

// --------------------------------------------------------------------------
// Deadlines.

int App::poll_timeout_ms(Clock::time_point now) const {
  if (events_waiting_) return 0;
  switch (s_.phase) {
    case Phase::Disconnected:
    case Phase::Connecting: return -1;  // the receiver bounds the connect
    case Phase::Greeting: return ms_until(now, last_received_ + kGreetingTimeout);
    case Phase::Closing: return ms_until(now, closing_since_ + kByeTimeout);
    case Phase::Connected: break;
  }
  auto deadline = last_sent_ + heartbeat_interval(s_.hello);
  if (s_.hello.idle_timeout_s > 0) {
    deadline = std::min(deadline, last_received_ + std::chrono::seconds(s_.hello.idle_timeout_s));
  }
  return ms_until(now, deadline);
}

unsigned App::on_tick(Clock::time_point now) {
  if (events_waiting_) return on_connection_ready();
  switch (s_.phase) {
    case Phase::Disconnected:
    case Phase::Connecting: return kNothing;
    case Phase::Greeting:
      if (now >= last_received_ + kGreetingTimeout) {
        return drop_connection("connection lost: no greeting from the server", LineKind::Error);
      }
      return kNothing;
    case Phase::Closing:
      if (now >= closing_since_ + kByeTimeout) return drop_connection("disconnected", LineKind::Info);
      return kNothing;
    case Phase::Connected: break;
  }
  if (s_.hello.idle_timeout_s > 0 && now >= last_received_ + std::chrono::seconds(s_.hello.idle_timeout_s)) {
    return drop_connection("connection lost: nothing from the server for " +
                               std::to_string(s_.hello.idle_timeout_s) + " s",
                           LineKind::Error);
  }
  if (now >= last_sent_ + heartbeat_interval(s_.hello)) {
    Bytes payload;
    put_u32(payload, 0x70696e67);  // "ping": any bytes are echoed
    if (!request(Type::Ping, payload, Pending{})) return kEverything;
  }
  return kNothing;
}

}  // namespace sc::tui
