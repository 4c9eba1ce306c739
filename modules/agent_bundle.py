"""The drain agent (``worker_agent/``) as the text files the launch template's user data writes.

EC2 takes at most 16 KB of user data (raw, before base64). The stack sends it
gzipped (cloud-init unpacks gzip), and the agent's sources go in as text with
their docstrings and comments blanked: they are most of the bytes, and the
instance does not read them. Blanking keeps every line where it was, so a
traceback on an instance points at the same line in the repository.

The bundle's ``sha256`` covers every file's path and shipped text, so any
change to the agent's code gives new user data, a new launch template version
and an instance refresh; a change to a comment or docstring does not.
"""

from __future__ import annotations

import ast
import hashlib
import io
import tokenize
from dataclasses import dataclass
from pathlib import Path

import worker_agent

AGENT_SOURCE = Path(worker_agent.__file__).resolve().parent
"""The package bundled by default."""

HEREDOC_DELIMITER = "__WORKER_AGENT_SOURCE__"
"""Ends each file's heredoc in the user data; no source line may equal it."""

_TERRAFORM_TEMPLATE_MARKERS = ("${", "%{")


@dataclass(frozen=True)
class AgentFile:
    """One file of the bundle: ``path`` relative to the install directory."""

    path: str
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


@dataclass(frozen=True)
class AgentBundle:
    """The agent's files, as shipped, and their combined ``sha256`` (hex)."""

    files: tuple[AgentFile, ...]

    @property
    def sha256(self) -> str:
        digest = hashlib.sha256()
        for item in self.files:
            digest.update(f"{item.path}\0{item.sha256}\n".encode())
        return digest.hexdigest()

    @property
    def size(self) -> int:
        """Bytes of source shipped (before the user data is gzipped)."""
        return sum(len(item.text.encode()) for item in self.files)


def strip_documentation(source: str, filename: str = "<agent>") -> str:
    """``source`` with comments removed and every bare string statement (docstrings)
    replaced by ``""``, on the same lines; the code itself is unchanged."""
    lines = [line.encode() for line in source.splitlines(keepends=True)]
    spans = [
        (node.lineno, node.col_offset, node.end_lineno or node.lineno, node.end_col_offset or 0)
        for node in ast.walk(ast.parse(source, filename))
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    ]
    comments = [
        token.start
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.COMMENT
    ]
    for row, column in comments:  # tokenize columns count characters, not bytes
        text = lines[row - 1].decode()
        lines[row - 1] = (text[:column].rstrip() + "\n").encode()
    for start, start_col, end, end_col in sorted(spans, reverse=True):
        tail = lines[end - 1][end_col:]  # byte offsets, as ast gives them
        lines[start - 1] = lines[start - 1][:start_col] + b'""' + tail
        for row in range(start, end):
            lines[row] = b"\n"
    stripped = b"".join(lines).decode()
    stripped = "\n".join(line.rstrip() for line in stripped.splitlines()) + "\n"
    compile(stripped, filename, "exec")  # the shipped text must still be valid Python
    return stripped


def build_agent_bundle(source: Path = AGENT_SOURCE) -> AgentBundle:
    """The ``worker_agent`` package at ``source`` as shipped to instances.

    Raises ``ValueError`` naming the file when it is not the package, or when a
    file would break the user data (a line equal to the heredoc delimiter, or a
    Terraform template sequence ``${`` / ``%{``).
    """
    paths = sorted(
        path for path in source.rglob("*.py") if "__pycache__" not in path.parts and path.is_file()
    )
    if source / "__main__.py" not in paths:
        raise ValueError(f"agent source {source}: no __main__.py, not the worker_agent package")
    files = []
    for path in paths:
        relative = f"worker_agent/{path.relative_to(source).as_posix()}"
        text = strip_documentation(path.read_text(), relative)
        if HEREDOC_DELIMITER in text.splitlines():
            raise ValueError(f"{relative}: a line equals the heredoc delimiter {HEREDOC_DELIMITER}")
        for marker in _TERRAFORM_TEMPLATE_MARKERS:
            if marker in text:
                raise ValueError(
                    f"{relative}: contains {marker!r}, which Terraform would read as a template"
                )
        files.append(AgentFile(relative, text))
    return AgentBundle(tuple(files))
