"""captcha-edge serve over real HTTP: a server subprocess on a free loopback port, stdlib clients.

Every call has a timeout, every server is stopped with SIGTERM at the end (and must exit 0).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from edge_runtime.registry import default_model

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))  # bench_serve: the stdlib HTTP client helpers
sys.path.insert(0, str(ROOT / "tests" / "runtime"))  # hostile: the hostile image corpus
from bench_serve import Client, free_port, multipart, start_server, stop_server  # noqa: E402

pytest.importorskip("starlette", reason="the serve extra is not installed: pip install '.[serve]'")

pytestmark = pytest.mark.e2e

KEY = "test-key-\N{GREEK SMALL LETTER ALPHA}"  # not ASCII: compare_digest must still work on it
SMALL_LIMIT = 16384  # one real CAPTCHA (~10 KB) fits, two do not


class Server:
    def __init__(self, tmp: Path, *args: str, env: dict | None = None):
        self.port = free_port()
        self.log = tmp / f"serve-{self.port}.log"
        if env is None:  # a key set in the caller's environment must not guard the open server
            env = {k: v for k, v in os.environ.items() if k != "CAPTCHA_EDGE_API_KEY"}
        self.proc = start_server(self.port, *args, log=self.log, env=env)

    def client(self) -> Client:
        return Client(self.port, timeout=30)

    def call(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        client = self.client()
        try:
            return client.request(method, path, body, headers)
        finally:
            client.close()

    def healthy(self) -> bool:
        return self.proc.poll() is None and self.call("GET", "/health")[0] == 200

    def stop(self) -> int:
        return stop_server(self.proc)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("serve"), "--workers", "2")
    yield s
    assert s.stop() == 0, s.log.read_text()[-2000:]


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """A server with an API key (from the environment), a small body limit and a small batch limit."""
    env = {**os.environ, "CAPTCHA_EDGE_API_KEY": KEY}
    s = Server(tmp_path_factory.mktemp("guarded"), "--workers", "1", "--max-body-bytes", str(SMALL_LIMIT),
               "--max-images", "3", env=env)
    yield s
    assert s.stop() == 0, s.log.read_text()[-2000:]


@pytest.fixture(scope="module")
def held_out_images(wilhelmy) -> list[Path]:
    """120 of the default model's held-out images (its report in converted/ names them)."""
    from edge_runtime.registry import default_model, shipped_models

    report = json.loads(shipped_models()[default_model()].with_suffix(".json").read_text())
    return [wilhelmy / name for name in report["split"]["val_names"][:120]]


@pytest.fixture(scope="module")
def recognizer():
    from edge_runtime.recognizer import Recognizer

    return Recognizer.from_file()


def as_json(payload: dict) -> tuple[bytes, dict]:
    return json.dumps(payload).encode(), {"Content-Type": "application/json"}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def form(fields: list[tuple[str, str | None, bytes]]) -> tuple[bytes, dict]:
    body, content_type = multipart(fields)
    return body, {"Content-Type": content_type}


#: The ways a client may send one image to /ocr: kind -> (body, headers) for the image bytes.
ENCODINGS = {
    "multipart file": lambda data: form([("file", "c.png", data)]),
    "json base64": lambda data: as_json({"image": b64(data)}),
    "json data url": lambda data: as_json({"image": "data:image/png;base64," + b64(data)}),
    # ddddocr-fastapi's form: base64 in a field "image", and options this server ignores
    "multipart base64 field": lambda data: form([("image", None, b64(data).encode()), ("png_fix", None, b"false")]),
    "raw image/png": lambda data: (data, {"Content-Type": "image/png"}),
}


def encode(kind: str, data: bytes) -> tuple[bytes, dict]:
    return ENCODINGS[kind](data)


def test_health_and_models(server):
    status, health = server.call("GET", "/health")
    assert status == 200 and health["status"] == "ok" and health["model"] == default_model() and health["workers"] == 2
    status, models = server.call("GET", "/models")
    assert status == 200 and models["default"] == models["loaded"]["name"] == default_model()
    by_name = {m["name"]: m for m in models["models"]}
    assert {"convctc-fast-int8", "synth36-int8"} <= set(by_name)
    assert by_name["convctc-fast-int8"]["contract"]["charset"] == "2345678bcdefgmnpwxy"


@pytest.mark.parametrize("kind", sorted(ENCODINGS))
def test_each_encoding_reads_like_the_recognizer(server, recognizer, held_out_images, kind):
    client = server.client()
    try:
        for path in held_out_images[:8]:
            status, answer = client.request("POST", "/ocr", *encode(kind, path.read_bytes()))
            expected = recognizer.recognize(path)
            assert status == 200, answer
            assert answer["text"] == expected.text and answer["confidence"] == pytest.approx(expected.confidence, abs=1e-5)
            assert len(answer["char_confidences"]) == len(expected.text) and answer["model"] == default_model()
            assert set(answer["timings"]) == {"read_ms", "preprocess_ms", "invoke_ms", "decode_ms", "total_ms", "server_ms"}
    finally:
        client.close()


def test_eight_concurrent_clients_read_like_predict(server, held_out_images, cli):
    done = cli("predict", "--format", "jsonl", *map(str, held_out_images))
    assert done.returncode == 0, done.stderr
    predicted = {Path(r["path"]).name: r["text"] for r in map(json.loads, done.stdout.splitlines())}

    def read(paths: list[Path]) -> list[tuple[str, int, dict]]:
        client = server.client()
        try:
            return [(p.name, *client.upload("/ocr", p.read_bytes(), p.name)) for p in paths]
        finally:
            client.close()

    with ThreadPoolExecutor(8) as pool:
        answers = [a for chunk in pool.map(read, [held_out_images[i::8] for i in range(8)]) for a in chunk]
    assert len(answers) == len(held_out_images) == 120
    assert [status for _, status, _ in answers if status != 200] == []
    assert {name: answer["text"] for name, _, answer in answers} == predicted
    assert server.healthy()


def hostile_requests(good: bytes) -> dict[str, tuple[str, str, bytes | None, dict, int]]:
    """name -> (method, path, body, headers, expected status), none of them a readable image request."""
    upload, headers = form([("file", "c.png", good)])
    return {
        "text/plain": ("POST", "/ocr", b"hello", {"Content-Type": "text/plain"}, 415),
        "no content type": ("POST", "/ocr", good, {}, 415),
        "malformed json": ("POST", "/ocr", b'{"image": ', {"Content-Type": "application/json"}, 400),
        "json not utf-8": ("POST", "/ocr", b'{"image": "\xff\xfe"}', {"Content-Type": "application/json"}, 400),
        "json nested a million deep": ("POST", "/ocr", b"[" * 1_000_000, {"Content-Type": "application/json"}, 400),
        "json without image": ("POST", "/ocr", b'{"picture": "x"}', {"Content-Type": "application/json"}, 400),
        "json list": ("POST", "/ocr", b"[1, 2]", {"Content-Type": "application/json"}, 400),
        "json image not a string": ("POST", "/ocr", b'{"image": 12}', {"Content-Type": "application/json"}, 400),
        "bad base64": ("POST", "/ocr", *as_json({"image": "not base64!!"}), 400),
        "empty base64": ("POST", "/ocr", *as_json({"image": ""}), 400),
        "data url without base64": ("POST", "/ocr", *as_json({"image": "data:image/png," + b64(good)}), 400),
        "base64 of text": ("POST", "/ocr", *as_json({"image": b64(b"hello world")}), 422),
        "multipart without boundary": ("POST", "/ocr", upload, {"Content-Type": "multipart/form-data"}, 400),
        "multipart cut short": ("POST", "/ocr", upload[: len(upload) // 2], headers, 400),
        "multipart without image field": ("POST", "/ocr", *form([("other", None, b"x")]), 400),
        "two images to /ocr": ("POST", "/ocr", *form([("file", "a.png", good), ("file", "b.png", good)]), 400),
        "unknown model": ("POST", "/ocr?model=nope", good, {"Content-Type": "image/png"}, 400),
        "empty raw body": ("POST", "/ocr", b"", {"Content-Type": "image/png"}, 422),
        "unknown route": ("GET", "/admin", None, {}, 404),
        "wrong method": ("GET", "/ocr", None, {}, 405),
        "empty batch": ("POST", "/ocr/batch", *as_json({"images": []}), 400),
    }


def test_hostile_requests_get_4xx_and_the_server_goes_on(server, held_out_images):
    good = held_out_images[0].read_bytes()
    for name, (method, path, body, headers, expected) in hostile_requests(good).items():
        status, answer = server.call(method, path, body, headers)
        assert status == expected, (name, status, answer)
        assert isinstance(answer, dict) and "\n" not in answer["error"] and answer["error"].startswith("expected"), (name, answer)
    assert server.healthy()


def test_hostile_images_get_422_and_good_ones_still_read(server, held_out_images, tmp_path):
    from hostile import make_corpus

    good = held_out_images[0]
    expected = make_corpus(tmp_path / "corpus", good)
    checked = 0
    for path in sorted((tmp_path / "corpus").iterdir()):
        if path.is_symlink() or not path.is_file() or not os.access(path, os.R_OK):
            continue  # a broken link, a directory or an unreadable file is not something a client can send
        status, answer = server.call("POST", "/ocr", *encode("multipart file", path.read_bytes()))
        want = expected[path.name]
        if want is None:
            assert status == 422 and answer["error"].startswith("expected"), (path.name, status, answer)
        elif want != "either":
            assert status == 200 and answer["text"] == want, (path.name, status, answer)
        checked += 1
    assert checked >= 20
    assert server.healthy()


def test_content_length_over_the_limit_is_refused_before_the_body(server):
    client = server.client()
    try:
        conn = client.conn
        conn.putrequest("POST", "/ocr")
        conn.putheader("Content-Type", "image/png")
        conn.putheader("Content-Length", str(10**9))
        conn.endheaders()  # and no body: the answer must come without it
        response = conn.getresponse()
        assert response.status == 413 and "at most" in json.loads(response.read())["error"]
    finally:
        client.close()
    assert server.healthy()


def test_batch_answers_each_image_in_order(server, recognizer, held_out_images):
    a, b = held_out_images[:2]
    images = [b64(a.read_bytes()), "%%%", b64(b"not an image"), "data:image/png;base64," + b64(b.read_bytes())]
    status, answer = server.call("POST", "/ocr/batch", *as_json({"images": images}))
    assert status == 200, answer
    results = answer["results"]
    assert [r.get("text") for r in results] == [recognizer.recognize(a).text, None, None, recognizer.recognize(b).text]
    assert results[1]["error"].startswith("expected base64") and results[2]["error"].startswith("expected")
    files = [("file", p.name, p.read_bytes()) for p in (a, b)]
    status, answer = server.call("POST", "/ocr/batch", *form(files))
    assert status == 200 and [r["text"] for r in answer["results"]] == [recognizer.recognize(p).text for p in (a, b)]


def test_api_key(guarded, held_out_images):
    small = held_out_images[0].read_bytes()
    assert len(small) < SMALL_LIMIT
    body, headers = encode("raw image/png", small)
    assert guarded.call("POST", "/ocr", body, headers)[0] == 401
    assert guarded.call("POST", "/ocr", body, {**headers, "X-API-Key": "wrong"})[0] == 401
    assert guarded.call("POST", "/ocr", body, {**headers, "Authorization": "Bearer wrong"})[0] == 401
    assert guarded.call("GET", "/models")[0] == 401
    assert guarded.call("GET", "/health")[0] == 200  # a probe needs no key
    key = KEY.encode().decode("latin-1")  # http.client sends header values as latin-1
    assert guarded.call("POST", "/ocr", body, {**headers, "X-API-Key": key})[0] == 200
    assert guarded.call("POST", "/ocr", body, {**headers, "Authorization": f"Bearer {key}"})[0] == 200
    assert guarded.call("GET", "/models", None, {"X-API-Key": key})[0] == 200


def test_body_and_batch_limits(guarded, held_out_images):
    key = {"X-API-Key": KEY.encode().decode("latin-1")}
    big = held_out_images[0].read_bytes() * 2
    assert len(big) > SMALL_LIMIT
    status, answer = guarded.call("POST", "/ocr", big, {"Content-Type": "image/png", **key})
    assert status == 413 and f"at most {SMALL_LIMIT} bytes" in answer["error"]
    client = guarded.client()
    try:  # chunked: no Content-Length, so the limit is enforced while the body streams in
        client.conn.request("POST", "/ocr", body=iter([big[:3000], big[3000:]]),
                            headers={"Content-Type": "image/png", **key}, encode_chunked=True)
        response = client.conn.getresponse()
        assert response.status == 413, response.read()
    finally:
        client.close()
    body, headers = as_json({"images": [b64(b"x")] * 4})
    status, answer = guarded.call("POST", "/ocr/batch", body, {**headers, **key})
    assert status == 413 and "at most 3 images" in answer["error"]
    assert guarded.healthy()


def test_a_taken_port_is_one_line_and_exit_2(server, cli):
    done = cli("serve", "--port", str(server.port), "--workers", "1", timeout=60)
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0, done.stderr
    assert "expected to listen on 127.0.0.1 port" in done.stderr


def test_without_the_extra_serve_says_what_to_install():
    code = "import sys; sys.modules['starlette'] = None; from edge_runtime.cli import main; main(['serve'])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.strip().endswith("pip install 'captcha-edge[serve]'"), done.stderr
    assert done.stderr.strip().count("\n") == 0


def test_serve_flag_defaults_are_the_options_defaults():
    import click

    from edge_runtime.cli import main
    from edge_runtime.options import ServeOptions

    cmd = main.commands["serve"]
    ctx = click.Context(cmd)
    defaults = {f.name: f.default for f in dataclasses.fields(ServeOptions)}
    params = {p.name: p.get_default(ctx) for p in cmd.params if p.name in defaults}
    assert params == defaults
