"""The pool of warm Lambda workers of the sandbox: one pool of idle workers per function version,
the function's code extracted once per digest, stale workers stopped (part of ``lambda_runtime``;
one worker: ``lambda_worker_process``)."""

from __future__ import annotations

import io
import logging
import os
import threading
import time
import uuid as uuid_mod
import zipfile
from typing import Any

from .lambda_moto import FunctionSpec
from .lambda_worker_process import Worker

log = logging.getLogger(__name__)


class Stale(Exception):
    """The work belongs to a mapping that was disabled or deleted, or to a generation reset since."""


class WorkerPool:
    """The workers of ``LambdaRuntime`` (a mixin: it shares the runtime's ``_cond``, generation and
    ``_tmp``): one pool of idle workers per function version, the code extracted once per digest."""

    def _init_pool(self) -> None:
        self._code_lock = threading.Lock()
        self._workers: set[Worker] = set()
        self._idle: dict[tuple, list[Worker]] = {}
        self._current: dict[tuple, tuple] = {}

    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (for tests and diagnostics)."""
        with self._cond:
            return [w.proc.pid for w in self._workers if w.proc.poll() is None]

    @property
    def _lib_dir(self) -> str:
        assert self._tmp is not None
        return os.path.join(self._tmp, "runtime")

    def _kill_workers(self) -> None:
        with self._cond:
            workers = list(self._workers)
            self._workers.clear()
            self._idle.clear()
            self._current.clear()
        for worker in workers:
            worker.kill()

    def _code_dir(self, spec: FunctionSpec) -> str:
        assert self._tmp is not None
        target = os.path.join(self._tmp, "code", spec.code_digest)
        if os.path.isdir(target):
            return target
        with self._code_lock:
            if os.path.isdir(target):
                return target
            staging = f"{target}.{uuid_mod.uuid4().hex}"
            with zipfile.ZipFile(io.BytesIO(spec.code_bytes)) as archive:
                archive.extractall(staging)
            os.replace(staging, target)
        return target

    def _checkout(self, spec: FunctionSpec, gen: int) -> Worker | None:
        key = (spec, spec.identity)
        with self._cond:
            self._check(gen)
            current = self._current.get(spec.identity)
            if current is not None and current != spec:
                for old in self._idle.pop((current, spec.identity), []):
                    self._workers.discard(old)
                    threading.Thread(target=old.kill, daemon=True).start()
            self._current[spec.identity] = spec
            idle = self._idle.get(key) or []
            while idle:
                worker = idle.pop()
                if worker.alive():
                    return worker
                self._workers.discard(worker)
        return None

    def _checkin(self, worker: Worker, gen: int) -> None:
        spec = worker.spec
        with self._cond:
            keep = (
                worker.alive()
                and gen == self._generation
                and not self._stopping.is_set()
                and self._current.get(spec.identity) == spec
                and worker in self._workers
            )
            if keep:
                self._idle.setdefault((spec, spec.identity), []).append(worker)
                return
            self._workers.discard(worker)
        worker.kill()

    def _spawn(self, spec: FunctionSpec, gen: int) -> tuple[Worker, dict[str, Any] | None, list[tuple[int, str]]]:
        """Start a worker and import the handler: (worker, init error or None, init log lines)."""
        code_dir = self._code_dir(spec)
        worker = Worker(spec, code_dir, self._lib_dir, self.endpoint_url)
        with self._cond:
            registered = gen == self._generation and not self._stopping.is_set()
            if registered:
                self._workers.add(worker)
        if not registered:
            worker.kill()
            raise Stale()
        lines = [(int(time.time() * 1000), f"INIT_START Runtime Version: {spec.runtime}.sandbox")]
        init_error = worker.start()
        lines.extend(worker.take_lines())
        return worker, init_error, lines

    def _discard(self, worker: Worker) -> None:
        with self._cond:
            self._workers.discard(worker)
        worker.kill()

