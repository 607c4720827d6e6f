"""The audit signing key on disk: where it is read from, and the public half operators keep.

Checkpoints are signed with an Ed25519 key kept outside the database: ``CDHT_AUDIT_SIGNING_KEY_FILE`` (a secret
mounted read-only in production), or in dev and test one generated into ``data_dir`` on first use. The key id is
the first 16 hex digits of SHA-256 over the raw 32-byte public key.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from service.config import ConfigurationError, Settings

KEY_FILE_NAME = "audit-signing-key.pem"


def _dev_key_path(settings: Settings) -> Path:
    return settings.data_dir / KEY_FILE_NAME


def _generate_dev_key(path: Path) -> None:
    """Write a new key to ``path`` (0600) unless one is there; atomic, so two processes agree on one key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
        try:
            os.link(temporary, path)  # fails if another process got there first; its key wins
        except FileExistsError:
            pass
    finally:
        temporary.unlink(missing_ok=True)


def signing_key(settings: Settings) -> Ed25519PrivateKey:
    """The checkpoint signing key: CDHT_AUDIT_SIGNING_KEY_FILE, or in dev and test one generated into data_dir."""
    path = settings.audit_signing_key_file
    if path is None:
        if settings.is_production:
            raise ConfigurationError("production needs CDHT_AUDIT_SIGNING_KEY_FILE")
        path = _dev_key_path(settings)
        if not path.exists():
            _generate_dev_key(path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigurationError(f"cannot read the audit signing key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigurationError(f"the audit signing key {path} is not an Ed25519 private key")
    return key


def public_key_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    """First 16 hex digits of SHA-256 over the raw 32-byte public key."""
    return hashlib.sha256(public_key_bytes(key)).hexdigest()[:16]


def public_key_pem(settings: Settings) -> str:
    """The public half of the signing key (SubjectPublicKeyInfo PEM), for operators to keep outside the database."""
    return (
        signing_key(settings)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key
