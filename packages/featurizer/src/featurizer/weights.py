"""Where an extractor's weights come from, what they hash to, and how they load strictly.

A weights SOURCE (``featurizer extract --weights NAME=SOURCE``) is one of:

- a local state-dict file: ``.pt``, ``.pth``, ``.bin``, ``.ckpt`` or ``.safetensors``;
- a local folder: a Hugging Face model folder (``config.json`` + weights), a timm hub-style folder
  (``config.json`` with ``architecture`` + ``model.safetensors``), a speechbrain folder
  (``hyperparams.yaml`` + ``*.ckpt``), or a folder holding exactly one state-dict file;
- a Hugging Face hub id ``org/name`` (downloaded once into the hub cache), or one file in a hub
  repo ``org/name/path/file.pth``;
- an ``http(s)://`` URL of a state-dict file (downloaded once into torch's hub cache);
- ``random``: the architecture with random weights (benchmarks only; nothing is loaded).

Nothing here touches the network when the weights are local or cached. Otherwise, with
``HF_HUB_OFFLINE=1`` (or ``FEATURIZER_OFFLINE=1``) or an unreachable host, resolution fails at
once with a :class:`~featurizer.errors.WeightsError` naming the extractor, the source tried and
the ``--weights NAME=PATH`` flag.

The sha256 recorded in provenance is the file's own sha256 for a single file, and for a folder the
sha256 of a manifest listing ``<sha256>  <file name>`` for every file used, sorted by name.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from .errors import WeightsError

STATE_DICT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".ckpt")
RANDOM = "random"
HUB_ENDPOINT = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
PROBE_TIMEOUT = 3.0  # seconds to decide that a host is unreachable
# Wrapper keys under which training scripts save the model's state dict.
CONTAINER_KEYS = ("state_dict", "model_state_dict", "backbone_state_dict", "model", "net",
                  "params", "module", "ema", "model_ema")
# Wrapper prefixes stripped from every key (DataParallel/DDP, backbone-and-head trainers).
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
BACKBONE_PREFIXES = ("backbone.", "encoder.", "model.")

Kind = Literal["file", "hf_folder", "speechbrain", "random"]


@dataclass(frozen=True)
class ResolvedWeights:
    """A weights source made local: what it is, the files it consists of, and their hash."""

    extractor: str
    source: str  # as given by the user, or the default
    kind: Kind
    path: Path | None  # the file or folder (None for ``random``)
    files: tuple[Path, ...] = ()
    sha256: str | None = None

    @property
    def weights_id(self) -> str:
        return self.source

    def file(self, *names: str) -> Path | None:
        """The first of ``names`` present in the folder (or the file itself)."""
        if self.path is None:
            return None
        if self.path.is_file():
            return self.path
        for n in names:
            if (self.path / n).is_file():
                return self.path / n
        return None


def flag_hint(extractor: str, example: str = "PATH") -> str:
    return f"pass local weights with --weights {extractor}={example}"


def is_offline() -> bool:
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "FEATURIZER_OFFLINE"))


# -- hashing --------------------------------------------------------------------------------------
_HASHES: dict[tuple[str, int, int], str] = {}
_HASH_LOCK = threading.Lock()


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes (memoised per path, size and mtime for this process)."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    with _HASH_LOCK:
        if key in _HASHES:
            return _HASHES[key]
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    digest = h.hexdigest()
    with _HASH_LOCK:
        _HASHES[key] = digest
    return digest


def files_sha256(files: Sequence[Path]) -> str | None:
    """One file: its sha256. Several: sha256 of the sorted ``<sha256>  <name>`` manifest."""
    if not files:
        return None
    if len(files) == 1:
        return file_sha256(files[0])
    lines = [f"{file_sha256(f)}  {f.name}" for f in sorted(files, key=lambda f: f.name)]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


# -- resolution -----------------------------------------------------------------------------------
def _looks_local(src: str) -> bool:
    """A path the user meant as local (so a miss is "not found", not a hub lookup)."""
    if src.startswith(("/", ".", "~")) or "\\" in src or os.path.isabs(src):
        return True
    return src.count("/") <= 1 and src.lower().endswith(STATE_DICT_SUFFIXES)


def _folder_kind(folder: Path) -> Kind:
    if (folder / "hyperparams.yaml").is_file():
        return "speechbrain"
    if (folder / "config.json").is_file():
        return "hf_folder"
    return "file"


def _folder_files(folder: Path, kind: Kind) -> list[Path]:
    """The files of a folder that define the model (configs and weights), top level only."""
    keep = (".json", ".yaml", ".yml", ".txt") + STATE_DICT_SUFFIXES
    return sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in keep
                  and not f.name.startswith(".") and f.name.lower() != "readme.md")


def _single_state_dict(folder: Path, extractor: str, source: str) -> Path:
    found = sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in STATE_DICT_SUFFIXES)
    if len(found) != 1:
        what = "no" if not found else f"{len(found)}"
        raise WeightsError(
            f"{extractor} weights {source}",
            f"folder has {what} state-dict files and no config.json or hyperparams.yaml",
            f"pass the file itself: --weights {extractor}={folder}/<file>.pth")
    return found[0]


def local_weights(extractor: str, source: str, path: Path) -> ResolvedWeights:
    if path.is_file():
        if path.stat().st_size == 0:
            raise WeightsError(f"{extractor} weights {source}", "file is empty", flag_hint(extractor))
        return ResolvedWeights(extractor, source, "file", path, (path,), file_sha256(path))
    kind = _folder_kind(path)
    if kind == "file":
        f = _single_state_dict(path, extractor, source)
        return ResolvedWeights(extractor, source, "file", f, (f,), file_sha256(f))
    files = _folder_files(path, kind)
    return ResolvedWeights(extractor, source, kind, path, tuple(files), files_sha256(files))


def resolve(
    extractor: str,
    source: str | None,
    default: str | None,
    *,
    hub_patterns: Sequence[Sequence[str]] = (("*.json", "*.safetensors"), ("*.json", "*.bin")),
    needs: Sequence[str] = (),
    where: str | None = None,
) -> ResolvedWeights:
    """Make ``source`` (or ``default``) local, downloading it if needed and possible.

    ``hub_patterns``: alternative allow-pattern sets for a hub snapshot, tried in order until one
    yields a state-dict file. ``needs``: files a hub folder must contain. ``where``: a hint for
    sources that have no public download.
    """
    src = (source or default or "").strip()
    if not src:
        raise WeightsError(extractor, "no weights given, and this extractor has no public download",
                           (where + "; " if where else "") + flag_hint(extractor))
    if src.lower() == RANDOM:
        return ResolvedWeights(extractor, RANDOM, "random", None)
    path = Path(src).expanduser()
    if path.exists():
        return local_weights(extractor, src, path)
    if _looks_local(src):
        raise WeightsError(f"{extractor} weights {src}", "no such file or folder", flag_hint(extractor))
    if src.startswith(("http://", "https://")):
        return _url_weights(extractor, src)
    parts = src.split("/")
    if len(parts) < 2 or not all(parts):
        raise WeightsError(f"{extractor} weights {src}",
                           "not a local path, URL or hub id (org/name)", flag_hint(extractor))
    if len(parts) > 2:
        return _hub_file(extractor, src, "/".join(parts[:2]), "/".join(parts[2:]))
    return _hub_snapshot(extractor, src, hub_patterns, needs)


def _unreachable(url: str) -> bool:
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


def _check_can_download(extractor: str, src: str, url: str) -> None:
    if is_offline():
        raise _not_available(extractor, src, "offline mode is set (HF_HUB_OFFLINE / FEATURIZER_OFFLINE)")
    if _unreachable(url):
        raise _not_available(extractor, src, f"{urlparse(url).hostname} cannot be reached (no network?)")


def _has_state_dict(folder: Path) -> bool:
    return any(f.suffix.lower() in STATE_DICT_SUFFIXES for f in folder.iterdir() if f.is_file())


def _complete(folder: Path | None, needs: Sequence[str]) -> bool:
    return (folder is not None and folder.is_dir() and _has_state_dict(folder)
            and all((folder / n).exists() for n in needs))


def _hub_snapshot(extractor: str, src: str, pattern_sets: Sequence[Sequence[str]],
                  needs: Sequence[str]) -> ResolvedWeights:
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
                raise WeightsError(f"{extractor} weights {src}",
                                   f"download failed ({type(e).__name__}: {str(e).splitlines()[0][:200]})",
                                   flag_hint(extractor)) from None
            if _complete(folder, needs):
                return folder
        return None

    folder = attempt(local_only=True)
    if folder is None:
        _check_can_download(extractor, src, HUB_ENDPOINT)
        folder = attempt(local_only=False)
    if folder is None:
        raise WeightsError(f"{extractor} weights {src}", "hub repo holds no usable weights file",
                           flag_hint(extractor))
    res = local_weights(extractor, src, folder)
    return ResolvedWeights(extractor, src, res.kind, folder, res.files, res.sha256)


def _hub_file(extractor: str, src: str, repo: str, filename: str) -> ResolvedWeights:
    from huggingface_hub import hf_hub_download

    try:
        path = Path(hf_hub_download(repo, filename, local_files_only=True))
    except Exception:  # noqa: BLE001
        _check_can_download(extractor, src, HUB_ENDPOINT)
        try:
            path = Path(hf_hub_download(repo, filename, etag_timeout=10))
        except Exception as e:  # noqa: BLE001
            raise WeightsError(f"{extractor} weights {src}",
                               f"download failed ({type(e).__name__}: {str(e).splitlines()[0][:200]})",
                               flag_hint(extractor)) from None
    return ResolvedWeights(extractor, src, "file", path, (path,), file_sha256(path))


def _url_weights(extractor: str, url: str) -> ResolvedWeights:
    import torch

    name = Path(urlparse(url).path).name or "weights.pth"
    target = Path(torch.hub.get_dir()) / "checkpoints" / name
    if not target.is_file():
        _check_can_download(extractor, url, url)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            torch.hub.download_url_to_file(url, str(target), progress=False)
        except Exception as e:  # noqa: BLE001
            raise WeightsError(f"{extractor} weights {url}", f"download failed ({type(e).__name__}: {e})",
                               flag_hint(extractor)) from None
    return ResolvedWeights(extractor, url, "file", target, (target,), file_sha256(target))


# -- state dicts ----------------------------------------------------------------------------------
def load_state_dict_file(path: str | os.PathLike, extractor: str = "weights") -> dict[str, Any]:
    """Tensors of a ``.safetensors`` or torch-pickle file (``weights_only``), unwrapped."""
    import torch

    p = Path(path)
    try:
        if p.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            sd: Any = load_file(str(p))
        else:
            sd = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001
        raise WeightsError(f"{extractor} weights {p}", f"cannot read state dict ({type(e).__name__}: "
                           f"{str(e).splitlines()[0][:200]})",
                           "save it with torch.save(model.state_dict()) or safetensors") from None
    return unwrap_state_dict(sd, extractor, p)


def _is_tensor_map(obj: Any) -> bool:
    import torch

    return isinstance(obj, Mapping) and bool(obj) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def unwrap_state_dict(obj: Any, extractor: str = "weights", path: Path | None = None) -> dict[str, Any]:
    """A checkpoint's state dict: itself, or the tensor map under a training-script wrapper key."""
    import torch

    if hasattr(obj, "state_dict") and callable(obj.state_dict) and not isinstance(obj, Mapping):
        obj = obj.state_dict()
    if _is_tensor_map(obj):
        return dict(obj)
    if isinstance(obj, Mapping):
        for k in CONTAINER_KEYS:
            if k in obj and _is_tensor_map(obj[k]):
                return dict(obj[k])
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if tensors:
            return tensors
    raise WeightsError(f"{extractor} weights {path or ''}".strip(), "holds no state dict (a map of "
                       "parameter names to tensors)", "save it with torch.save(model.state_dict())")


@dataclass
class LoadReport:
    stripped: list[str] = field(default_factory=list)  # prefixes removed
    dropped: list[str] = field(default_factory=list)  # extra keys of heads the model does not have


def _strip(sd: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in sd.items()}


def _top(key: str) -> str:
    return key.split(".", 1)[0]


def match_state_dict(model_keys: Iterable[str], sd: dict[str, Any]) -> tuple[dict[str, Any], LoadReport]:
    """Strip wrapper prefixes (``module.``, ``backbone.``...) and drop heads the model lacks.

    Prefixes go when every key carries them (``module.``) or when only the keys under them match
    the model (``backbone.`` + a head). Keys whose top-level module the model does not have at all
    (a classifier, an AU head, a margin loss) are dropped and reported; everything else is left
    for :func:`check_state_dict` to judge.
    """
    want = set(model_keys)
    rep = LoadReport()
    for p in WRAPPER_PREFIXES:
        if sd and all(k.startswith(p) for k in sd):
            sd = _strip(sd, p)
            rep.stripped.append(p)
    if not (want & set(sd)):
        for p in BACKBONE_PREFIXES:
            sub = {k[len(p):]: v for k, v in sd.items() if k.startswith(p)}
            if sub and (want & set(sub)):
                rep.stripped.append(p)
                rep.dropped += sorted(k for k in sd if not k.startswith(p))
                sd = sub
                break
    tops = {_top(k) for k in want}
    extra = [k for k in sd if k not in want and _top(k) not in tops]
    if extra and (want & set(sd)):
        rep.dropped += sorted(extra)
        sd = {k: v for k, v in sd.items() if k not in set(extra)}
    return sd, rep


def check_state_dict(model_sd: Mapping[str, Any], sd: Mapping[str, Any], extractor: str,
                     source: str, arch: str) -> None:
    """Raise a WeightsError listing missing, unexpected and wrongly shaped keys, if any."""
    missing = [k for k in model_sd if k not in sd and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in sd if k not in model_sd]
    shapes = [f"{k} {tuple(sd[k].shape)} vs {tuple(model_sd[k].shape)}" for k in model_sd
              if k in sd and hasattr(sd[k], "shape") and tuple(sd[k].shape) != tuple(model_sd[k].shape)]
    if not (missing or unexpected or shapes):
        return

    def some(keys: list[str]) -> str:
        return ", ".join(keys[:8]) + (f", ... (+{len(keys) - 8})" if len(keys) > 8 else "")

    parts = []
    if missing:
        parts.append(f"{len(missing)} missing: {some(missing)}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected: {some(unexpected)}")
    if shapes:
        parts.append(f"{len(shapes)} with another shape (checkpoint vs model): {some(shapes)}")
    raise WeightsError(f"{extractor} weights {source}",
                       f"state dict does not match {arch} ({'; '.join(parts)})",
                       f"pass a checkpoint of this architecture with --weights {extractor}=PATH")


def load_into(model: Any, sd: dict[str, Any], extractor: str, source: str, arch: str) -> LoadReport:
    """Load ``sd`` into ``model`` strictly after prefix and head handling."""
    model_sd = model.state_dict()
    sd, rep = match_state_dict(model_sd.keys(), sd)
    check_state_dict(model_sd, sd, extractor, source, arch)
    model.load_state_dict(sd, strict=False)  # only num_batches_tracked may be absent here
    return rep


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise WeightsError(path, f"cannot read ({e})") from None
