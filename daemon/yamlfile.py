"""Safe YAML loading that remembers where every key and value stood.

Why not ``yaml.safe_load``: validation errors must name line and column, and a
pin file is edited under stress, so the loader also refuses what makes YAML
dangerous or surprising: files over 1 MiB, anchors and aliases (alias bombs),
explicit tags, duplicate keys. The result is plain Python data (dict, list, str,
int, float, bool, None, datetime) plus a map from each path to its position.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

from daemon.errors import SpecError, SpecIssue

MAX_BYTES = 1024 * 1024
PathKey = tuple[str | int, ...]
PLAIN_TAGS = {
    f"tag:yaml.org,2002:{t}"
    for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp")
}


@dataclass
class Located:
    """Plain data of one YAML document and the 1-based (line, column) of each path in it."""

    file: str
    data: Any
    positions: dict[PathKey, tuple[int, int]] = field(default_factory=dict)

    def where(self, path: tuple[Any, ...]) -> tuple[int, int]:
        """Position of the deepest part of ``path`` that exists in the file.

        Pydantic locations may hold parts that are not in the file (a union tag, a
        missing key); those are skipped, so a missing key points at its parent.
        """
        best = (1, 1)
        current: PathKey = ()
        for part in path:
            candidate = (*current, part)
            if candidate in self.positions:
                current = candidate
                best = self.positions[current]
        return best

    def issue(self, path: tuple[Any, ...], message: str) -> SpecIssue:
        line, column = self.where(path)
        return SpecIssue(self.file, line, column, message)


def load_yaml_file(path: Path, display: str | None = None) -> Located:
    """Read and parse ``path``; every problem becomes a ``SpecError`` with a position."""
    name = display or str(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise SpecError([SpecIssue(name, 1, 1, f"cannot read the file: {reason}")]) from None
    return load_yaml_bytes(raw, name)


def load_yaml_bytes(raw: bytes, name: str) -> Located:
    """Parse one YAML document from bytes, refusing the unsafe and the ambiguous."""
    if len(raw) > MAX_BYTES:
        raise SpecError(
            [SpecIssue(name, 1, 1, "the file is larger than 1 MiB; refusing to read it")]
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpecError([SpecIssue(name, line, 1, "the file is not valid UTF-8")]) from None
    if "\x00" in text:
        raise SpecError(
            [SpecIssue(name, 1, 1, "the file contains a NUL byte; it is not YAML text")]
        )
    yaml = YAML(typ="rt", pure=True)
    yaml.allow_duplicate_keys = False
    try:
        nodes = list(yaml.compose_all(text))
        if len(nodes) != 1:
            count = "no document" if not nodes else f"{len(nodes)} documents"
            raise SpecError([SpecIssue(name, 1, 1, f"expected one YAML document, found {count}")])
        _refuse_unsafe_nodes(nodes[0], name)
        document = yaml.constructor.construct_document(nodes[0])
    except SpecError:
        raise
    except MarkedYAMLError as exc:
        raise SpecError([_marked_issue(name, exc)]) from None
    except (YAMLError, ValueError, TypeError, RecursionError, OverflowError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise SpecError([SpecIssue(name, 1, 1, f"not valid YAML: {message}")]) from None
    located = Located(name, None)
    located.data = _plain(document, (), located.positions, name)
    return located


def _refuse_unsafe_nodes(root: Node, name: str) -> None:
    """Walk the composed nodes before constructing anything, so an alias bomb never expands.

    An alias is the same node object reached twice and carries its anchor; a tag
    outside the plain YAML types is an explicit tag (``!!python/object``...).
    """
    stack = [root]
    while stack:
        node = stack.pop()
        mark = node.start_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        if node.anchor:
            raise SpecError(
                [
                    SpecIssue(
                        name, line, column, "YAML anchors and aliases (& and *) are not allowed"
                    )
                ]
            )
        tag = str(getattr(node.tag, "value", node.tag) or "")
        if tag and tag not in PLAIN_TAGS:
            raise SpecError(
                [SpecIssue(name, line, column, f"explicit YAML tags ({tag}) are not allowed")]
            )
        if isinstance(node, MappingNode):
            for key, value in reversed(node.value):  # document order: first pair popped first
                stack.extend((value, key))
        elif isinstance(node, SequenceNode):
            stack.extend(reversed(node.value))


def _marked_issue(name: str, exc: MarkedYAMLError) -> SpecIssue:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = exc.problem or exc.context or "not valid YAML"
    if "duplicate key" in str(problem) or "found duplicate key" in str(exc):
        problem = "duplicate key " + str(problem).split("key", 1)[-1].strip()
    return SpecIssue(name, line, column, f"not valid YAML: {problem}")


def _plain(node: Any, path: PathKey, positions: dict[PathKey, tuple[int, int]], name: str) -> Any:
    """Convert ruamel's round-trip nodes to plain data, recording positions on the way."""
    if isinstance(node, CommentedMap):
        result: dict[str, Any] = {}
        for key, value in node.items():
            if not isinstance(key, str):
                line, col = node.lc.key(key)
                raise SpecError(
                    [SpecIssue(name, line + 1, col + 1, f"keys must be text, got {key!r}")]
                )
            key_line, key_col = node.lc.key(key)
            positions[(*path, key)] = (key_line + 1, key_col + 1)
            result[str(key)] = _plain(value, (*path, str(key)), positions, name)
        return result
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            line, col = node.lc.item(index)
            positions[(*path, index)] = (line + 1, col + 1)
            items.append(_plain(value, (*path, index), positions, name))
        return items
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, dt.datetime | dt.date):
        return node
    return str(node)
