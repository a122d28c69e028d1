"""Field encryption with a key ring (AES-256-GCM) and keyed hashes for tokens and blind indexes.

Ciphertexts are ``<key id>:<base64(nonce || ciphertext+tag)>``. The last key of the ring encrypts;
every key decrypts, so adding a key rotates without re-encrypting old rows. The key id and the
caller's ``context`` (e.g. the org id) are authenticated as associated data, so a ciphertext copied
to another row or org fails to decrypt instead of leaking a secret there.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class KeyRingError(ValueError):
    pass


class KeyRing:
    def __init__(self, keys: dict[str, bytes], active_key_id: str) -> None:
        if active_key_id not in keys:
            raise KeyRingError(f"active key id {active_key_id!r} is not in the key ring")
        for kid, key in keys.items():
            if len(key) != 32:
                raise KeyRingError(f"key {kid!r} must be 32 bytes (AES-256), got {len(key)}")
            if not kid or ":" in kid:
                raise KeyRingError(f"key id {kid!r} must be non-empty and contain no ':'")
        self._keys = {kid: AESGCM(key) for kid, key in keys.items()}
        self.active_key_id = active_key_id

    @classmethod
    def parse(cls, spec: str) -> KeyRing:
        """``"k1:<base64 32 bytes>,k2:<base64 32 bytes>"``; the last entry is the active key."""
        keys: dict[str, bytes] = {}
        last = ""
        for item in (part.strip() for part in spec.split(",")):
            if not item:
                continue
            kid, sep, b64 = item.partition(":")
            if not sep:
                raise KeyRingError("each encryption key is written 'key_id:base64key'")
            try:
                keys[kid] = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
            except ValueError as exc:
                raise KeyRingError(f"key {kid!r} is not valid base64") from exc
            last = kid
        if not keys:
            raise KeyRingError("the encryption key ring is empty")
        return cls(keys, last)

    def encrypt(self, plaintext: str, *, context: str) -> str:
        nonce = os.urandom(12)
        aad = f"{self.active_key_id}|{context}".encode()
        sealed = self._keys[self.active_key_id].encrypt(nonce, plaintext.encode(), aad)
        return f"{self.active_key_id}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str, *, context: str) -> str:
        kid, _, b64 = token.partition(":")
        aead = self._keys.get(kid)
        if aead is None:
            raise KeyRingError(f"no key {kid!r} in the key ring to decrypt this value")
        raw = base64.b64decode(b64)
        try:
            return aead.decrypt(raw[:12], raw[12:], f"{kid}|{context}".encode()).decode()
        except InvalidTag as exc:
            raise KeyRingError("the value was tampered with or belongs elsewhere") from exc

    @staticmethod
    def key_id_of(token: str) -> str:
        return token.partition(":")[0]


def keyed_hash(secret: str, value: str, *, purpose: str) -> str:
    """HMAC-SHA256 of ``value`` under a per-purpose key derived from the app secret."""
    key = hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).digest()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
