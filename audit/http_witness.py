"""A witness over HTTP in the C2SP ``tlog-witness`` style: each new checkpoint is POSTed to
``<url>/add-checkpoint`` with the tree size the witness last cosigned and an RFC 9162
consistency proof from that size, and the witness answers with its cosignature lines.

The body is ``old <size>\\n``, one base64 proof hash a line, a blank line, then the
checkpoint's signed note. The witness answers 409 (``text/x.tlog.size``) with the size it
holds when ``old`` is not that size; the client then proves consistency from that size and
sends again, so it needs no state of its own across restarts.

Submitting never raises and never runs inside an append: the service hands a committed
checkpoint to :meth:`HttpWitness.submit_soon` (a background thread) or, for the periodic
retry, calls :meth:`HttpWitness.submit`. Transport errors and 5xx answers are retried with
backoff; what still fails is counted in :attr:`HttpWitness.stats` and tried again with the
chain's next checkpoint (or the next periodic pass).
"""

from __future__ import annotations

import base64
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from audit.records import Checkpoint

ADD_CHECKPOINT: Final = "/add-checkpoint"
SIZE_CONTENT_TYPE: Final = "text/x.tlog.size"
MAX_PROOF_LINES: Final = 63

# (chain, old size, new size) -> the RFC 9162 consistency proof between them.
ConsistencyProver = Callable[[str, int, int], Sequence[bytes]]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class WitnessStats:
    submitted: int = 0  # checkpoints handed to the witness
    accepted: int = 0  # cosigned (200)
    superseded: int = 0  # the witness already holds a larger tree of that chain
    retries: int = 0  # attempts repeated after a transport error or a 5xx
    failures: int = 0  # checkpoints given up on (retried with the chain's next one)


class _Retry(Exception):
    """A transient failure: try again after a pause."""


def add_checkpoint_body(old_size: int, proof: Sequence[bytes], note: str) -> bytes:
    if len(proof) > MAX_PROOF_LINES:
        raise ValueError("a consistency proof has at most 63 hashes")
    lines = [f"old {old_size}\n", *(base64.b64encode(node).decode() + "\n" for node in proof)]
    return ("".join(lines) + "\n" + note).encode("utf-8")


class HttpWitness:
    """Submits checkpoints to one tlog-witness. Thread-safe; one per process."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        attempts: int = 3,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"a witness URL is http:// or https://, got {url!r}")
        self.url = url.rstrip("/") + ADD_CHECKPOINT
        self._timeout = timeout
        self._attempts = max(1, attempts)
        self._backoff = backoff
        self._sleep = sleep
        self.stats = WitnessStats()
        self.cosignatures: dict[str, str] = {}  # chain -> the witness's last answer
        self._sizes: dict[str, int] = {}  # chain -> the size the witness last cosigned
        self._lock = threading.Lock()  # one submission at a time: sizes move in order
        self._thread_lock = threading.Lock()
        self._pending: set[str] = set()  # chains whose newest checkpoint was not cosigned
        self._queue: queue.Queue[tuple[Checkpoint, ConsistencyProver]] = queue.Queue()
        self._thread: threading.Thread | None = None

    def pending(self) -> set[str]:
        """Chains whose last submission failed: the periodic pass sends their newest
        checkpoint again."""
        with self._lock:
            return set(self._pending)

    def known_size(self, chain: str) -> int:
        """The size the witness is known to hold for ``chain`` (0: not known yet)."""
        return self._sizes.get(chain, 0)

    def submit_soon(self, checkpoint: Checkpoint, prove: ConsistencyProver) -> None:
        """Queue a committed checkpoint for the background sender; returns at once."""
        with self._thread_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="audit-http-witness", daemon=True
                )
                self._thread.start()
        self._queue.put((checkpoint, prove))

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until the queue is empty (a CLI command before it exits; tests)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def _run(self) -> None:
        while True:
            checkpoint, prove = self._queue.get()
            try:
                self.submit(checkpoint, prove)
            finally:
                self._queue.task_done()

    def submit(self, checkpoint: Checkpoint, prove: ConsistencyProver) -> str | None:
        """POST one checkpoint (``prove`` gives consistency proofs from the stored tree).
        Its cosignature lines, or ``None`` (counted) if the witness did not cosign it.
        Never raises."""
        if checkpoint.note is None:
            return None
        with self._lock:
            self.stats.submitted += 1
            try:
                answer = self._submit(checkpoint, prove)
            except Exception:  # a witness must never break the caller
                log.exception("audit.http_witness_error", extra={"chain": checkpoint.chain})
                self.stats.failures += 1
                answer = None
            if answer is None and self._sizes.get(checkpoint.chain, 0) < checkpoint.seq:
                self._pending.add(checkpoint.chain)
            else:
                self._pending.discard(checkpoint.chain)
            return answer

    def _submit(self, checkpoint: Checkpoint, prove: ConsistencyProver) -> str | None:
        chain, size, note = checkpoint.chain, checkpoint.seq, checkpoint.note
        assert note is not None
        pause = self._backoff
        conflicts = 0
        attempt = 0
        while True:
            old = self._sizes.get(chain, 0)
            if old > size:
                self.stats.superseded += 1
                return None
            proof = prove(chain, old, size) if 0 < old < size else []
            try:
                status, body = self._post(add_checkpoint_body(old, proof, note))
            except _Retry as error:
                attempt += 1
                if attempt >= self._attempts:
                    log.warning(
                        "audit.http_witness_unavailable",
                        extra={"chain": chain, "size": size, "error": str(error)},
                    )
                    self.stats.failures += 1
                    return None
                self.stats.retries += 1
                self._sleep(pause)
                pause *= 2
                continue
            if status == 200:
                self._sizes[chain] = size
                self.stats.accepted += 1
                self.cosignatures[chain] = body
                return body
            held = _size_line(body) if status == 409 else None
            if held is not None and conflicts < 2 and held != old:
                # The witness holds another size: prove from there (its first answer after a
                # restart of this process, or another worker got there first).
                conflicts += 1
                self._sizes[chain] = held
                continue
            log.warning(
                "audit.http_witness_refused",
                extra={"chain": chain, "size": size, "status": status, "body": body[:200]},
            )
            self.stats.failures += 1
            return None

    def _post(self, body: bytes) -> tuple[int, str]:
        # S310: the scheme is checked to be http(s) in __init__.
        request = urllib.request.Request(  # noqa: S310
            self.url, data=body, method="POST", headers={"Content-Type": "text/plain"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
                return int(response.status), response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            if error.code >= 500:
                raise _Retry(f"HTTP {error.code}") from None
            return error.code, error.read().decode("utf-8", "replace")
        except (OSError, TimeoutError) as error:  # refused, reset, DNS, timeout
            raise _Retry(str(error)) from None


def _size_line(body: str) -> int | None:
    text = body.strip()
    return int(text) if text.isdigit() else None
