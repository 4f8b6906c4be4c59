"""Just enough HTML parsing for identity provider login pages: forms and their inputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

__all__ = ["Form", "find_input", "parse_forms"]


@dataclass
class Form:
    """One ``<form>``: its action, method and named inputs (name, type, value) in page order."""

    action: str = ""
    method: str = "get"
    inputs: list[tuple[str, str, str]] = field(default_factory=list)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.loose: list[tuple[str, str, str]] = []  # inputs outside any form
        self._current: Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name.lower(): (value or "") for name, value in attrs}
        if tag == "form":
            self._current = Form(values.get("action", ""), values.get("method", "get").lower())
            self.forms.append(self._current)
        elif tag == "input" and values.get("name"):
            item = (values["name"], values.get("type", "text").lower(), values.get("value", ""))
            (self._current.inputs if self._current is not None else self.loose).append(item)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def parse_forms(html: str) -> list[Form]:
    """Every form of the page (inputs outside a form are left out)."""
    parser = _FormParser()
    parser.feed(html)
    parser.close()
    return parser.forms


def find_input(html: str, name: str) -> str | None:
    """The (unescaped) value of the first input called ``name``, anywhere on the page."""
    parser = _FormParser()
    parser.feed(html)
    parser.close()
    for form in parser.forms:
        for input_name, _, value in form.inputs:
            if input_name == name:
                return value
    for input_name, _, value in parser.loose:
        if input_name == name:
            return value
    return None
