"""Sealed sync frames: encrypted to the hub's key, signed by the device's key.

A frame is one batch of changes (or the seal that closes a USB file)::

    magic     8 bytes   b"ENGSYNC" + format version (1)
    hlen      4 bytes   big-endian length of the header
    header    hlen      UTF-8 JSON, sorted keys: device_id, hub_key_id, batch_id,
                        kind, seq_from, seq_to, made_at, manifest_sha256, epk, nonce, …
    clen      8 bytes   big-endian length of the ciphertext
    ciphertext clen     AES-256-GCM of the payload (zlib), key from X25519(epk, hub) + HKDF,
                        the magic and header as associated data
    signature 64 bytes  Ed25519 by the device over everything before it

Nothing here knows Flask or the database: it turns bytes into frames and back, and
refuses anything cut short, changed, signed by another key or sealed for another hub
with a :class:`Refused` that says which.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC_PREFIX = b"ENGSYNC"
VERSION = 1
MAGIC = MAGIC_PREFIX + bytes([VERSION])
SIGNATURE_BYTES = 64
MAX_HEADER_BYTES = 64 * 1024
MAX_FRAME_BYTES = 1024 * 1024 * 1024
_INFO = b"engage sync v1"


class Refused(ValueError):
    """A frame or file that is not applied; ``reason`` is a short code for programs."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


# --- keys ---------------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def raw_public(private_key) -> bytes:
    """The raw 32-byte public half of an X25519 or Ed25519 private key."""
    return private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def raw_private(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def hub_key_id(x25519_public: bytes, ed25519_public: bytes) -> str:
    """A short name for a hub's key pair, carried in every frame sealed for it."""
    return hashlib.sha256(b"engage hub key" + x25519_public + ed25519_public).hexdigest()[:32]


@dataclass(frozen=True)
class HubPublic:
    """What a laptop knows of its hub: where to seal to and whose receipts to trust."""

    x25519: bytes
    ed25519: bytes

    @property
    def key_id(self) -> str:
        return hub_key_id(self.x25519, self.ed25519)

    def to_json(self) -> dict:
        return {"x25519": b64(self.x25519), "ed25519": b64(self.ed25519), "key_id": self.key_id}

    @classmethod
    def from_json(cls, data: dict) -> HubPublic:
        hub = cls(unb64(data["x25519"]), unb64(data["ed25519"]))
        if data.get("key_id") and data["key_id"] != hub.key_id:
            raise Refused("bad-hub-key", "the hub's key id does not match its keys")
        return hub


# --- sealing ------------------------------------------------------------------------


def _aead_key(shared: bytes, epk: bytes, hub_x25519: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=epk + hub_x25519, info=_INFO).derive(
        shared
    )


def canonical(data) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def seal(
    header: dict, payload: bytes, *, hub: HubPublic, device_key: Ed25519PrivateKey,
    compress: int = 1,
) -> bytes:
    """One frame: ``payload`` compressed, encrypted to ``hub``, the whole signed."""
    ephemeral = X25519PrivateKey.generate()
    epk = raw_public(ephemeral)
    key = _aead_key(ephemeral.exchange(X25519PublicKey.from_public_bytes(hub.x25519)), epk,
                    hub.x25519)
    nonce = os.urandom(12)
    header = {**header, "v": VERSION, "hub_key_id": hub.key_id, "epk": b64(epk),
              "nonce": b64(nonce), "zlib": bool(compress)}
    header_bytes = canonical(header)
    if len(header_bytes) > MAX_HEADER_BYTES:
        raise ValueError("header too large")
    body = zlib.compress(payload, compress) if compress else payload
    ciphertext = AESGCM(key).encrypt(nonce, body, MAGIC + header_bytes)
    signed = b"".join(
        (MAGIC, struct.pack(">I", len(header_bytes)), header_bytes,
         struct.pack(">Q", len(ciphertext)), ciphertext)
    )
    return signed + device_key.sign(signed)


def verify_signature(public: bytes, data: bytes, signature: bytes) -> None:
    """Refuse ``data`` unless ``signature`` is the Ed25519 signature of ``public``'s key."""
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, data)
    except (InvalidSignature, ValueError):
        raise Refused("bad-signature", "not signed by the laptop it names") from None


@dataclass
class Frame:
    """A frame read from bytes: its header, checked signature aside, still encrypted."""

    header: dict
    signed: bytes  # everything the signature covers
    ciphertext: bytes
    signature: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.signed + self.signature).hexdigest()

    def verify(self, device_public: bytes) -> None:
        verify_signature(device_public, self.signed, self.signature)

    def open(self, hub_x25519: X25519PrivateKey) -> bytes:
        """The payload; the caller has verified the signature first."""
        try:
            epk = unb64(self.header["epk"])
            nonce = unb64(self.header["nonce"])
            key = _aead_key(
                hub_x25519.exchange(X25519PublicKey.from_public_bytes(epk)), epk,
                raw_public(hub_x25519),
            )
            header_bytes = self.signed[len(MAGIC) + 4 : len(MAGIC) + 4 + self._hlen]
            body = AESGCM(key).decrypt(nonce, self.ciphertext, MAGIC + header_bytes)
        except (InvalidTag, ValueError, KeyError):
            raise Refused("cannot-decrypt", "not sealed with this hub's key") from None
        try:
            return zlib.decompress(body) if self.header.get("zlib") else body
        except zlib.error:
            raise Refused("bad-payload", "the contents cannot be unpacked") from None

    @property
    def _hlen(self) -> int:
        return struct.unpack(">I", self.signed[len(MAGIC) : len(MAGIC) + 4])[0]


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise Refused("truncated", "the data stops part way through")
    return data


def read_frame(stream: BinaryIO) -> Frame | None:
    """The next frame of ``stream``, or None at its clean end."""
    magic = stream.read(len(MAGIC))
    if not magic:
        return None
    if not MAGIC.startswith(magic[: len(MAGIC_PREFIX)]):
        raise Refused("not-sync", "this is not an engage sync file")
    if len(magic) < len(MAGIC):
        raise Refused("truncated", "the data stops part way through")
    if magic[-1] != VERSION:
        raise Refused("version", f"made by a version of engage that writes format {magic[-1]}")
    hlen_bytes = _read_exact(stream, 4)
    (hlen,) = struct.unpack(">I", hlen_bytes)
    if hlen > MAX_HEADER_BYTES:
        raise Refused("bad-header", "the header is too large")
    header_bytes = _read_exact(stream, hlen)
    try:
        header = json.loads(header_bytes)
        if not isinstance(header, dict):
            raise ValueError
    except ValueError:
        raise Refused("bad-header", "the header cannot be read") from None
    clen_bytes = _read_exact(stream, 8)
    (clen,) = struct.unpack(">Q", clen_bytes)
    if clen > MAX_FRAME_BYTES:
        raise Refused("bad-header", "the frame is too large")
    ciphertext = _read_exact(stream, clen)
    signature = _read_exact(stream, SIGNATURE_BYTES)
    signed = magic + hlen_bytes + header_bytes + clen_bytes + ciphertext
    return Frame(header=header, signed=signed, ciphertext=ciphertext, signature=signature)


def read_frames(stream: BinaryIO) -> Iterator[Frame]:
    while True:
        frame = read_frame(stream)
        if frame is None:
            return
        yield frame


def parse_one(data: bytes) -> Frame:
    """Exactly one frame, as the network push sends it."""
    import io

    stream = io.BytesIO(data)
    frame = read_frame(stream)
    if frame is None:
        raise Refused("truncated", "nothing was sent")
    if stream.read(1):
        raise Refused("bad-header", "more than one frame was sent")
    return frame


# --- payloads -----------------------------------------------------------------------


def pack_payload(document: dict, blobs: list[bytes]) -> bytes:
    """A batch's plaintext: its JSON document, then the media files it names."""
    encoded = canonical(document)
    return b"".join([struct.pack(">Q", len(encoded)), encoded, *blobs])


def unpack_payload(data: bytes) -> tuple[dict, memoryview]:
    if len(data) < 8:
        raise Refused("bad-payload", "the contents are cut short")
    (n,) = struct.unpack(">Q", data[:8])
    if 8 + n > len(data):
        raise Refused("bad-payload", "the contents are cut short")
    try:
        document = json.loads(data[8 : 8 + n])
    except ValueError:
        raise Refused("bad-payload", "the contents cannot be read") from None
    return document, memoryview(data)[8 + n :]


# --- receipts -----------------------------------------------------------------------


def sign_receipt(receipt: dict, hub_ed25519: Ed25519PrivateKey) -> bytes:
    """What the hub holds from a device, signed, for a laptop that is never online."""
    body = canonical({**receipt, "kind": "receipt", "v": VERSION})
    return b"ENGRCPT1" + struct.pack(">I", len(body)) + body + hub_ed25519.sign(body)


def open_receipt(data: bytes, hub_ed25519_public: bytes) -> dict:
    if not data.startswith(b"ENGRCPT1") or len(data) < 12 + SIGNATURE_BYTES:
        raise Refused("not-receipt", "this is not an engage receipt")
    (n,) = struct.unpack(">I", data[8:12])
    body, signature = data[12 : 12 + n], data[12 + n :]
    if len(body) != n or len(signature) != SIGNATURE_BYTES:
        raise Refused("truncated", "the receipt is cut short")
    try:
        Ed25519PublicKey.from_public_bytes(hub_ed25519_public).verify(signature, body)
    except InvalidSignature:
        raise Refused("bad-signature", "the receipt was not signed by this laptop's hub") from None
    return json.loads(body)
