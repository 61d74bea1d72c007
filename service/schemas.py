"""marshmallow schemas: every request body and query string, and every response.

Types are strict on purpose (API §3): "200" and true are not counts, 2.0 is not a count,
"20201004" is not a date, and text holding NUL is refused. People publish these numbers,
so the service refuses what it would otherwise have to guess at.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates_schema,
)

from .intervals import QUALIFIERS
from .names import tidy

MAX_COUNT = 1_000_000_000
SHORT_TEXT = 200
LONG_TEXT = 2_000
MAX_BATCH = 10_000
MAX_PAGE = 1_000
MAX_ID = 2**63 - 1  # SQLite's largest INTEGER: no row can have a larger id
CATEGORIES = ("military", "civilian", "killed", "injured", "missing", "historical", "damage")
GROUPS = ("children", "women", "men", "elderly", "journalists", "medical_workers",
          "aid_workers")
LOCATION_CODE = re.compile(r"[A-Za-z0-9-]{1,50}\Z")
MAX_LOCATION_CODE = 50
EARTH_LATEST_OFFSET = timedelta(hours=14)  # UTC+14 (Kiribati): the first to start a day
SOURCE_KINDS = ("government", "military", "official", "ngo", "un", "media", "independent",
                "individual", "unknown")
ROLES = ("reader", "editor", "admin")
FIGURE_STATUSES = ("active", "retracted", "all")
FLAG_STATUSES = ("open", "acknowledged", "resolved", "obsolete")
RULES = ("disagreement", "decrease", "duplicate", "part_exceeds_whole", "disputed")
RUN_STATUSES = ("queued", "running", "succeeded", "failed")
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,99}\Z")  # \Z: validate.Regexp only anchors the start
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def utc_today() -> date:
    """Today's date in UTC."""
    return datetime.now(UTC).date()


def today_anywhere(now: datetime | None = None) -> date:
    """Today's date somewhere on Earth at the latest: the date in UTC+14 (API §4).

    A desk in Kyiv or Baku gives figures dated its own today hours before UTC's midnight;
    no place on Earth has a later date than UTC+14. `now` (an aware datetime) defaults to the
    present moment.
    """
    moment = datetime.now(UTC) if now is None else now.astimezone(UTC)
    return (moment + EARTH_LATEST_OFFSET).date()


def future_date_message(today: str) -> str:
    """The refusal of a date after `today_anywhere()`, naming the rule."""
    return (f"May not be in the future: at most today's date anywhere on Earth, the date in "
            f"UTC+14 ({today}).")


# --- fields ----------------------------------------------------------------------------

class StrictInteger(fields.Integer):
    """An integer that must arrive as a JSON number: no strings, no booleans, no 2.0."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _validated(self, value: Any) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._validated(value)


class Text(fields.String):
    """A string without NUL characters, of bounded length.

    `strip` tidies the text as names are stored (API §4 "Names": NFC-normalised, trimmed),
    so "Ganja " and "Ganja" are not two places; `min_length` 1 then refuses an empty name
    instead of storing "".
    """

    def __init__(self, max_length: int, *, min_length: int = 0, strip: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.strip = strip
        self.min_length = min_length
        self.max_length = max_length

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        return checked_text(text, self.max_length, self.min_length, self.strip)


def checked_text(text: str, max_length: int, min_length: int = 0, strip: bool = False) -> str:
    """The rules of a Text field on a str: no NUL, valid Unicode, tidied if `strip`,
    `min_length` to `max_length` characters. Returns the text to store; raises
    ValidationError with the message for the field."""
    if text.isascii() and "\x00" not in text:  # the usual case, decided at once
        # (ASCII is valid Unicode, and NFC leaves it as it is: tidy is strip)
        tidied = text.strip() if strip else text
        if min_length <= len(tidied) <= max_length:
            return tidied
    if "\x00" in text:
        raise ValidationError("Text may not contain NUL characters.")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate ("\\ud800" in the JSON)
            raise ValidationError("Text must be valid Unicode (no lone surrogates).") \
                from None
    if strip:
        text = tidy(text)
    if len(text) < min_length:
        raise ValidationError("May not be empty." if min_length == 1
                              else f"Must be at least {min_length} characters.")
    if len(text) > max_length:
        raise ValidationError(f"Must be at most {max_length:,} characters "
                              f"(got {len(text):,}).")
    return text


def Name(**kwargs: Any) -> Text:  # noqa: N802 - reads as a field type in schema bodies
    """A short, trimmed, non-empty text: a source, side, place, unit or incident."""
    return Text(SHORT_TEXT, min_length=1, strip=True, **kwargs)


class OptionalText(Text):
    """Free text where saying nothing is null: blank text ("" or spaces) is stored as null.

    Otherwise "" and null would be two ways to say "no quote", and CSV, which writes both
    as an empty cell, could not bring the difference back.
    """

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str | None:
        text = super()._deserialize(value, attr, data, **kwargs)
        return text if text.strip() else None


def LongText(**kwargs: Any) -> OptionalText:  # noqa: N802
    """Quotes and notes: up to 2,000 characters, null when blank."""
    return OptionalText(LONG_TEXT, allow_none=True, **kwargs)


class IsoDate(fields.Field):
    """A calendar date written exactly YYYY-MM-DD, kept as that string.

    Dates stay ISO strings inside the service: they sort correctly as text, and SQLite
    and JSON hold them without conversion.
    """

    default_error_messages = {"invalid": "Not a valid date; use YYYY-MM-DD."}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        if not is_iso_date(value):
            raise self.make_error("invalid")
        return value

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        return value


def is_iso_date(value: Any) -> bool:
    """A str written exactly YYYY-MM-DD that names a real calendar day."""
    if not isinstance(value, str) or not ISO_DATE.fullmatch(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


_SPACE = re.compile(r"\s")  # the characters str.isspace() accepts, found in one C pass
_PLAIN_URL = re.compile(r"(?i:https?)://[A-Za-z0-9.-]+(?::[0-9]*)?(?:[/?#]\S*)?\Z")
"""The usual shape of a source URL, for which urlsplit's answer is known in advance: an
http(s) scheme, an ASCII host name ending the netloc, no white space anywhere."""


def is_http_url(text: str) -> bool:
    """An absolute http(s) URL with a host and no white space."""
    if _PLAIN_URL.match(text):
        return True
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(host) \
        and _SPACE.search(text) is None


class HttpUrl(Text):
    """An absolute http(s) URL with a host; anything else (javascript:, relative) is refused."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(LONG_TEXT, min_length=1, strip=True, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not is_http_url(text):
            raise ValidationError("Must be an absolute http or https URL with a host.")
        return text


def Slug(**kwargs: Any) -> fields.String:  # noqa: N802
    """A conflict's slug, e.g. nagorno-karabakh-2020 (in bodies and in filters alike)."""
    return fields.String(validate=validate.Regexp(
        SLUG, error="Must be a slug: lowercase letters, digits and hyphens, starting with a "
                    "letter or digit, at most 100 characters."), **kwargs)


def LocationCode(**kwargs: Any) -> fields.String:  # noqa: N802
    """A hierarchical place code (P-code or ISO 3166): letters, digits, hyphens, <= 50."""
    return fields.String(validate=validate.Regexp(
        LOCATION_CODE, error="Must be a place code of 1 to 50 letters, digits and hyphens "
                             "(e.g. UA14 or UA-14), without spaces."), **kwargs)


def Enum(choices: tuple[str, ...], **kwargs: Any) -> fields.String:  # noqa: N802
    return fields.String(validate=validate.OneOf(choices), **kwargs)


def Count(**kwargs: Any) -> StrictInteger:  # noqa: N802
    return StrictInteger(validate=validate.Range(min=0, max=MAX_COUNT), **kwargs)


class StrictSchema(Schema):
    """Unknown fields are an error (API §3): a typo must not silently drop data."""

    class Meta:
        unknown = RAISE


# --- figures ---------------------------------------------------------------------------

def figure_rule_errors(figure: dict[str, Any],
                       today: str | None = None) -> dict[str, list[str]]:
    """The rules of §4 that tie one field to another, on a whole (merged) figure.

    `today` is `today_anywhere()` as an ISO date, given when checking many figures at once.
    """
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    today = today or today_anywhere().isoformat()
    reported_on, as_of = figure.get("reported_on"), figure.get("as_of")
    as_of = as_of or reported_on
    if reported_on and reported_on > today:
        add("reported_on", future_date_message(today))
    if reported_on and as_of and as_of > reported_on:
        add("as_of", "May not be after reported_on: a figure cannot count past the day "
                     "it was given.")
    if figure.get("period_start") and as_of and figure["period_start"] > as_of:
        add("period_start", "May not be after as_of." if figure.get("as_of") else
            "May not be after as_of, which is reported_on when not given.")
    count_high = figure.get("count_high")
    if count_high is not None:
        if figure.get("qualifier", "exact") != "exact":
            add("count_high", "A range (count_high) goes only with qualifier 'exact'.")
        if figure.get("count") is not None and count_high < figure["count"]:
            add("count_high", "Must be at least count.")
    if figure.get("category") == "damage" and figure.get("unit", "people") == "people":
        add("unit", "A damage figure must name what was damaged (e.g. 'buildings'), "
                    "not 'people'.")
    if figure.get("category") == "damage" and figure.get("group") is not None:
        add("group", "A damage figure counts things, not people: it has no group.")
    return errors



def _figure_fields(required: bool) -> dict[str, fields.Field]:
    """Field definitions; on create the required ones are required, on PATCH none is."""
    return {
        "conflict": Slug(required=required),
        "source": Name(required=required),
        "category": Enum(CATEGORIES, required=required),
        "side": Name(allow_none=True),
        "location": Name(allow_none=True),
        "location_code": LocationCode(allow_none=True),
        "group": Enum(GROUPS, allow_none=True),
        "incident": Name(allow_none=True),
        "count": Count(required=required),
        "count_high": Count(allow_none=True),
        "qualifier": Enum(QUALIFIERS),
        "unit": Name(),
        "reported_on": IsoDate(required=required),
        "as_of": IsoDate(allow_none=True),
        "period_start": IsoDate(allow_none=True),
        "via": Name(allow_none=True),
        "quote": LongText(),
        "url": HttpUrl(allow_none=True),
        "notes": LongText(),
    }


FIGURE_DEFAULTS = {"side": None, "location": None, "location_code": None, "group": None,
                   "incident": None, "count_high": None, "qualifier": "exact",
                   "unit": "people", "as_of": None, "period_start": None, "via": None,
                   "quote": None, "url": None, "notes": None}


class FigureIn(StrictSchema.from_dict(_figure_fields(required=True))):  # type: ignore[misc]
    """A new figure (POST /figures, a batch item, a CSV row, a seed).

    Loading first tries `valid_figure` on each figure: the same rules, checked in one plain
    function instead of nineteen field objects, which is most of the cost of a
    10,000-figure batch. A figure it does not accept as it is goes through the full
    schema, which then names every error; the result is the same either way
    (tests/test_fast_validation.py checks that on generated input).
    """

    def load(self, data: Any, *, many: bool | None = None, partial: Any = None,
             unknown: str | None = None) -> Any:
        many = self.many if many is None else many
        if not partial and unknown in (None, RAISE):
            if not many:
                fast = valid_figure(data)
                if fast is not None:
                    return fast
            elif type(data) is list:
                today = today_anywhere().isoformat()
                loaded = [valid_figure(item, today) for item in data]
                if None not in loaded:
                    return loaded
        return super().load(data, many=many, partial=partial, unknown=unknown)

    @validates_schema
    def check_rules(self, data: dict[str, Any], **kwargs: Any) -> None:
        errors = figure_rule_errors(data)
        if errors:
            raise ValidationError(errors)


_FIGURE_FIELDS = frozenset(_figure_fields(required=True))
_REQUIRED_FIELDS = ("conflict", "source", "category", "count", "reported_on")
_NULLABLE_NAMES = ("side", "location", "incident", "via")
_NULLABLE_DATES = ("as_of", "period_start")
_CATEGORY_SET, _GROUP_SET = frozenset(CATEGORIES), frozenset(GROUPS)
_QUALIFIER_SET = frozenset(QUALIFIERS)


def _count_ok(value: Any) -> bool:
    return type(value) is int and 0 <= value <= MAX_COUNT


def valid_figure(item: Any, today: str | None = None) -> dict[str, Any] | None:
    """FigureIn's result for `item` when it is a valid new figure, else None (the caller
    then runs the schema, which reports why).

    Every rule of FigureIn (and its fields) is here; anything unusual - a type other than
    the plain JSON one, a missing or unknown key, any failing rule - answers None rather
    than deciding, so this can accept only what the schema accepts, with the same result.
    """
    if type(item) is not dict or not _FIGURE_FIELDS.issuperset(item):
        return None
    out: dict[str, Any] = {}
    try:
        for name in _REQUIRED_FIELDS:
            if name not in item:
                return None
        conflict, category = item["conflict"], item["category"]
        if type(conflict) is not str or not SLUG.match(conflict) \
                or type(category) is not str or category not in _CATEGORY_SET \
                or not _count_ok(item["count"]) or not is_iso_date(item["reported_on"]):
            return None
        out["conflict"], out["category"] = conflict, category
        out["count"], out["reported_on"] = item["count"], item["reported_on"]
        if type(item["source"]) is not str:
            return None
        out["source"] = checked_text(item["source"], SHORT_TEXT, 1, True)
        for name in _NULLABLE_NAMES:
            if name in item:
                value = item[name]
                if value is not None:
                    if type(value) is not str:
                        return None
                    value = checked_text(value, SHORT_TEXT, 1, True)
                out[name] = value
        if "unit" in item:
            if type(item["unit"]) is not str:
                return None
            out["unit"] = checked_text(item["unit"], SHORT_TEXT, 1, True)
        if "qualifier" in item:
            if type(item["qualifier"]) is not str or item["qualifier"] not in _QUALIFIER_SET:
                return None
            out["qualifier"] = item["qualifier"]
        if "count_high" in item:
            if item["count_high"] is not None and not _count_ok(item["count_high"]):
                return None
            out["count_high"] = item["count_high"]
        for name in _NULLABLE_DATES:
            if name in item:
                if item[name] is not None and not is_iso_date(item[name]):
                    return None
                out[name] = item[name]
        if "group" in item:
            group = item["group"]
            if group is not None and (type(group) is not str or group not in _GROUP_SET):
                return None
            out["group"] = group
        if "location_code" in item:
            code = item["location_code"]
            if code is not None and (type(code) is not str or not LOCATION_CODE.match(code)):
                return None
            out["location_code"] = code
        for name in ("quote", "notes"):
            if name in item:
                text = item[name]
                if text is not None:
                    if type(text) is not str:
                        return None
                    text = checked_text(text, LONG_TEXT)
                    text = text if text.strip() else None
                out[name] = text
        if "url" in item:
            url = item["url"]
            if url is not None:
                if type(url) is not str:
                    return None
                url = checked_text(url, LONG_TEXT, 1, True)
                if not is_http_url(url):
                    return None
            out["url"] = url
    except ValidationError:
        return None
    return None if figure_rule_errors(out, today) else out


def complete_figure(data: dict[str, Any]) -> dict[str, Any]:
    """A validated new figure with every optional field filled in (as_of defaults to
    reported_on)."""
    figure = FIGURE_DEFAULTS | data
    figure["as_of"] = figure["as_of"] or figure["reported_on"]
    return figure


class FigurePatch(StrictSchema.from_dict(_figure_fields(required=False))):  # type: ignore[misc]
    """A correction: any figure field; cross-field rules are checked on the merged figure."""

    @validates_schema
    def not_empty(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data:
            raise ValidationError("Give at least one field to correct.")


class FigureBatchIn(StrictSchema):
    # Nested(many=True) loads the list in one schema call: a third faster than List(Nested)
    # on a 10,000-figure batch, with the same errors (index, then field).
    figures = fields.Nested(FigureIn, many=True, required=True,
                            validate=validate.Length(min=1, max=MAX_BATCH))


class RetractIn(StrictSchema):
    reason = Text(LONG_TEXT, min_length=1, strip=True, required=True)


class DisputeIn(StrictSchema):
    source = Name(required=True)
    reported_on = IsoDate(required=True)
    quote = LongText()
    url = HttpUrl(allow_none=True)

    @validates_schema
    def not_in_future(self, data: dict[str, Any], **kwargs: Any) -> None:
        today = today_anywhere().isoformat()
        if data.get("reported_on", "") > today:
            raise ValidationError({"reported_on": [future_date_message(today)]})


class PageQuery(StrictSchema):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=MAX_PAGE))
    cursor = Text(200, load_default=None)


class FigureFilters(StrictSchema):
    """The filters of GET /figures, shared by its CSV export."""

    conflict = Slug()
    source = Text(SHORT_TEXT, strip=True)
    category = Enum(CATEGORIES)
    side = Text(SHORT_TEXT, strip=True)
    location = Text(SHORT_TEXT, strip=True)
    location_code = LocationCode(metadata={"description": "exact, case-insensitive"})
    group = Enum(GROUPS)
    incident = Text(SHORT_TEXT, strip=True)
    via = Text(SHORT_TEXT, strip=True)
    status = Enum(FIGURE_STATUSES, load_default="active")
    reported_from = IsoDate()
    reported_to = IsoDate()
    as_of_from = IsoDate()
    as_of_to = IsoDate()


class FigureQuery(FigureFilters, PageQuery):
    pass


class HxlQuery(StrictSchema):
    hxl = fields.Boolean(load_default=False, metadata={
        "description": "1 adds a row of HXL hashtags under the header."})
    bom = fields.Boolean(load_default=False, metadata={
        "description": "1 starts the file with a UTF-8 byte-order mark, so that Excel reads "
                       "it as UTF-8."})


class FigureExportQuery(FigureFilters, HxlQuery):
    pass


class ImportQuery(StrictSchema):
    conflict = Slug(metadata={"description": "Import every row into this conflict, whatever "
                                             "its conflict column says."})
    update = fields.Boolean(load_default=False, metadata={
        "description": "1: a row whose id names a stored figure corrects it (a new version; "
                       "status retracted with a retraction_reason retracts it); rows without "
                       "id create figures."})


class FigureOut(Schema):
    id = fields.Integer()
    conflict = fields.String()
    source = fields.String()
    source_id = fields.Integer()
    category = fields.String(metadata={"enum": list(CATEGORIES)})
    side = fields.String(allow_none=True)
    location = fields.String(allow_none=True)
    location_code = fields.String(allow_none=True)
    group = fields.String(allow_none=True, metadata={"enum": [*GROUPS, None]})
    incident = fields.String(allow_none=True)
    count = fields.Integer()
    count_high = fields.Integer(allow_none=True)
    qualifier = fields.String(metadata={"enum": list(QUALIFIERS)})
    unit = fields.String()
    reported_on = fields.String()
    as_of = fields.String()
    period_start = fields.String(allow_none=True)
    via = fields.String(allow_none=True)
    quote = fields.String(allow_none=True)
    url = fields.String(allow_none=True)
    notes = fields.String(allow_none=True)
    low = fields.Integer()
    high = fields.Integer(allow_none=True)
    status = fields.String(metadata={"enum": ["active", "retracted"]})
    retraction_reason = fields.String(allow_none=True)
    version = fields.Integer()
    created_at = fields.String()
    updated_at = fields.String()


class FigureVersionOut(FigureOut):
    change = fields.String(metadata={"enum": ["created", "corrected", "retracted"]})
    recorded_at = fields.String()


class IdsOut(Schema):
    ids = fields.List(fields.Integer())


class DisputeOut(Schema):
    id = fields.Integer()
    figure_id = fields.Integer()
    source = fields.String()
    source_id = fields.Integer()
    reported_on = fields.String()
    quote = fields.String(allow_none=True)
    url = fields.String(allow_none=True)
    created_at = fields.String()


# --- sources ---------------------------------------------------------------------------

class SourcePatch(StrictSchema):
    kind = Enum(SOURCE_KINDS)
    affiliation = Name(allow_none=True)

    @validates_schema
    def not_empty(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data:
            raise ValidationError("Give kind and/or affiliation.")


class SourceQuery(PageQuery):
    name = Text(SHORT_TEXT, strip=True)
    kind = Enum(SOURCE_KINDS)


class SourceOut(Schema):
    id = fields.Integer()
    name = fields.String()
    kind = fields.String(metadata={"enum": list(SOURCE_KINDS)})
    affiliation = fields.String(allow_none=True)
    created_at = fields.String()
    updated_at = fields.String()


# --- pages and service -----------------------------------------------------------------

def page_of(item_schema: type[Schema]) -> type[Schema]:
    """The list envelope of §3: {"items": [...], "next_cursor": "..." or null}."""
    return Schema.from_dict(
        {"items": fields.List(fields.Nested(item_schema)),
         "next_cursor": fields.String(allow_none=True)},
        name=f"{item_schema.__name__.removesuffix('Out')}Page",
    )




# --- reconciliation --------------------------------------------------------------------

class StrictBoolean(fields.Boolean):
    """JSON true or false only: marshmallow's Boolean would also take "yes", 1 or "off"."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class RunIn(StrictSchema):
    full = StrictBoolean(load_default=False, metadata={
        "description": "Re-check every series, not only those changed since the last run."})


class RunQuery(PageQuery):
    status = Enum(RUN_STATUSES)


class RunOut(Schema):
    id = fields.Integer()
    status = fields.String(metadata={"enum": list(RUN_STATUSES)})
    trigger = fields.String(metadata={"description": "api, schedule or cli"})
    full = fields.Boolean()
    created_at = fields.String()
    started_at = fields.String(allow_none=True)
    finished_at = fields.String(allow_none=True)
    series_checked = fields.Integer()
    figures_checked = fields.Integer()
    flags_opened = fields.Integer()
    flags_closed = fields.Integer()
    error = fields.String(allow_none=True)


class FlagFilters(StrictSchema):
    status = Enum(FLAG_STATUSES)
    rule = Enum(RULES)
    conflict = Slug()
    figure_id = fields.Integer(validate=validate.Range(min=1, max=MAX_ID))


class FlagQuery(FlagFilters, PageQuery):
    pass


class FlagExportQuery(FlagFilters, HxlQuery):
    pass


class FlagPatch(StrictSchema):
    status = Enum(("acknowledged", "resolved"))
    note = Text(LONG_TEXT, allow_none=True)

    @validates_schema
    def not_empty(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data:
            raise ValidationError("Give status and/or note.")


class FlagOut(Schema):
    id = fields.Integer()
    rule = fields.String(metadata={"enum": list(RULES)})
    severity = fields.String(metadata={"enum": ["low", "medium", "high"]})
    conflict = fields.String()
    figure_ids = fields.List(fields.Integer())
    explanation = fields.String()
    status = fields.String(metadata={"enum": list(FLAG_STATUSES)})
    note = fields.String(allow_none=True)
    first_seen_run = fields.Integer()
    last_seen_run = fields.Integer()
    created_at = fields.String()
    updated_at = fields.String()


class ReportQuery(StrictSchema):
    conflict = Slug(load_default=None)


class ReportExportQuery(ReportQuery, HxlQuery):
    pass


class ReportSourceOut(Schema):
    source = fields.String()
    source_id = fields.Integer()
    affiliation = fields.String(allow_none=True)
    figure_id = fields.Integer()
    count = fields.Integer()
    qualifier = fields.String()
    low = fields.Integer()
    high = fields.Integer(allow_none=True)
    as_of = fields.String()


class SeriesKeyOut(Schema):
    """The fields that name a series (API §6), as the report and GET /series show them."""

    conflict = fields.String()
    category = fields.String()
    side = fields.String(allow_none=True)
    location = fields.String(allow_none=True)
    incident = fields.String(allow_none=True)
    unit = fields.String()
    period_start = fields.String(allow_none=True)
    group = fields.String(allow_none=True, dump_default=None)


class ReportSeriesOut(SeriesKeyOut):
    cumulative = fields.Boolean()
    as_of = fields.String()
    figure_count = fields.Integer()
    sources = fields.List(fields.Nested(ReportSourceOut))
    low = fields.Integer()
    high = fields.Integer(allow_none=True)
    best = fields.Raw(metadata={"type": "number",
                                "description": "median count of the current figures"})
    independent_best = fields.Raw(allow_none=True, metadata={
        "type": "number", "description": "median count of the unaffiliated sources' latest "
                                         "figures"})
    open_flags = fields.Integer()
    grade = fields.String(metadata={"enum": ["contested", "single_source", "corroborated"]})


class ReportOut(Schema):
    conflict = fields.String(allow_none=True)
    generated_at = fields.String()
    last_run = fields.Nested(RunOut, allow_none=True)
    series = fields.List(fields.Nested(ReportSeriesOut))


class HealthOut(Schema):
    status = fields.String()
    database = fields.String()
    scheduler = fields.String(metadata={"enum": ["running", "off"]})
    last_run = fields.Nested(RunOut, allow_none=True)


# --- extraction (API §9) -------------------------------------------------------------------

MAX_ARTICLE = 100_000


class ArticleText(Text):
    """An article's text: 1–100,000 characters with something besides white space."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(MAX_ARTICLE, min_length=1, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not text.strip():
            raise ValidationError("May not be empty or only white space.")
        return text


class ExtractionIn(StrictSchema):
    """POST /extractions: an article to read; nothing is stored."""

    text = ArticleText(required=True)
    conflict = Slug(required=True)
    reported_on = IsoDate(required=True, metadata={
        "description": "the day the article was published: every figure's reported_on, and "
                       "the day weekdays and 'yesterday' are resolved against"})
    url = HttpUrl(allow_none=True)

    @validates_schema
    def not_in_future(self, data: dict[str, Any], **kwargs: Any) -> None:
        # the proposed figures carry this date, and POST /figures refuses a future one
        today = utc_today().isoformat()
        if data.get("reported_on", "") > today:
            raise ValidationError({"reported_on": [
                f"May not be in the future (today is {today} UTC)."]})


class ExtractedFigureOut(Schema):
    """A proposed figure: a body POST /figures accepts as it is (§4 fields)."""

    conflict = fields.String(required=True)
    source = fields.String(required=True)
    category = fields.String(required=True)
    side = fields.String(allow_none=True)
    location = fields.String(allow_none=True)
    location_code = fields.String(allow_none=True)
    group = fields.String(allow_none=True)
    incident = fields.String(allow_none=True)
    count = fields.Integer(required=True)
    count_high = fields.Integer(allow_none=True)
    qualifier = fields.String()
    unit = fields.String()
    reported_on = fields.String(required=True)
    as_of = fields.String(allow_none=True)
    period_start = fields.String(allow_none=True)
    via = fields.String(allow_none=True)
    quote = fields.String(allow_none=True, metadata={"description": "the sentence that "
                                                                    "carries the figure"})
    url = fields.String(allow_none=True)
    notes = fields.String(allow_none=True)


class ExtractedDisputeOut(Schema):
    """A proposed dispute: POST /figures/{id}/disputes once figure_index is stored."""

    figure_index = fields.Integer(required=True, metadata={
        "description": "index into this answer's figures"})
    source = fields.String(required=True)
    reported_on = fields.String(required=True)
    quote = fields.String(allow_none=True)


class ExtractionOut(Schema):
    figures = fields.List(fields.Nested(ExtractedFigureOut), required=True)
    disputes = fields.List(fields.Nested(ExtractedDisputeOut), required=True)


# --- series over time (GET /series, issue 13) ------------------------------------------

class SeriesQuery(StrictSchema):
    """The report's filter (`conflict`), narrowed by any series field or one series id."""

    conflict = Slug(required=True)
    series = Text(LONG_TEXT * 4, min_length=1, metadata={
        "description": "One series: the `series_id` this endpoint gives it."})
    category = Enum(CATEGORIES)
    side = Text(SHORT_TEXT, strip=True)
    location = Text(SHORT_TEXT, strip=True)
    incident = Text(SHORT_TEXT, strip=True)
    unit = Text(SHORT_TEXT, strip=True)
    group = Enum(GROUPS)
    period_start = IsoDate()


class SeriesPointOut(Schema):
    as_of = fields.String()
    count = fields.Integer()
    low = fields.Integer()
    high = fields.Integer(allow_none=True, metadata={"description": "null: unbounded"})
    figure_id = fields.Integer()
    flagged = fields.Boolean(metadata={"description": "an open flag lists this figure"})
    qualifier = fields.String(metadata={"enum": list(QUALIFIERS)})
    value = fields.Integer(metadata={"description": "the point value (count moved into "
                                                    "its interval)"})


class SeriesChangeOut(Schema):
    since = fields.String(metadata={"description": "the previous report's as_of"})
    as_of = fields.String()
    days = fields.Integer(metadata={"description": "days from since (excluded) to as_of"})
    change = fields.Integer(metadata={"description": "difference of the point values"})
    per_day = fields.Float(metadata={"description": "change / days: a gap is one change "
                                                    "spread over its days, never zeros"})
    fall = fields.Boolean(metadata={"description": "the cumulative toll went down"})
    figure_id = fields.Integer()
    previous_figure_id = fields.Integer()


class SeriesSourceOut(Schema):
    source = fields.String()
    source_id = fields.Integer()
    affiliation = fields.String(allow_none=True)
    points = fields.List(fields.Nested(SeriesPointOut))
    changes = fields.List(fields.Nested(SeriesChangeOut))


class SeriesEntryOut(SeriesKeyOut):
    series_id = fields.String()
    figure_count = fields.Integer()
    sources = fields.List(fields.Nested(SeriesSourceOut))


class SeriesOut(Schema):
    conflict = fields.String()
    generated_at = fields.String()
    series = fields.List(fields.Nested(SeriesEntryOut))
