"""The template sandbox staff-written e-mail wording runs in.

Staff of an instance write the subject and body of its e-mails in Django template syntax.
That text is untrusted, so it is compiled by an engine that knows only a short list of tags
and filters (nothing that loads, includes, dumps the context or pads output to a size the
text asks for), whose variables read only keys of the plain dicts the caller passes (no
attribute access, no method calls), whose loops have an iteration budget, and whose output
is capped. A template that breaks a rule fails to compile with a sentence saying why (shown
on the form when it is saved) or fails to render (the sender then uses the built-in wording).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.template import (
    Context,
    Engine,
    Library,
    Node,
    TemplateSyntaxError,
    defaultfilters,
    defaulttags,
)
from django.template.base import (
    BaseContext,
    FilterExpression,
    Lexer,
    Parser,
    Template,
    Variable,
    VariableDoesNotExist,
)
from django.utils.translation import gettext as _

MAX_OUTPUT_CHARACTERS = 50_000
MAX_SOURCE_CHARACTERS = 20_000
MAX_LOOP_ITERATIONS = 2_000

ALLOWED_TAGS = ("if", "for", "with", "comment", "firstof")
ALLOWED_FILTERS = (
    "add",
    "capfirst",
    "cut",
    "date",
    "default",
    "default_if_none",
    "divisibleby",
    "first",
    "join",
    "last",
    "length",
    "linebreaksbr",
    "lower",
    "pluralize",
    "striptags",
    "time",
    "title",
    "truncatechars",
    "truncatewords",
    "upper",
    "urlencode",
    "wordwrap",
    "yesno",
)


class TemplateTooLarge(Exception):
    """The rendered text, or the work to render it, is over the sandbox's limits."""


class _SandboxVariable(Variable):
    """A variable that reads keys of dicts and items of lists, nothing else."""

    __slots__ = ()

    def _resolve_lookup(self, context):
        current = context
        for bit in self.lookups:
            if isinstance(current, (BaseContext, Mapping)):
                try:
                    current = current[bit]
                except KeyError:
                    raise VariableDoesNotExist("Failed lookup for key [%s]", (bit,)) from None
            elif isinstance(current, Sequence) and not isinstance(current, str):
                try:
                    current = current[int(bit)]
                except (ValueError, IndexError):
                    raise VariableDoesNotExist("Failed lookup for key [%s]", (bit,)) from None
            else:
                # An attribute or method of a value (a string's .upper, a date's .year …).
                raise VariableDoesNotExist("No attribute access in e-mail templates: %s", (bit,))
            if callable(current):
                return context.template.engine.string_if_invalid
        return current


def _sandbox(variable):
    if isinstance(variable, Variable) and variable.lookups is not None:
        variable.__class__ = _SandboxVariable
    return variable


class _SandboxParser(Parser):
    def compile_filter(self, token) -> FilterExpression:
        expression = super().compile_filter(token)
        _sandbox(expression.var)
        for _function, arguments in expression.filters:
            for _lookup, argument in arguments:
                _sandbox(argument)
        return expression


class _SandboxTemplate(Template):
    def compile_nodelist(self):
        parser = _SandboxParser(
            Lexer(self.source).tokenize(),
            self.engine.template_libraries,
            self.engine.template_builtins,
            self.origin,
        )
        nodelist = parser.parse()
        self.extra_data = parser.extra_data
        return nodelist


class _LoopBudget(Node):
    """Counts loop iterations of one rendering: nested loops cannot multiply into hours."""

    def render(self, context) -> str:
        key = "email_sandbox_iterations"
        spent = context.render_context.get(key, 0) + 1
        context.render_context[key] = spent
        if spent > MAX_LOOP_ITERATIONS:
            raise TemplateTooLarge(
                _("The loops ran more than %(MAX_LOOP_ITERATIONS)s times.")
                % {"MAX_LOOP_ITERATIONS": MAX_LOOP_ITERATIONS}
            )
        return ""


register = Library()
for _name in ALLOWED_TAGS:
    if _name != "for":
        register.tag(_name, defaulttags.register.tags[_name])
for _name in ALLOWED_FILTERS:
    register.filter(_name, defaultfilters.register.filters[_name])


@register.tag("for")
def _budgeted_for(parser, token):
    node = defaulttags.do_for(parser, token)
    node.nodelist_loop.insert(0, _LoopBudget())
    return node


class _SandboxEngine(Engine):
    default_builtins: list[str] = []

    def from_string(self, template_code):
        return _SandboxTemplate(template_code, engine=self)


ENGINE = _SandboxEngine(
    autoescape=False, loaders=[], libraries={}, builtins=["tenant_apps.instance.email_sandbox"]
)


def compile_template(source: str) -> Template:
    """Compile staff-written text; raises TemplateSyntaxError naming a tag or filter that is
    not allowed (Django's own message: "Invalid block tag …", "Invalid filter: …")."""
    return ENGINE.from_string(source)


def template_problem(source: str) -> str | None:
    """Why staff-written text cannot be saved as e-mail wording, as a sentence, or None."""
    if len(source) > MAX_SOURCE_CHARACTERS:
        return _("Keep the text under %(MAX_SOURCE_CHARACTERS)s characters.") % {
            "MAX_SOURCE_CHARACTERS": format(MAX_SOURCE_CHARACTERS, ",")
        }
    try:
        compile_template(source)
    except TemplateSyntaxError as exc:
        return _(
            "This is not valid template syntax for an e-mail: %(exc)s. Allowed tags: "
            "%(ALLOWED_TAGS)s; allowed filters: %(ALLOWED_FILTERS)s."
        ) % {
            "exc": exc,
            "ALLOWED_TAGS": ", ".join(ALLOWED_TAGS),
            "ALLOWED_FILTERS": ", ".join(ALLOWED_FILTERS),
        }
    try:
        # Without data: catches what the text itself does (loops and sizes over the limits).
        render_template(source, {})
    except TemplateTooLarge as exc:
        return _("This cannot be used in an e-mail: %(problem)s") % {"problem": exc}
    except Exception as exc:  # noqa: BLE001 - any other failure is the text's, say so
        return _("This cannot be used in an e-mail: %(problem)s") % {"problem": exc}
    return None


def render_template(source: str, context: dict) -> str:
    """Render in the sandbox; raises TemplateTooLarge past the output or loop limits."""
    # Context() escapes by default whatever the engine says; these are plain-text e-mails.
    text = compile_template(source).render(Context(context, autoescape=False))
    if len(text) > MAX_OUTPUT_CHARACTERS:
        raise TemplateTooLarge(
            _("The e-mail is longer than %(MAX_OUTPUT_CHARACTERS)s characters once filled in.")
            % {"MAX_OUTPUT_CHARACTERS": format(MAX_OUTPUT_CHARACTERS, ",")}
        )
    return text


__all__ = [
    "MAX_LOOP_ITERATIONS",
    "MAX_OUTPUT_CHARACTERS",
    "TemplateSyntaxError",
    "TemplateTooLarge",
    "template_problem",
    "render_template",
]
