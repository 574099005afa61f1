"""Batch inputs and outputs named by URIs (``s3://``, ``gs://``, ``abfs://``, ``file://`` ...) via pyarrow.fs.

``translate run --engine ray`` reads and writes these, the way Ray Data itself does: through
Apache Arrow's filesystem layer (``pyarrow.fs.FileSystem.from_uri``: S3, GCS, Azure, HDFS and
local files), with fsspec as the fallback for other schemes when it is installed. pyarrow
comes with the ``ray`` extra; nothing here is imported by the local engine.

The rules match :func:`translate.batch.discover_inputs` for local paths: a folder prefix gives
every non-hidden file below it (all levels with ``recursive``), a glob (``*``, ``?``, ``[...]``,
``**`` with ``recursive``) is matched below its fixed leading part, and ``rel`` (the part kept
under the output location) starts there. Plain local paths never come here.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from translate.atomic import atomic_write_bytes
from translate.errors import ConfigError

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_GLOB_CHARS = set("*?[")


def is_uri(location: str) -> bool:
    """True for ``scheme://...`` (object stores, ``file://``); False for plain paths, Windows ones included."""
    return bool(_SCHEME.match(str(location)))


def join(base: str, rel: str) -> str:
    """``base`` + ``/`` + ``rel`` (POSIX), keeping whatever scheme and host ``base`` has."""
    return base.rstrip("/") + "/" + rel


def filesystem(uri: str):
    """``(pyarrow FileSystem, path inside it)`` for ``uri``; ConfigError when no filesystem knows the scheme."""
    import urllib.parse

    import pyarrow.fs as pafs

    try:  # keys may hold spaces and the like: quote them for the URI parser, unquote the path (as Ray does)
        fs, path = pafs.FileSystem.from_uri(urllib.parse.quote(uri, safe="/:"))
        return fs, urllib.parse.unquote(path)
    except Exception as arrow_exc:  # pyarrow.lib.ArrowInvalid for unknown schemes; fsspec may know it
        try:
            import fsspec.core

            fs, path = fsspec.core.url_to_fs(uri)
        except Exception:
            raise ConfigError(f"cannot open {uri!r}: {arrow_exc}; pyarrow knows s3://, gs://, abfs://, hdfs:// "
                              "and file://, and fsspec (with its plugin for the scheme) knows more") from None
        return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), path


def _split_glob(uri: str) -> tuple[str, str]:
    """``s3://b/photos/*.jpg`` -> (``s3://b/photos``, ``*.jpg``): the fixed leading folders and the pattern."""
    scheme_end = _SCHEME.match(uri).end()
    parts = uri[scheme_end:].split("/")
    for i, part in enumerate(parts):
        if _GLOB_CHARS & set(part):
            return uri[:scheme_end] + "/".join(parts[:i]), "/".join(parts[i:])
    return uri, ""


def glob_regex(pattern: str, recursive: bool) -> re.Pattern:
    """A regex for a POSIX glob matched against a whole relative path, with :mod:`glob`'s rules.

    ``*`` and ``?`` stay inside one path component, ``[...]`` is a character class (``[!...]``
    negates), and with ``recursive`` a ``**`` component matches any number of folders.
    """
    out, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            j = i
            while j < n and pattern[j] == "*":
                j += 1
            whole_part = (i == 0 or pattern[i - 1] == "/") and (j == n or pattern[j] == "/")
            if recursive and j - i >= 2 and whole_part:
                if j < n:  # '**/' : zero or more folders
                    out.append("(?:[^/]+/)*")
                    j += 1
                else:  # trailing '**': everything below
                    out.append(".*")
            else:
                out.append("[^/]*")
            i = j
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            j = i + 1
            if j < n and pattern[j] == "!":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            j = pattern.find("]", j)
            if j < 0:  # no closing bracket: a literal '['
                out.append(re.escape(c))
                i += 1
                continue
            body = pattern[i + 1:j].replace("\\", "\\\\")
            out.append("[^" + body[1:] + "]" if body.startswith("!") else "[" + body + "]")
            i = j + 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out) + r"\Z")


def discover(spec: str, *, recursive: bool = False, exclude: str | None = None) -> list[tuple[str, PurePosixPath]]:
    """Every input file named by the URI ``spec`` (a file, a folder prefix or a glob) as sorted ``(uri, rel)``.

    Hidden files (any path part starting with ``.``) are skipped, and so is everything under
    ``exclude`` (the output location). ConfigError when nothing matches.
    """
    import pyarrow.fs as pafs

    base, pattern = _split_glob(spec.rstrip("/") if not _GLOB_CHARS & set(spec) else spec)
    fs, root = filesystem(base)
    excluded = None
    if exclude is not None and is_uri(exclude):
        ex_fs, ex_path = filesystem(exclude)
        if ex_fs.type_name == fs.type_name:
            excluded = ex_path.rstrip("/") + "/"
    if not pattern:
        info = fs.get_file_info(root)
        if info.type == pafs.FileType.File:
            return [(spec, PurePosixPath(PurePosixPath(root).name))]
        if info.type != pafs.FileType.Directory:
            raise ConfigError(f"input {spec!r} does not exist; give a file, a folder or a quoted glob "
                              "like 's3://bucket/photos/*.jpg'")
    deep = recursive or "/" in pattern
    regex = glob_regex(pattern, recursive) if pattern else None
    found = []
    for info in fs.get_file_info(pafs.FileSelector(root, recursive=deep, allow_not_found=True)):
        if info.type != pafs.FileType.File:
            continue
        rel = info.path[len(root.rstrip("/")) + 1:]
        if any(part.startswith(".") for part in rel.split("/")):
            continue
        if excluded is not None and (info.path + "/").startswith(excluded):
            continue
        if regex is not None and not regex.match(rel):
            continue
        found.append((join(base, rel), PurePosixPath(rel)))
    if not found:
        hint = "" if recursive or pattern else " (add --recursive to search sub-folders)"
        raise ConfigError(f"no input files found in {spec!r}{hint}")
    found.sort(key=lambda pair: pair[1].as_posix())
    return found


def existing_files(base: str) -> set[str]:
    """Relative POSIX paths of every file below the URI ``base`` (empty when it does not exist): one listing."""
    import pyarrow.fs as pafs

    fs, root = filesystem(base)
    info = fs.get_file_info(root)
    if info.type == pafs.FileType.File:
        raise ConfigError(f"output {base} exists and is not a folder; -o takes a folder")
    if info.type != pafs.FileType.Directory:
        return set()
    prefix = len(root.rstrip("/")) + 1
    return {i.path[prefix:] for i in fs.get_file_info(pafs.FileSelector(root, recursive=True))
            if i.type == pafs.FileType.File}


def read_bytes(uri: str) -> bytes:
    """The whole object or file at ``uri``."""
    fs, path = filesystem(uri)
    with fs.open_input_stream(path) as f:
        return f.read()


def write_bytes(uri: str, data: bytes) -> None:
    """Store ``data`` at ``uri`` so that no reader ever sees a partial file.

    Local files (``file://``) go through :func:`translate.atomic.atomic_write_bytes` (temp file,
    fsync, rename); object stores publish an object only when its upload completes, so the
    bytes are written in one stream and closed.
    """
    fs, path = filesystem(uri)
    if fs.type_name == "local":
        atomic_write_bytes(path, lambda fh: fh.write(data))
        return
    parent = path.rsplit("/", 1)[0]
    if parent:
        fs.create_dir(parent, recursive=True)  # a no-op on object stores, needed on HDFS and the like
    stream = fs.open_output_stream(path)
    stream.write(data)  # the object appears on close; a failed write never reaches close, so nothing appears
    stream.close()
