"""Speed-ups of moto's request routing: work moto repeats for every request, done once.

Pure speed-ups: no answer changes, so nothing here differs from AWS or from moto's behaviour.

- Backend lookup: moto's server finds the backend of every request by trying the URL patterns of
  every service (under one lock); the answer for a host never changes, so it is kept per host.
- Action lookup: moto lists every method of the handler class (``inspect.getmembers``) for every
  request to find the action's method; a class's methods do not change once the sandbox has
  installed its extensions, so the list is kept per class.
"""

from __future__ import annotations

import threading
from functools import lru_cache

_installed = False
_lock = threading.Lock()


def _memo_backend_for_host(original):
    cache: dict = {}

    def get_backend_for_host(self, host):
        try:
            return cache[host]
        except KeyError:
            backend = original(self, host)
            cache[host] = backend
            return backend
        except TypeError:  # unhashable: never the case for a host string
            return original(self, host)

    return get_backend_for_host


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication

        DomainDispatcherApplication.get_backend_for_host = _memo_backend_for_host(DomainDispatcherApplication.get_backend_for_host)
        import moto.core.responses as core_responses

        core_responses.method_names_from_class = lru_cache(maxsize=None)(core_responses.method_names_from_class)
        _installed = True
