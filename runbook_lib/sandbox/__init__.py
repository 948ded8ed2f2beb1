"""The local AWS stand-in: a moto server on loopback, extended where moto falls short.

Every place the sandbox differs from AWS is said in the docstring of the extension that makes the
difference and in the README's sandbox section, and has a test.
"""

from .server import Sandbox
from .settings import SETTINGS, SandboxSettings

__all__ = ["Sandbox", "SETTINGS", "SandboxSettings"]
