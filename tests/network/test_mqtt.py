"""watch/camera --mqtt against a real Mosquitto broker, started here on a free loopback port.

The subscriber is a paho client with a fixed client id and a persistent session (clean_session
False, QoS 1), so messages published while it is away wait for it at the broker. Where the broker
is killed, it runs with persistence on in a temporary folder and saves its database (SIGUSR1)
once the subscription is made and before any result flows: after the restart it still knows the
subscriber, and holds no stale copy of a message it had already delivered.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "t"
WINDOW = 20  # MqttOptions.window: the most results that can be unacknowledged at a kill


# ---- a real broker --------------------------------------------------------------------------


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or next((p for p in ("/usr/sbin/mosquitto",) if os.access(p, os.X_OK)), None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have mosquitto: apt-get install -y mosquitto (.ci/run does)")
        pytest.skip("mosquitto is not installed (apt-get install -y mosquitto)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float = 30.0, step: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Mosquitto:
    """One broker process; ``start`` again after ``kill`` to restart it on the same ports."""

    def __init__(self, folder: Path, ports: list[int], persistent: bool = False):
        self.folder, self.ports, self.persistent = folder, ports, persistent
        self.proc: subprocess.Popen | None = None
        self.binary = mosquitto_binary()
        folder.mkdir(parents=True, exist_ok=True)

    @property
    def port(self) -> int:
        return self.ports[0]

    def start(self, ports: list[int] | None = None) -> "Mosquitto":
        self.ports = ports or self.ports
        # set_tcp_nodelay: by default Mosquitto's Nagle holds a PUBACK up to ~40 ms behind the
        # previous one, which widens the window in which a kill -9 of the watcher repeats results.
        lines = [f"listener {p} 127.0.0.1" for p in self.ports] + ["allow_anonymous true", "set_tcp_nodelay true"]
        if self.persistent:
            # autosave 0: the database is written only on SIGUSR1 and on a clean exit, when we say.
            lines += ["persistence true", f"persistence_location {self.folder}/", "autosave_interval 0"]
        else:
            lines += ["persistence false"]
        if os.geteuid() == 0:
            lines += ["user root"]  # as root it would switch to 'mosquitto', who cannot write our tmp folder
        conf = self.folder / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n")
        log = open(self.folder / "broker.log", "ab")
        self.proc = subprocess.Popen([self.binary, "-c", str(conf)], stdout=log, stderr=log)
        log.close()
        assert wait_for(lambda: all(accepts(p) for p in self.ports), 10), (self.folder / "broker.log").read_text()
        return self

    def save(self) -> None:
        """Write the persistence database now (mosquitto does so on SIGUSR1)."""
        db = self.folder / "mosquitto.db"
        before = db.stat().st_mtime_ns if db.exists() else None
        self.proc.send_signal(signal.SIGUSR1)
        assert wait_for(lambda: db.exists() and db.stat().st_mtime_ns != before, 10)
        time.sleep(0.2)  # let the rename land before anything else happens

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture()
def broker_factory(tmp_path):
    made: list[Mosquitto] = []

    def make(ports=None, persistent=False, start=True):
        broker = Mosquitto(tmp_path / f"broker{len(made)}", ports or [free_port()], persistent)
        made.append(broker)
        return broker.start() if start else broker

    yield make
    for broker in made:
        broker.kill()


# ---- a real subscriber ----------------------------------------------------------------------


class Subscriber:
    """A paho client in this process: persistent session, QoS 1, reconnects by itself."""

    def __init__(self, port: int, topics=(f"{PREFIX}/#",), client_id="captcha-edge-test-sub"):
        import paho.mqtt.client as paho

        self.messages: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.topics = topics
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        self.client.reconnect_delay_set(1, 1)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        assert self.subscribed.wait(10), "the subscription was not acknowledged"

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        client.subscribe([(t, 1) for t in self.topics])

    def _on_message(self, client, userdata, msg):
        with self.lock:
            self.messages.append((msg.topic, msg.payload, msg.retain))

    def on(self, topic: str) -> list[tuple[bytes, bool]]:
        with self.lock:
            return [(payload, retain) for t, payload, retain in self.messages if t == topic]

    def results(self) -> list[dict]:
        return [json.loads(payload) for payload, _ in self.on(f"{PREFIX}/result")]

    def names(self) -> Counter:
        return Counter(Path(r["path"]).name for r in self.results())

    def availability(self) -> list[str]:
        return [payload.decode() for payload, _ in self.on(f"{PREFIX}/availability")]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture()
def subscribers():
    made: list[Subscriber] = []

    def make(*args, **kw):
        made.append(Subscriber(*args, **kw))
        return made[-1]

    yield make
    for sub in made:
        sub.close()


# ---- the watcher ------------------------------------------------------------------------------


class Watch:
    """``python -m edge_runtime watch DIR --output L --mqtt URL`` in a subprocess, stderr to a file."""

    def __init__(self, tmp_path: Path, port: int, *extra: str):
        self.folder, self.ledger, self.err = tmp_path / "in", tmp_path / "out.jsonl", tmp_path / "watch.err"
        self.folder.mkdir(exist_ok=True)
        self.url, self.extra = f"mqtt://127.0.0.1:{port}/{PREFIX}", extra
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Watch":
        err = open(self.err, "a")
        self.proc = subprocess.Popen([sys.executable, "-m", "edge_runtime", "watch", str(self.folder), "--output",
                                      str(self.ledger), "--mqtt", self.url, *self.extra],
                                     stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT)
        err.close()
        return self

    def stderr(self) -> str:
        return self.err.read_text() if self.err.exists() else ""

    def records(self) -> list[dict]:
        return [json.loads(line) for line in self.ledger.read_text().splitlines()] if self.ledger.exists() else []

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture()
def watchers(tmp_path):
    made: list[Watch] = []

    def make(port, *extra):
        made.append(Watch(tmp_path, port, *extra))
        return made[-1]

    yield make
    for w in made:
        w.kill()


def drop(src: Path, folder: Path) -> None:
    """Like a careful writer: a hidden temporary name, then a rename into place."""
    tmp = folder / f".{src.name}.part"
    shutil.copy(src, tmp)
    os.replace(tmp, folder / src.name)


def stream(images: list[Path], folder: Path, pause: float) -> threading.Thread:
    """Drop the files one by one in the background, ``pause`` seconds apart."""

    def run():
        for src in images:
            drop(src, folder)
            time.sleep(pause)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def acknowledged(w: Watch) -> int:
    """Ledger records the publisher has recorded as acknowledged by the broker."""
    state = w.ledger.with_name(w.ledger.name + ".mqtt-acked")
    offset = json.loads(state.read_text())["offset"] if state.exists() else 0
    return w.ledger.read_bytes()[:offset].count(b"\n")


def duplicates(sub: Subscriber) -> dict[str, int]:
    return {name: n for name, n in sub.names().items() if n > 1}


# ---- the tests ----------------------------------------------------------------------------------


def test_results_availability_and_discovery(wilhelmy, broker_factory, subscribers, watchers, tmp_path):
    images = sorted(wilhelmy.glob("*.png"))[:5]
    broker = broker_factory()
    sub = subscribers(broker.port, topics=(f"{PREFIX}/#", "homeassistant/#"))
    w = watchers(broker.port, "--mqtt-discovery").start()
    for src in images:
        drop(src, w.folder)
    assert wait_for(lambda: len(sub.results()) == 5), (sub.messages, w.stderr())
    assert w.terminate() == 0, w.stderr()
    assert wait_for(lambda: sub.availability()[-1:] == ["offline"], 10), sub.availability()

    assert sub.availability() == ["online", "offline"]
    assert all(retain is False for _, retain in sub.on(f"{PREFIX}/availability"))  # live, not replayed
    ledger = {r["path"]: r for r in w.records()}
    for got in sub.results():
        mine = ledger[got["path"]]
        assert {k: got[k] for k in mine} == mine  # the ledger's record, field for field
        assert got["text"] == Path(got["path"]).stem
        assert got["id"] == f"{mine['path']}|{mine['size']}|{mine['mtime_ns']}"
        assert got["time"].endswith("+00:00")
    state = json.loads((tmp_path / "out.jsonl.mqtt-acked").read_text())
    assert state["offset"] == w.ledger.stat().st_size  # everything acknowledged
    assert "connected to 127.0.0.1" in w.stderr() and "Traceback" not in w.stderr()

    ((config, retained),) = [(json.loads(p), r) for t, p, r in sub.messages if t.startswith("homeassistant/sensor/")]
    assert config["state_topic"] == f"{PREFIX}/result" and config["availability_topic"] == f"{PREFIX}/availability"
    # A late subscriber is told the state at once: 'offline' and the discovery config are retained.
    late = subscribers(broker.port, topics=(f"{PREFIX}/availability", "homeassistant/#"), client_id="late")
    assert wait_for(lambda: len(late.messages) == 2, 10), late.messages
    assert (f"{PREFIX}/availability", b"offline", True) in late.messages
    assert all(retain for _, _, retain in late.messages)


def test_broker_killed_mid_stream_every_result_arrives(wilhelmy, broker_factory, subscribers, watchers):
    images = sorted(wilhelmy.glob("*.png"))[:120]
    broker = broker_factory(persistent=True)
    sub = subscribers(broker.port)
    broker.save()  # the broker now remembers the subscriber's session across a kill -9
    w = watchers(broker.port).start()
    writer = stream(images, w.folder, pause=0.02)
    assert wait_for(lambda: len(sub.results()) >= 40), w.stderr()
    broker.kill()  # mid-stream: files keep arriving, results are unacknowledged
    killed_at = len(sub.results())
    time.sleep(0.1)
    ledger_at, acked_at = len(w.records()), acknowledged(w)
    time.sleep(1.5)
    broker.start()
    writer.join(30)
    assert wait_for(lambda: len(sub.names()) == 120, 60), (len(sub.names()), w.stderr())
    time.sleep(1.0)  # a duplicate would come within the retransmission; give it the chance
    assert w.terminate() == 0, w.stderr()
    print(f"broker kill -9: {killed_at} at the subscriber, {ledger_at} in the ledger, {acked_at} acknowledged; "
          f"duplicates: {duplicates(sub) or 'none'}")

    assert killed_at < 120  # the kill really was in the middle of the stream
    assert set(sub.names()) == {p.name for p in images}
    # At least once (README): a result may come twice only if the broker delivered it but its
    # PUBACK never reached the watcher, so only records not yet acknowledged at the kill.
    unacknowledged = {Path(r["path"]).name for r in w.records()[acked_at:]}
    assert set(duplicates(sub)) <= unacknowledged, (duplicates(sub), acked_at)
    assert sum(duplicates(sub).values()) - len(duplicates(sub)) <= WINDOW, duplicates(sub)
    assert len(w.records()) == 120
    assert sum(r.get("text") == Path(r["path"]).stem for r in sub.results()) > 0.95 * 120
    err = w.stderr()
    assert "mqtt: lost the broker at 127.0.0.1" in err and "publishing the results that waited" in err, err
    assert "Traceback" not in err


def test_watcher_killed_mid_stream_the_restart_publishes_the_rest(wilhelmy, broker_factory, subscribers, watchers):
    images = sorted(wilhelmy.glob("*.png"))[120:240]
    broker = broker_factory()
    sub = subscribers(broker.port)
    w = watchers(broker.port).start()
    writer = stream(images, w.folder, pause=0.01)
    assert wait_for(lambda: len(sub.results()) >= 30), w.stderr()
    w.kill()  # kill -9: the broker publishes the last will
    at_kill, acked = len(w.records()), acknowledged(w)
    assert wait_for(lambda: sub.availability()[-1:] == ["offline"], 10), sub.availability()
    writer.join(30)
    w.start()
    assert wait_for(lambda: len(sub.names()) == 120, 60), (len(sub.names()), w.stderr())
    assert wait_for(lambda: sub.availability()[-1:] == ["online"], 10)
    assert w.terminate() == 0, w.stderr()

    assert at_kill < 120 and len(w.records()) == 120  # the ledger: exactly once, as without --mqtt
    assert set(sub.names()) == {p.name for p in images}
    # At least once: only results acknowledged in the instant before the kill, but not yet
    # recorded as such, may come twice; never more than the window.
    extra = sum(duplicates(sub).values()) - len(duplicates(sub))
    assert extra <= WINDOW, duplicates(sub)
    print(f"watcher kill -9: {at_kill} in the ledger, {acked} recorded as acknowledged; "
          f"duplicates: {duplicates(sub) or 'none'}")


def test_no_broker_at_start_keeps_the_ledger_then_publishes(wilhelmy, broker_factory, subscribers, watchers):
    images = sorted(wilhelmy.glob("*.png"))[240:250]
    publisher_port = free_port()
    # The subscriber's own listener first, so its session exists before the watcher's port opens.
    broker = broker_factory(persistent=True)
    sub = subscribers(broker.port)
    broker.stop()  # a clean exit saves the session
    w = watchers(publisher_port).start()
    for src in images:
        drop(src, w.folder)
    assert wait_for(lambda: "mqtt: expected a broker at" in w.stderr(), 15), w.stderr()
    assert wait_for(lambda: len(w.records()) == 10), w.stderr()
    line = next(line for line in w.stderr().splitlines() if "expected a broker" in line)
    assert line == (f"captcha-edge watch: mqtt: expected a broker at 127.0.0.1:{publisher_port}, connection refused; "
                    "results are kept in the ledger and published when it comes back")
    assert w.proc.poll() is None  # still watching
    assert w.stderr().count("expected a broker") == 1  # one line, not one per retry
    broker.start([broker.port, publisher_port])
    assert wait_for(lambda: len(sub.names()) == 10, 60), (sub.messages, w.stderr())
    assert w.terminate() == 0, w.stderr()
    assert set(sub.names()) == {p.name for p in images} and duplicates(sub) == {}


def test_camera_publishes_frames(wilhelmy, broker_factory, subscribers, tmp_path):
    import cv2

    images = sorted(wilhelmy.glob("*.png"))[:3]
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 1.0, (200, 50))
    for src in images:
        writer.write(cv2.imread(str(src)))
    writer.release()
    broker = broker_factory()
    sub = subscribers(broker.port)
    run = subprocess.run([sys.executable, "-m", "edge_runtime", "camera", str(video), "--output",
                          str(tmp_path / "cam.jsonl"), "--mqtt", f"mqtt://127.0.0.1:{broker.port}/{PREFIX}"],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert wait_for(lambda: len(sub.results()) == 3, 10), (sub.messages, run.stderr)
    got = sub.results()
    assert [r["frame"] for r in got] == [1, 2, 3] and all("time" in r and r["id"] for r in got)
    assert sub.availability() == ["online", "offline"]


BLOCK_PAHO = "import sys; sys.modules['paho'] = None; from edge_runtime.cli import main; main()"


@pytest.mark.parametrize("url, code, message", [
    ("mqtt://127.0.0.1:1883/t", "no paho", "captcha-edge: error: expected paho-mqtt for --mqtt, it is not installed: "
                                           "pip install 'captcha-edge[mqtt]'"),
    ("http://127.0.0.1/t", "bad url", "captcha-edge: error: expected --mqtt mqtt://HOST[:PORT][/TOPIC_PREFIX], "
                                      "got 'http://127.0.0.1/t'"),
    ("mqtt://127.0.0.1:1883/a/#", "bad prefix", "captcha-edge: error: expected a topic prefix without '+', '#' or "
                                                "empty levels, got 'a/#'"),
])
def test_usage_errors_are_one_line_and_exit_2(tmp_path, url, code, message):
    folder = tmp_path / "in"
    folder.mkdir()
    args = ["watch", str(folder), "--output", str(tmp_path / "o.jsonl"), "--mqtt", url, "--exit-when-idle", "0.2"]
    cmd = [sys.executable, "-c", BLOCK_PAHO, *args] if code == "no paho" else [sys.executable, "-m", "edge_runtime", *args]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert run.returncode == 2 and run.stderr.strip() == message, run.stderr
