"""A C2SP tlog-witness for tests: a real HTTP server in a thread that does what the spec
asks of a witness. It checks the note's signature with the log's public key, the old size
against what it holds (409 with its size otherwise) and the consistency proof from its root
to the new one, then cosigns."""

from __future__ import annotations

import base64
import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from audit.checkpoints import NOTE_KEY_NAME
from audit.http_witness import SIZE_CONTENT_TYPE
from audit.merkle import EMPTY_ROOT, verify_consistency
from audit.note import NoteError, open_note, parse_checkpoint, sign_note

WITNESS_NAME = "witness.test/w1"


@dataclass
class Receiver:
    """What the witness holds and saw."""

    log_key: Ed25519PublicKey
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    trees: dict[str, tuple[int, bytes]] = field(default_factory=dict)  # origin -> size, root
    requests: list[tuple[int, int]] = field(default_factory=list)  # (old, size) seen
    answers: list[int] = field(default_factory=list)
    fail_next: int = 0  # answer 503 this many times first
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_checkpoint(self, body: str) -> tuple[int, str, str]:
        if self.fail_next:
            self.fail_next -= 1
            return 503, "text/plain", "busy\n"
        head, sep, note = body.partition("\n\n")
        lines = head.split("\n")
        if not sep or not lines[0].startswith("old "):
            return 400, "text/plain", "malformed\n"
        old = int(lines[0][4:])
        proof = [base64.b64decode(line) for line in lines[1:]]
        try:
            text = open_note(note, NOTE_KEY_NAME, self.log_key)
        except NoteError:
            return 403, "text/plain", "no valid signature\n"
        checkpoint = parse_checkpoint(text)
        size, root = checkpoint.tree_size, checkpoint.root_hash
        self.requests.append((old, size))
        if old > size:
            return 400, "text/plain", "old size beyond the checkpoint\n"
        held_size, held_root = self.trees.get(checkpoint.origin, (0, EMPTY_ROOT))
        if old != held_size:
            return 409, SIZE_CONTENT_TYPE, f"{held_size}\n"
        if old == 0:
            consistent = not proof
        elif old == size:
            consistent = not proof and root == held_root
        else:
            consistent = verify_consistency(old, size, held_root, root, proof)
        if not consistent:
            return 422, "text/plain", "not consistent\n"
        self.trees[checkpoint.origin] = (size, root)
        cosigned = sign_note(text, WITNESS_NAME, self.key)
        return 200, "text/plain", cosigned.rpartition("\n\n")[2]


@contextmanager
def serving(state: Receiver) -> Iterator[str]:
    """Serve ``state`` on a free local port; yields the submission prefix."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            if self.path != "/witness/add-checkpoint":
                status, kind, answer = 404, "text/plain", "unknown\n"
            else:
                with state.lock:
                    status, kind, answer = state.add_checkpoint(body)
                    state.answers.append(status)
            data = answer.encode()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/witness"
    finally:
        server.shutdown()
        server.server_close()


def without_retry_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    """The service's witness senders retry an unreachable witness at once, not after 0.5 s
    and 1 s: the retries are the same, the test does not wait for them."""
    from audit.http_witness import HttpWitness
    from policy_service.audit_trail import witnesses

    monkeypatch.setattr(witnesses, "HttpWitness", functools.partial(HttpWitness, backoff=0.0))
