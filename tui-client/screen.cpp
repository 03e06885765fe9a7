#include "screen.hpp"

#include <curses.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <stdexcept>

#include "sanitize.hpp"
#include "timefmt.hpp"

namespace sc::tui {

namespace {

// Codes for keys curses does not know: the bracketed-paste markers.
constexpr int kKeyPasteBegin = KEY_MAX + 1;
constexpr int kKeyPasteEnd = KEY_MAX + 2;
constexpr const char* kPasteOn = "\033[?2004h";
constexpr const char* kPasteOff = "\033[?2004l";

bool g_active = false;
SCREEN* g_screen = nullptr;
bool g_color = false;

enum Pair : short { kPairStatus = 1, kPairError, kPairIncoming, kPairDelivered, kPairEvent, kPairPending, kPairTitle };

void write_raw(const char* s) {
  const std::string_view v(s);
  [[maybe_unused]] const ssize_t n = ::write(STDOUT_FILENO, v.data(), v.size());
}

attr_t pair_or(Pair pair, attr_t mono) { return g_color ? COLOR_PAIR(pair) : mono; }

attr_t kind_attr(LineKind kind) {
  switch (kind) {
    case LineKind::Info: return A_NORMAL;
    case LineKind::Error: return pair_or(kPairError, A_BOLD);
    case LineKind::Incoming: return pair_or(kPairIncoming, A_BOLD) | (g_color ? A_BOLD : 0);
    case LineKind::Pending: return pair_or(kPairPending, A_DIM);
    case LineKind::Delivered: return pair_or(kPairDelivered, A_NORMAL);
    case LineKind::Event: return pair_or(kPairEvent, A_NORMAL);
  }
  return A_NORMAL;
}

// Draws cells from x up to (not past) x + maxw.  Control characters appear
// in reverse video.  Returns the columns used.
int draw_cells(int y, int x, int maxw, const std::vector<Cell>& cells, std::size_t from, std::size_t to,
               attr_t attr) {
  int used = 0;
  move(y, x);
  for (std::size_t i = from; i < to && i < cells.size(); ++i) {
    const Cell& c = cells[i];
    if (used + c.width > maxw) break;
    attrset(c.control ? (attr | A_REVERSE) : attr);
    addstr(c.text.c_str());
    used += c.width;
  }
  attrset(A_NORMAL);
  return used;
}

// Every string on screen goes through here, so peer bytes are always
// sanitized, whatever line they came in.
int draw_text(int y, int x, int maxw, std::string_view text, attr_t attr) {
  if (maxw <= 0) return 0;
  const std::vector<Cell> cells = sanitize(text);
  return draw_cells(y, x, maxw, cells, 0, cells.size(), attr);
}

void fill_row(int y, int x, int w, attr_t attr) {
  attrset(attr);
  mvhline(y, x, ' ', w);
  attrset(A_NORMAL);
}

std::string status_text(const State& s) {
  // The windows first, where a narrow terminal keeps them; with only
  // 1:all there is nothing to say.
  std::string t = s.windows.size() > 1 ? " sockchat " + windows_status(s) + "  " : " sockchat  ";
  switch (s.session.phase) {
    case Phase::Disconnected: return t + (s.session.reconnecting() ? reconnect_status(s.session) : "disconnected");
    case Phase::Connecting:
    case Phase::Greeting: return t + "connecting to " + s.session.server + "\u2026";
    case Phase::Closing: return t + "disconnecting from " + s.session.server;
    case Phase::Connected: break;
  }
  // The protection next to the address, where a narrow terminal keeps it;
  // there the words around them go.
  if (s.layout.menu_bar) {
    return t + s.session.server + " (" + security_status(s.session) + ")  " +
           (s.session.nick.empty() ? "(no nick)" : s.session.nick);
  }
  t += "connected to " + s.session.server + " (" + security_status(s.session) + ")  |  you: " +
       std::to_string(s.session.hello.client_id) + " " + (s.session.nick.empty() ? "(no nick)" : s.session.nick) +
       "  |  server: " + s.session.hello.server_name;
  return t;
}

void paint_status(const State& s) {
  const attr_t a = pair_or(kPairStatus, A_REVERSE);
  fill_row(0, 0, s.layout.cols, a);
  // The function-key bar already says F1 and F10: the narrow status line
  // keeps its width for the windows and the connection.
  const std::string right = s.layout.menu_bar ? "" : "F1 help  F10 quit ";
  const int rw = static_cast<int>(right.size());
  draw_text(0, 0, s.layout.cols - rw - 1, status_text(s), a | A_BOLD);
  draw_text(0, s.layout.cols - rw, rw, right, a);
}

void paint_title(const Layout& l, const Rect& r, const std::string& title, bool focused) {
  const attr_t a = focused ? (pair_or(kPairTitle, A_REVERSE) | A_BOLD) : A_BOLD;
  fill_row(l.title_row, r.x, r.w, focused ? a : A_UNDERLINE);
  draw_text(l.title_row, r.x, r.w, title, focused ? a : (A_BOLD | A_UNDERLINE));
}

void paint_menu(const State& s) {
  const Rect& r = s.layout.menu;
  for (int i = 0; i < kMenuItems && i < r.h; ++i) {
    const auto item = static_cast<MenuItem>(i);
    const bool enabled = menu_item_enabled(s, item);
    const bool current = i == s.menu_index && s.focus == Focus::Menu;
    attr_t a = enabled ? A_NORMAL : A_DIM;
    if (current) a |= A_REVERSE;
    fill_row(r.y + i, r.x, r.w, a);
    std::string hot = menu_item_hotkey(item);
    hot.resize(4, ' ');
    draw_text(r.y + i, r.x + 1, 4, hot, a);
    // The letter that picks the item in this pane, highlighted in its label.
    const std::string label = menu_item_label(item);
    const char letter = menu_item_letter(item);
    int x = r.x + 5;
    bool marked = false;
    for (char c : label) {
      const bool is_hot = !marked && (c == letter || c == letter - 'a' + 'A');
      marked = marked || is_hot;
      const attr_t ca = is_hot && enabled ? (a | A_BOLD | A_UNDERLINE) : a;
      if (x < r.x + r.w) draw_text(r.y + i, x++, 1, std::string(1, c), ca);
    }
  }
  const int hint_y = r.y + kMenuItems + 1;
  if (hint_y < r.y + r.h) draw_text(hint_y, r.x + 1, r.w - 1, "F9/Esc: leave", A_DIM);
}

// The rows App laid out (State::view): what is painted here is what gets
// ACKed.  The activity preview on the last row is marked with an arrow.
void paint_messages(const State& s) {
  const Rect& r = s.layout.messages;
  const int indent = continuation_indent(r);
  int y = s.view.from_top ? r.y : r.y + r.h - static_cast<int>(s.view.rows.size());  // the newest at the bottom
  for (const ViewRow& row : s.view.rows) {
    if (row.preview) y = r.y + r.h - 1;  // always the pane's last row
    const LogLine& line = s.log[row.seq - s.log.first_seq()];
    // The preview's arrow takes the timestamp's trailing space: one more column.
    const int x = row.preview ? kTimestampWidth + 1 : row.first ? kTimestampWidth : indent;
    if (row.preview) {
      draw_text(y, r.x, kTimestampWidth, "\u2193" + format_clock(line.at_us), A_BOLD);
    } else if (row.first) {
      draw_text(y, r.x, kTimestampWidth, format_clock(line.at_us), A_DIM);
    }
    const attr_t a = kind_attr(line.kind) | (row.preview ? A_UNDERLINE : A_NORMAL);
    draw_cells(y, r.x + x, r.w - x, row.cells, row.from, row.to, a);
    ++y;
  }
}

// Two rows per client: the first one shown so that the selection is in view.
int first_client_shown(const State& s) {
  const int fit = std::max(1, s.layout.clients.h / 2);
  int index = 0, selected_index = 0;
  for (const auto& [id, e] : s.session.clients) {
    if (id == s.selected) selected_index = index;
    ++index;
  }
  return selected_index >= fit ? selected_index - fit + 1 : 0;
}

// " Clients (51)", or " Clients 21-30 of 51" when they do not all fit.
std::string clients_title(const State& s) {
  const int all = static_cast<int>(s.session.clients.size());
  const int fit = std::max(1, s.layout.clients.h / 2);
  if (all <= fit || s.session.phase != Phase::Connected) return " Clients (" + std::to_string(all) + ")";
  const int first = first_client_shown(s);
  return " Clients " + std::to_string(first + 1) + "-" + std::to_string(std::min(all, first + fit)) + " of " +
         std::to_string(all);
}

void paint_clients(const State& s) {
  const Rect& r = s.layout.clients;
  if (s.session.phase != Phase::Connected) {
    draw_text(r.y, r.x + 1, r.w - 1, "(not connected)", A_DIM);
    return;
  }
  const int first = first_client_shown(s);
  int index = 0;
  int y = r.y;
  for (const auto& [id, e] : s.session.clients) {
    if (index++ < first) continue;
    if (y + 1 >= r.y + r.h) break;
    const bool sel = id == s.selected;
    attr_t a = A_NORMAL;
    if (sel) a = s.focus == Focus::Clients ? A_REVERSE : (A_BOLD | A_UNDERLINE);
    fill_row(y, r.x, r.w, sel && s.focus == Focus::Clients ? a : A_NORMAL);
    std::string line = sel ? ">" : " ";
    line.append(std::to_string(id)).append(" ").append(e.nick.empty() ? "-" : e.nick);
    const bool you = id == s.session.hello.client_id;
    const std::string suffix = client_mark(s, id) + unread_mark(s, e.nick);
    // A long nick is cut, never the "(you)" after it.
    const int suffix_w = static_cast<int>(suffix.size());
    const int used = draw_text(y, r.x, r.w - suffix_w, line, you ? (a | A_BOLD) : a);
    draw_text(y, r.x + used, suffix_w, suffix, you ? (a | A_BOLD) : a);
    draw_text(y + 1, r.x + 3, r.w - 3, format_addr(e.addr), A_DIM);
    y += 2;
  }
}

// htop's bar: the key plain, its word in reverse video; the item the
// menu focus is on (F9) in bold.
void paint_function_bar(const State& s) {
  const Layout& l = s.layout;
  static constexpr MenuItem kByKey[kMenuItems] = {MenuItem::Help, MenuItem::Connect, MenuItem::Disconnect,
                                                  MenuItem::Time, MenuItem::Name,    MenuItem::List,
                                                  MenuItem::Send, MenuItem::Quit};
  int x = 0;
  for (const MenuItem item : kByKey) {
    if (x >= l.cols) break;
    const int i = static_cast<int>(item);
    const bool current = i == s.menu_index && s.focus == Focus::Menu;
    x += draw_text(l.bar_row, x, l.cols - x, menu_item_hotkey(item), current ? A_BOLD | A_REVERSE : A_BOLD);
    std::string word = std::string(menu_item_short(item)) + " ";
    word.resize(std::max<std::size_t>(word.size(), 6), ' ');
    attr_t a = pair_or(kPairTitle, A_REVERSE) | (menu_item_enabled(s, item) ? 0 : A_DIM);
    if (current) a = A_BOLD | A_UNDERLINE;
    x += draw_text(l.bar_row, x, l.cols - x, word, a);
  }
}

std::string hint_text(const State& s) {
  if (!s.notice.empty()) return s.notice;
  switch (s.focus) {
    case Focus::Menu: return "arrows + Enter or the underlined letter; Esc: back to typing; Tab: next pane";
    case Focus::Clients: return "arrows pick who plain text goes to; Enter: type to them; Esc: back to typing";
    case Focus::Input: break;
  }
  if (s.session.phase == Phase::Connecting || s.session.phase == Phase::Greeting) {
    return "connecting to " + s.session.server + "; Esc or /disconnect cancels";
  }
  if (s.session.reconnecting()) return "the connection was lost; Esc or /disconnect cancels the reconnect";
  if (s.session.phase == Phase::Disconnected) return "F2 or /connect to connect; F1 or /help for help; F9: menu";
  if (s.selected != 0) return "Enter sends to client " + std::to_string(s.selected) + "; Tab completes; F9: menu";
  return "/send ID TEXT, or pick a client (F8) and type; Tab completes; PgUp/PgDn scroll";
}

void paint_bottom(const State& s) {
  const Layout& l = s.layout;
  const attr_t hint_attr = s.notice_is_error && !s.notice.empty() ? kind_attr(LineKind::Error) : A_DIM;
  draw_text(l.hint_row, 1, l.cols - 1, hint_text(s), hint_attr);
  const std::string label = input_label(s);
  const int label_w = draw_text(l.input_row, 0, l.cols / 2, label, A_BOLD);
  const LineEditor& ed = s.asking() ? s.ask_input : s.prompt.active ? s.prompt_input : s.input;
  const int field = l.cols - label_w - 1;
  LineEditor::View v = ed.view(field);
  // A password shows nothing, not even its length.
  if (!s.session.password_for.empty()) v = LineEditor::View{};
  draw_text(l.input_row, label_w, field, v.text, A_NORMAL);
  // Scroll markers: the right one in the column the field leaves free, the
  // left one over the label's trailing space.
  if (v.more_right) draw_text(l.input_row, l.cols - 1, 1, ">", A_REVERSE);
  if (v.more_left && label_w > 0) draw_text(l.input_row, label_w - 1, 1, "<", A_REVERSE);
  const bool typing = s.focus == Focus::Input;
  curs_set(typing ? 1 : 0);
  if (typing) move(l.input_row, label_w + v.cursor_col);
}

void paint_too_small(const State& s) {
  const std::string msg = "terminal too small: need " + std::to_string(kMinCols) + "x" +
                          std::to_string(kMinRows) + ", have " + std::to_string(s.layout.cols) + "x" +
                          std::to_string(s.layout.rows);
  curs_set(0);
  draw_text(s.layout.rows / 2, 0, s.layout.cols, msg, A_BOLD);
}

}  // namespace

Screen::Screen(bool color) {
  g_screen = newterm(nullptr, stdout, stdin);
  if (g_screen == nullptr) throw std::runtime_error("cannot initialise the terminal (is TERM set?)");
  g_active = true;
  cbreak();
  noecho();
  nonl();
  keypad(stdscr, TRUE);
  nodelay(stdscr, TRUE);
  set_escdelay(25);
  define_key("\033[200~", kKeyPasteBegin);
  define_key("\033[201~", kKeyPasteEnd);
  color_ = color && has_colors();
  if (color_) {
    start_color();
    use_default_colors();
    init_pair(kPairStatus, COLOR_WHITE, COLOR_BLUE);
    init_pair(kPairError, COLOR_RED, -1);
    init_pair(kPairIncoming, COLOR_GREEN, -1);
    init_pair(kPairDelivered, COLOR_CYAN, -1);
    init_pair(kPairEvent, COLOR_YELLOW, -1);
    init_pair(kPairPending, COLOR_MAGENTA, -1);
    init_pair(kPairTitle, COLOR_BLACK, COLOR_CYAN);
  }
  g_color = color_;
  write_raw(kPasteOn);
}

Screen::~Screen() {
  restore();
  if (g_screen != nullptr) {
    delscreen(g_screen);
    g_screen = nullptr;
  }
}

void Screen::restore() {
  if (!g_active) return;
  g_active = false;
  endwin();
  write_raw(kPasteOff);
}

void Screen::update_size() {
  winsize ws{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
    resize_term(ws.ws_row, ws.ws_col);
  }
  clearok(curscr, TRUE);
}

int Screen::rows() const { return LINES; }
int Screen::cols() const { return COLS; }

void Screen::force_full_redraw() { clearok(curscr, TRUE); }

void Screen::bell() const { beep(); }

// Esc followed at once by a printable key is Alt+that key (terminals send
// Alt-x as ESC x); anything else after Esc is a key of its own.
void Screen::read_alt(Key& key) {
  key.code = Key::Code::Escape;
  wint_t next = 0;
  const int r = wget_wch(stdscr, &next);
  if (r == OK && next >= 0x20 && next != 0x7F) {
    key.code = Key::Code::Char;
    key.ch = static_cast<char32_t>(next);
    key.alt = true;
  } else if (r == OK) {
    unget_wch(static_cast<wchar_t>(next));
  } else if (r == KEY_CODE_YES) {
    ungetch(static_cast<int>(next));
  }
}

// A block of pasted text, read with one read(); false when none waits.
bool Screen::read_paste(Key& key) {
  pollfd p{STDIN_FILENO, POLLIN, 0};
  if (poll(&p, 1, 0) <= 0 || (p.revents & POLLIN) == 0) return false;
  char buf[64 * 1024];
  const ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
  if (n <= 0) return false;  // the loop's poll() reports the hang-up
  PasteReader::Result r = paste_.feed(std::string_view(buf, static_cast<std::size_t>(n)));
  key = Key{};
  key.code = Key::Code::PasteText;
  key.text = std::move(r.text);
  if (r.ended) {
    in_paste_ = false;
    paste_end_due_ = true;
    // Keys typed right after the paste go back to curses, last byte first
    // (ungetch() pushes to the front).  Its queue holds over a hundred
    // bytes: more than a person types in the instant a paste ends.
    for (auto it = r.after.rbegin(); it != r.after.rend(); ++it) {
      ungetch(static_cast<unsigned char>(*it));
    }
  }
  return true;
}

bool Screen::read_key(Key& key) {
  if (paste_end_due_) {
    paste_end_due_ = false;
    key = Key{};
    key.code = Key::Code::PasteEnd;
    return true;
  }
  if (in_paste_) return read_paste(key);
  wint_t ch = 0;
  const int r = wget_wch(stdscr, &ch);
  if (r == ERR) return false;
  key = Key{};
  if (r == OK) {
    switch (ch) {
      case L'\r':
      case L'\n': key.code = Key::Code::Enter; break;
      case 127:
      case 8: key.code = Key::Code::Backspace; break;
      case L'\t': key.code = Key::Code::Tab; break;
      case 27: read_alt(key); break;
      case 1: key.code = Key::Code::Home; break;      // Ctrl-A
      case 5: key.code = Key::Code::End; break;       // Ctrl-E
      case 2: key.code = Key::Code::Left; break;      // Ctrl-B
      case 6: key.code = Key::Code::Right; break;     // Ctrl-F
      case 4: key.code = Key::Code::Delete; break;    // Ctrl-D
      case 21: key.code = Key::Code::KillLine; break;  // Ctrl-U
      case 23: key.code = Key::Code::KillWord; break;  // Ctrl-W
      case 12: key.code = Key::Code::Redraw; break;    // Ctrl-L
      case 14: key.code = Key::Code::NextWindow; break;  // Ctrl-N
      case 16: key.code = Key::Code::PrevWindow; break;  // Ctrl-P
      default:
        if (ch >= 0x20 && ch != 0x7F) {
          key.code = Key::Code::Char;
          key.ch = static_cast<char32_t>(ch);
        }
    }
    return true;
  }
  switch (ch) {
    case KEY_ENTER: key.code = Key::Code::Enter; break;
    case KEY_BACKSPACE: key.code = Key::Code::Backspace; break;
    case KEY_DC: key.code = Key::Code::Delete; break;
    case KEY_LEFT: key.code = Key::Code::Left; break;
    case KEY_RIGHT: key.code = Key::Code::Right; break;
    case KEY_UP: key.code = Key::Code::Up; break;
    case KEY_DOWN: key.code = Key::Code::Down; break;
    case KEY_HOME: key.code = Key::Code::Home; break;
    case KEY_END: key.code = Key::Code::End; break;
    case KEY_PPAGE: key.code = Key::Code::PageUp; break;
    case KEY_NPAGE: key.code = Key::Code::PageDown; break;
    case KEY_BTAB: key.code = Key::Code::BackTab; break;
    case kKeyPasteBegin:
      key.code = Key::Code::PasteBegin;
      in_paste_ = true;
      break;
    case kKeyPasteEnd: key.code = Key::Code::PasteEnd; break;
    default:
      if (ch >= KEY_F(1) && ch <= KEY_F(12)) {
        key.code = Key::Code::Function;
        key.function = static_cast<int>(ch - KEY_F0);
      }
  }
  return true;
}

void Screen::paint(const State& s) const {
  erase();
  if (s.layout.too_small) {
    paint_too_small(s);
    refresh();
    return;
  }
  const Layout& l = s.layout;
  paint_status(s);
  if (!l.menu_bar) paint_title(l, l.menu, " Menu", s.focus == Focus::Menu);
  std::string messages = " Messages";
  const Window& w = s.windows.active();
  if (!w.nick.empty()) messages = " " + std::to_string(s.windows.active_index() + 1) + ": " + w.nick;
  const std::size_t scroll = s.windows.active_index() == 0 ? s.log.scroll : w.scroll;
  if (scroll > 0) messages += "  (" + std::to_string(scroll) + " newer below: PgDn)";
  paint_title(l, l.messages, messages, false);
  if (l.clients_shown) {
    paint_title(l, l.clients, clients_title(s), s.focus == Focus::Clients);
    mvvline(l.title_row, l.clients.x - 1, ACS_VLINE, l.clients.h + 1);
    paint_clients(s);
  }
  if (l.menu_bar) {
    paint_function_bar(s);
  } else {
    mvvline(l.title_row, l.menu.w, ACS_VLINE, l.menu.h + 1);
    paint_menu(s);
  }
  paint_messages(s);
  paint_bottom(s);
  refresh();
}

}  // namespace sc::tui
