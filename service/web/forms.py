"""What the pages accept: marshmallow schemas for their query strings and forms.

As in the API, an unknown field is refused (a typo in a filter would otherwise show the
whole table as if it were the filtered one) and every value is bounded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError, fields, validate

from ..schemas import (
    CATEGORIES,
    FLAG_STATUSES,
    LONG_TEXT,
    RULES,
    SHORT_TEXT,
    Enum,
    Slug,
    StrictSchema,
    Text,
)
from .table import SORT_COLUMNS

GRADES = ("contested", "single_source", "corroborated")
MAX_PAGE_NUMBER = 1_000_000


def _page() -> fields.Integer:
    return fields.Integer(load_default=1,
                          validate=validate.Range(min=1, max=MAX_PAGE_NUMBER))


class ConflictPageQuery(StrictSchema):
    """/conflicts/<slug>: the table's filters, sort and page, and the charted series."""

    category = Enum(CATEGORIES)
    side = Text(SHORT_TEXT, strip=True)
    location = Text(SHORT_TEXT, strip=True)
    group = Text(SHORT_TEXT, strip=True)
    grade = Enum(GRADES)
    flagged = fields.Boolean(load_default=False)
    sort = Enum(SORT_COLUMNS)
    order = Enum(("asc", "desc"), load_default="asc")
    page = _page()
    series = Text(LONG_TEXT * 4, min_length=1)


def load(schema: StrictSchema, data: Mapping[str, str]) -> dict[str, Any]:
    """Validate a query string or form; an empty box or an "any" choice ("") is no value.

    Raises ValidationError naming each bad or unknown field.
    """
    return schema.load({name: value for name, value in data.items() if value != ""})


class FlagsPageQuery(StrictSchema):
    status = Enum(FLAG_STATUSES, load_default="open")
    conflict = Slug()
    rule = Enum(RULES)
    page = _page()


class SignInForm(StrictSchema):
    csrf_token = fields.String()
    token = Text(SHORT_TEXT, min_length=1, strip=True,
                 error_messages={"required": "Enter your token."})
    next = Text(LONG_TEXT)


class SignOutForm(StrictSchema):
    csrf_token = fields.String()


class TriageForm(StrictSchema):
    """Acknowledge or resolve a flag, with a note (API §6 PATCH /flags/{id})."""

    csrf_token = fields.String()
    status = Enum(("acknowledged", "resolved"), required=True)
    note = Text(LONG_TEXT, strip=True)
    next = Text(LONG_TEXT)


def form_errors(error: ValidationError) -> str:
    """One line naming each bad field, for the page to show above its form."""
    messages = error.normalized_messages()
    parts = []
    for field, problems in messages.items():
        text = "; ".join(str(p) for p in problems) if isinstance(problems, list) \
            else str(problems)
        parts.append(f"{field}: {text}")
    return " ".join(parts)


