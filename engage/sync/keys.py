"""Key files under ``instance/sync/``: the laptop's signing key, the hub's two key pairs.

Private keys are PKCS#8 PEM files readable only by their owner, written whole or not
at all. The hub makes its keys the first time they are needed.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from flask import current_app

from .envelope import HubPublic, raw_public

DEVICE_KEY = "device_ed25519.pem"
HUB_X25519 = "hub_x25519.pem"
HUB_ED25519 = "hub_ed25519.pem"
_make_lock = threading.Lock()


def key_dir(instance: str | Path | None = None) -> Path:
    folder = Path(instance or current_app.instance_path) / "sync"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def pem(private_key) -> bytes:
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_private(path: Path, private_key) -> None:
    """Write a key file readable only by this user, replacing any older one whole."""
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem(private_key))
        handle.flush()
        os.fsync(handle.fileno())
    partial.replace(path)


def read_private(path: Path):
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def device_key(instance=None) -> Ed25519PrivateKey | None:
    path = key_dir(instance) / DEVICE_KEY
    return read_private(path) if path.exists() else None


def hub_keys(instance=None) -> tuple[X25519PrivateKey, Ed25519PrivateKey]:
    """The hub's encryption and signing keys, made on first use."""
    folder = key_dir(instance)
    with _make_lock:
        for name, cls in ((HUB_X25519, X25519PrivateKey), (HUB_ED25519, Ed25519PrivateKey)):
            if not (folder / name).exists():
                write_private(folder / name, cls.generate())
    return read_private(folder / HUB_X25519), read_private(folder / HUB_ED25519)


def hub_public(instance=None) -> HubPublic:
    x, ed = hub_keys(instance)
    return HubPublic(raw_public(x), raw_public(ed))
