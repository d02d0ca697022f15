"""OpenAPI schema and docs views that document the URL map of the instance serving the
request, for that instance's staff only (SERVE_PERMISSIONS in settings guards the schema),
and the refusals every operation documents (POSTPROCESSING_HOOKS in settings).

`document_error_responses` adds, to every operation, the refusals it can answer besides its
own success, each with one shared body, so that clients (and the fuzz tests of
tests/test_api_fuzz.py) can rely on the schema for every status: 400 for bad input (any
operation: query strings are checked everywhere, see config.api_input), 401 and 403 for
the caller, 404 for routes with an id and for a page past the last, 409 for a write the
current state refuses, 415 for a body in a format the operation does not read, 429 for a
caller over its rate; on a reseller's instance, 503 while it is suspended and 410 once it
is closed. Refusals a view declares itself keep their description.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from tenant_apps.accounts.permissions import StaffRequiredMixin

ERROR_SCHEMA = {
    "type": "object",
    "description": "Why the request was refused, in a sentence.",
    "properties": {
        "detail": {"type": "string", "description": "The reason, for people"},
        "code": {
            "type": "string",
            "description": "A stable code for programs, when the reason has one "
            "(e.g. invalid_transition)",
        },
    },
    "required": ["detail"],
}

# DRF reports field errors under each field's name: a list of messages, an object for a
# nested object or a mapping, a list of objects for a list of nested objects.
VALIDATION_ERROR_SCHEMA = {
    "type": "object",
    "description": "Bad input: each field in error, with its messages (nested fields nest "
    "the same way; `non_field_errors` for a rule across fields); `detail` for a problem with "
    "the request as a whole, such as a body that cannot be read.",
    "properties": {
        "detail": {
            "oneOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string"}},
            ]
        },
    },
    # Any field name: a list of messages, or an object / a list of objects when nested. A
    # field may itself be named "code", so nothing more is assumed of the other keys.
    "additionalProperties": {"anyOf": [{"type": "array"}, {"type": "object"}, {"type": "string"}]},
}

RETRY_AFTER = {
    "Retry-After": {
        "schema": {"type": "integer"},
        "description": "Seconds to wait before calling again",
    }
}

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _error_codes(method: str, operation: dict, reseller: bool) -> dict[str, tuple[str, str]]:
    """Status → (description, component) of the refusals this operation can answer."""
    parameters = operation.get("parameters", [])
    has_path_id = any(p.get("in") == "path" for p in parameters)
    paginated = any(p.get("in") == "query" and p.get("name") == "page" for p in parameters)
    codes = {
        "400": (
            "Bad input: a field or query parameter is missing, malformed, too long or "
            "holds a NUL character",
            "ValidationError",
        ),
        "401": ("No credentials, or credentials that are unknown or revoked", "Error"),
        "403": ("The caller may not do this here", "Error"),
        "429": ("Too many calls: wait as long as Retry-After says", "Error"),
    }
    if has_path_id or paginated:
        codes["404"] = (
            "No such object in this instance" if has_path_id else "No such page",
            "Error",
        )
    if method.upper() in UNSAFE_METHODS:
        codes["409"] = ("Not allowed in the object's current state", "Error")
    if "requestBody" in operation:
        codes["415"] = ("The body is in a format this operation does not read", "Error")
    if reseller:  # the routing middleware answers these for the whole instance
        codes["410"] = ("This instance was closed", "Error")
        codes["503"] = ("This instance is suspended for now: try again later", "Error")
    return codes


def document_error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: the refusals of every operation, one body each."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Error", ERROR_SCHEMA)
    schemas.setdefault("ValidationError", VALIDATION_ERROR_SCHEMA)
    # Only a reseller's instance can be suspended or closed, not the operator's; a schema
    # built without a request (manage.py spectacular) documents every case.
    tenant = getattr(request, "tenant", None)
    reseller = tenant is None or not tenant.is_operator
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue  # path-level keys (parameters, summary …)
            responses = operation["responses"]
            for code, (description, name) in _error_codes(method, operation, reseller).items():
                response = responses.setdefault(code, {"description": description})
                # Refusals declared on the view keep their description and get the body.
                response.setdefault(
                    "content",
                    {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
                )
                if code in ("429", "503"):
                    response.setdefault("headers", RETRY_AFTER)
            operation["responses"] = dict(sorted(responses.items()))
    return result


class InstanceSchemaView(SpectacularAPIView):
    """The operator's domain has console endpoints that reseller instances do not."""

    @extend_schema(exclude=True)  # the schema does not document itself
    def get(self, request, *args, **kwargs):
        self.urlconf = getattr(request, "urlconf", None)
        return super().get(request, *args, **kwargs)


class StaffApiDocsView(StaffRequiredMixin, SpectacularRedocView):
    """The API docs page: anonymous visitors go to the sign-in page, customers get a 403."""

    template_name = "api/redoc.html"
