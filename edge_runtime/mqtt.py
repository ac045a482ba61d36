"""``--mqtt``: publish every result of watch and camera to an MQTT broker, losing none.

Topics under a prefix (default ``captcha-edge/<hostname>``):

* ``<prefix>/result``: one message per result record, QoS 1, not retained. The payload is the
  JSON-lines record plus ``id`` (stable: a consumer drops a duplicate by it) and ``time``.
* ``<prefix>/availability``: ``online`` (retained) once connected; ``offline`` (retained) on a
  clean stop, and as the last will when the process dies or the network goes.
* With ``--mqtt-discovery``: ``homeassistant/sensor/<id>/config`` (retained), a Home Assistant
  sensor whose state is the last text.

Why an outbox of our own: paho keeps unacknowledged messages in memory only, so a kill -9 would
lose them. With a ledger (``--output``) the ledger *is* the outbox: a state file next to it,
``<ledger>.mqtt-acked``, holds the byte offset up to which the broker has acknowledged (PUBACK)
every record, written atomically. At start, everything after it is published again, in order.
Within one process paho resends the unacknowledged window itself after a reconnect, so we hand
each record to paho once. Without a ledger, results wait in a bounded in-memory queue.

One thread owns the paho client (its network loop, connects and reconnects with backoff, and the
outbox), so the watch or camera loop only hands over a record and never waits on the network.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from . import quiet
from .errors import UsageError
from .options import MqttOptions

INSTALL_HINT = "pip install 'captcha-edge[mqtt]'"
URL_FORM = "mqtt://HOST[:PORT][/TOPIC_PREFIX]"
DEFAULT_PORT = 1883
ONLINE, OFFLINE = "online", "offline"


class MqttUnavailable(UsageError):
    """--mqtt was given but paho-mqtt is not installed."""


class MqttUrlError(UsageError):
    """The --mqtt URL is not mqtt://HOST[:PORT][/TOPIC_PREFIX]."""


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    prefix: str  # topic prefix, without a trailing slash

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def topic(self, leaf: str) -> str:
        return f"{self.prefix}/{leaf}"


def default_prefix() -> str:
    host = re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname()) or "unknown"
    return f"captcha-edge/{host}"


def parse_url(url: str) -> Broker:
    """``mqtt://HOST[:PORT][/TOPIC_PREFIX]`` -> Broker; anything else is a MqttUrlError."""
    raw_prefix = url.partition("://")[2].partition("/")[2]
    if any(c in raw_prefix for c in "+#\x00") or "//" in raw_prefix:  # before urlsplit reads '#' as a fragment
        raise MqttUrlError(f"expected a topic prefix without '+', '#' or empty levels, got {raw_prefix!r}")
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise MqttUrlError(f"expected --mqtt {URL_FORM}, got {url!r} (bad port)") from None
    if parts.scheme != "mqtt" or not parts.hostname or parts.query or parts.fragment or parts.username:
        raise MqttUrlError(f"expected --mqtt {URL_FORM}, got {url!r}")
    prefix = parts.path.strip("/") or default_prefix()
    return Broker(parts.hostname, port, prefix)


def message_id(record: dict) -> str:
    """Stable across restarts and republishing: the file version (watch) or the frame's time (camera)."""
    if "size" in record and "mtime_ns" in record:
        return f"{record['path']}|{record['size']}|{record['mtime_ns']}"
    return f"{record.get('time')}|{record.get('frame')}"


def message(record: dict) -> bytes:
    """The record as published: the same JSON object plus ``id`` and ``time``. Watch records carry
    no time, so theirs is the file's mtime: a republished message is then byte for byte the same."""
    out = dict(record)
    out["id"] = message_id(record)
    if "time" not in out and "mtime_ns" in out:
        out["time"] = datetime.fromtimestamp(out["mtime_ns"] / 1e9, timezone.utc).isoformat(timespec="milliseconds")
    return json.dumps(out).encode("utf-8")


def _is_result(record) -> bool:
    return isinstance(record, dict) and ("path" in record or "frame" in record)


def write_atomically(path: Path, data: bytes) -> None:
    """tmp + fsync + os.replace: a kill leaves either the old or the new state, never half of one."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class LedgerOutbox:
    """The ledger as the outbox. A position is a byte offset just after a complete line; the state
    file holds the acknowledged one and the ledger's inode (a new ledger starts from 0)."""

    def __init__(self, ledger: Path):
        self.ledger = Path(ledger)
        self.state = self.ledger.with_name(self.ledger.name + ".mqtt-acked")
        self.acked = self._load()

    def _inode(self) -> int | None:
        try:
            return self.ledger.stat().st_ino
        except OSError:
            return None

    def _load(self) -> int:
        try:
            saved = json.loads(self.state.read_text())
            offset, inode = int(saved["offset"]), saved.get("inode")
        except (OSError, ValueError, KeyError, TypeError):
            return 0  # no state yet (or a damaged one): publish the whole ledger, at least once
        if inode != self._inode():
            return 0  # the ledger was replaced: its records were never published
        try:
            return min(offset, self.ledger.stat().st_size)
        except OSError:
            return 0

    def add(self, record: dict) -> None:
        pass  # the record is already in the ledger, which is all this outbox reads

    def read(self, start: int, limit: int) -> list[tuple[int, bytes | None]]:
        """Up to ``limit`` (end position, payload) after ``start``; payload None for a line that is
        not a result (it is passed over). A line without its newline is not complete yet."""
        try:
            if self.ledger.stat().st_size <= start:
                return []  # the common case, 20 times a second: nothing new
            f = open(self.ledger, "rb")
        except OSError:
            return []
        out = []
        with f:
            f.seek(start)
            while len(out) < limit:
                line = f.readline()
                if not line.endswith(b"\n"):
                    break
                start += len(line)
                try:
                    record = json.loads(line)
                except ValueError:
                    record = None
                out.append((start, message(record) if _is_result(record) else None))
        return out

    def acknowledge(self, position: int) -> None:
        self.acked = position
        write_atomically(self.state, json.dumps({"offset": position, "inode": self._inode()}).encode())


class MemoryOutbox:
    """Without a ledger: a bounded queue in memory; positions are sequence numbers. Lost on exit."""

    def __init__(self, limit: int, log: Callable[[str], None]):
        self.limit, self.log = limit, log
        self.items: deque[tuple[int, bytes]] = deque()
        self.lock = threading.Lock()
        self.added = self.acked = self.dropped = 0

    def add(self, record: dict) -> None:
        payload = message(record)
        with self.lock:
            self.added += 1
            self.items.append((self.added, payload))
            if len(self.items) > self.limit:
                self.items.popleft()
                self.dropped += 1
                if self.dropped == 1:
                    self.log(f"mqtt: over {self.limit} results waiting in memory, dropping the oldest "
                             "(use --output for a ledger that keeps them)")

    def read(self, start: int, limit: int) -> list[tuple[int, bytes | None]]:
        with self.lock:
            return [(seq, payload) for seq, payload in self.items if seq > start][:limit]

    def acknowledge(self, position: int) -> None:
        with self.lock:
            while self.items and self.items[0][0] <= position:
                self.items.popleft()
            self.acked = position


def _paho():
    try:
        import paho.mqtt.client as paho  # optional extra: only --mqtt needs it
    except ImportError:
        raise MqttUnavailable(f"expected paho-mqtt for --mqtt, it is not installed: {INSTALL_HINT}") from None
    return paho


def _reason(exc: OSError) -> str:
    if isinstance(exc, socket.gaierror):
        return "cannot resolve the host name"
    if isinstance(exc, TimeoutError):
        return "no answer"
    return (exc.strerror or str(exc) or type(exc).__name__).lower()


def discovery_config(broker: Broker) -> tuple[str, bytes]:
    """Home Assistant MQTT discovery: a sensor whose state is the last text read."""
    object_id = "captcha_edge_" + re.sub(r"[^A-Za-z0-9_-]", "_", broker.prefix)
    config = {
        "name": "CAPTCHA text",
        "unique_id": object_id,
        "state_topic": broker.topic("result"),
        "value_template": "{{ value_json.text | default('') }}",
        "json_attributes_topic": broker.topic("result"),
        "availability_topic": broker.topic("availability"),
        "payload_available": ONLINE,
        "payload_not_available": OFFLINE,
        "device": {"identifiers": [object_id], "name": broker.prefix, "manufacturer": "captcha-edge"},
    }
    return f"homeassistant/sensor/{object_id}/config", json.dumps(config).encode()


class Publisher:
    """A sink for result records that publishes them over MQTT from its own thread.

    ``write(record)`` is called after the record is in the ledger (or on stdout); it never
    blocks on the network. ``close()`` waits up to ``flush_timeout`` for acknowledgements, then
    publishes ``offline`` and disconnects."""

    def __init__(self, options: MqttOptions, ledger: Path | None, log: Callable[[str], None] = lambda m: None):
        self.opt, self._log = options, log
        self.broker = parse_url(options.url or "")
        paho = _paho()
        self.outbox = LedgerOutbox(ledger) if ledger is not None else MemoryOutbox(options.memory_queue, self.log)
        # A stable client id: a restarted publisher takes over its old session at once, so the old
        # connection's last will ('offline') comes before the new 'online', never after it.
        digest = hashlib.sha1(self.broker.prefix.encode()).hexdigest()[:16]
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"captcha-edge-{digest}")
        self.client.will_set(self.broker.topic("availability"), OFFLINE, qos=1, retain=True)
        # Room for our window plus 'online' and the discovery config, so paho never queues a result.
        self.client.max_inflight_messages_set(options.window + 2)
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish
        self._ok = paho.MQTTErrorCode.MQTT_ERR_SUCCESS
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mqtt-publisher", daemon=True)
        self._inflight: deque[list] = deque()  # [end position, mid, acknowledged], in ledger order
        self._by_mid: dict[int, list] = {}
        self._handed = self.outbox.acked  # every record up to here is in paho's hands
        self._connected = self._ever_connected = False
        self._warned = False  # the broker's absence is said once per outage, not once per retry
        self._answered = False  # a CONNACK came, accepting or refusing
        self.published = 0

    def log(self, line: str) -> None:
        with quiet.audible():  # the watch thread may have fd 2 muted while it decodes an image
            self._log(line)

    # -- the sink side (the watch or camera thread) --------------------------------------------

    def start(self) -> "Publisher":
        if isinstance(self.outbox, MemoryOutbox):
            self.log(f"mqtt: without --output, results wait in memory while the broker is away "
                     f"(at most {self.opt.memory_queue}, lost on exit); use --output to keep them")
        self._thread.start()
        return self

    def write(self, record: dict) -> None:
        self.outbox.add(record)  # the ledger outbox has it already; the thread notices within 50 ms

    def close(self) -> None:
        self._stop.set()
        self._thread.join(self.opt.flush_timeout + 5.0)

    # -- the publisher thread --------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._serve()
        except Exception as exc:  # e.g. the state file cannot be written: say so once, never kill the watcher
            self.log(f"mqtt: stopped publishing after an unexpected error: {type(exc).__name__}: {exc}")

    def _serve(self) -> None:
        delay, deadline = 0.5, None
        while True:
            if self._stop.is_set():
                deadline = deadline or time.monotonic() + self.opt.flush_timeout
                self._advance()
                if not self._connected or not self._waiting() or time.monotonic() >= deadline:
                    break
            if not self._connected and not self._connect():
                self._stop.wait(delay)  # wakes at once on a stop: close() never waits out a backoff
                delay = min(delay * 2, self.opt.backoff_max)
                continue
            delay = 0.5
            if self.client.loop(timeout=0.05) != self._ok:
                self._lost()
                continue
            self._advance()
            self._hand_over()
        if self._waiting():
            kept = "published at the next start" if isinstance(self.outbox, LedgerOutbox) else "lost"
            self.log(f"mqtt: stopping with results the broker has not acknowledged; they are {kept}")
        self._finish()

    def _connect(self) -> bool:
        self._answered = False
        try:
            if self._ever_connected:
                self.client.reconnect()
            else:
                self.client.connect(self.broker.host, self.broker.port, keepalive=self.opt.keepalive)
        except OSError as exc:
            self._unreachable(_reason(exc))
            return False
        # The CONNACK arrives in the loop; give it up to a few seconds before calling this a failure.
        end = time.monotonic() + 5.0
        while not self._answered and time.monotonic() < end:
            if self.client.loop(timeout=0.05) != self._ok:
                break
        if not self._connected:
            self._unreachable("it did not answer as an MQTT broker within 5 s")
        return self._connected

    def _unreachable(self, reason: str) -> None:
        if self._warned:
            return
        self._warned = True
        kept = "kept in the ledger" if isinstance(self.outbox, LedgerOutbox) else "kept in memory"
        self.log(f"mqtt: expected a broker at {self.broker.where}, {reason}; results are {kept} "
                 "and published when it comes back")

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        self._answered = True
        if reason_code.is_failure:
            self._unreachable(f"it refused the connection ({reason_code})")
            return
        self._connected = True
        if self._ever_connected or self._warned:
            self.log(f"mqtt: connected to {self.broker.where}; publishing the results that waited")
        else:
            self.log(f"mqtt: connected to {self.broker.where}; results go to {self.broker.topic('result')}")
        self._ever_connected, self._warned = True, False
        client.publish(self.broker.topic("availability"), ONLINE, qos=1, retain=True)
        if self.opt.discovery:
            topic, config = discovery_config(self.broker)
            client.publish(topic, config, qos=1, retain=True)

    def _lost(self) -> None:
        self._connected, self._warned = False, True
        self.log(f"mqtt: lost the broker at {self.broker.where}; results are kept and published when it comes back")

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        entry = self._by_mid.pop(mid, None)
        if entry is not None:  # None: availability or discovery, which we do not track
            entry[2] = True

    def _advance(self) -> None:
        """Move the acknowledged position over the acknowledged prefix, and save it."""
        position = None
        while self._inflight and self._inflight[0][2]:
            position = self._inflight.popleft()[0]
        if position is not None:
            self.outbox.acknowledge(position)

    def _hand_over(self) -> None:
        """Publish the next records, in order, up to the window."""
        room = self.opt.window - len(self._inflight)
        if room <= 0:
            return
        for end, payload in self.outbox.read(self._handed, room):
            entry = [end, None, payload is None]  # a line that is not a result counts as acknowledged
            if payload is not None:
                # Once handed over, paho resends it after a reconnect until the PUBACK comes.
                entry[1] = self.client.publish(self.broker.topic("result"), payload, qos=1).mid
                self._by_mid[entry[1]] = entry
                self.published += 1
            self._inflight.append(entry)
            self._handed = end

    def _waiting(self) -> bool:
        """True while some record is not acknowledged yet (handed over or not)."""
        return bool(self._inflight) or bool(self.outbox.read(self._handed, 1))

    def _finish(self) -> None:
        if not self._connected:
            return
        info = self.client.publish(self.broker.topic("availability"), OFFLINE, qos=1, retain=True)
        end = time.monotonic() + 1.0
        while not info.is_published() and time.monotonic() < end:
            if self.client.loop(timeout=0.05) != self._ok:
                return
        self._advance()  # record the acknowledgements that came with it
        self.client.disconnect()
        self.client.loop(timeout=0.05)
