"""Dynamic batching: combine concurrent requests for the same model and input shape.

The design follows Triton's dynamic batcher (https://docs.nvidia.com/deeplearning/triton-inference-server/
user-guide/docs/user_guide/model_configuration.html#dynamic-batcher): requests wait in a queue per
*key* (model, version, padded shape) for at most ``batch_timeout`` or until ``max_batch`` samples
are there; one scheduler thread hands ready batches to a pool of compute workers, and only when a
worker is free, so under load batches grow by themselves while an idle server adds at most
``batch_timeout`` of latency. ONNX Runtime releases the GIL, so the compute pool runs in parallel
with the gRPC threads that decode and encode images.

Memory: a batch holds at most ``max_batch`` samples *and* at most ``max_batch_pixels`` input
pixels (each request says how many it brings), because activation memory grows with pixels, not
with the number of images: eight 2048x2048 images in one call need eight times the memory of one.
A single request over the pixel budget still runs, alone.

Back-pressure: at most ``max_queue`` requests wait per model (more -> :class:`QueueFullError`).
Requests whose deadline passed are dropped before compute (:class:`DeadlineExpiredError`), and a
cancelled request leaves the queue at once, freeing its slot.

Every sample of a batch is computed by the same ``run`` function as it would be alone, so results
equal unbatched execution for per-sample networks (instance norm, eval-mode batch norm). Models
whose output depends on the batch (batch norm in batch-statistics mode) are submitted with
``max_batch=1``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from serving.errors import CancelledError, DeadlineExpiredError, QueueFullError, ShuttingDownError

log = logging.getLogger(__name__)

RunFn = Callable[..., np.ndarray]  # fn(*inputs [N, ...]) -> output [N, ...]

DEADLINE_SKEW = 0.25  # seconds: how much earlier than ours a client's deadline may fire (transit, start-up)


@dataclass(eq=False)
class _Item:
    key: Hashable
    model: str
    run: RunFn
    inputs: tuple[np.ndarray, ...]
    n: int
    max_batch: int
    deadline: float | None
    pixels: int = 0
    enqueued: float = field(default_factory=time.monotonic)
    future: Future = field(default_factory=Future)
    state: str = "queued"  # queued -> running -> done | cancelled | expired


class Ticket:
    """Handle of one submitted request: wait for its result or cancel it."""

    def __init__(self, batcher: DynamicBatcher, item: _Item) -> None:
        self._batcher = batcher
        self._item = item

    def result(self, timeout: float | None = None) -> np.ndarray:
        """Output rows of this request ([n, ...]); raises what the computation raised."""
        return self._item.future.result(timeout)

    def cancel(self) -> bool:
        """Remove the request from its queue if it has not started; True if it was removed."""
        return self._batcher._cancel(self._item)


class DynamicBatcher:
    """Per-key request queues feeding a pool of compute workers.

    Args:
        max_batch: most samples run in one call of ``run``.
        batch_timeout: seconds a request may wait for others before its batch runs anyway.
        max_queue: most requests waiting per model name.
        workers: compute threads (1 is right on a CPU where ONNX Runtime already uses every core).
        metrics: optional :class:`serving.metrics.ServerMetrics`.
        max_batch_pixels: most input pixels of one batch (None: no pixel bound).
    """

    def __init__(self, *, max_batch: int = 8, batch_timeout: float = 0.002, max_queue: int = 64,
                 workers: int = 1, metrics=None, max_batch_pixels: int | None = None) -> None:
        if max_batch < 1 or max_queue < 1 or workers < 1 or batch_timeout < 0:
            raise ValueError("max_batch, max_queue and workers must be >= 1 and batch_timeout >= 0")
        if max_batch_pixels is not None and max_batch_pixels < 1:
            raise ValueError("max_batch_pixels must be >= 1 or None")
        self.max_batch = max_batch
        self.max_batch_pixels = max_batch_pixels
        self.batch_timeout = batch_timeout
        self.max_queue = max_queue
        self.metrics = metrics
        self._cond = threading.Condition()
        self._queues: dict[Hashable, deque[_Item]] = {}
        self._waiting: dict[str, int] = {}  # model name -> queued requests
        self._free = workers
        self._closed = False
        self.expired = 0  # requests dropped because their deadline passed (also a metric)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="compute")
        self._thread = threading.Thread(target=self._schedule, name="batcher", daemon=True)
        self._thread.start()

    # -- public API --
    def submit(self, key: Hashable, model: str, run: RunFn, inputs: tuple[np.ndarray, ...], *,
               deadline: float | None = None, max_batch: int | None = None, pixels: int = 0) -> Ticket:
        """Queue ``inputs`` (each [n, ...], same n) for ``run``; ``deadline`` is a time.monotonic() value.

        ``pixels``: the input pixels this request brings (all n samples), for the per-batch budget.
        """
        n = int(inputs[0].shape[0])
        if any(int(x.shape[0]) != n for x in inputs):
            raise ValueError("all inputs of one request need the same batch dimension")
        item = _Item(key, model, run, inputs, n, min(max_batch or self.max_batch, self.max_batch), deadline,
                     max(0, int(pixels)))
        with self._cond:
            if self._closed:
                raise ShuttingDownError("the server is shutting down; retry on another replica")
            if self._waiting.get(model, 0) >= self.max_queue:
                raise QueueFullError(f"model {model!r} has {self.max_queue} requests waiting (--max-queue); "
                                     "retry with backoff or add server replicas")
            self._queues.setdefault(key, deque()).append(item)
            self._waiting[model] = self._waiting.get(model, 0) + 1
            self._gauge(model)
            self._cond.notify_all()
        return Ticket(self, item)

    def queued(self, model: str | None = None) -> int:
        """Requests waiting (not yet computing), for one model or all."""
        with self._cond:
            return self._waiting.get(model, 0) if model is not None else sum(self._waiting.values())

    def close(self, wait: bool = True) -> None:
        """Stop accepting work; queued requests still run; with ``wait`` block until all are done."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if wait:
            self._thread.join()
            self._pool.shutdown(wait=True)

    # -- internals --
    def _gauge(self, model: str) -> None:
        if self.metrics is not None:
            self.metrics.queue_depth.labels(model).set(self._waiting.get(model, 0))

    def _unqueue(self, item: _Item) -> None:
        """Forget a queued item (caller holds the lock)."""
        q = self._queues.get(item.key)
        if q is not None:
            q.remove(item)
            if not q:
                del self._queues[item.key]
        self._waiting[item.model] -= 1
        self._gauge(item.model)

    def _cancel(self, item: _Item) -> bool:
        with self._cond:
            if item.state != "queued":
                return False
            self._unqueue(item)
            # A call whose deadline passed is cancelled by gRPC, racing the scheduler's own expiry.
            # The client's clock started before ours (we start when the request arrives), so its
            # cancel reaches us a little BEFORE our copy of the deadline: a cancel within
            # DEADLINE_SKEW of the deadline is that expiry, and counted as one.
            expired = item.deadline is not None and item.deadline - time.monotonic() <= DEADLINE_SKEW
            item.state = "expired" if expired else "cancelled"
            self.expired += expired
            self._cond.notify_all()
        if expired:
            self._expire([item])
        else:
            item.future.set_exception(CancelledError("the request was cancelled before it was computed"))
        return True

    def _drop_expired(self, now: float) -> list[_Item]:
        dropped = [it for q in self._queues.values() for it in q if it.deadline is not None and it.deadline <= now]
        for it in dropped:
            self._unqueue(it)
            it.state = "expired"
        self.expired += len(dropped)
        return dropped

    def _pick(self, now: float) -> list[_Item] | None:
        """Pop the ready batch whose oldest request waited longest (caller holds the lock)."""
        best = None
        budget = self.max_batch_pixels
        for key, q in self._queues.items():
            head = q[0]
            full = sum(it.n for it in q) >= head.max_batch or (
                budget is not None and sum(it.pixels for it in q) >= budget)
            if full or self._closed or now - head.enqueued >= self.batch_timeout:
                if best is None or head.enqueued < self._queues[best][0].enqueued:
                    best = key
        if best is None:
            return None
        q = self._queues[best]
        batch = [q.popleft()]
        total, pixels = batch[0].n, batch[0].pixels
        while q and total + q[0].n <= batch[0].max_batch and (budget is None or pixels + q[0].pixels <= budget):
            total += q[0].n
            pixels += q[0].pixels
            batch.append(q.popleft())
        if not q:
            del self._queues[best]
        for it in batch:
            it.state = "running"
            self._waiting[it.model] -= 1
        self._gauge(batch[0].model)
        return batch

    def _wakeup(self, now: float) -> float | None:
        times = [it.deadline for q in self._queues.values() for it in q if it.deadline is not None]
        if self._free > 0:
            times += [q[0].enqueued + self.batch_timeout for q in self._queues.values()]
        return max(0.0, min(times) - now) if times else None

    def _schedule(self) -> None:
        while True:
            with self._cond:
                while True:
                    now = time.monotonic()
                    expired = self._drop_expired(now)
                    if expired:
                        break
                    batch = self._pick(now) if self._free > 0 else None
                    if batch:
                        self._free -= 1
                        break
                    if self._closed and not self._queues:
                        return
                    self._cond.wait(self._wakeup(now))
            if expired:
                self._expire(expired)
                continue
            self._pool.submit(self._compute, batch)

    def _expire(self, items: list[_Item]) -> None:
        """Fail requests whose deadline passed in the queue (already counted in ``expired``)."""
        for it in items:
            if self.metrics is not None:
                self.metrics.expired.labels(it.model).inc()
            it.future.set_exception(DeadlineExpiredError(
                f"the deadline passed after {time.monotonic() - it.enqueued:.3f} s in the queue of model "
                f"{it.model!r}; the request was not computed (raise the deadline or reduce load)"))

    def _compute(self, batch: list[_Item]) -> None:
        start = time.monotonic()
        try:
            n = sum(it.n for it in batch)
            inputs = tuple(np.concatenate([it.inputs[i] for it in batch]) if len(batch) > 1 else batch[0].inputs[i]
                           for i in range(len(batch[0].inputs)))
            out = batch[0].run(*inputs)
            if out.shape[0] != n:
                raise RuntimeError(f"model returned {out.shape[0]} rows for a batch of {n}")
            offset = 0
            for it in batch:
                it.state = "done"
                it.future.set_result(out[offset:offset + it.n])
                offset += it.n
            if self.metrics is not None:
                model = batch[0].model
                self.metrics.batch_size.labels(model).observe(n)
                self.metrics.images.labels(model).inc(n)
                for it in batch:
                    self.metrics.queue_wait.labels(model).observe(start - it.enqueued)
        except BaseException as exc:  # noqa: B036 - the error belongs to the callers, not to this thread
            log.exception("batch of %d request(s) failed", len(batch))
            for it in batch:
                it.state = "done"
                if not it.future.done():
                    it.future.set_exception(exc)
        finally:
            with self._cond:
                self._free += 1
                self._cond.notify_all()
