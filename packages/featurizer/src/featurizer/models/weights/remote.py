"""Weights fetched once into a local cache: Hugging Face hub snapshots and files, and URLs.

Cached files are used without touching the network. Otherwise, in offline mode or when the host
cannot be reached within :data:`PROBE_TIMEOUT` seconds, a :class:`WeightsError` names the
extractor, the source and the ``--weights NAME=PATH`` flag at once.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlparse

from ...errors import WeightsError
from .hashing import file_sha256
from .local import ResolvedWeights, flag_hint, has_model_file, local_weights

HUB_ENDPOINT = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
PROBE_TIMEOUT = 3.0  # seconds to decide that a host is unreachable


def is_offline() -> bool:
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "FEATURIZER_OFFLINE"))


def torch_hub_dir() -> Path:
    """torch's hub directory as ``torch.hub.get_dir()`` computes it (``$TORCH_HOME/hub``), without
    importing torch."""
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache"), "torch")
    return Path(home).expanduser() / "hub"


def url_cache_path(url: str) -> Path:
    """Where a weights URL is kept once downloaded: ``<torch hub>/checkpoints/<file name>``."""
    return torch_hub_dir() / "checkpoints" / (Path(urlparse(url).path).name or "weights.pth")


def unreachable(url: str) -> bool:
    """True if ``url``'s host cannot be reached within a few seconds (DNS or TCP)."""
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return False  # a proxy decides; the download's own timeout applies
    u = urlparse(url)
    host, port = u.hostname, u.port or (443 if u.scheme == "https" else 80)
    ok: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=PROBE_TIMEOUT).close()
            ok.append(True)
        except OSError:
            pass

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(PROBE_TIMEOUT + 1.0)  # getaddrinfo has no timeout of its own
    return not ok


def _not_available(extractor: str, src: str, why: str) -> WeightsError:
    return WeightsError(f"{extractor} weights {src}",
                        f"not in the local cache and {why}",
                        flag_hint(extractor, "/path/to/local/weights"))


def check_can_download(extractor: str, src: str, url: str) -> None:
    if is_offline():
        raise _not_available(extractor, src, "offline mode is set (HF_HUB_OFFLINE / FEATURIZER_OFFLINE)")
    if unreachable(url):
        raise _not_available(extractor, src, f"{urlparse(url).hostname} cannot be reached (no network?)")


def _download_failed(extractor: str, src: str, e: Exception) -> WeightsError:
    return WeightsError(f"{extractor} weights {src}",
                        f"download failed ({type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''})",
                        flag_hint(extractor))


def _complete(folder: Path | None, needs: Sequence[str]) -> bool:
    return (folder is not None and folder.is_dir() and has_model_file(folder)
            and all((folder / n).exists() for n in needs))


def hub_snapshot(extractor: str, src: str, pattern_sets: Sequence[Sequence[str]],
                 needs: Sequence[str]) -> ResolvedWeights:
    """A hub repo's files matching the first pattern set that yields a weights file."""
    from huggingface_hub import snapshot_download

    def attempt(local_only: bool) -> Path | None:
        for patterns in pattern_sets:
            try:
                folder = Path(snapshot_download(src, allow_patterns=list(patterns),
                                                local_files_only=local_only, etag_timeout=10))
            except Exception as e:  # noqa: BLE001 - hub errors have many types
                if local_only:
                    continue
                if type(e).__name__ in ("RepositoryNotFoundError", "GatedRepoError", "RevisionNotFoundError"):
                    raise WeightsError(f"{extractor} weights {src}", f"hub says: {type(e).__name__}",
                                       flag_hint(extractor)) from None
                raise _download_failed(extractor, src, e) from None
            if _complete(folder, needs):
                return folder
        return None

    folder = attempt(local_only=True)
    if folder is None:
        check_can_download(extractor, src, HUB_ENDPOINT)
        folder = attempt(local_only=False)
    if folder is None:
        raise WeightsError(f"{extractor} weights {src}", "hub repo holds no usable weights file",
                           flag_hint(extractor))
    res = local_weights(extractor, src, folder)
    return ResolvedWeights(extractor, src, res.kind, folder, res.files, res.sha256)


def hub_file(extractor: str, src: str, repo: str, filename: str) -> ResolvedWeights:
    """One file of a hub repo (``org/name/path/file``)."""
    from huggingface_hub import hf_hub_download

    try:
        path = Path(hf_hub_download(repo, filename, local_files_only=True))
    except Exception:  # noqa: BLE001
        check_can_download(extractor, src, HUB_ENDPOINT)
        try:
            path = Path(hf_hub_download(repo, filename, etag_timeout=10))
        except Exception as e:  # noqa: BLE001
            raise _download_failed(extractor, src, e) from None
    return ResolvedWeights(extractor, src, "file", path, (path,), file_sha256(path))


def url_file(extractor: str, url: str) -> ResolvedWeights:
    """A weights file at ``url``, downloaded once into torch's hub cache."""
    target = url_cache_path(url)
    if not target.is_file():
        check_can_download(extractor, url, url)
        import torch

        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            torch.hub.download_url_to_file(url, str(target), progress=False)
        except Exception as e:  # noqa: BLE001
            raise _download_failed(extractor, url, e) from None
    return ResolvedWeights(extractor, url, "file", target, (target,), file_sha256(target))
