"""A row of a table → the chat messages to send for it.

Three ways to say what to send, checked against the table's columns before anything is sent:

- ``prompt="Summarize: {text}"``: Python format syntax over the row's columns (``{{`` and ``}}`` are
  literal braces, ``{score:.2f}`` a format spec, ``{meta[lang]}`` an item of a column's value);
  a null value renders as an empty string.
- ``system="You are a {role}."``: a system message, a template too (optional).
- ``messages_column="messages"``: a column holding an OpenAI messages list, or its JSON text
  (``system`` is then put first, unless the messages begin with their own system message).

``id_column`` names the column whose value identifies each row (its ``custom_id``).

With neither ``prompt`` nor ``messages_column``, a column named ``messages`` is used as the messages,
else ``prompt`` or ``text`` as the whole prompt.

Example::

    t = make_template(["id", "text"], prompt="Summarize: {text}", system="Be brief.", id_column="id")
    t.messages({"id": "a1", "text": "Long story..."})
    # [{'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': 'Summarize: Long story...'}]
"""

from __future__ import annotations

import difflib
import json
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .read import TableError

DEFAULT_PROMPT_COLUMNS = ("prompt", "text")


class TemplateError(TableError):
    """A template that cannot be applied: bad syntax, or a column the table does not have."""


class RowError(TemplateError):
    """One row cannot be turned into messages (e.g. its messages column is not a messages list)."""


class _Row(dict):  # type: ignore[type-arg]
    """A row as format_map sees it: nulls render as ''."""

    def __getitem__(self, key: str) -> Any:
        value = super().__getitem__(key)
        return "" if value is None else value


def _fields(template: str, what: str) -> list[str]:
    """The columns a format string refers to (the name before any ``.attr`` or ``[key]``)."""
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise TemplateError(f"{what} template {template!r} is not valid: {exc} (write {{{{ and }}}} for literal "
                            "braces)") from None  # fmt: skip
    for _, field, spec, _ in parsed:
        if field is None:
            continue
        root = field.split(".", 1)[0].split("[", 1)[0]
        if root == "" or root.isdigit():
            raise TemplateError(f"{what} template {template!r} has a positional field {{{field}}}: name a column "
                                "instead, e.g. {text}")  # fmt: skip
        names.append(root)
        if spec and "{" in spec:
            names.extend(_fields(spec, what))
    return names


def missing_column(name: str, columns: Sequence[str], what: str) -> TemplateError:
    """The error for a column the table does not have, naming the columns it has (and a close match)."""
    have = ", ".join(columns) if columns else "(none)"
    close = difflib.get_close_matches(name, list(columns), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return TemplateError(f"{what} uses column {name!r}, which the input does not have (columns: {have}){hint}")


@dataclass(frozen=True)
class RowTemplate:
    """What to send for a row. Build it with :func:`make_template`, which checks it against the columns."""

    prompt: str | None = None
    system: str | None = None
    messages_column: str | None = None
    id_column: str | None = None

    def columns_used(self) -> list[str]:
        """Every column the template reads, in order, without repeats."""
        used: list[str] = []
        for what, tpl in (("system", self.system), ("prompt", self.prompt)):
            if tpl is not None:
                used += _fields(tpl, what)
        used += [c for c in (self.messages_column, self.id_column) if c is not None]
        return list(dict.fromkeys(used))

    def check(self, columns: Sequence[str], first: Mapping[str, Any] | None = None) -> None:
        """Raise :class:`TemplateError` for a column not in ``columns``; render ``first`` (a row) as a trial."""
        for what, tpl in (("system", self.system), ("prompt", self.prompt)):
            if tpl is not None:
                for name in _fields(tpl, f"the {what}"):
                    if name not in columns:
                        raise missing_column(name, columns, f"the {what} template {tpl!r}")
        for option, column in (("--messages-column", self.messages_column), ("--id-column", self.id_column)):
            if column is not None and column not in columns:
                raise missing_column(column, columns, option)
        if first is not None:
            try:
                self.messages(first)
            except RowError as exc:
                raise TemplateError(f"the first row: {exc}") from None

    def messages(self, row: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The messages for ``row``; :class:`RowError` when this row cannot give them."""
        system = self._render(self.system, row, "system") if self.system is not None else None
        if self.messages_column is not None:
            messages = _messages_value(row.get(self.messages_column), self.messages_column)
            if system and not (messages and messages[0].get("role") in ("system", "developer")):
                messages = [{"role": "system", "content": system}, *messages]
            return messages
        assert self.prompt is not None
        user = {"role": "user", "content": self._render(self.prompt, row, "prompt")}
        return [{"role": "system", "content": system}, user] if system else [user]

    def row_id(self, row: Mapping[str, Any], number: int) -> str:
        """The row's id: its ``id_column`` value as text, else ``row-<number>`` (1-based)."""
        if self.id_column is not None:
            value = row.get(self.id_column)
            if value is None or value == "":
                raise RowError(f"the id column {self.id_column!r} is empty")
            return str(value)
        return f"row-{number}"

    @staticmethod
    def _render(template: str, row: Mapping[str, Any], what: str) -> str:
        try:
            return template.format_map(_Row(row))
        except KeyError as exc:
            raise RowError(f"the {what} template uses column {exc.args[0]!r}, which this row does not have "
                           f"(it has: {', '.join(row)})") from None  # fmt: skip
        except (IndexError, AttributeError, TypeError, ValueError) as exc:
            raise RowError(f"the {what} template {template!r} cannot be applied to this row: {exc}") from None


def _messages_value(value: Any, column: str) -> list[dict[str, Any]]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise RowError(f"column {column!r} must hold an OpenAI messages list or its JSON text; this row holds "
                           f"text that is not JSON: {value[:60]!r}") from None  # fmt: skip
    if hasattr(value, "tolist"):  # a numpy array from pandas / pyarrow
        value = value.tolist()
    if not isinstance(value, (list, tuple)) or not value:
        raise RowError(f"column {column!r} must hold a non-empty list of messages; this row holds "
                       f"{type(value).__name__}")  # fmt: skip
    out: list[dict[str, Any]] = []
    for i, m in enumerate(value):
        if not isinstance(m, Mapping) or "role" not in m:
            raise RowError(f"column {column!r}: message {i} must be an object with a 'role', got {m!r:.80}")
        out.append({k: v for k, v in m.items() if v is not None})  # Arrow structs fill absent keys with null
    return out


def make_template(
    columns: Sequence[str],
    prompt: str | None = None,
    *,
    system: str | None = None,
    messages_column: str | None = None,
    id_column: str | None = None,
    first: Mapping[str, Any] | None = None,
) -> RowTemplate:
    """A :class:`RowTemplate` checked against ``columns`` (and tried on the ``first`` row, when given).

    Raises :class:`TemplateError` before anything is sent: bad template syntax, a column that is
    not there (naming the columns that are), or both ``prompt`` and ``messages_column``.

    Example::

        t = make_template(table.columns, "Translate to French: {sentence}", first=table.first())
    """
    if prompt is not None and messages_column is not None:
        raise TemplateError("give either a prompt template or a messages column, not both")
    for what, value in (("prompt", prompt), ("system", system)):
        if value is not None and not isinstance(value, str):
            raise TemplateError(f"{what} must be a string template, got {type(value).__name__}")
    if prompt is None and messages_column is None:
        if "messages" in columns:
            messages_column = "messages"
        else:
            name = next((c for c in DEFAULT_PROMPT_COLUMNS if c in columns), None)
            if name is None:
                have = ", ".join(columns) or "(none)"
                raise TemplateError(f"say what to send: a prompt template over the columns ({have}), e.g. "
                                    f'"Summarize: {{{columns[0] if columns else "text"}}}", or a messages '
                                    "column")  # fmt: skip
            prompt = "{" + name + "}"
    template = RowTemplate(prompt, system, messages_column, id_column)
    template.check(columns, first)
    return template
