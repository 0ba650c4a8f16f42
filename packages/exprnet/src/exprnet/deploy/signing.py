"""Who made a bundle: an Ed25519 signature over its manifest, in ``bundle.sig``.

``bundle.json`` holds the sha256 of every other file of the bundle, so a signature over its exact
bytes covers the whole bundle. Without one, the manifest proves integrity against accident only:
anyone who edits a bundle can recompute every sha256 and the id. ``exprnet bundle --sign KEY``
signs; ``exprnet infer --trusted-keys FILE`` (and ``serve``, ``Bundle.load(trusted_keys=...)``)
loads only a bundle signed by one of FILE's keys, its manifest unchanged since.

Keys are standard files (cryptography reads them): a private key in PEM (PKCS#8, ``openssl
genpkey -algorithm ed25519``) or OpenSSH format (``ssh-keygen -t ed25519``), encrypted ones with
the passphrase in ``EXPRNET_KEY_PASSPHRASE`` (an encrypted OpenSSH key also needs ``bcrypt``);
trusted public keys as OpenSSH lines
(``ssh-ed25519 AAAA... comment``, as ``.pub`` files and authorized_keys hold them) or PEM blocks,
several to a file. A key is named by its fingerprint as ``ssh-keygen -l`` prints it
(``SHA256:...``). ``exprnet keygen`` makes a pair.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BundleError, ConfigError
from .contents import SIGNATURE

FORMAT = "exprnet-bundle-signature"
DOMAIN = b"exprnet bundle signature v1\n"  # signed before the manifest: a signature means nothing else
PASSPHRASE = "EXPRNET_KEY_PASSPHRASE"
_PEM = re.compile(rb"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----", re.S)


@dataclass(frozen=True)
class TrustedKey:
    key: Any  # cryptography's Ed25519PublicKey
    fingerprint: str
    source: str  # file:line


def fingerprint(public_key: Any) -> str:
    """``SHA256:<base64>`` of the key's OpenSSH blob, as ``ssh-keygen -l`` prints it."""
    from cryptography.hazmat.primitives import serialization

    line = public_key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    blob = base64.b64decode(line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _ed25519(key: Any, subject: str, what: str) -> Any:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    if not isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        name = type(key).__name__
        kind = next((k for k in ("Ed448", "EllipticCurve", "RSA", "DSA") if name.startswith(k)), name)
        kind = {"EllipticCurve": "ECDSA", "DSA": "old DSA"}.get(kind, kind)
        raise ConfigError(subject, f"is an {kind} {what}, not Ed25519: bundles are signed with Ed25519 keys",
                          "make one with `exprnet keygen KEY` or `ssh-keygen -t ed25519`")
    return key


def load_private_key(path: str | Path) -> Any:
    """The Ed25519 private key in ``path`` (PEM or OpenSSH; ``EXPRNET_KEY_PASSPHRASE`` opens an
    encrypted one)."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    p = Path(path)
    if not p.is_file():
        raise ConfigError(str(p), "no such key file", "make a key pair with `exprnet keygen KEY`")
    data = p.read_bytes()
    if data.lstrip().startswith(b"ssh-") or b"PUBLIC KEY-----" in data:
        raise ConfigError(str(p), "is a public key; signing takes the private one",
                          "pass the private key file: KEY, not KEY.pub")
    secret = os.environ.get(PASSPHRASE)
    password = secret.encode() if secret else None
    load = serialization.load_ssh_private_key if b"OPENSSH PRIVATE KEY" in data else \
        serialization.load_pem_private_key
    try:
        key = load(data, password)
    except TypeError as e:  # encrypted without a passphrase, or a passphrase for a plain key
        raise ConfigError(str(p), f"cannot be opened ({e})", f"set {PASSPHRASE} to its passphrase") from None
    except UnsupportedAlgorithm as e:
        if "bcrypt" in str(e):  # an encrypted OpenSSH key: its key derivation is bcrypt's
            raise ConfigError(str(p), "is an encrypted OpenSSH key, which needs the bcrypt package",
                              "pip install bcrypt, or use an encrypted PEM key (openssl genpkey -aes256)") from None
        raise ConfigError(str(p), f"is not a key exprnet reads ({str(e).split('. ')[0]})",
                          "pass a private key file made by `exprnet keygen` or `ssh-keygen -t ed25519`") from None
    except ValueError as e:
        raise ConfigError(str(p), f"is not a PEM or OpenSSH private key ({str(e).split('. ')[0]})",
                          "pass a private key file made by `exprnet keygen` or `ssh-keygen -t ed25519`") from None
    return _ed25519(key, str(p), "private key")


def load_trusted_keys(path: str | Path) -> list[TrustedKey]:
    """Every public key in ``path``: OpenSSH lines and PEM blocks; ``#`` comments and blank lines
    are skipped; anything else is an error naming its line."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    p = Path(path)
    if not p.is_file():
        raise ConfigError(str(p), "no such trusted-keys file", "list the signers' public keys in it (.pub lines)")
    data = p.read_bytes()
    keys: list[TrustedKey] = []
    for m in _PEM.finditer(data):
        line = data[:m.start()].count(b"\n") + 1
        try:
            key = serialization.load_pem_public_key(m.group(0))
        except (ValueError, UnsupportedAlgorithm) as e:
            raise ConfigError(f"{p}:{line}", f"is not a PEM public key ({str(e).split('. ')[0]})") from None
        keys.append(TrustedKey(_ed25519(key, f"{p}:{line}", "public key"), fingerprint(key), f"{p}:{line}"))
    rest = _PEM.sub(lambda m: b"\n" * m.group(0).count(b"\n"), data)
    for line, text in enumerate(rest.split(b"\n"), start=1):
        text = text.strip()
        if not text or text.startswith(b"#"):
            continue
        try:
            key = serialization.load_ssh_public_key(b" ".join(text.split()[:2]))
        except (ValueError, IndexError, UnsupportedAlgorithm) as e:
            raise ConfigError(f"{p}:{line}", f"is not an OpenSSH public key line ({str(e).split('. ')[0]})",
                              "one key per line, as in a .pub file: ssh-ed25519 AAAA... comment") from None
        keys.append(TrustedKey(_ed25519(key, f"{p}:{line}", "public key"), fingerprint(key), f"{p}:{line}"))
    if not keys:
        raise ConfigError(str(p), "holds no public key", "add the signers' .pub lines to it")
    return keys


def public_of(private_key: Any) -> TrustedKey:
    pub = private_key.public_key()
    return TrustedKey(pub, fingerprint(pub), "the signing key")


def signature_file(manifest: bytes, private_key: Any) -> bytes:
    """``bundle.sig`` for these exact manifest bytes."""
    sig = private_key.sign(DOMAIN + manifest)
    doc = {"format": FORMAT, "format_version": 1, "algorithm": "ed25519",
           "key": fingerprint(private_key.public_key()), "manifest_sha256": hashlib.sha256(manifest).hexdigest(),
           "signature": base64.b64encode(sig).decode()}
    return (json.dumps(doc, indent=2) + "\n").encode()


def verify(root: Path, manifest: bytes, signature: bytes | None, trusted: Sequence[TrustedKey]) -> TrustedKey:
    """The trusted key that signed these manifest bytes; else a one-line BundleError: signature
    absent, malformed, made by another key, or the manifest changed after signing."""
    from cryptography.exceptions import InvalidSignature

    sp = str(root / SIGNATURE)
    known = ", ".join(sorted({k.fingerprint for k in trusted}))
    if signature is None:
        raise BundleError(sp, f"is missing: the bundle is not signed, and only bundles signed by a trusted key "
                          f"({known}) are loaded", "ask its author for a bundle made with `exprnet bundle --sign KEY`")
    try:
        sig, signer, signed_sha = _parse(signature)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise BundleError(sp, f"is not a readable signature ({type(e).__name__}: {e})",
                          "get the bundle again from its author") from None
    for k in trusted:
        try:
            k.key.verify(sig, DOMAIN + manifest)
            return k
        except InvalidSignature:
            continue
    if signer not in {k.fingerprint for k in trusted}:
        raise BundleError(sp, f"was made by key {signer}, which is not a trusted key ({known})",
                          "add the author's public key to --trusted-keys if you trust them, or do not use this bundle")
    if signed_sha != hashlib.sha256(manifest).hexdigest():
        raise BundleError(sp, f"does not match bundle.json: the manifest changed after {signer} signed it",
                          "get the bundle again from its author, or have them sign it again")
    raise BundleError(sp, f"is not a valid signature of bundle.json by {signer} (the signature was altered)",
                      "get the bundle again from its author")


def _parse(signature: bytes) -> tuple[bytes, str, str]:
    """(signature, signer's fingerprint, manifest sha256 it records) of a ``bundle.sig``."""
    doc = json.loads(signature)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("algorithm") != "ed25519":
        raise ValueError(f"not an {FORMAT} with algorithm ed25519")
    sig = base64.b64decode(doc["signature"], validate=True)
    if len(sig) != 64:
        raise ValueError(f"a {len(sig)}-byte signature; Ed25519's are 64")
    return sig, str(doc["key"]), str(doc.get("manifest_sha256", ""))


def generate_key(out: str | Path, comment: str = "exprnet") -> tuple[Path, Path]:
    """A new Ed25519 pair: ``out`` (private, PEM PKCS#8, readable by its owner only) and
    ``out.pub`` (one OpenSSH line, for the trusted-keys files of those who load the bundles)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    priv, pub = Path(out), Path(f"{out}.pub")
    for p in (priv, pub):
        if p.exists():
            raise ConfigError(str(p), "exists already", "choose another name; a key is never overwritten")
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    priv.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(priv, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    line = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    pub.write_bytes(line + f" {comment}\n".encode())
    return priv, pub
