"""What every API call may send: one guard for bodies and query strings, whatever the format.

PostgreSQL text cannot hold a NUL character and UTF-8 cannot encode a lone surrogate, so
either one reaching a query or a row would end in a server error however well a view
validates its own fields. The parsers below (DEFAULT_PARSER_CLASSES: JSON, form and
multipart alike) refuse them anywhere in a body, keys and file names included; they also
refuse bodies past Django's own caps (DRF reads the stream without them) and JSON nested
too deeply to read. `ApiQueryGuardMiddleware` refuses the same characters in the query
string of any /api/ route, before a view reads it. All answer 400 with a sentence, as the
schema documents (config.api_schema). `ApiPagination` answers 400 for a page number that
is not one and 404 for a page past the last.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import JsonResponse
from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.pagination import PageNumberPagination

NUL = "\x00"
NUL_MESSAGE = "Remove the NUL character (\\x00): text cannot contain it."
SURROGATE_MESSAGE = "Remove the invalid character (a lone UTF-16 surrogate): it is not text."
TOO_DEEP_MESSAGE = "The JSON body nests too deeply to be read."


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored as text, or None when it can."""
    if NUL in value:
        return NUL_MESSAGE
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return SURROGATE_MESSAGE
    return None


def _strings(data, path: str = "") -> Iterator[tuple[str, str]]:
    """(where, text) for every key and string value in parsed data, however nested."""
    if isinstance(data, str):
        yield path, data
    elif isinstance(data, dict):
        for key, value in data.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str):
                yield where, key
            yield from _strings(value, where)
    elif isinstance(data, list | tuple):
        for index, value in enumerate(data):
            yield from _strings(value, f"{path}[{index}]")


def refuse_unsafe_text(data) -> None:
    """Raise a 400 naming the first field whose name or value cannot be stored as text."""
    for where, text in _strings(data):
        problem = text_problem(text)
        if problem is not None:
            field = where.split(".")[0].split("[")[0] or "detail"
            if text_problem(field) is not None:
                field = "detail"  # the field's own name is the bad text
            raise ValidationError({field: [problem]})


def refuse_oversized(parser_context) -> None:
    """Django caps form bodies it reads itself (DATA_UPLOAD_MAX_MEMORY_SIZE); DRF reads the
    stream directly, so the same cap is applied here before reading."""
    request = (parser_context or {}).get("request")
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if request is None or limit is None:
        return
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise ParseError(too_big_message())


def too_big_message(what: str = "The body") -> str:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return f"{what} is larger than the {limit:,} bytes an API call may send."


def too_many_message() -> str:
    limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
    return f"The body has more than the {limit:,} fields an API call may send."


class GuardedJSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        refuse_oversized(parser_context)
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError(TOO_DEEP_MESSAGE) from exc
        refuse_unsafe_text(data)
        return data


class GuardedFormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        refuse_oversized(parser_context)
        try:
            data = super().parse(stream, media_type, parser_context)
        except TooManyFieldsSent as exc:
            raise ParseError(too_many_message()) from exc
        refuse_unsafe_text(dict(data.lists()))
        return data


class GuardedMultiPartParser(parsers.MultiPartParser):
    """Files may be larger than the cap (Django counts only the other fields against it)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            parsed = super().parse(stream, media_type, parser_context)
        except RequestDataTooBig as exc:
            raise ParseError(too_big_message("The body, files apart,")) from exc
        except TooManyFieldsSent as exc:
            raise ParseError(too_many_message()) from exc
        refuse_unsafe_text(dict(parsed.data.lists()))
        names = {
            key: [upload.name or "" for upload in uploads] for key, uploads in parsed.files.lists()
        }
        refuse_unsafe_text(names)
        return parsed


class ApiQueryGuardMiddleware:
    """Refuses NUL characters in the query string of API routes (names and values)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info.startswith("/api/"):
            for key, values in request.GET.lists():
                for text in (key, *values):
                    problem = text_problem(text)
                    if problem is not None:
                        name = key if text_problem(key) is None else "detail"
                        return JsonResponse({name: [problem]}, status=400)
        return self.get_response(request)


class ApiPagination(PageNumberPagination):
    """DRF's page numbers, with a 400 for a page that is not a number (DRF answers 404)."""

    not_a_page_message = "Give a page number: a whole number from 1."

    def get_page_number(self, request, paginator):
        raw = request.query_params.get(self.page_query_param) or "1"
        if raw in self.last_page_strings:
            return raw
        if not (raw.isascii() and raw.isdigit() and int(raw) >= 1):
            raise ValidationError({self.page_query_param: [self.not_a_page_message]})
        return raw

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1}
        return parameters
