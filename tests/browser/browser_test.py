#!/usr/bin/python3
"""The chat page in a real headless browser.

Starts real chatd processes on free loopback ports (one node, a node with
JWT authentication, then a 2-node cluster), opens the page in separate
headless Chromium sessions (Debian's chromium + chromium-driver, driven by
python3-selenium) and checks that a message sent through the form shows in
both, that HTML in a message is shown as text, that the node name is shown,
that a signed-in page shows the server-verified name, the member list and
join/leave lines (across nodes too), and that the page says it is
reconnecting when its node dies and connects again when it comes back.

Screenshots of every browser go to build/browser-artifacts/ (relative to the
repository root). Every wait has a timeout and the whole run is bounded by
CHATD_BROWSER_TEST_TIMEOUT seconds (180 by default); every process started
here is stopped at the end, pass or fail.

    CHATD_BINARY=build/release/app/chatd /usr/bin/python3 tests/browser/browser_test.py
"""

import ctypes
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.remote_connection import RemoteConnection
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "build" / "browser-artifacts"
CHATD = Path(os.environ.get("CHATD_BINARY", "build/release/app/chatd"))
if not CHATD.is_absolute():
    CHATD = ROOT / CHATD
CHROMIUM = os.environ.get("CHATD_CHROMIUM", "/usr/bin/chromium")
# Starts CHROMIUM with a parent-death signal (see the script).
CHROMIUM_LAUNCHER = Path(__file__).resolve().parent / "chromium.sh"
CHROMEDRIVER = os.environ.get("CHATD_CHROMEDRIVER", "/usr/bin/chromedriver")
OVERALL_TIMEOUT = int(os.environ.get("CHATD_BROWSER_TEST_TIMEOUT", "180"))
WAIT = 15  # seconds, for any single thing the page should do

RemoteConnection.set_timeout(30)  # no WebDriver command may hang for longer

HTML_MESSAGE = "<img src=x onerror=alert(1)><b>bold</b>"

# Everything stays on loopback: Selenium talks to chromedriver on localhost,
# urllib below uses no proxy at all.
for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
    os.environ.pop(var, None)
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))

_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    """In the child: get SIGKILL when this test process dies, however it dies."""
    _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path):
    with HTTP.open(f"http://127.0.0.1:{port}{path}", timeout=5) as res:
        return res.read().decode()


def metric(port, name):
    """The value of an unlabelled metric, or None if chatd does not answer."""
    try:
        text = http_get(port, "/metrics")
    except OSError:
        return None
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def wait_until(what, predicate, timeout=WAIT, interval=0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


LIVE = []  # every Chatd and Browser made here, for the last-resort cleanup in main()


class Chatd:
    """One chatd process on 127.0.0.1; its stderr goes to a log file."""

    def __init__(self, name, args, port=0):
        self.name, self.args, self.port = name, args, port
        self.proc = None
        self.log_path = None
        LIVE.append(self)

    def start(self):
        self.stop()
        fd, self.log_path = tempfile.mkstemp(prefix=f"chatd-{self.name}-", suffix=".log")
        with os.fdopen(fd, "w") as log:
            self.proc = subprocess.Popen(
                [str(CHATD), "--bind", "127.0.0.1", "--port", str(self.port), "--threads", "2", *self.args],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                env={k: v for k, v in os.environ.items() if not k.startswith("CHATD_")},
                preexec_fn=_die_with_parent)
        line = wait_until(f"{self.name} to log 'listening on'", self._listening)
        self.port = int(line)
        return self

    def _listening(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", self.log())
        return m and m.group(1)

    def log(self):
        try:
            return Path(self.log_path).read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def quit(self):
        self.stop()

    def stop(self):
        """SIGTERM, then SIGKILL if it is not gone within 5 s."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.log_path:
            Path(self.log_path).unlink(missing_ok=True)
            self.log_path = None


class Browser:
    """One headless Chromium with its own chromedriver and profile."""

    def __init__(self, name):
        self.name = name
        self.driver = None
        opts = webdriver.ChromeOptions()
        opts.binary_location = str(CHROMIUM_LAUNCHER)
        for arg in (
            "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
            "--window-size=1000,640", "--lang=en-US", "--no-first-run", "--no-default-browser-check",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-default-apps", "--disable-extensions", "--disable-domain-reliability",
            "--disable-client-side-phishing-detection", "--no-pings", "--metrics-recording-only",
            # Nothing but loopback: every other name fails to resolve and every
            # other request goes to a closed port on loopback.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
            "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1;localhost",
        ):
            opts.add_argument(arg)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        # Its own process group, so whatever chromedriver starts can be killed with it.
        self.service = Service(CHROMEDRIVER, popen_kw={"start_new_session": True, "preexec_fn": _die_with_parent})
        LIVE.append(self)
        self.driver = webdriver.Chrome(service=self.service, options=opts)
        self.driver.set_page_load_timeout(WAIT)
        self.driver.set_script_timeout(WAIT)
        self.console = []

    def quit(self):
        proc = getattr(self.service, "process", None)
        try:
            if self.driver:
                self.driver.quit()
            else:
                self.service.stop()
        except Exception as e:  # still kill the process group below
            print(f"{self.name}: quit failed: {e}", file=sys.stderr)
        self.driver = None
        if proc:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    # --- the page ---

    def open(self, port, query=""):
        self.driver.get(f"http://127.0.0.1:{port}/{query}")

    def el(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def wait(self, what, predicate, timeout=WAIT):
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(lambda d: predicate())
        except TimeoutException:
            raise AssertionError(f"{self.name}: timed out after {timeout} s waiting for {what}; {self.describe()}") from None

    def describe(self):
        try:
            return f"status {self.state()!r}, node {self.node()!r}, messages {self.messages()!r}"
        except Exception as e:
            return f"page unreadable: {e}"

    def state(self):
        return (self.el("#state").get_attribute("data-state"), self.el("#state").text)

    def node(self):
        return self.el("#node").text

    def wait_connected(self, node):
        self.wait(f"connected to node {node}", lambda: self.state()[0] == "connected" and self.node() == node)

    def set_nick(self, nick):
        box = self.el("#nick")
        box.clear()
        box.send_keys(nick)

    def send(self, text):
        self.el("#text").send_keys(text)
        self.el("#send-button").click()

    def messages(self):
        """Every list item as (kind, nick or None, text), read from the DOM."""
        return self.driver.execute_script("""
            return Array.from(document.querySelectorAll('#log > li'), li => [
              li.className,
              li.querySelector('.nick') ? li.querySelector('.nick').textContent : null,
              li.querySelector('.text') ? li.querySelector('.text').textContent : null]);""")

    def wait_message(self, kind, nick, text):
        self.wait(f"message {(kind, nick, text)!r}", lambda: [kind, nick, text] in self.messages())

    def member_list(self):
        """The member list as [(shown name, user id or None)], and the anonymous line."""
        names = self.driver.execute_script("""
            return Array.from(document.querySelectorAll('#member-list > li'), li => [
              li.querySelector('.member-name').textContent,
              li.querySelector('.member-id') ? li.querySelector('.member-id').textContent : null]);""")
        return [tuple(n) for n in names], self.el("#anonymous").text

    def screenshot(self, label):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{label}-{self.name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def collect_console(self):
        try:
            self.console += self.driver.get_log("browser")
        except Exception:
            pass
        return self.console


class PageTest(unittest.TestCase):
    """Shared checks; subclasses start chatd nodes and point two browsers at them."""

    label = "page"
    nodes = []
    browsers = []

    @classmethod
    def tearDownClass(cls):
        for b in cls.browsers:
            try:
                print(f"  screenshot {b.screenshot(cls.label).relative_to(ROOT)}", file=sys.stderr)
            except Exception as e:
                print(f"  {b.name}: no screenshot: {e}", file=sys.stderr)
        for b in cls.browsers:
            b.quit()
        for n in cls.nodes:
            n.stop()
        cls.browsers, cls.nodes = [], []

    @classmethod
    def open_browsers(cls, targets):
        """targets: (browser name, port, query); the nodes must be running."""
        cls.browsers = []
        for name, _, _ in targets:
            cls.browsers.append(Browser(name))
        for b, (_, port, query) in zip(cls.browsers, targets):
            b.open(port, query)

    def run_exchange(self, sender, receivers, nick, text):
        sender.set_nick(nick)
        sender.send(text)
        for b in receivers:
            b.wait_message("chat", nick, text)

    def assert_html_is_text(self, sender, receivers):
        sender.send(HTML_MESSAGE)
        for b in receivers:
            b.wait_message("chat", sender.el("#nick").get_attribute("value"), HTML_MESSAGE)
            self.assertEqual(b.driver.find_elements(By.CSS_SELECTOR, "#log b, #log img, #log script"), [],
                             f"{b.name}: the message became markup")
            items = b.driver.find_elements(By.CSS_SELECTOR, "#log li.chat .text")
            self.assertIn(HTML_MESSAGE, [i.text for i in items])
            with self.assertRaises(NoAlertPresentException, msg=f"{b.name}: an alert ran"):
                b.driver.switch_to.alert.text

    def assert_clean_console(self):
        """No CSP violation and no script error on any page."""
        for b in self.browsers:
            bad = [e["message"] for e in b.collect_console()
                   if "Content Security Policy" in e["message"] or "Uncaught" in e["message"]]
            self.assertEqual(bad, [], f"{b.name}: console")


class SingleNode(PageTest):
    label = "single"

    @classmethod
    def setUpClass(cls):
        try:
            port = free_port()  # fixed, so a restarted node is found at the same address
            cls.nodes, cls.browsers = [], []
            # Compression on: Chromium offers permessage-deflate, so this
            # node's pages get compressed frames and send compressed ones.
            cls.nodes = [Chatd("solo", ["--node-id", "solo", "--compression", "on"], port).start()]
            cls.open_browsers([("alice", port, ""), ("bob", port, "")])
        except BaseException:
            cls.tearDownClass()
            raise

    def setUp(self):
        self.alice, self.bob = self.browsers
        for b in self.browsers:
            b.wait_connected(self.nodes[0].name)
        wait_until("2 connections", lambda: metric(self.nodes[0].port, "chat_connections") == 2)

    def test_1_page_shows_room_state_and_node(self):
        for b in self.browsers:
            self.assertEqual(b.state(), ("connected", "Connected to room default"))
            self.assertEqual(b.node(), "solo")
            self.assertEqual(b.el("#room").get_attribute("value"), "default")
            self.assertEqual(b.el("#log").get_attribute("aria-live"), "polite")

    def test_1b_assets_have_type_cache_and_csp_headers(self):
        port = self.nodes[0].port
        for path, media in (("/", "text/html"), ("/app.js", "text/javascript"), ("/style.css", "text/css")):
            with HTTP.open(f"http://127.0.0.1:{port}{path}", timeout=5) as res:
                h = res.headers
                self.assertEqual(h["Content-Type"], f"{media}; charset=utf-8", path)
                self.assertEqual(h["Cache-Control"], "no-cache", path)
                self.assertEqual(h["X-Content-Type-Options"], "nosniff", path)
                csp = h["Content-Security-Policy"] or ""
                for directive in ("default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'"):
                    self.assertIn(directive, csp, path)
                self.assertNotIn("unsafe", csp, path)

    def test_2_message_reaches_both(self):
        self.run_exchange(self.alice, self.browsers, "alice", "hello from alice")
        self.run_exchange(self.bob, self.browsers, "bob", "hi alice, bob here")

    def test_2b_long_messages_arrive_compressed(self):
        before = metric(self.nodes[0].port, "chat_messages_compressed_total") or 0
        text = "a longer line, long enough to be compressed on its way to both pages " * 3
        self.run_exchange(self.alice, self.browsers, "alice", text.strip())
        wait_until("a compressed message",
                   lambda: (metric(self.nodes[0].port, "chat_messages_compressed_total") or 0) > before)

    def test_3_html_is_shown_as_text(self):
        self.alice.set_nick("alice")
        self.assert_html_is_text(self.alice, self.browsers)

    def test_4_other_frames_plain_text_and_binary_note(self):
        # A client that is not the page: a bare WebSocket in the same origin.
        self.alice.driver.execute_script("""
            const ws = new WebSocket('ws://' + location.host + '/');
            ws.onopen = () => {
              ws.send('plain <i>line</i> from a cli');
              ws.send('{"text": "no nick"}');
              ws.send(new Uint8Array([1, 2, 3, 4, 5]));
              setTimeout(() => ws.close(), 500);
            };""")
        for b in self.browsers:
            b.wait_message("plain", None, "plain <i>line</i> from a cli")
            b.wait_message("plain", None, '{"text": "no nick"}')
            b.wait_message("note", None, "binary message, 5 bytes")
            self.assertEqual(b.driver.find_elements(By.CSS_SELECTOR, "#log i"), [])

    def test_5_switching_rooms(self):
        port = self.nodes[0].port
        room = self.alice.el("#room")
        room.clear()
        room.send_keys("side-room")
        self.alice.el("#join").click()
        self.alice.wait("the side room", lambda: self.alice.state() == ("connected", "Connected to room side-room"))
        self.assertTrue(self.alice.driver.current_url.endswith("/?room=side-room"), self.alice.driver.current_url)
        self.assertEqual(self.alice.messages(), [], "the list starts empty in a new room")
        self.alice.set_nick("alice")
        self.alice.send("only in the side room")
        self.alice.wait_message("chat", "alice", "only in the side room")
        self.run_exchange(self.bob, self.browsers[1:], "bob", "only in the default room")
        self.assertNotIn("only in the default room", [m[2] for m in self.alice.messages()])
        self.assertNotIn("only in the side room", [m[2] for m in self.bob.messages()])
        # A name chatd would refuse is not dialled: the page says so and joins the default room.
        self.alice.open(port, "?room=no%20spaces%2Fhere")
        self.alice.wait_connected("solo")
        self.assertEqual(self.alice.state(), ("connected", "Connected to room default"))
        self.assertIn("is not a room name", self.alice.messages()[0][2])
        # The pages alice left (maybe kept in the back/forward cache) hung up.
        wait_until("2 connections after leaving pages", lambda: metric(port, "chat_connections") == 2)

    def test_6_nick_is_remembered(self):
        self.bob.set_nick("bob-remembered")
        self.bob.driver.refresh()
        self.bob.wait_connected("solo")
        self.assertEqual(self.bob.el("#nick").get_attribute("value"), "bob-remembered")

    def test_6b_a_dropped_connection_resumes_without_loss(self):
        self.run_exchange(self.alice, self.browsers, "alice", "before the drop")
        # The page's own socket goes away (as when a network drops); bob
        # speaks while alice is away, for at least her first 0.4 s of backoff.
        self.alice.driver.execute_script("socket.close(3000);")
        self.alice.wait("reconnecting", lambda: self.alice.state()[0] == "reconnecting")
        self.run_exchange(self.bob, [self.bob], "bob", "while alice was away")
        self.alice.wait_connected("solo")
        self.alice.wait_message("note", None, "Reconnected; nothing was missed.")
        self.alice.wait_message("chat", "bob", "while alice was away")
        texts = [m[2] for m in self.alice.messages()]
        self.assertEqual(texts.count("while alice was away"), 1, texts)
        self.assertEqual(texts.count("before the drop"), 1, "the history it had is not shown twice")
        self.assertIn('chat_resumes_total{recovered="true"}', HTTP.open(
            f"http://127.0.0.1:{self.nodes[0].port}/metrics", timeout=5).read().decode())

    def test_6c_a_new_page_shows_the_recent_conversation(self):
        self.bob.driver.refresh()
        self.bob.wait_connected("solo")
        self.bob.wait_message("chat", "bob", "while alice was away")

    def test_7_reconnects_after_the_node_restarts(self):
        node = self.nodes[0]
        node.kill()
        for b in self.browsers:
            b.wait("reconnecting", lambda b=b: b.state()[0] == "reconnecting")
            self.assertRegex(b.state()[1], r"^Disconnected\. Reconnecting in \d+\.\d s$")
            self.assertEqual(b.node(), "–")
        # The delay doubles: 0.5 s, 1 s, 2 s, ... (each ±20%).
        self.alice.wait("a backoff of 1.6 s or more", lambda: self.reconnect_delay(self.alice) >= 1.6, timeout=8)
        self.alice.screenshot("single-reconnecting")
        # Same port, new name: the page asks /api/info again on reconnect.
        node.args = ["--node-id", "solo2"]
        node.name = "solo2"
        node.start()
        for b in self.browsers:
            b.wait_connected("solo2")  # backoff is at most 10 s (+20% jitter)
        wait_until("2 connections", lambda: metric(node.port, "chat_connections") == 2)
        self.run_exchange(self.bob, self.browsers, "bob", "back again")
        for b in self.browsers:
            notes = [m[2] for m in b.messages() if m[0] == "note"]
            # History lives in the node's memory: a restarted node cannot replay it.
            self.assertIn("Reconnected, but some messages could not be recovered; the most recent follow.", notes)
            self.assertTrue(any(n.startswith("Connection lost") for n in notes), notes)

    @staticmethod
    def reconnect_delay(browser):
        m = re.search(r"Reconnecting in (\d+\.\d) s", browser.state()[1])
        return float(m.group(1)) if m else 0.0

    def test_8_console_is_clean(self):
        self.assert_clean_console()

def mint(secret_file, sub, name=None, ttl="1h"):
    """A token from chatd's own `chatd token` subcommand."""
    args = [str(CHATD), "token", "--secret-file", str(secret_file), "--sub", sub, "--ttl", ttl]
    if name:
        args += ["--name", name]
    out = subprocess.run(args, capture_output=True, text=True, timeout=10, check=True)
    return out.stdout.strip()


class SignedIn(PageTest):
    """--auth-jwt-key: the page is given a token in its URL."""

    label = "signed-in"

    @classmethod
    def setUpClass(cls):
        try:
            cls.nodes, cls.browsers = [], []
            cls.dir = tempfile.TemporaryDirectory(prefix="chatd-browser-")
            cls.secret = Path(cls.dir.name) / "secret"
            cls.secret.write_text("a development secret for the browser test\n")
            cls.nodes = [Chatd("auth", ["--node-id", "auth", "--auth-jwt-key", str(cls.secret)]).start()]
            port = cls.nodes[0].port
            cls.open_browsers([("alice", port, "?room=team&token=" + mint(cls.secret, "alice", "Alice Liddell")),
                               ("bob", port, "?room=team&token=" + mint(cls.secret, "bob"))])
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.dir.cleanup()

    def setUp(self):
        self.alice, self.bob = self.browsers
        for b in self.browsers:
            b.wait_connected("auth")

    def test_1_the_name_comes_from_the_token(self):
        for b in self.browsers:
            self.assertFalse(b.el("#nick").is_displayed(), f"{b.name}: a signed-in page has no nickname box")
        self.alice.send("signed by the server")
        for b in self.browsers:
            b.wait_message("chat", "Alice Liddell", "signed by the server")
        self.bob.send("and bob")
        for b in self.browsers:
            b.wait_message("chat", "bob", "and bob")

    def test_2_member_list_and_join_leave_lines(self):
        want = ([("Alice Liddell", "alice"), ("bob", None)], "")
        for b in self.browsers:
            b.wait(f"members {want}", lambda b=b: b.member_list() == want)
        # A third user signs in from a script in alice's page, then leaves.
        carol = mint(self.secret, "carol", "Carol")
        self.alice.driver.execute_script("""
            window.carol = new WebSocket('ws://' + location.host + '/rooms/team?token=' + arguments[0], ['chatd.v1']);""",
                                         carol)
        for b in self.browsers:
            b.wait("carol joined", lambda b=b: ("Carol", "carol") in b.member_list()[0])
            b.wait_message("presence", None, "Carol joined")
        self.alice.driver.execute_script("window.carol.close();")
        for b in self.browsers:
            b.wait("carol left", lambda b=b: b.member_list() == want)
            b.wait_message("presence", None, "Carol left")

    def test_3_a_page_without_a_token_is_refused(self):
        guest = Browser("guest")
        try:
            guest.open(self.nodes[0].port, "?room=team")
            guest.wait("refused", lambda: guest.state()[0] == "reconnecting")
            guest.screenshot(self.label)
        finally:
            guest.quit()
        refused = http_get(self.nodes[0].port, "/metrics")
        self.assertRegex(refused, r'chat_connections_refused_total\{reason="unauthorized"\} [1-9]')
        for b in (self.alice, self.bob):
            self.assertEqual(b.state()[0], "connected")

    def test_4_console_is_clean(self):
        self.assert_clean_console()


class TwoNodeCluster(PageTest):
    label = "cluster"

    @classmethod
    def setUpClass(cls):
        try:
            cls.nodes, cls.browsers = [], []
            cports = [free_port(), free_port()]
            peers = ",".join(f"127.0.0.1:{p}" for p in cports)
            cls.nodes = [Chatd(f"n{i + 1}", ["--node-id", f"n{i + 1}", "--cluster-port", str(cp), "--peers", peers],
                               free_port()).start() for i, cp in enumerate(cports)]
            cls.wait_for_mesh()
            cls.open_browsers([("carol", cls.nodes[0].port, "?room=lobby"), ("dave", cls.nodes[1].port, "?room=lobby")])
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def wait_for_mesh(cls):
        for n in cls.nodes:
            wait_until(f"{n.name}: chat_cluster_peers 1", lambda n=n: metric(n.port, "chat_cluster_peers") == 1, 20)

    def setUp(self):
        self.carol, self.dave = self.browsers
        self.carol.wait_connected("n1")
        self.dave.wait_connected("n2")
        for n in self.nodes:
            wait_until(f"{n.name}: 1 connection", lambda n=n: metric(n.port, "chat_connections") == 1)

    def test_1_each_page_names_its_node_and_room(self):
        for b in self.browsers:
            self.assertEqual(b.state(), ("connected", "Connected to room lobby"))
            self.assertEqual(b.el("#room").get_attribute("value"), "lobby")
            self.assertIn("room=lobby", b.driver.current_url)

    def test_2_message_crosses_the_cluster(self):
        self.run_exchange(self.carol, self.browsers, "carol", "hello from n1")
        self.run_exchange(self.dave, self.browsers, "dave", "and hello from n2")

    def test_2b_presence_counts_both_nodes(self):
        # Guests are counted, not listed, and their coming and going is no
        # event: a page opened now counts the guest on each node.
        def fresh_count(b):
            b.driver.refresh()
            b.wait_connected(b.node_name)
            try:
                b.wait("the presence frame", lambda: b.member_list()[1] != "", timeout=3)
            except AssertionError:
                pass
            return b.member_list() == ([], "+ 2 anonymous")

        for b, node in zip(self.browsers, ("n1", "n2")):
            b.node_name = node
            wait_until(f"{b.name}: 2 anonymous", lambda b=b: fresh_count(b), timeout=WAIT)

    def test_3_html_is_shown_as_text_across_nodes(self):
        self.dave.set_nick("dave")
        self.assert_html_is_text(self.dave, self.browsers)

    def test_4_other_rooms_stay_apart(self):
        # A bare client in the default room on n2: the lobby must not see it.
        self.dave.driver.execute_script("""
            const ws = new WebSocket('ws://' + location.host + '/');
            ws.onopen = () => { ws.send('default room only'); setTimeout(() => ws.close(), 300); };""")
        self.run_exchange(self.carol, self.browsers, "carol", "after the default-room message")
        for b in self.browsers:
            self.assertNotIn("default room only", [m[2] for m in b.messages()])

    def test_5_reconnects_after_its_node_restarts(self):
        n2 = self.nodes[1]
        n2.kill()
        self.dave.wait("reconnecting", lambda: self.dave.state()[0] == "reconnecting")
        self.assertEqual(self.carol.state()[0], "connected")
        n2.start()
        self.wait_for_mesh()
        self.dave.wait_connected("n2")
        wait_until("n2: 1 connection", lambda: metric(n2.port, "chat_connections") == 1)
        self.run_exchange(self.carol, self.browsers, "carol", "welcome back, n2")

    def test_6_console_is_clean(self):
        self.assert_clean_console()


class StoppableResult(unittest.TextTestResult):
    """Lets the overall timeout stop the run: no test starts after it."""

    current = None

    def startTestRun(self):
        StoppableResult.current = self
        super().startTestRun()


def main():
    if not os.access(CHATD, os.X_OK):
        print(f"browser_test: no chatd binary at {CHATD} (set CHATD_BINARY)", file=sys.stderr)
        return 2
    for tool in (CHROMIUM, CHROMEDRIVER, "/usr/bin/setpriv", CHROMIUM_LAUNCHER):
        if not os.access(tool, os.X_OK):
            print(f"browser_test: {tool} is missing (apt-get install chromium chromium-driver)", file=sys.stderr)
            return 2

    def give_up(signum, _frame):
        # Raised in the main thread: tearDownClass and the cleanup below still
        # stop everything; no further test starts.
        if StoppableResult.current:
            StoppableResult.current.stop()
        raise TimeoutError(f"browser test: over {OVERALL_TIMEOUT} s" if signum == signal.SIGALRM
                           else f"browser test: signal {signum}")

    signal.signal(signal.SIGALRM, give_up)
    signal.signal(signal.SIGTERM, give_up)
    signal.alarm(OVERALL_TIMEOUT)
    started = time.monotonic()
    suite = unittest.TestSuite()
    loader = unittest.TestLoader()
    for case in (SingleNode, SignedIn, TwoNodeCluster):
        suite.addTests(loader.loadTestsFromTestCase(case))
    total = suite.countTestCases()
    try:
        result = unittest.TextTestRunner(verbosity=2, stream=sys.stderr, resultclass=StoppableResult).run(suite)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        for thing in reversed(LIVE):  # normally all gone already; after Ctrl-C maybe not
            try:
                thing.quit()
            except Exception as e:
                print(f"browser_test: cleanup: {e}", file=sys.stderr)
    passed = result.testsRun - len(result.failures) - len(result.errors) - len(result.skipped)
    not_run = total - result.testsRun
    print(f"browser_test: {passed} passed, {len(result.failures)} failed, {len(result.errors)} errors, "
          f"{len(result.skipped)} skipped, {not_run} not run in {time.monotonic() - started:.1f} s; "
          f"screenshots in {ARTIFACTS.relative_to(ROOT)}/")
    return 0 if result.wasSuccessful() and not_run == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
