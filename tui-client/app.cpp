#include "app.hpp"

#include <algorithm>

#include "common/version.hpp"
#include "sanitize.hpp"
#include "timefmt.hpp"

namespace sc::tui {

namespace {

// The menu, in MenuItem order: what the pane shows, and the keys that run
// each item (the function key anywhere, Alt+letter anywhere, the letter
// alone in the menu pane).
struct MenuEntry {
  MenuItem item;
  const char* label;
  const char* bar;  // in the function-key bar of a narrow terminal
  const char* hotkey;
  int function;
  char letter;
};

constexpr MenuEntry kMenuTable[kMenuItems] = {
    {MenuItem::Connect, "Connect", "Connect", "F2", 2, 'c'},
    {MenuItem::Disconnect, "Disconnect", "Discon", "F3", 3, 'd'},
    {MenuItem::Time, "Get time", "Time", "F4", 4, 't'},
    {MenuItem::Name, "Get server name", "Name", "F5", 5, 'n'},
    {MenuItem::List, "List clients", "List", "F6", 6, 'l'},
    {MenuItem::Send, "Send message", "Send", "F7", 7, 's'},
    {MenuItem::Help, "Help", "Help", "F1", 1, 'h'},
    {MenuItem::Quit, "Quit", "Quit", "F10", 10, 'q'},
};

constexpr bool in_item_order() {
  for (int i = 0; i < kMenuItems; ++i) {
    if (static_cast<int>(kMenuTable[i].item) != i) return false;
  }
  return true;
}
static_assert(in_item_order(), "kMenuTable is indexed by MenuItem");

const MenuEntry& menu_entry(MenuItem item) { return kMenuTable[static_cast<int>(item)]; }

// The item a letter (any case) names; nullptr when none does.
const MenuEntry* menu_entry_for_letter(char32_t ch) {
  if (ch >= U'A' && ch <= U'Z') ch = ch - U'A' + U'a';
  for (const MenuEntry& e : kMenuTable) {
    if (ch == static_cast<char32_t>(e.letter)) return &e;
  }
  return nullptr;
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
  if (item == MenuItem::Connect) return s.session.phase == Phase::Disconnected;
  // Disconnect also cancels a connect in progress.
  if (item == MenuItem::Disconnect) {
    return s.session.reconnecting() || (s.session.phase != Phase::Disconnected && s.session.phase != Phase::Closing);
  }
  return !needs_connection(item) || s.connected();
}

const char* menu_item_label(MenuItem item) { return menu_entry(item).label; }

const char* menu_item_hotkey(MenuItem item) { return menu_entry(item).hotkey; }

const char* menu_item_short(MenuItem item) { return menu_entry(item).bar; }

char menu_item_letter(MenuItem item) { return menu_entry(item).letter; }

std::string prompt_label(const Prompt& p) {
  if (p.action == MenuItem::Connect) return p.step == 0 ? "Host: " : "Port: ";
  return p.step == 0 ? "To (nick or id): " : "Message: ";
}

std::string input_label(const State& s) {
  if (!s.session.question.empty()) return "Trust this key? (yes/no): ";
  if (!s.session.password_for.empty()) return "Password for " + s.session.password_for + " (hidden): ";
  if (s.prompt.active) return prompt_label(s.prompt);
  if (!s.windows.active().nick.empty()) return "to " + s.windows.active().nick + "> ";
  if (s.selected != 0 && s.connected()) {
    auto it = s.session.clients.find(s.selected);
    std::string who = std::to_string(s.selected);
    if (it != s.session.clients.end() && !it->second.nick.empty()) who += " " + it->second.nick;
    return "to " + who + "> ";
  }
  return "> ";
}

// LIST and PRESENCE do not say which entries are signed in (PROTOCOL.md),
// but a server that requires sign-in lists no one else: there every entry
// is an account.  Elsewhere only our own AUTH's answer tells.
std::string client_mark(const State& s, std::uint32_t id) {
  const bool signed_in_only = (s.session.hello.flags & kHelloSignInRequired) != 0;
  if (id == s.session.hello.client_id) {
    return s.session.account.empty() && !signed_in_only ? " (you)" : " (you, account)";
  }
  return signed_in_only ? " (account)" : "";
}

std::string windows_status(const State& s) {
  std::string out;
  for (std::size_t i = 0; i < s.windows.size(); ++i) {
    const Window& w = s.windows[i];
    std::string one = std::to_string(i + 1) + ":" + (w.nick.empty() ? "all" : w.nick);
    if (w.unread > 0) one += "(" + std::to_string(w.unread) + (w.highlights > 0 ? "!)" : ")");
    if (i == s.windows.active_index()) one = "[" + one + "]";
    out += (out.empty() ? "" : " ") + one;
  }
  return out;
}

std::string unread_mark(const State& s, const std::string& nick) {
  const std::size_t i = s.windows.find(nick);
  if (i >= s.windows.size() || s.windows[i].unread == 0) return "";
  return " " + std::to_string(s.windows[i].unread) + " new" + (s.windows[i].highlights > 0 ? "!" : "");
}

// --------------------------------------------------------------------------
// Life cycle.

App::App(Options options, Connector connector) : session_(s_.session, s_.log, std::move(connector)) {
  s_.options = std::move(options);
  session_.set_plain(s_.options.plain);
  session_.set_wanted_nick(s_.options.nick);
  session_.set_tls_default(s_.options.tls);
  session_.set_account(s_.options.user, s_.options.password_source);
  session_.set_reconnect(s_.options.reconnect && !s_.options.plain);
  if (!s_.options.plain) {
    add_line(LineKind::Info, "sockchat " SOCKCHAT_VERSION ": F2 or /connect to connect, F1 or /help for help");
  }
}

App::~App() = default;

bool App::take_bell() { return session_.take_bell() && s_.options.bell; }

unsigned App::on_resize(int rows, int cols) {
  s_.layout = compute_layout(rows, cols, s_.clients_pane);
  return settle(kEverything);
}

unsigned App::settle(unsigned dirty) {
  if (s_.log.end_seq() != routed_end_) {
    route_new_lines();
    dirty |= kStatus | kClients | kMessages;
  }
  if (dirty == kNothing) return dirty;
  if (s_.asking() && s_.focus != Focus::Input) {  // the answer is typed in the input line
    s_.focus = Focus::Input;
    dirty |= kEverything;
  }
  if (s_.selected != 0 && !s_.session.clients.contains(s_.selected)) {
    s_.selected = 0;
    dirty |= kInput | kClients;
  }
  if (!s_.connected() && s_.prompt.active && s_.prompt.action == MenuItem::Send) {
    s_.prompt.active = false;
    s_.prompt_input.clear();
    dirty |= kInput;
  }
  return dirty;
}

void App::route_new_lines() {
  const std::uint64_t from = std::max(routed_end_, s_.log.first_seq());
  routed_end_ = s_.log.end_seq();
  for (std::uint64_t seq = from; seq < routed_end_; ++seq) {
    const LogLine& line = s_.log[seq - s_.log.first_seq()];
    const std::size_t k = line.peer.empty() ? 0 : s_.windows.open(line.peer);
    // The all window keeps its place by itself (Scrollback::add).
    if (k != 0 && k == s_.windows.active_index() && s_.windows.active().scroll > 0) ++s_.windows.active().scroll;
    if (line.kind != LineKind::Incoming) continue;
    if (k != s_.windows.active_index()) {
      ++s_.windows.at(k).unread;
      if (line.mention) ++s_.windows.at(k).highlights;
    }
    const Window& active = s_.windows.active();
    if (!active.shows(line, seq) || active_scroll() > 0) preview_ = static_cast<long long>(seq);
  }
}

std::size_t& App::active_scroll() {
  return s_.windows.active_index() == 0 ? s_.log.scroll : s_.windows.active().scroll;
}

// Once per turn, not per key: a paste is thousands of keys in one turn.
void App::prepare_paint() {
  const Window& w = s_.windows.active();
  if (preview_ >= 0) {
    const auto seq = static_cast<std::uint64_t>(preview_);
    // Gone from the log, or in the active window at its bottom: no preview.
    if (seq < s_.log.first_seq() || (w.shows(s_.log[seq - s_.log.first_seq()], seq) && active_scroll() == 0)) {
      preview_ = -1;
    }
  }
  s_.view = compute_message_view(s_.log, s_.layout.too_small ? Rect{} : s_.layout.messages, w, active_scroll(),
                                 preview_);
  if (s_.layout.too_small) return;
  const int field = s_.layout.cols - std::min(display_width(input_label(s_)), s_.layout.cols / 2) - 1;
  s_.input.fit(field);
  s_.prompt_input.fit(field);
  s_.ask_input.fit(field);
}

unsigned App::connect(const std::string& host, const std::string& port) {
  return settle(session_.connect(host, port));
}

unsigned App::request_quit() {
  quit_ = true;
  if (s_.phase() == Phase::Connected) return session_.disconnect();
  if (s_.phase() == Phase::Connecting || s_.phase() == Phase::Greeting) {
    return settle(session_.drop("disconnected", LineKind::Info));
  }
  return kNothing;
}

unsigned App::on_connection_ready() { return settle(session_.on_ready()); }

unsigned App::on_writable() { return settle(session_.on_writable()); }

unsigned App::on_tick(Clock::time_point now) { return settle(session_.on_tick(now)); }

// "Delivered" means shown: only what the last paint put on screen is ACKed
// (a terminal too small shows nothing); --plain has printed every line.
unsigned App::send_due_acks() {
  if (s_.options.plain) return settle(session_.ack_shown([](std::uint64_t) { return true; }));
  const MessageView& v = s_.view;
  return settle(session_.ack_shown([&v](std::uint64_t seq) { return v.shows(seq); }));
}

// --------------------------------------------------------------------------
// Output.

unsigned App::add_line(LineKind kind, std::string text, std::int64_t at_us) {
  return s_.log.add(kind, std::move(text), at_us);
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
  return settle(run(r.command));
}

unsigned App::run(const Command& c) {
  switch (c.kind) {
    case CommandKind::Empty: return kNothing;
    case CommandKind::Say: return say(c.text);
    case CommandKind::Connect: {
      if (s_.phase() != Phase::Disconnected) return refuse_disabled(MenuItem::Connect);
      const bool tls = c.tls == Command::Tls::Default ? session_.tls_default() : c.tls == Command::Tls::On;
      const std::string port = c.port_given ? c.port : tls ? kDefaultTlsPortText : kDefaultPortText;
      return settle(session_.connect(c.host, port, tls));
    }
    case CommandKind::Auth: return session_.begin_sign_in(c.text);
    case CommandKind::Disconnect: return activate(MenuItem::Disconnect);
    case CommandKind::Time:
      if (!s_.connected()) return refuse_disabled(MenuItem::Time);
      return session_.ask_time(c.count);
    case CommandKind::Name: return activate(MenuItem::Name);
    case CommandKind::List: return activate(MenuItem::List);
    case CommandKind::Send: return send_to(c);
    case CommandKind::Whois: return whois(c);
    case CommandKind::Query: return query(c.text);
    case CommandKind::Close: return close_window();
    case CommandKind::Clear: return clear_window();
    case CommandKind::Nick: return session_.ask_nick(c.text);
    case CommandKind::Help: return show_help();
    case CommandKind::Quit: return quit_or_ask();
  }
  return kNothing;
}

unsigned App::refuse_disabled(MenuItem item) {
  std::string why;
  if (item == MenuItem::Connect && s_.phase() == Phase::Connecting) {
    why = "already connecting to " + s_.session.server + "; Esc or /disconnect cancels";
  } else if (item == MenuItem::Connect) {
    why = "already connected to " + s_.session.server + "; disconnect first (F3 or /disconnect)";
  } else if (s_.phase() == Phase::Disconnected) {
    why = std::string(menu_item_label(item)) + " needs a connection: connect first (F2 or /connect)";
  } else if (s_.phase() == Phase::Closing) {
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
    case MenuItem::Disconnect: return session_.disconnect();
    case MenuItem::Time: return session_.ask_time(1);
    case MenuItem::Name: return session_.ask_name();
    case MenuItem::List: return session_.ask_list();
    case MenuItem::Send: return start_prompt(item);
    case MenuItem::Help: return show_help();
    case MenuItem::Quit: return quit_or_ask();
  }
  return kNothing;
}

bool find_client(const std::map<std::uint32_t, Entry>& clients, const std::string& nick, std::uint32_t& id,
                 std::string& why) {
  auto lower = [](std::string v) {
    for (char& ch : v) ch = ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch - 'A' + 'a') : ch;
    return v;
  };
  std::vector<const Entry*> alike;
  for (const auto& [cid, e] : clients) {
    if (e.nick == nick) {
      id = cid;
      return true;
    }
    if (!e.nick.empty() && lower(e.nick) == lower(nick)) alike.push_back(&e);
  }
  if (alike.size() == 1) {
    id = alike.front()->id;
    return true;
  }
  if (alike.empty()) {
    why = "no client is called " + nick + "; /list shows who is connected";
    return false;
  }
  why = nick + " could be";
  for (std::size_t i = 0; i < alike.size(); ++i) {
    why += (i == 0 ? " " : i + 1 == alike.size() ? " or " : ", ") + alike[i]->nick + " (" +
           std::to_string(alike[i]->id) + ")";
  }
  why += "; name the one you mean by its id";
  return false;
}

// Quitting drops what is still on its way; the full screen asks once
// (--plain waits for the answers at end of input instead).
unsigned App::quit_or_ask() {
  const std::size_t n = session_.undelivered();
  if (n == 0 || s_.options.plain || s_.quit_asked) return request_quit();
  s_.quit_asked = true;
  const std::string what = n == 1 ? "1 message has" : std::to_string(n) + " messages have";
  return note(what + " no answer yet: F10 or /quit again quits anyway, Esc stays", true) | kInput;
}

// /send and /msg: to an id as given, or to the client a nick names now.
unsigned App::send_to(const Command& c) {
  if (!s_.connected()) return refuse_disabled(MenuItem::Send);
  std::uint32_t id = c.target;
  if (std::string why; !c.who.empty() && !find_client(s_.session.clients, c.who, id, why)) {
    return error(why) | note(why, true);
  }
  return session_.send_message(id, c.text);
}

// From the client list the Session keeps current (LIST, then presence).
unsigned App::whois(const Command& c) {
  if (!s_.connected()) {
    const std::string why = "/whois needs a connection: connect first (F2 or /connect)";
    return error(why) | note(why, true);
  }
  std::uint32_t id = c.target;
  if (std::string why; !c.who.empty() && !find_client(s_.session.clients, c.who, id, why)) {
    return error(why) | note(why, true);
  }
  auto it = s_.session.clients.find(id);
  if (it == s_.session.clients.end()) return error("no client " + std::to_string(id) + " is connected");
  const Entry& e = it->second;
  std::string line = "whois " + (e.nick.empty() ? "-" : e.nick) + ": client " + std::to_string(e.id) + " at " +
                     format_addr(e.addr) + ", connected since " + format_local_time(e.connected_at_us);
  if (e.id == s_.session.hello.client_id) line += " (you)";
  return add_line(LineKind::Info, line);
}

// The window is keyed by the nick as the client list spells it when
// someone has it now, else as typed: one may open a conversation with a
// nick that is offline (it lands in the window when they come back).
unsigned App::query(const std::string& who) {
  std::string nick = who;
  std::uint32_t id = 0;
  if (auto it = parse_client_id(who, id) ? s_.session.clients.find(id) : s_.session.clients.end();
      it != s_.session.clients.end() && !it->second.nick.empty()) {
    nick = it->second.nick;
  } else if (std::string why; find_client(s_.session.clients, who, id, why)) {
    nick = s_.session.clients.at(id).nick;
  }
  const std::size_t i = s_.windows.open(nick);
  return switch_window(i) | note("window " + std::to_string(i + 1) + ": " + nick +
                                 "; text you type goes to " + nick + ", /close closes it");
}

unsigned App::switch_window(std::size_t index) {
  if (!s_.windows.select(index)) return note("no window " + std::to_string(index + 1), true);
  completion_.accept();
  return kEverything;
}

unsigned App::close_window() {
  if (!s_.windows.close_active()) return note("1:all stays open; /close closes a conversation window", true);
  return kEverything;
}

unsigned App::clear_window() {
  s_.windows.active().cleared = s_.log.end_seq();
  active_scroll() = 0;
  return kMessages;
}

namespace {

// command_help()'s entries, each as one line: a continuation row (it
// starts with spaces) joins the entry before it.
std::vector<std::pair<std::string, std::string>> help_entries() {
  std::vector<std::pair<std::string, std::string>> entries;
  std::string_view all = command_help();
  while (!all.empty()) {
    const std::size_t nl = all.find('\n');
    std::string_view row = all.substr(0, nl);
    all.remove_prefix(nl == std::string_view::npos ? all.size() : nl + 1);
    const std::size_t text_at = row.find_first_not_of(' ');
    if (text_at == std::string_view::npos) continue;
    if (text_at > 0 && !entries.empty()) {
      std::string& what = entries.back().second;
      what += (what.empty() ? "" : " ") + std::string(row.substr(text_at));
      continue;
    }
    const std::size_t gap = row.find("  ");
    const std::size_t desc = gap == std::string_view::npos ? row.size() : row.find_first_not_of(' ', gap);
    entries.emplace_back(std::string(row.substr(0, gap)),
                         desc == std::string_view::npos ? "" : std::string(row.substr(desc)));
  }
  return entries;
}

}  // namespace

// On screen each command is one log line ("/time [N]: the server's
// time...") that the pane wraps with its indent, whatever its width: the
// text is never wrapped twice (once here, once by the pane).  --plain
// prints the help in columns as --help does.
unsigned App::show_help() {
  unsigned d = add_line(LineKind::Info, "commands:");
  const auto entries = help_entries();
  std::size_t widest = 0;
  for (const auto& entry : entries) widest = std::max(widest, entry.first.size());
  for (const auto& [usage, what] : entries) {
    std::string line = "  " + usage;
    if (s_.options.plain) line.resize(std::max<std::size_t>(line.size(), widest + 4), ' ');
    d |= add_line(LineKind::Info, line + (s_.options.plain ? "" : ": ") + what);
  }
  if (!s_.options.plain) {
    d |= add_line(LineKind::Info,
                  "keys: Tab completes nicks and /commands (again: the next one); F1-F10 or Alt+the menu letter "
                  "run menu items anywhere; F9 or Alt-M visits the menu (arrows+Enter or the letter), F8 or "
                  "Alt-W the clients pane (arrows pick who plain text goes to; Alt-U shows or hides it); Tab "
                  "there: next pane, Esc: back to typing; PgUp/PgDn scroll; Up/Down recall input; Esc cancels "
                  "a prompt or a connect; Alt-1..9 or Ctrl-N/Ctrl-P switch windows.");
  }
  return d;
}

// Who plain text typed now goes to: the active window's nick, whoever has
// it now (the window outlives a reconnect with a new id), else the client
// picked in the clients pane.  False with the sentence for the user.
bool App::text_target(std::uint32_t& id, std::string& why) const {
  if (const std::string& nick = s_.windows.active().nick; !nick.empty()) {
    if (!find_client(s_.session.clients, nick, id, why)) {
      why = nick + " is not connected now; nothing was sent";
      return false;
    }
    return true;
  }
  if (s_.selected == 0 || !s_.session.clients.contains(s_.selected)) {
    why = s_.options.plain ? "no client selected: use /send ID TEXT"
                           : "no client selected: /msg NICK TEXT, or a window (Alt-digit), or pick "
                             "one in the clients pane (F8)";
    return false;
  }
  id = s_.selected;
  return true;
}

unsigned App::say(const std::string& text) {
  if (!s_.connected()) return refuse_disabled(MenuItem::Send);
  std::uint32_t id = 0;
  if (std::string why; !text_target(id, why)) return error(why) | note(why, true);
  return session_.send_message(id, text);
}

// --------------------------------------------------------------------------
// Keys.

unsigned App::on_key(const Key& key) {
  bool handled = false;
  unsigned d = key_global(key, handled);
  if (handled) return settle(d);
  if (s_.asking() && s_.focus == Focus::Input) return settle(key_ask(key));
  if (s_.prompt.active && s_.focus == Focus::Input) return settle(key_input(key, s_.prompt_input));
  switch (s_.focus) {
    case Focus::Input: return settle(key_input(key, s_.input));
    case Focus::Menu: return settle(key_menu(key));
    case Focus::Clients: return settle(key_clients(key));
  }
  return kNothing;
}

// Keys that mean the same in every pane.
unsigned App::key_global(const Key& key, bool& handled) {
  handled = true;
  switch (key.code) {
    case Key::Code::Function:
      if (key.function == 8) return focus(Focus::Clients);
      if (key.function == 9) return focus(Focus::Menu);
      for (const MenuEntry& e : kMenuTable) {
        if (e.function == key.function) return activate(e.item);
      }
      return kNothing;
    case Key::Code::Char:
      handled = key.alt;
      return key.alt ? key_alt(key.ch) : kNothing;
    case Key::Code::PageUp:
    case Key::Code::PageDown: {
      // In the clients pane they page through the clients instead.
      handled = s_.focus != Focus::Clients;
      if (!handled) return kNothing;
      const long page = std::max(1, s_.layout.messages.h - 1);
      return scroll_by(key.code == Key::Code::PageUp ? page : -page);
    }
    case Key::Code::Redraw: return kEverything;
    case Key::Code::NextWindow: s_.windows.cycle(1); return kEverything;
    case Key::Code::PrevWindow: s_.windows.cycle(-1); return kEverything;
    case Key::Code::PasteBegin:
      completion_.accept();  // pasted text is never taken as typed through
      s_.pasting = true;
      paste_lines_ = 0;
      paste_bytes_ = 0;
      paste_cr_ = false;
      s_.focus = Focus::Input;
      return kInput | kMenu | kClients;
    case Key::Code::PasteText: return paste_text(key.text);
    case Key::Code::PasteEnd:
      s_.pasting = false;
      if (paste_bytes_ > kMaxPasteBytes) {
        return note("the paste was cut at " + std::to_string(kMaxPasteBytes >> 20) +
                    " MiB; Ctrl-U clears the line");
      }
      if (paste_lines_ > 0) {
        return note("pasted " + std::to_string(paste_lines_ + 1) +
                    " lines joined into one; Enter sends it, Ctrl-U clears it");
      }
      return kNothing;
    case Key::Code::Tab:
    case Key::Code::BackTab: return key_tab(key.code == Key::Code::BackTab);
    default: handled = false; return kNothing;
  }
}

// Tab never takes the focus away from text being typed: in the input line
// it completes; only the target prompt of Send (F7) goes to the clients
// pane to pick, and from the menu and clients panes it goes on round.
unsigned App::key_tab(bool backwards) {
  s_.notice.clear();  // it was about the pane we are leaving
  if (s_.prompt.active && s_.prompt.action == MenuItem::Send && s_.prompt.step == 0) {
    s_.focus = s_.focus == Focus::Clients ? Focus::Input : Focus::Clients;
    if (s_.focus == Focus::Clients) note("arrows pick who plain text goes to; Enter takes it, Tab goes back");
    return kEverything;
  }
  if (s_.focus == Focus::Input) return s_.prompt.active ? kInput : complete(backwards);
  const int dir = backwards ? 2 : 1;
  s_.focus = static_cast<Focus>((static_cast<int>(s_.focus) + dir) % 3);
  return kEverything;
}

// Shows the clients pane when hidden and hides it when shown, whatever
// the width suggested; kept across resizes until toggled back to what the
// width suggests, which is Auto again.
unsigned App::toggle_clients_pane() {
  const bool show = !s_.layout.clients_shown;
  const bool width_says = compute_layout(s_.layout.rows, s_.layout.cols).clients_shown;
  s_.clients_pane = show == width_says ? ClientsPane::Auto : show ? ClientsPane::Shown : ClientsPane::Hidden;
  if (s_.clients_pane == ClientsPane::Hidden && s_.focus == Focus::Clients) s_.focus = Focus::Input;
  return on_resize(s_.layout.rows, s_.layout.cols);
}

unsigned App::focus(Focus f) {
  s_.notice.clear();
  // Visiting a hidden clients pane shows it.
  if (f == Focus::Clients && !s_.layout.clients_shown && !s_.layout.too_small) toggle_clients_pane();
  completion_.accept();
  s_.focus = s_.focus == f ? Focus::Input : f;  // the same key again: back to typing
  return kEverything;
}

// Alt+the menu letter runs the item from any pane; Alt-M and Alt-W visit
// the menu and the clients pane.
unsigned App::key_alt(char32_t ch) {
  if (ch == U'm' || ch == U'M') return focus(Focus::Menu);
  if (ch == U'w' || ch == U'W') return focus(Focus::Clients);
  if (ch == U'u' || ch == U'U') return toggle_clients_pane();
  if (ch >= U'1' && ch <= U'9') return switch_window(static_cast<std::size_t>(ch - U'1'));
  const MenuEntry* e = menu_entry_for_letter(ch);
  return e != nullptr ? activate(e->item) : kNothing;
}

std::vector<std::string> App::nick_candidates() const {
  std::vector<std::string> nicks;
  for (const auto& [id, e] : s_.session.clients) {
    if (id != s_.session.hello.client_id && !e.nick.empty()) nicks.push_back(e.nick);
  }
  return nicks;
}

unsigned App::complete(bool backwards) {
  if (!completion_.tab(s_.input, nick_candidates(), command_names(), backwards)) {
    return note(s_.connected() ? "Tab: nothing to complete here" : "Tab completes /commands, and nicks once connected");
  }
  const std::string all = completion_.choices();
  if (all.find(' ') != std::string::npos) return note("Tab again: " + all) | kInput;
  s_.notice.clear();
  return kInput;
}

// The trust question and the password prompt own the input line until
// answered: Enter answers, Esc says no; the rest edits (no history, no
// completion).
unsigned App::key_ask(const Key& key) {
  if (key.code == Key::Code::Enter && !s_.pasting) return submit_ask();
  if (key.code == Key::Code::Escape) return cancel_ask();
  if (key.code == Key::Code::Up || key.code == Key::Code::Down) return kNothing;
  return key_input(key, s_.ask_input);
}

unsigned App::submit_ask() {
  s_.notice.clear();
  if (!s_.session.password_for.empty()) {
    const std::string account = s_.session.password_for;
    std::string password = s_.ask_input.take_secret();
    return session_.sign_in(account, password);
  }
  const std::string answer = s_.ask_input.submit();
  if (answer == "yes" || answer == "y") return session_.answer_question(true);
  if (answer == "no" || answer == "n") return session_.answer_question(false);
  return note("answer yes or no (Esc: no)", true);
}

unsigned App::cancel_ask() {
  s_.notice.clear();
  if (!s_.session.password_for.empty()) {
    s_.ask_input.take_secret();
    return session_.cancel_sign_in();
  }
  s_.ask_input.clear();
  return session_.answer_question(false);
}

// A block of pasted text (Screen reads pastes in bulk) goes into the line
// in one piece.  Line breaks become spaces, as typed ones do in a paste: a
// paste never sends.  Past kMaxPasteBytes the rest is dropped, and said so
// at the end.
unsigned App::paste_text(std::string_view text) {
  std::string clean;
  clean.reserve(text.size());
  for (const char c : text) {
    if (c == '\n' && paste_cr_) {
      paste_cr_ = false;
      continue;
    }
    paste_cr_ = c == '\r';
    if (c == '\r' || c == '\n') ++paste_lines_;
    clean += c == '\r' || c == '\n' ? ' ' : c;
  }
  const std::size_t room = kMaxPasteBytes - std::min(paste_bytes_, kMaxPasteBytes);
  paste_bytes_ += clean.size();
  if (clean.size() > room) {
    std::size_t cut = room;
    while (cut > 0 && (static_cast<unsigned char>(clean[cut]) & 0xC0) == 0x80) --cut;  // whole characters
    clean.resize(cut);
  }
  (s_.asking() ? s_.ask_input : s_.prompt.active ? s_.prompt_input : s_.input).insert_text(clean);
  return kInput;
}

unsigned App::key_input(const Key& key, LineEditor& ed) {
  bool changed = false;
  if (&ed == &s_.input && key.code == Key::Code::Char && completion_.type(ed, key.ch)) return kInput;
  if (key.code != Key::Code::Char) completion_.accept();
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
      if (s_.quit_asked) {
        s_.quit_asked = false;
        return note("staying") | kInput;
      }
      if (s_.prompt.active) return cancel_prompt();
      if (s_.phase() == Phase::Connecting || s_.phase() == Phase::Greeting || s_.session.reconnecting()) {
        return session_.disconnect();
      }
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
      if (const MenuEntry* e = menu_entry_for_letter(key.ch)) {
        s_.menu_index = static_cast<int>(e->item);
        return activate(e->item) | kMenu;
      }
      return note("in the menu: arrows and Enter, or the highlighted letter; Esc leaves");
    default: return kNothing;
  }
}

// Moves the selection `steps` entries (negative: up), stopping at the ends.
unsigned App::select_next_client(int steps) {
  if (s_.session.clients.empty()) return kNothing;
  auto it = s_.session.clients.find(s_.selected);
  if (it == s_.session.clients.end()) {
    it = steps > 0 ? s_.session.clients.begin() : std::prev(s_.session.clients.end());
    steps += steps > 0 ? -1 : 1;
  }
  for (; steps > 0 && std::next(it) != s_.session.clients.end(); --steps) ++it;
  for (; steps < 0 && it != s_.session.clients.begin(); ++steps) --it;
  s_.selected = it->first;
  return kClients | kInput;
}

unsigned App::key_clients(const Key& key) {
  const int page = std::max(1, s_.layout.clients.h / 2);  // two rows per client
  const int all = static_cast<int>(s_.session.clients.size());
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
      return note("typing now sends to " + session_.client_label(s_.selected)) | kEverything;
    case Key::Code::Char:
      // Typing in the clients pane means typing a message to the selection.
      s_.focus = Focus::Input;
      s_.input.insert(key.ch);
      return kEverything;
    default: return kNothing;
  }
}

// How far back the messages pane can scroll: until the active window's
// oldest line is at its top (counting wrapped rows), not until it is empty.
long App::max_scroll() const {
  const Rect& r = s_.layout.messages;
  const Window& w = s_.windows.active();
  const int first_w = r.w - kTimestampWidth, next_w = r.w - continuation_indent(r);
  auto in_window = [&](std::size_t i) { return w.shows(s_.log[i], s_.log.first_seq() + i); };
  long lines = 0;
  for (std::size_t i = 0; i < s_.log.size(); ++i) lines += in_window(i) ? 1 : 0;
  long rows = 0, seen = 0;
  for (std::size_t i = 0; i < s_.log.size(); ++i) {
    if (!in_window(i)) continue;
    ++seen;
    rows += static_cast<long>(wrap_cells(sanitize(screen_text(s_.log[i])), first_w, next_w).size());
    // The last line that still fits under the oldest at the top; at least
    // one line, however tall.
    if (rows > r.h) return lines - std::max(seen - 1, 1L);
    if (rows == r.h) return lines - seen;
  }
  return 0;
}

unsigned App::scroll_by(long lines) {
  const long max = max_scroll();
  std::size_t& scroll = active_scroll();
  const long next = std::clamp(static_cast<long>(scroll) + lines, 0L, max);
  if (next == static_cast<long>(scroll)) return kNothing;
  scroll = static_cast<std::size_t>(next);
  return kMessages;
}

unsigned App::submit_input() {
  // A line no message can hold stays in the input line to be edited: an
  // oversized paste must not be lost, nor cost a round trip to be refused.
  const std::uint32_t max = s_.session.hello.max_payload;
  if (s_.connected() && max > 4) {
    if (const std::size_t bytes = s_.input.text().size(); bytes > max - 4) {
      return note("this line is " + std::to_string(bytes) + " bytes and a message holds at most " +
                  std::to_string(max - 4) + ": shorten it (Ctrl-U clears it)") | kInput;
    }
  }
  // Text that cannot go anywhere now (no connection, nobody to send it
  // to) stays in the input line: a draft is never lost to a refusal.
  if (const std::string& text = s_.input.text();
      !text.empty() && (text.front() != '/' || text.starts_with("//"))) {
    std::uint32_t id = 0;
    std::string why;
    if (!s_.connected()) {
      why = s_.phase() == Phase::Disconnected ? "not connected: the line is kept (F2 or /connect connects)"
                                              : "not connected yet: the line is kept";
      return note(why, true) | kInput;
    }
    if (!text_target(id, why)) return note(why + "; the line is kept", true) | kInput;
  }
  const std::string line = s_.input.submit();
  s_.notice.clear();
  active_scroll() = 0;  // whatever the answer is, show it
  return on_line(line) | kInput | kMessages;
}

unsigned App::start_prompt(MenuItem action) {
  s_.prompt = Prompt{true, action, 0, {}};
  s_.focus = Focus::Input;
  if (action == MenuItem::Connect) {
    s_.prompt_input.set_text(session_.last_host());
    return note("host name or address; Enter accepts, Esc cancels") | kEverything;
  }
  s_.prompt_input.set_text(s_.selected != 0 ? std::to_string(s_.selected) : "");
  return note("nick or client id (Tab: pick in the clients pane); Enter accepts, Esc cancels") | kEverything;
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
      s_.prompt_input.set_text(session_.last_port());
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
    std::string why;
    if (!parse_client_id(a, id) && !find_client(s_.session.clients, a, id, why)) {
      p.answers.pop_back();
      s_.prompt_input.set_text(a);
      return note(a.empty() ? "type a nick or a client id, or Tab to pick one in the clients pane" : why, true);
    }
    p.answers.back() = std::to_string(id);
    p.step = 1;
    return note("message for " + session_.client_label(id) + "; Enter sends, Esc cancels") | kInput;
  }
  std::uint32_t id = 0;
  parse_client_id(p.answers[0], id);
  p.active = false;
  s_.notice.clear();
  if (a.empty()) return note("empty message: nothing sent") | kEverything;
  if (!s_.connected()) return refuse_disabled(MenuItem::Send) | kEverything;
  active_scroll() = 0;
  return session_.send_message(id, a) | kEverything;
}

}  // namespace sc::tui
