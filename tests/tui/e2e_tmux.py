#!/usr/bin/env python3
"""End to end in a real terminal: sockchatd and two sockchat clients in a
private, detached tmux server (160x40: wide enough that no checked line
wraps in the messages pane), driven with send-keys and read with
capture-pane, the way a person would use them.

Usage: e2e_tmux.py SOCKCHATD SOCKCHAT, with SOCKCHAT_VERSION (project()'s
version) in the environment, as meson runs it.
Exit 77 (skipped) when tmux is not installed.  Every exit path kills the
tmux server and sockchatd."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from sccerts import OPENSSL_MISSING, have_openssl, key_fingerprint, self_signed  # noqa: E402
from sccheck import skip  # noqa: E402
from scserver import Server, hanging_port, wait_for_port  # noqa: E402
from sctmux import Failure, Tmux  # noqa: E402

SOCKCHATD, SOCKCHAT = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
# The name the checks below expect; warnings only in the log.
# The paging scenario starts 25 clients from 127.0.0.1 at once: more than
# the default per-address limits allow (those have their own tests).
SERVER_ARGS = ("--name", "tui-test-server", "--log-level", "warn",
               "--max-clients-per-ip", "0", "--max-connect-rate", "0")
PROMPT = "E2E-PROMPT$ "
tmux = Tmux("e2e")
WAIT, ENV = tmux.WAIT, tmux.env
capture, wait_for, wait_gone = tmux.capture, tmux.wait_for, tmux.wait_gone
keys, typed = tmux.keys, tmux.typed


def attrs_at(text, needle):
    """SGR attribute numbers in effect where needle starts in a capture -e."""
    idx = text.find(needle)
    if idx < 0:
        raise Failure("%r not on screen" % needle)
    state = set()
    for m in re.finditer(r"\x1b\[([0-9;]*)m", text[:idx]):
        for n in (m.group(1) or "0").split(";"):
            if n in ("0", ""):
                state.clear()
            elif n in ("22",):
                state.discard("1")
                state.discard("2")
            else:
                state.add(n)
    return state


def start_panes():
    shell = "env PS1='%s' sh" % PROMPT
    tmux("new-session", "-d", "-s", "e2e", "-x", "160", "-y", "40", "-e", "LC_ALL=C.UTF-8", shell)
    tmux("set-option", "-g", "remain-on-exit", "on")
    tmux("new-window", "-d", "-t", "e2e:1", "-e", "LC_ALL=C.UTF-8", shell)
    for pane in ("e2e:0", "e2e:1"):
        wait_for(pane, re.escape(PROMPT.strip()), "shell prompt in " + pane)


def launch(pane, nick, env=""):
    # Through a shell, so that after quitting its prompt shows the terminal
    # is usable again, with the exit status printed.
    typed(pane, "%s%s --nick %s --no-bell; echo EXIT=$?" % (env, SOCKCHAT, nick))
    keys(pane, "Enter")
    wait_for(pane, r"F10 quit", nick + " client started")


def connect_via_menu(pane, port, use_letter):
    if use_letter:
        keys(pane, "F9")  # input -> menu pane
        wait_for(pane, r"arrows \+ Enter or the underlined letter", "menu pane focused")
        keys(pane, "c")
    else:
        keys(pane, "F2")
    wait_for(pane, r"^Host: 127\.0\.0\.1", "host prompt with its default")
    keys(pane, "Enter")
    wait_for(pane, r"^Port: 2555", "port prompt with its default")
    keys(pane, "C-u")
    typed(pane, str(port))
    keys(pane, "Enter")
    m = wait_for(pane, r"connected to 127\.0\.0\.1:%d as client (\d+) \(server tui-test-server\)" % port,
                 "connected through the menu")
    return int(m.group(1))


def async_connect_and_input_markers(server):
    """Connecting never freezes the UI and Esc cancels it; the input line
    shows scroll markers on both sides; a nick change is one line."""
    a = "e2e:0"
    launch(a, "dave")
    with hanging_port() as port:
        typed(a, "/connect 127.0.0.1 %d" % port)
        keys(a, "Enter")
        wait_for(a, r"^ sockchat  connecting to 127\.0\.0\.1:%d…" % port, "status: connecting…")
        wait_for(a, r"Esc or /disconnect cancels", "hint says how to cancel")
        keys(a, "F1")
        wait_for(a, r"keys: Tab completes", "the UI answers keys while connecting")
        start = time.monotonic()
        keys(a, "Escape")
        wait_for(a, r"connect to 127\.0\.0\.1:%d cancelled" % port, "Esc cancels the connect", timeout=3)
        wait_for(a, r"^ sockchat  disconnected", "disconnected after the cancel", timeout=3)
        if time.monotonic() - start > 3:
            raise Failure("cancelling took %.1f s" % (time.monotonic() - start))
    typed(a, "x" * 250 + "END")
    wait_for(a, r"^><x+END\s*$", "'<' marker when scrolled to the right")
    row = [r for r in capture(a, escapes=True).splitlines() if "END" in r][0]
    if "7" not in attrs_at(row, "<"):
        raise Failure("the '<' marker is not in reverse video: %r" % row)
    keys(a, "Home")
    wait_for(a, r"^> x+>$", "'>' marker, no '<', at the start of the line")
    keys(a, "C-e", "C-u")
    typed(a, "/connect 127.0.0.1 %d" % server.port)
    keys(a, "Enter")
    wait_for(a, r"connected to 127\.0\.0\.1:%d as client (\d+)" % server.port, "dave connected")
    typed(a, "/nick dave2")
    keys(a, "Enter")
    keys(a, "F6")
    wait_for(a, r"client \d+ dave2 127\.0\.0\.1:\d+ \(you\)", "the list after /nick has the new nick")
    if re.search(r"renamed \d+ dave2", capture(a)) or not re.search(r"\d\d:\d\d:\d\d nick dave2 ", capture(a)):
        raise Failure("our own rename should be the one line 'nick dave2':\n" + capture(a))
    print("ok   own nick change shown once")
    clients_pane_paging(a, server)
    keys(a, "F10")
    wait_for(a, r"EXIT=0", "dave quits")


def clients_pane_paging(a, server):
    """25 more clients than the pane holds: it says which part is in view,
    and PgUp/PgDn/Home/End move the selection a page or to the ends."""
    others = [subprocess.Popen([SOCKCHAT, "--plain", "--nick", "many%02d" % i, "127.0.0.1",
                                str(server.port)], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               env=ENV) for i in range(25)]
    try:
        wait_for(a, r"Clients 1-18 of 26", "a full clients pane says which part is shown", timeout=20)
        keys(a, "F8")
        wait_for(a, r"arrows pick who plain text goes to", "clients pane focused")
        keys(a, "End")
        wait_for(a, r"Clients 9-26 of 26", "End selects the last client")
        wait_for(a, r"^to \d+ many\d\d>", "the last client is the one typed to")
        keys(a, "Home")
        wait_for(a, r"Clients 1-18 of 26", "Home goes back to the first")
        keys(a, "NPage")
        wait_for(a, r"Clients 2-19 of 26", "PgDn moves the selection a page")
        keys(a, "PPage")
        wait_for(a, r"Clients 1-18 of 26(.*\n)+.*>\d+ dave2 \(you\)", "PgUp a page back to the first")
        keys(a, "Escape")
    finally:
        for p in others:
            p.stdin.close()
        for p in others:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def scenario(server):
    start_panes()
    a, b = "e2e:0", "e2e:1"
    launch(a, "alice")
    launch(b, "bob")
    wait_for(a, r"^ Menu .*Messages.*Clients", "panes laid out")
    wait_for(a, r"disconnected", "status line says disconnected")
    screen = capture(a, escapes=True)
    if "2" not in attrs_at(screen, "Get time") or "2" in attrs_at(screen, "onnect"):
        raise Failure("while disconnected Get time should be dim and Connect not")
    print("ok   disabled menu items greyed")
    id_a = connect_via_menu(a, server.port, use_letter=False)
    id_b = connect_via_menu(b, server.port, use_letter=True)
    keys(b, "Escape")

    # Get time, get name, list clients: menu hotkeys.
    keys(a, "F4")
    wait_for(a, r"time \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \S+ \(UTC[+-]\d\d:\d\d(:\d\d)?\)",
             "get time: local time with zone and offset")
    keys(a, "F5")
    wait_for(a, r"name tui-test-server", "get server name")
    keys(a, "F6")
    wait_for(a, r"client %d alice 127\.0\.0\.1:\d+ \(you\)" % id_a, "list shows alice (marked)")
    wait_for(a, r"client %d bob 127\.0\.0\.1:\d+" % id_b, "list shows bob")
    wait_for(a, r"Clients \(2\)", "clients pane shows both")

    # Tab in the middle of typing completes the nick and never fires a
    # menu action (it used to focus the menu, where the 'q' quit).
    wait_for(b, r"Clients \(2\)", "bob's clients pane shows both")
    typed(b, "hello al")
    keys(b, "Tab")
    wait_for(b, r"^> hello alice\s*$", "Tab completes alice's nick")
    typed(b, "ice, quick question")
    wait_for(b, r"^> hello alice, quick question\s*$", "typing on after Tab stays in the input line")
    if "EXIT=" in capture(b) or "disconnecting" in capture(b):
        raise Failure("bob's client quit or disconnected while typing:\n" + capture(b))
    print("ok   the Tab-then-type sequence leaves the draft intact")
    keys(b, "C-u")
    typed(b, "/ni")
    keys(b, "Tab")
    wait_for(b, r"^> /nick\s*$", "Tab completes a /command")
    keys(b, "C-u")
    keys(a, "M-n")  # Alt+the menu letter: Get server name
    wait_for(a, r"name tui-test-server(.*\n)+.*name tui-test-server", "Alt-N runs Get server name")

    # Send through the menu: target picked in the clients pane.
    keys(a, "F7")
    wait_for(a, r"^To \(nick or id\):", "send prompt asks for the target")
    keys(a, "C-u", "Tab")
    wait_for(a, r"arrows pick who plain text goes to", "clients pane focused to pick")
    for _ in range(3):
        keys(a, "Down")
    keys(a, "Enter")
    wait_for(a, r"^Message:", "message prompt")
    typed(a, "hello bob, 你好 from the menu")
    keys(a, "Enter")
    # One line per message, the sender's nick, no address (that is in /whois).
    wait_for(b, r"^.*\d\d:\d\d:\d\d <alice> hello bob, 你好 from the menu",
             "message shown on the receiver")
    wait_for(a, r"sent to %d \(bob\): hello bob, 你好 from the menu \(delivered\)" % id_b,
             "'delivered' on the sender's line")
    if re.search(r"delivered \d+ to|\(pending\)", capture(a)):
        raise Failure("a second 'delivered' line, or the line still pending:\n" + capture(a))
    print("ok   one line per sent message")

    # And as a slash command.
    typed(b, "/send %d hi alice" % id_a)
    keys(b, "Enter")
    wait_for(a, r"<bob> hi alice", "/send reaches alice")
    wait_for(b, r"sent to %d \(alice\): hi alice \(delivered\)" % id_a, "/send delivered")
    # By nick: /msg resolves it through the client list; /whois shows it.
    typed(b, "/msg al")
    keys(b, "Tab")
    typed(b, " hi by nick")
    keys(b, "Enter")
    wait_for(a, r"<bob> hi by nick", "/msg NICK reaches alice")
    wait_for(b, r"sent to %d \(alice\): hi by nick \(delivered\)" % id_a, "/msg NICK delivered")
    typed(b, "/msg nobody hello")
    keys(b, "Enter")
    wait_for(b, r"error: no client is called nobody; /list shows who is connected", "/msg to an unknown nick")
    typed(b, "/whois alice")
    keys(b, "Enter")
    wait_for(b, r"whois alice: client %d at 127\.0\.0\.1:\d+, connected since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
             % id_a, "/whois alice")
    typed(b, "/send 999 nobody")
    keys(b, "Enter")
    wait_for(b, r"sending to 999: nobody \(not delivered: no such client", "failure on the sent line")

    conversation_windows(a, b)

    typed(a, "/time 100")
    keys(a, "Enter")
    wait_for(a, r"100/100 responses in [\d.]+ ms \(rtt min/median/max", "/time 100 shows 100/100")

    # Scrollback: PgUp shows older lines and says so; PgDn comes back.
    for _ in range(3):
        keys(a, "F1")  # help: enough lines to overflow the pane
    wait_for(a, r"switch windows\.\s.*\n(.*\n){0,3}.*commands:", "help shown, more lines than the pane has rows")
    keys(a, "PPage")
    wait_for(a, r"newer below: PgDn", "PgUp scrolls back")
    for _ in range(6):
        keys(a, "PPage")
    deadline = time.monotonic() + WAIT
    while "sockchat %s: F2" % os.environ["SOCKCHAT_VERSION"] not in capture(a).splitlines()[2]:
        if time.monotonic() > deadline:
            raise Failure("PgUp does not stop with the oldest line at the top:\n" + capture(a))
        time.sleep(0.1)
    print("ok   PgUp stops with the oldest line on the pane's top row")
    # Scrolled back, a new message shows in the activity preview on the
    # pane's last row: that is on screen, so it is delivered.
    typed(b, "/msg alice seen in the preview")
    keys(b, "Enter")
    wait_for(a, r"^.*\u2193\d\d:\d\d:\d\d <bob> seen in the preview",
             "activity preview while scrolled back")
    wait_for(b, r"sent to %d \(alice\): seen in the preview \(delivered\)" % id_a, "the preview counts as shown")
    print("ok   scrolled back: the newest message shows in the preview row and is delivered")
    keys(a, "NPage", "NPage")
    wait_gone(a, r"newer below", "PgDn returns to the newest")
    delivery_needs_the_screen(a, b, id_a, id_b)

    # A peer sends escape sequences: they must show as ^[ and do nothing.
    evil = "\x1b[31mEVIL\x1b[0m\x1b]2;pwned\x07 tail"
    p = subprocess.run([SOCKCHAT, "--plain", "--nick", "mallory", "127.0.0.1", str(server.port)],
                       input=("/send %d %s\n" % (id_b, evil)).encode(), capture_output=True,
                       env=ENV, timeout=30)
    if p.returncode != 0 or b"delivered" not in p.stdout:
        raise Failure("mallory's message was not delivered:\n" + p.stdout.decode(errors="replace"))
    m = wait_for(b, r"^.*<mallory>.*$", "escape-laden message shown")
    line = m.group(0)
    if "^[[31mEVIL^[[0m^[]2;pwned^G tail" not in line:
        raise Failure("escape sequences not shown as caret notation: " + line)
    colored = [l for l in capture(b, escapes=True).splitlines() if "EVIL" in l]
    if not colored or "\x1b[31m" in colored[0] or "\x1b[41m" in colored[0]:
        raise Failure("the message changed colours: %r" % colored)
    if not re.search(r"\x1b\[[0-9;]*7[0-9;]*m[^\x1b]*\^\[", colored[0]):
        raise Failure("caret notation is not highlighted (reverse video): %r" % colored[0])
    print("ok   escape sequences inert: shown as reverse-video ^[, no colour change")
    title = tmux("display-message", "-p", "-t", b, "#{pane_title}")
    if "pwned" in title:
        raise Failure("the peer retitled the pane: " + title)

    # Resize: smaller, too small, and back.
    tmux("resize-window", "-t", b, "-x", "80", "-y", "24")
    wait_for(b, r"^F1Help .*F10Quit", "relayout at 80 columns: the function-key bar")
    # The bar says F1 and F10, so the status line keeps its whole width.
    wait_for(b, r"^ sockchat .*127\.0\.0\.1:\d+ \(plaintext \(loopback\)\)", "the status line's protection whole at 80 columns")
    rows = capture(b).splitlines()
    if not any("Clients (" in r for r in rows[:3]) or len(rows) > 24:
        raise Failure("panes not laid out for 80x24:\n" + "\n".join(rows))
    small_layouts(a, b)
    tmux("resize-window", "-t", b, "-x", "30", "-y", "8")
    wait_for(b, r"terminal too small", "'terminal too small' below the minimum")
    tmux("resize-window", "-t", b, "-x", "160", "-y", "40")
    wait_gone(b, r"terminal too small", "back to the full layout")
    wait_for(b, r"Clients \(\d+\)", "clients pane back after resize")

    # A multi-line paste is joined into the input line, never sent line by line.
    tmux("set-buffer", "-b", "e2e", "first line\nsecond line")
    tmux("paste-buffer", "-p", "-d", "-b", "e2e", "-t", b)
    wait_for(b, r"pasted 2 lines joined into one", "multi-line paste held in the input line")
    wait_for(b, r"^> first line second line", "pasted lines joined with a space")
    if re.search(r"error: no client selected|sending to .*first line", capture(b)):
        raise Failure("the paste was sent:\n" + capture(b))
    keys(b, "C-u")
    wait_gone(b, r"^> first line", "Ctrl-U clears the input line")

    # Disconnect (menu hotkey), then quit: the terminal must come back.
    keys(a, "F3")
    wait_for(a, r"^ sockchat (\[?\d:\S+ )*\s*disconnected", "disconnected (status line)")
    wait_for(b, r"left %d alice \(said goodbye\)" % id_a, "the other client sees alice leave")
    wait_for(b, r"Clients \(1\)", "clients pane updated live")
    keys(a, "F4")
    wait_for(a, r"Get time needs a connection", "disabled item says why")
    keys(a, "F10")
    wait_for(a, r"EXIT=0", "quit exits 0")
    wait_for(a, re.escape(PROMPT.strip()) + r"$", "shell prompt back after quit")
    typed(b, "/quit")
    keys(b, "Enter")
    wait_for(b, r"EXIT=0", "/quit exits 0")
    for pane in (a, b):
        if tmux("display-message", "-p", "-t", pane, "#{alternate_on}").strip() != "0":
            raise Failure("alternate screen still on in " + pane)
        if re.search(r"F10 quit|F10Quit", capture(pane)):
            raise Failure("the UI is still on screen in " + pane)
    print("ok   terminal restored (alternate screen left)")

    # SIGTERM while connected: the terminal is restored too.  NO_COLOR: no colours.
    launch(a, "carol", env="NO_COLOR=1 ")
    if re.search(r"\x1b\[(3[0-7]|4[0-7])m", capture(a, escapes=True)):
        raise Failure("colours used although NO_COLOR is set")
    print("ok   NO_COLOR honoured")
    keys(a, "F2", "Enter", "C-u")
    typed(a, str(server.port))
    keys(a, "Enter")
    wait_for(a, r"connected to 127\.0\.0\.1", "carol connected")
    shell_pid = tmux("display-message", "-p", "-t", a, "#{pane_pid}").strip()
    child = subprocess.run(["pgrep", "-P", shell_pid], capture_output=True, text=True).stdout.split()
    if len(child) != 1:
        raise Failure("could not find the client under the pane's shell: %r" % child)
    os.kill(int(child[0]), signal.SIGTERM)
    wait_for(a, r"EXIT=143", "SIGTERM exits 143")
    if tmux("display-message", "-p", "-t", a, "#{alternate_on}").strip() != "0":
        raise Failure("alternate screen still on after SIGTERM")
    print("ok   terminal restored after SIGTERM")
    async_connect_and_input_markers(server)


def server_list(port):
    """The client list as a --plain client on `port` gets it."""
    p = subprocess.run([SOCKCHAT, "--plain", "--no-config", "127.0.0.1", str(port)], input=b"/list\n",
                       capture_output=True, env=ENV, timeout=30)
    return p.stdout.decode(errors="replace")


def reconnect_after_restart():
    """sockchatd restarted on the same port: the client counts down,
    reconnects by itself and gets its nick back; Esc cancels a reconnect."""
    pane = "e2e:0"
    first = Server(SOCKCHATD, *SERVER_ARGS)
    port, second = first.port, None
    try:
        typed(pane, "clear; %s --nick erin --no-bell 127.0.0.1 %d; echo RECON-EXIT=$?" % (SOCKCHAT, port))
        keys(pane, "Enter")
        wait_for(pane, r"connected to 127\.0\.0\.1:%d as client \d+" % port, "erin connected")
        first.stop()
        wait_for(pane, r"disconnected: the server shut down", "the shutdown is said")
        wait_for(pane, r"^ sockchat  reconnecting to 127\.0\.0\.1:%d in \d+ s" % port,
                 "the status line counts down to the reconnect")
        second = Server(SOCKCHATD, *SERVER_ARGS, "--port", str(port))
        wait_for(pane, r"reconnecting to 127\.0\.0\.1:%d in .*\n(.*\n)*.*connected to 127\.0\.0\.1:%d as client"
                 % (port, port), "reconnected by itself to the restarted server", timeout=30)
        wait_for(pane, r"^ sockchat  connected to 127\.0\.0\.1:%d .*you: \d+ erin" % port,
                 "the nick is back (status line)")
        if not re.search(r"^client \d+ erin 127\.0\.0\.1:\d+$", server_list(port), re.M):
            raise Failure("the restarted server does not list erin:\n" + server_list(port))
        print("ok   the restarted server lists erin")
        second.stop()
        wait_for(pane, r"^ sockchat  reconnecting to", "counting down again after the second stop")
        keys(pane, "Escape")
        wait_for(pane, r"reconnect cancelled", "Esc cancels the reconnect")
        wait_for(pane, r"^ sockchat  disconnected", "disconnected after the cancel")
        keys(pane, "F10")
        wait_for(pane, r"RECON-EXIT=0", "erin quits")
    finally:
        first.stop()
        if second is not None:
            second.stop()


def one_row_message(pane, text, cols):
    """text arrives as one row of the messages pane, not cut: its time,
    <alice> and the whole text, and nothing of it on the next row."""
    m = wait_for(pane, r"^(.*)\d\d:\d\d:\d\d <alice> %s(.*)$" % re.escape(text), "one line per message at %d columns" % cols)
    rows = capture(pane).splitlines()
    if any(len(r) > cols for r in rows) or len(rows) > 24:
        raise Failure("rows wider than the terminal:\n" + "\n".join(rows))
    return m


def small_layouts(a, b):
    """80x24: the menu is a function-key bar, the clients pane narrows, a
    message is one line.  40x10: still usable; the clients pane hides and
    Alt-U brings it back."""
    rows = capture(b).splitlines()
    if not re.search(r"F1Help\s+F2Connect", "\n".join(rows)) or any(" Menu " in r for r in rows):
        raise Failure("no function-key bar at 80 columns:\n" + "\n".join(rows))
    typed(a, "/msg bob at eighty columns")
    keys(a, "Enter")
    one_row_message(b, "at eighty columns", 80)
    print("ok   80x24: function-key bar, clients pane, one line per message")
    tmux("resize-window", "-t", b, "-x", "40", "-y", "10")
    # The bar on row 7 of 10 shows the client has laid out for 40x10 (an
    # 80x24 screen cut by tmux would show it lower).
    wait_for(b, r"\A(.*\n){7}F1Help", "the function-key bar at 40x10, third row from the bottom")
    if "terminal too small" in capture(b) or "Clients (" in capture(b):
        raise Failure("40x10 should be usable with the clients pane hidden:\n" + capture(b))
    typed(a, "/msg bob tiny")
    keys(a, "Enter")
    one_row_message(b, "tiny", 40)
    typed(b, "x")  # a key typed and shown: the client is reading keys now
    wait_for(b, r"^> x", "a key shows at 40x10")
    keys(b, "BSpace")
    wait_gone(b, r"^> x", "Backspace")
    keys(b, "M-u")
    wait_for(b, r"Clients \(\d+\)", "Alt-U shows the clients pane")
    keys(b, "M-u")
    wait_gone(b, r"Clients \(\d+\)", "Alt-U hides it again")
    print("ok   40x10: usable, one line per message, Alt-U toggles the clients pane")


def conversation_windows(a, b):
    """/query opens a window per nick; messages land in the sender's
    window, with unread counts in the status line and the clients pane;
    Alt-digit and Ctrl-N switch; plain text in a window goes to its nick."""
    typed(b, "/query alice")
    keys(b, "Enter")
    wait_for(b, r"^ sockchat .*\[2:alice\]", "bob's status line: the alice window is active")
    wait_for(b, r"^.*\u2502 2: alice", "bob's messages pane is titled with the window")
    typed(b, "hey alice, in our window")
    keys(b, "Enter")
    wait_for(b, r"sent to \d+ \(alice\): hey alice, in our window \(delivered\)", "plain text goes to the window's nick")
    wait_for(a, r"^ sockchat .*2:bob\(\d+!?\)", "alice's status line counts bob's unread messages")
    wait_for(a, r"bob \d+ new!?", "alice's clients pane marks bob's unread messages")
    keys(a, "M-2")
    wait_for(a, r"^ sockchat .*\[2:bob\]", "Alt-2 switches to bob's window")
    wait_gone(a, r"bob \d+ new!?", "read once the window is active")
    typed(a, "answered in the window")
    keys(a, "Enter")
    wait_for(b, r"<alice> answered in the window", "the answer lands in bob's alice window")
    screen = capture(a)
    if "time 20" in screen or "name tui-test-server" in screen:
        raise Failure("bob's window shows lines of other conversations:\n" + screen)
    keys(a, "C-n")
    wait_for(a, r"^ sockchat \[1:all\]", "Ctrl-N goes round to 1:all")
    keys(b, "M-1")
    wait_for(b, r"^ sockchat \[1:all\]", "Alt-1: back to 1:all")
    print("ok   /query: a window per nick, unread counts, Alt-digit and Ctrl-N switch")


def delivery_needs_the_screen(a, b, id_a, id_b):
    """A message that arrives while alice's terminal is too small to show
    it is not ACKed: bob is told it was not delivered.  Once alice's
    terminal grows it shows, with a plain note that it came late."""
    tmux("resize-window", "-t", a, "-x", "30", "-y", "8")
    wait_for(a, r"terminal too small", "alice's terminal too small to show messages")
    typed(b, "/msg alice while you could not see")
    keys(b, "Enter")
    wait_for(b, r"sending to %d \(alice\): while you could not see \(not delivered: not acknowledged" % id_a,
             "never shown: the sender is told not delivered", timeout=WAIT + 10)
    tmux("resize-window", "-t", a, "-x", "160", "-y", "40")
    wait_for(a, r"<bob> while you could not see", "shown once the terminal grew")
    wait_for(a, wrapped("the message from bob above arrived after bob's 5 s delivery window; bob was told it "
                        "was not delivered"), "the late message explained in plain words")
    screen = capture(a)
    if "NO_SUCH_MESSAGE" in screen or "ACK failed" in screen:
        raise Failure("protocol jargon on alice's screen:\n" + screen)
    print("ok   a message never on screen is not delivered; shown late, it says so plainly")


def wrapped(text):
    """A pattern for text that the messages pane may wrap at any space."""
    return r"[\s\u2502]+".join(re.escape(w) for w in text.split(" "))


def launch_tls(pane, port, xdg, run):
    # Each run echoes its own marker: earlier runs' EXIT= lines stay on screen.
    typed(pane, "XDG_DATA_HOME=%s %s --nick tofu --no-bell --tls 127.0.0.1 %d; echo TOFU%d-EXIT=$?"
          % (xdg, SOCKCHAT, port, run))
    keys(pane, "Enter")


def quit_client(pane, run, what):
    keys(pane, "F10")
    wait_for(pane, r"^TOFU%d-EXIT=0" % run, what)


def tofu_question(d):
    """Trust on first use in the full-screen UI: the question shows the key,
    yes remembers it, the next start accepts it silently, a changed key is
    refused naming the file and line."""
    self_signed(d, "tofu")
    fp = key_fingerprint(os.path.join(d, "tofu.pem"))
    port_file = os.path.join(d, "tls-port")
    server = Server(SOCKCHATD, *SERVER_ARGS, "--tls-cert", os.path.join(d, "tofu.pem"),
                    "--tls-key", os.path.join(d, "tofu.key"), "--tls-port", "0", "--tls-port-file", port_file)
    try:
        port = wait_for_port(port_file, server.proc.poll)
        xdg = os.path.join(d, "xdg")
        known = os.path.join(xdg, "sockchat", "known_servers")
        pane = "e2e:0"
        launch_tls(pane, port, xdg, 1)
        wait_for(pane, r"Trust this key\? \(yes/no\):", "TOFU: the input line asks")
        wait_for(pane, wrapped("Its key is " + fp + "."), "TOFU: the question shows the key's SHA-256 fingerprint")
        typed(pane, "yes")
        keys(pane, "Enter")
        wait_for(pane, wrapped("remembered the key of 127.0.0.1:%d in %s line 1" % (port, known)),
                 "TOFU: yes remembers the key, naming file and line")
        wait_for(pane, r"key trusted now \(first use\)", "TOFU: the status line says the key was trusted now")
        with open(known) as f:
            if f.read() != "127.0.0.1:%d %s\n" % (port, fp):
                raise Failure("known_servers does not hold the one expected line")
        print("ok   TOFU: known_servers holds host:port and the fingerprint")
        quit_client(pane, 1, "TOFU: quit after trusting")
        launch_tls(pane, port, xdg, 2)
        wait_for(pane, r"verified \(known key\)", "TOFU: the remembered key is accepted without a question")
        if "Trust this key" in capture(pane):
            raise Failure("asked again about a remembered key")
        quit_client(pane, 2, "TOFU: quit after the known key")
        with open(known, "w") as f:
            f.write("127.0.0.1:%d SHA256:%s\n" % (port, "A" * 43))
        launch_tls(pane, port, xdg, 3)
        wait_for(pane, r"THE SERVER'S KEY HAS CHANGED", "TOFU: a changed key is refused loudly")
        wait_for(pane, wrapped("remove line 1 of " + known), "TOFU: the refusal names the file and line")
        quit_client(pane, 3, "TOFU: quit after the refusal")
    finally:
        server.stop()


def main():
    if shutil.which("tmux") is None:
        skip("tmux is not installed (scripts/test installs it)")
    server = None
    # meson's timeout sends SIGTERM: turn it into an exception so that the
    # finally clause still cleans up.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(Failure("terminated")))
    try:
        server = Server(SOCKCHATD, *SERVER_ARGS)
        scenario(server)
        reconnect_after_restart()
        if not have_openssl():
            raise Failure("the TOFU question: " + OPENSSL_MISSING)
        with tempfile.TemporaryDirectory(prefix="sockchat-e2e-tofu-") as d:
            tofu_question(d)
        print("0 failed")
        return 0
    except Failure as e:
        print("FAIL " + str(e))
        if server is not None:
            print("---- sockchatd log:\n" + server.read_log())
        return 1
    finally:
        tmux("kill-server", check=False)
        if server is not None:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
