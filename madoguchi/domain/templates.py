"""Message templates as rules: what a valid template is, which parameters it takes, and
what the customer will see once the parameters are filled in.

Templates are kept in Meta's own shape (``components`` of HEADER, BODY, FOOTER, BUTTONS,
with ``example`` values), so what an API client or the ``apply`` file declares is exactly
what is submitted. Validation reports every problem at once, each naming its field
(``components[1].text``) and the limit, so a template is fixed before Meta's review
rather than rejected by it a day later. Plain Python only.

Parameters have one key each, used by the preview, the send and the ``apply`` file:

- ``body.1``, ``body.first_name`` — body placeholders (``1`` or ``first_name`` alone
  also work);
- ``header.1`` / ``header.name`` — the text header's placeholder; ``header`` — the media
  of an IMAGE/VIDEO/DOCUMENT header (a link or an uploaded media id) or a LOCATION;
- ``button.0`` — the suffix of a URL button with a placeholder, the code of a COPY_CODE
  button, or the payload of a QUICK_REPLY button (optional) — by the button's position.

A value is a literal, or a reference resolved against the contact and conversation:
``{"from": "contact.name"}``, ``{"from": "vars.order_number", "default": "—"}``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AUTH_BODY_TEXT",
    "BUTTON_TYPES",
    "CATEGORIES",
    "LIMITS",
    "MissingValues",
    "Preview",
    "TemplateInvalid",
    "TemplateParameter",
    "TemplateProblem",
    "TemplateShape",
    "canonical_values",
    "normalize_components",
    "parameter_format_of",
    "placeholders",
    "render_preview",
    "resolve_values",
    "send_components",
    "template_parameters",
    "template_shape",
    "validate_template",
]

CATEGORIES = ("MARKETING", "UTILITY", "AUTHENTICATION")
COMPONENT_TYPES = ("HEADER", "BODY", "FOOTER", "BUTTONS")
HEADER_FORMATS = ("TEXT", "IMAGE", "VIDEO", "DOCUMENT", "LOCATION")
BUTTON_TYPES = ("QUICK_REPLY", "URL", "PHONE_NUMBER", "COPY_CODE", "OTP", "FLOW", "VOICE_CALL")
OTP_TYPES = ("COPY_CODE", "ONE_TAP", "ZERO_TAP")
# The text WhatsApp shows for an authentication template (its body is not ours to write).
AUTH_BODY_TEXT = "{{1}} is your verification code."

LIMITS: Mapping[str, int] = {
    "name": 512,
    "header_text": 60,
    "body": 1024,
    "footer": 60,
    "buttons_max": 10,
    "button_text": 25,
    "url_buttons_max": 2,
    "phone_number_buttons_max": 1,
    "copy_code_buttons_max": 1,
    "url": 2000,
    "phone_number": 20,
    "copy_code": 15,
    "code_expiration_minutes": 90,
}

_NAME = re.compile(r"^[a-z0-9_]+$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2,4})?$")
_PLACEHOLDER_ANY = re.compile(r"\{\{(.*?)\}\}")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
_NAMED = re.compile(r"^[a-z_][a-z0-9_]*$")
_MEDIA_FORMATS = ("IMAGE", "VIDEO", "DOCUMENT")


@dataclass(frozen=True, slots=True)
class TemplateProblem:
    field: str
    message: str


class TemplateInvalid(ValueError):
    """Everything wrong with a template, each problem naming its field."""

    def __init__(self, problems: Sequence[TemplateProblem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(p.message for p in self.problems))


class MissingValues(ValueError):
    """A send needs values for these parameter keys."""

    def __init__(self, keys: Sequence[str]) -> None:
        self.keys = list(keys)
        super().__init__(f"no value for template parameter {', '.join(self.keys)}")


@dataclass(frozen=True, slots=True)
class TemplateParameter:
    """One value a send must (or may) supply."""

    key: str  # body.1 | body.first_name | header.1 | header | button.0
    component: str  # header | body | button
    name: str  # the placeholder ("1", "first_name"), the media kind, or the button index
    kind: str  # text | image | video | document | location | url | coupon_code | payload | otp
    example: str | None = None
    required: bool = True
    button_index: int | None = None


@dataclass(slots=True)
class Preview:
    """What the customer's phone will show (placeholders left as ``{{…}}`` when missing)."""

    header: dict[str, Any] | None
    body: str
    footer: str | None
    buttons: list[dict[str, Any]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "header": self.header,
            "body": self.body,
            "footer": self.footer,
            "buttons": self.buttons,
            "missing": self.missing,
        }


# ----------------------------------------------------------------------------- shapes


def placeholders(text: str | None) -> list[str]:
    """The distinct placeholder names of ``text`` in order (``{{1}}`` gives ``"1"``)."""
    seen: list[str] = []
    for name in _PLACEHOLDER.findall(text or ""):
        if name not in seen:
            seen.append(name)
    return seen


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def normalize_components(components: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A copy with Meta's enum values upper-cased (``type``, ``format``, button types)."""
    out: list[dict[str, Any]] = []
    for comp in components:
        if not isinstance(comp, Mapping):
            out.append(comp)  # type: ignore[arg-type]  # reported by validate_template
            continue
        item = dict(comp)
        item["type"] = _upper(item.get("type"))
        if "format" in item:
            item["format"] = _upper(item["format"])
        if isinstance(item.get("buttons"), list):
            item["buttons"] = [
                {**b, "type": _upper(b.get("type"))} if isinstance(b, Mapping) else b
                for b in item["buttons"]
            ]
        out.append(item)
    return out


def _component(components: Sequence[Mapping[str, Any]], ctype: str) -> Mapping[str, Any] | None:
    for comp in components:
        if isinstance(comp, Mapping) and _upper(comp.get("type")) == ctype:
            return comp
    return None


def parameter_format_of(components: Sequence[Mapping[str, Any]]) -> str:
    """NAMED when any header or body placeholder is a name, else POSITIONAL."""
    for ctype in ("HEADER", "BODY"):
        comp = _component(components, ctype)
        text = comp.get("text") if comp else None
        if isinstance(text, str) and any(not n.isdigit() for n in placeholders(text)):
            return "NAMED"
    return "POSITIONAL"


# ----------------------------------------------------------------------------- validation


def _too_long(value: str, where: str, limit: int) -> Iterator[TemplateProblem]:
    if len(value) > limit:
        yield TemplateProblem(
            where, f"{where} is {len(value):,} characters; WhatsApp allows at most {limit:,}"
        )


def _required_text(
    comp: Mapping[str, Any], key: str, where: str, limit: int
) -> Iterator[TemplateProblem]:
    value = comp.get(key)
    if not isinstance(value, str) or not value.strip():
        yield TemplateProblem(where, f"{where} is required")
        return
    yield from _too_long(value, where, limit)


def _placeholder_problems(
    text: str, where: str, parameter_format: str, *, max_count: int | None = None
) -> Iterator[TemplateProblem]:
    inner = [m.strip() for m in _PLACEHOLDER_ANY.findall(text)]
    for name in inner:
        if not (name.isdigit() or _NAMED.match(name)):
            yield TemplateProblem(
                where,
                f"{where}: {{{{{name}}}}} is not a parameter; use {{{{1}}}}, {{{{2}}}}… or a "
                "lowercase name such as {{first_name}}",
            )
            return
    names = placeholders(text)
    if not names:
        return
    numbered = [n for n in names if n.isdigit()]
    if numbered and len(numbered) != len(names):
        yield TemplateProblem(where, f"{where} mixes numbered and named parameters")
        return
    if parameter_format == "NAMED" and numbered:
        yield TemplateProblem(where, f"{where} uses numbered parameters in a NAMED template")
    if parameter_format == "POSITIONAL" and not numbered:
        yield TemplateProblem(where, f"{where} uses named parameters in a POSITIONAL template")
    if numbered and sorted(int(n) for n in numbered) != list(range(1, len(numbered) + 1)):
        yield TemplateProblem(
            where, f"{where}: numbered parameters must be {{{{1}}}}, {{{{2}}}}… in sequence"
        )
    if max_count is not None and len(names) > max_count:
        yield TemplateProblem(where, f"{where} may hold at most {max_count} parameter")


def _examples(
    comp: Mapping[str, Any], kind: str, names: list[str], where: str, named: bool
) -> tuple[dict[str, str], list[TemplateProblem]]:
    """Example values by placeholder name, from ``example.{kind}_text`` (positional) or
    ``example.{kind}_text_named_params`` (named); problems when any is missing."""
    if not names:
        return {}, []
    example = comp.get("example")
    example = example if isinstance(example, Mapping) else {}
    found: dict[str, str] = {}
    if named:
        key = f"{kind}_text_named_params"
        for item in example.get(key) or []:
            if isinstance(item, Mapping) and item.get("param_name") is not None:
                value = item.get("example")
                if isinstance(value, str | int | float) and str(value).strip():
                    found[str(item["param_name"])] = str(value)
        absent = [n for n in names if n not in found]
        if absent:
            return found, [
                TemplateProblem(
                    f"{where}.example.{key}",
                    f"{where}.example.{key} needs a sample value for each parameter "
                    f"(missing: {', '.join(absent)})",
                )
            ]
        return found, []
    key = f"{kind}_text"
    values = example.get(key)
    if kind == "body" and isinstance(values, list) and values and isinstance(values[0], list):
        values = values[0]  # body_text is a list holding one list of samples
    values = [str(v) for v in values] if isinstance(values, list) else []
    for name, value in zip(names, values, strict=False):
        if value.strip():
            found[name] = value
    if len(found) < len(names):
        shape = "[[…]]" if kind == "body" else "[…]"
        return found, [
            TemplateProblem(
                f"{where}.example.{key}",
                f"{where}.example.{key} needs {len(names)} sample value(s) as {shape}, one per "
                "parameter",
            )
        ]
    return found, []


def _header_problems(
    comp: Mapping[str, Any], where: str, parameter_format: str
) -> Iterator[TemplateProblem]:
    fmt = _upper(comp.get("format"))
    if fmt not in HEADER_FORMATS:
        yield TemplateProblem(
            f"{where}.format", f"{where}.format must be one of {', '.join(HEADER_FORMATS)}"
        )
        return
    if fmt != "TEXT":
        if comp.get("text") is not None:
            yield TemplateProblem(f"{where}.text", f"{where}.text is only for a TEXT header")
        return
    problems = list(_required_text(comp, "text", f"{where}.text", LIMITS["header_text"]))
    yield from problems
    if problems:
        return
    text = comp["text"]
    if "\n" in text:
        yield TemplateProblem(f"{where}.text", f"{where}.text must be a single line")
    placeholder_problems = list(
        _placeholder_problems(text, f"{where}.text", parameter_format, max_count=1)
    )
    yield from placeholder_problems
    if not placeholder_problems:
        _, missing = _examples(
            comp, "header", placeholders(text), where, parameter_format == "NAMED"
        )
        yield from missing


def _body_problems(
    comp: Mapping[str, Any], where: str, category: str, parameter_format: str
) -> Iterator[TemplateProblem]:
    if category == "AUTHENTICATION":
        if comp.get("text") is not None:
            yield TemplateProblem(
                f"{where}.text",
                f"{where}.text: authentication templates use WhatsApp's fixed text "
                f'("{AUTH_BODY_TEXT}"); set add_security_recommendation instead',
            )
        flag = comp.get("add_security_recommendation")
        if flag is not None and not isinstance(flag, bool):
            yield TemplateProblem(
                f"{where}.add_security_recommendation",
                f"{where}.add_security_recommendation must be true or false",
            )
        return
    problems = list(_required_text(comp, "text", f"{where}.text", LIMITS["body"]))
    yield from problems
    if problems:
        return
    text = comp["text"]
    placeholder_problems = list(_placeholder_problems(text, f"{where}.text", parameter_format))
    yield from placeholder_problems
    if not placeholder_problems:
        _, missing = _examples(comp, "body", placeholders(text), where, parameter_format == "NAMED")
        yield from missing


def _footer_problems(
    comp: Mapping[str, Any], where: str, category: str
) -> Iterator[TemplateProblem]:
    if category == "AUTHENTICATION":
        minutes = comp.get("code_expiration_minutes")
        limit = LIMITS["code_expiration_minutes"]
        if minutes is not None and (
            not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= limit
        ):
            yield TemplateProblem(
                f"{where}.code_expiration_minutes",
                f"{where}.code_expiration_minutes must be a whole number from 1 to {limit}",
            )
        if comp.get("text") is not None:
            yield TemplateProblem(
                f"{where}.text", f"{where}.text: an authentication footer has no text"
            )
        return
    problems = list(_required_text(comp, "text", f"{where}.text", LIMITS["footer"]))
    yield from problems
    if not problems and placeholders(comp["text"]):
        yield TemplateProblem(f"{where}.text", f"{where}.text cannot hold parameters")


def _button_problems(
    comp: Mapping[str, Any], where: str, category: str
) -> Iterator[TemplateProblem]:
    buttons = comp.get("buttons")
    if not isinstance(buttons, list) or not buttons:
        yield TemplateProblem(f"{where}.buttons", f"{where}.buttons must list 1 to 10 buttons")
        return
    if len(buttons) > LIMITS["buttons_max"]:
        yield TemplateProblem(
            f"{where}.buttons",
            f"{where}.buttons has {len(buttons)} buttons; WhatsApp allows at most "
            f"{LIMITS['buttons_max']}",
        )
    counts: dict[str, int] = {}
    kinds: list[str] = []
    for i, button in enumerate(buttons):
        at = f"{where}.buttons[{i}]"
        if not isinstance(button, Mapping):
            yield TemplateProblem(at, f"{at} must be an object")
            continue
        btype = _upper(button.get("type"))
        if btype not in BUTTON_TYPES:
            yield TemplateProblem(
                f"{at}.type", f"{at}.type must be one of {', '.join(BUTTON_TYPES)}"
            )
            continue
        counts[btype] = counts.get(btype, 0) + 1
        kinds.append("quick" if btype == "QUICK_REPLY" else "cta")
        if btype == "OTP":
            if category != "AUTHENTICATION":
                yield TemplateProblem(
                    f"{at}.type", f"{at}.type OTP is only for AUTHENTICATION templates"
                )
            if _upper(button.get("otp_type")) not in OTP_TYPES:
                yield TemplateProblem(
                    f"{at}.otp_type", f"{at}.otp_type must be one of {', '.join(OTP_TYPES)}"
                )
            continue
        if category == "AUTHENTICATION":
            yield TemplateProblem(
                f"{at}.type", f"{at}.type: an authentication template has one OTP button"
            )
            continue
        if btype == "COPY_CODE":
            example = button.get("example")
            if not isinstance(example, str) or not example.strip():
                yield TemplateProblem(
                    f"{at}.example", f"{at}.example needs a sample code (e.g. SUMMER25)"
                )
            else:
                yield from _too_long(example, f"{at}.example", LIMITS["copy_code"])
            continue
        yield from _required_text(button, "text", f"{at}.text", LIMITS["button_text"])
        if isinstance(button.get("text"), str) and placeholders(button["text"]):
            yield TemplateProblem(f"{at}.text", f"{at}.text cannot hold parameters")
        if btype == "URL":
            yield from _url_button_problems(button, at)
        elif btype == "PHONE_NUMBER":
            phone = button.get("phone_number")
            digits = re.sub(r"[\s+\-()]", "", phone) if isinstance(phone, str) else ""
            if not digits.isdigit():
                yield TemplateProblem(
                    f"{at}.phone_number",
                    f"{at}.phone_number must be a phone number with its country code",
                )
            else:
                yield from _too_long(phone, f"{at}.phone_number", LIMITS["phone_number"])
    for btype, limit_key in (
        ("URL", "url_buttons_max"),
        ("PHONE_NUMBER", "phone_number_buttons_max"),
        ("COPY_CODE", "copy_code_buttons_max"),
        ("OTP", "copy_code_buttons_max"),
    ):
        if counts.get(btype, 0) > LIMITS[limit_key]:
            yield TemplateProblem(
                f"{where}.buttons",
                f"{where}.buttons has {counts[btype]} {btype} buttons; WhatsApp allows at most "
                f"{LIMITS[limit_key]}",
            )
    # Quick replies and call-to-action buttons must each stay together.
    groups = [k for i, k in enumerate(kinds) if i == 0 or kinds[i - 1] != k]
    if len(groups) > 2:
        yield TemplateProblem(
            f"{where}.buttons",
            f"{where}.buttons: quick-reply buttons must be grouped together, not mixed between "
            "call-to-action buttons",
        )
    if category == "AUTHENTICATION" and counts.get("OTP", 0) != 1:
        yield TemplateProblem(
            f"{where}.buttons", f"{where}.buttons: an authentication template needs one OTP button"
        )


def _url_button_problems(button: Mapping[str, Any], at: str) -> Iterator[TemplateProblem]:
    url = button.get("url")
    if not isinstance(url, str) or not re.match(r"^https?://\S+$", url):
        yield TemplateProblem(f"{at}.url", f"{at}.url must be an http(s) URL")
        return
    yield from _too_long(url, f"{at}.url", LIMITS["url"])
    names = placeholders(url)
    if not names:
        return
    if len(names) > 1 or names != ["1"] or not url.rstrip().endswith("}}"):
        yield TemplateProblem(
            f"{at}.url", f"{at}.url may hold one parameter, {{{{1}}}}, at its very end"
        )
        return
    example = button.get("example")
    sample = example[0] if isinstance(example, list) and example else example
    if not isinstance(sample, str) or not sample.strip():
        yield TemplateProblem(
            f"{at}.example", f'{at}.example needs a sample full URL, e.g. ["https://…/123"]'
        )


def validate_template(
    *,
    name: Any,
    language: Any,
    category: Any,
    components: Any,
    parameter_format: Any = None,
) -> dict[str, Any]:
    """The template in Meta's create shape, or ``TemplateInvalid`` with every problem."""
    problems: list[TemplateProblem] = []
    if not isinstance(name, str) or not name:
        problems.append(TemplateProblem("name", "name is required"))
    else:
        problems.extend(_too_long(name, "name", LIMITS["name"]))
        if not _NAME.match(name):
            problems.append(
                TemplateProblem(
                    "name", "name may hold only lowercase letters, digits and underscores"
                )
            )
    if not isinstance(language, str) or not _LANGUAGE.match(language):
        problems.append(
            TemplateProblem("language", "language must be a code such as en_US, ja or pt_BR")
        )
    category = _upper(category)
    if category not in CATEGORIES:
        problems.append(
            TemplateProblem("category", f"category must be one of {', '.join(CATEGORIES)}")
        )
    if not isinstance(components, list) or not components:
        problems.append(TemplateProblem("components", "components must list at least a BODY"))
        raise TemplateInvalid(problems)
    components = normalize_components(components)
    fmt = _upper(parameter_format) if parameter_format else parameter_format_of(components)
    if fmt not in ("POSITIONAL", "NAMED"):
        problems.append(
            TemplateProblem("parameter_format", "parameter_format must be POSITIONAL or NAMED")
        )
        fmt = parameter_format_of(components)
    seen: dict[str, int] = {}
    order: list[str] = []
    for i, comp in enumerate(components):
        where = f"components[{i}]"
        if not isinstance(comp, Mapping):
            problems.append(TemplateProblem(where, f"{where} must be an object"))
            continue
        ctype = comp.get("type")
        if ctype not in COMPONENT_TYPES:
            problems.append(
                TemplateProblem(
                    f"{where}.type", f"{where}.type must be one of {', '.join(COMPONENT_TYPES)}"
                )
            )
            continue
        if ctype in seen:
            problems.append(
                TemplateProblem(where, f"{where} repeats components[{seen[ctype]}] ({ctype})")
            )
            continue
        seen[ctype] = i
        order.append(ctype)
        if ctype == "HEADER":
            problems.extend(_header_problems(comp, where, fmt))
        elif ctype == "BODY":
            problems.extend(_body_problems(comp, where, category, fmt))
        elif ctype == "FOOTER":
            problems.extend(_footer_problems(comp, where, category))
        else:
            problems.extend(_button_problems(comp, where, category))
    if "BODY" not in seen:
        problems.append(TemplateProblem("components", "components must include a BODY"))
    if category == "AUTHENTICATION" and "BUTTONS" not in seen:
        problems.append(
            TemplateProblem("components", "an authentication template needs a BUTTONS component")
        )
    if category == "AUTHENTICATION" and "HEADER" in seen:
        problems.append(
            TemplateProblem(
                f"components[{seen['HEADER']}]", "an authentication template has no header"
            )
        )
    if problems:
        raise TemplateInvalid(problems)
    return {
        "name": name,
        "language": language,
        "category": category,
        "parameter_format": fmt,
        "components": components,
    }


# ----------------------------------------------------------------------------- parameters


def template_parameters(
    components: Sequence[Mapping[str, Any]], category: str | None = None
) -> list[TemplateParameter]:
    """Every value a send of this template takes, in the order Meta expects them."""
    components = normalize_components(components)
    named = parameter_format_of(components) == "NAMED"
    params: list[TemplateParameter] = []
    header = _component(components, "HEADER")
    if header is not None:
        fmt = header.get("format")
        if fmt == "TEXT":
            names = placeholders(header.get("text"))
            examples, _ = _examples(header, "header", names, "header", named)
            params.extend(
                TemplateParameter(f"header.{n}", "header", n, "text", examples.get(n))
                for n in names
            )
        elif fmt in _MEDIA_FORMATS or fmt == "LOCATION":
            handle = (header.get("example") or {}).get("header_handle")
            example = handle[0] if isinstance(handle, list) and handle else None
            params.append(TemplateParameter("header", "header", fmt.lower(), fmt.lower(), example))
    body = _component(components, "BODY") or {}
    if _upper(category) == "AUTHENTICATION":
        params.append(TemplateParameter("body.1", "body", "1", "text", "123456"))
    else:
        names = placeholders(body.get("text"))
        examples, _ = _examples(body, "body", names, "body", named)
        params.extend(
            TemplateParameter(f"body.{n}", "body", n, "text", examples.get(n)) for n in names
        )
    buttons = (_component(components, "BUTTONS") or {}).get("buttons") or []
    for i, button in enumerate(buttons):
        if not isinstance(button, Mapping):
            continue
        btype = button.get("type")
        key = f"button.{i}"
        if btype == "URL" and placeholders(button.get("url")):
            example = button.get("example")
            sample = example[0] if isinstance(example, list) and example else example
            suffix = _url_suffix(button, sample)
            params.append(TemplateParameter(key, "button", str(i), "url", suffix, True, i))
        elif btype == "COPY_CODE":
            example = button.get("example")
            params.append(TemplateParameter(key, "button", str(i), "coupon_code", example, True, i))
        elif btype == "OTP":
            # The code again (defaults to body.1); WhatsApp fills the button with it.
            params.append(TemplateParameter(key, "button", str(i), "otp", None, False, i))
        elif btype == "QUICK_REPLY":
            params.append(
                TemplateParameter(key, "button", str(i), "payload", button.get("text"), False, i)
            )
    return params


def _url_suffix(button: Mapping[str, Any], sample: Any) -> str | None:
    """The part of a sample full URL that the ``{{1}}`` stands for."""
    if not isinstance(sample, str):
        return None
    prefix = _PLACEHOLDER.split(str(button.get("url", "")))[0]
    return sample[len(prefix) :] if sample.startswith(prefix) else sample


def canonical_values(
    params: Sequence[TemplateParameter], values: Mapping[str, Any]
) -> dict[str, Any]:
    """``values`` keyed by each parameter's canonical key (``1`` → ``body.1``).

    Unknown keys are dropped; a body parameter may be named without ``body.``, and a
    button's key may be ``button.0`` or ``buttons.0``.
    """
    by_key = {p.key: p for p in params}
    out: dict[str, Any] = {}
    for raw_key, value in values.items():
        key = str(raw_key)
        if key.startswith("buttons."):
            key = "button." + key.removeprefix("buttons.")
        if key not in by_key and f"body.{key}" in by_key:
            key = f"body.{key}"
        if key in by_key and value is not None and value != "":
            out[key] = value
    return out


# ----------------------------------------------------------------------------- values


def _lookup(context: Mapping[str, Any], path: str) -> Any:
    current: Any = context
    for part in path.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        else:
            return None
    return current


def resolve_values(
    spec: Mapping[str, Any], context: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """Literal values as given, references (``{"from": "contact.name"}``) looked up in
    ``context`` (``contact``, ``conversation``, ``vars``…); returns the values and the keys
    whose reference found nothing and had no ``default``."""
    resolved: dict[str, Any] = {}
    unresolved: list[str] = []
    for key, value in spec.items():
        if isinstance(value, Mapping) and "from" in value:
            found = _lookup(context, str(value["from"]))
            if found is None or found == "":
                found = value.get("default")
            if found is None or found == "":
                unresolved.append(str(key))
                continue
            resolved[str(key)] = found if isinstance(found, Mapping) else str(found)
        else:
            resolved[str(key)] = value
    return resolved, unresolved


# ----------------------------------------------------------------------------- shape


@dataclass(frozen=True)
class TemplateShape:
    """What every send of one template shares, worked out once: its components with
    Meta's enum values upper-cased, its parameters and whether they are named. A
    campaign builds its template's sends from one shape instead of re-reading the
    template for each recipient."""

    components: list[dict[str, Any]]
    params: list[TemplateParameter]
    named: bool
    category: str | None

    def preview(self, values: Mapping[str, Any], *, use_examples: bool = False) -> Preview:
        """``render_preview`` of this template."""
        return _preview(self, values, use_examples)

    def send_components(self, values: Mapping[str, Any]) -> list[dict[str, Any]]:
        """``send_components`` of this template."""
        return _send_components(self, values)


def template_shape(
    components: Sequence[Mapping[str, Any]], category: str | None = None
) -> TemplateShape:
    """The shape of a template's sends (see ``TemplateShape``)."""
    components = normalize_components(components)
    return TemplateShape(
        components=components,
        params=template_parameters(components, category),
        named=parameter_format_of(components) == "NAMED",
        category=category,
    )


# ----------------------------------------------------------------------------- preview


def _fill(text: str, section: str, values: Mapping[str, Any]) -> str:
    def one(match: re.Match[str]) -> str:
        value = values.get(f"{section}.{match.group(1)}")
        return str(value) if value is not None else match.group(0)

    return _PLACEHOLDER.sub(one, text)


def render_preview(
    components: Sequence[Mapping[str, Any]],
    values: Mapping[str, Any],
    *,
    category: str | None = None,
    use_examples: bool = False,
) -> Preview:
    """The message as the customer will see it; missing values stay ``{{…}}`` (or take
    the template's sample values when ``use_examples``) and are listed in ``missing``."""
    return template_shape(components, category).preview(values, use_examples=use_examples)


def _preview(shape: TemplateShape, values: Mapping[str, Any], use_examples: bool) -> Preview:
    components, params, category = shape.components, shape.params, shape.category
    given = canonical_values(params, values)
    filled: dict[str, Any] = dict(given)
    missing: list[str] = []
    for p in params:
        if p.key in given:
            continue
        if p.required:
            missing.append(p.key)
        if use_examples and p.example is not None:
            filled[p.key] = p.example

    header_out: dict[str, Any] | None = None
    header = _component(components, "HEADER")
    if header is not None:
        fmt = header.get("format")
        if fmt == "TEXT":
            header_out = {"type": "text", "text": _fill(header.get("text", ""), "header", filled)}
        else:
            header_out = {"type": str(fmt).lower(), "media": filled.get("header")}
    body = _component(components, "BODY") or {}
    body_text = AUTH_BODY_TEXT if _upper(category) == "AUTHENTICATION" else body.get("text", "")
    footer = _component(components, "FOOTER")
    footer_text = footer.get("text") if footer else None
    if footer and _upper(category) == "AUTHENTICATION" and footer.get("code_expiration_minutes"):
        footer_text = f"This code expires in {footer['code_expiration_minutes']} minutes."
    buttons_out: list[dict[str, Any]] = []
    for i, button in enumerate((_component(components, "BUTTONS") or {}).get("buttons") or []):
        if not isinstance(button, Mapping):
            continue
        item: dict[str, Any] = {"type": button.get("type"), "text": button.get("text")}
        value = filled.get(f"button.{i}")
        if button.get("type") == "URL":
            url = str(button.get("url", ""))
            item["url"] = _PLACEHOLDER.sub(
                lambda m, v=value: str(v) if v is not None else m.group(0), url
            )
        elif button.get("type") == "PHONE_NUMBER":
            item["phone_number"] = button.get("phone_number")
        elif button.get("type") == "COPY_CODE":
            item["text"] = item["text"] or "Copy code"
            item["code"] = value
        elif button.get("type") == "OTP":
            item["text"] = item["text"] or "Copy code"
        elif button.get("type") == "QUICK_REPLY":
            item["payload"] = value or button.get("text")
        buttons_out.append(item)
    return Preview(
        header=header_out,
        body=_fill(body_text, "body", filled),
        footer=footer_text,
        buttons=buttons_out,
        missing=missing,
    )


# ----------------------------------------------------------------------------- sending


def _media_parameter(kind: str, value: Any) -> dict[str, Any]:
    if kind == "location":
        if not isinstance(value, Mapping):
            raise TemplateInvalid(
                [
                    TemplateProblem(
                        "values.header",
                        "values.header of a LOCATION header is {latitude, longitude, name?, "
                        "address?}",
                    )
                ]
            )
        return {"type": "location", "location": dict(value)}
    if isinstance(value, Mapping):
        return {"type": kind, kind: dict(value)}
    ref = str(value)
    return {"type": kind, kind: {"link": ref} if "://" in ref else {"id": ref}}


def send_components(
    components: Sequence[Mapping[str, Any]],
    values: Mapping[str, Any],
    *,
    category: str | None = None,
) -> list[dict[str, Any]]:
    """The ``template.components`` of a send (Meta's send shape) from parameter values.

    Raises ``MissingValues`` naming every required key without a value, and
    ``TemplateInvalid`` when a filled-in text breaks a limit (header 60, body 1024).
    """
    return template_shape(components, category).send_components(values)


def _send_components(shape: TemplateShape, values: Mapping[str, Any]) -> list[dict[str, Any]]:
    params, category = shape.params, shape.category
    given = canonical_values(params, values)
    auth = _upper(category) == "AUTHENTICATION"
    if auth and "body.1" in given:
        for p in params:
            if p.kind == "otp":
                given.setdefault(p.key, given["body.1"])
    missing = [p.key for p in params if p.required and p.key not in given]
    if missing:
        raise MissingValues(missing)
    named = shape.named

    def text_param(p: TemplateParameter) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "text", "text": str(given[p.key])}
        if named and p.component in ("header", "body"):
            out["parameter_name"] = p.name
        return out

    problems: list[TemplateProblem] = []
    preview = _preview(shape, given, use_examples=False)
    if preview.header and preview.header.get("type") == "text":
        problems.extend(_too_long(preview.header["text"], "header", LIMITS["header_text"]))
    problems.extend(_too_long(preview.body, "body", LIMITS["body"]))
    if problems:
        raise TemplateInvalid(problems)

    out: list[dict[str, Any]] = []
    header_params = [p for p in params if p.component == "header"]
    if header_params:
        first = header_params[0]
        if first.kind == "text":
            out.append({"type": "header", "parameters": [text_param(p) for p in header_params]})
        else:
            out.append(
                {"type": "header", "parameters": [_media_parameter(first.kind, given[first.key])]}
            )
    body_params = [p for p in params if p.component == "body"]
    if body_params:
        out.append({"type": "body", "parameters": [text_param(p) for p in body_params]})
    for p in params:
        if p.component != "button" or p.key not in given:
            continue
        value = str(given[p.key])
        if p.kind in ("url", "otp"):
            sub_type, parameter = "url", {"type": "text", "text": value}
        elif p.kind == "coupon_code":
            sub_type, parameter = "copy_code", {"type": "coupon_code", "coupon_code": value}
        else:
            sub_type, parameter = "quick_reply", {"type": "payload", "payload": value}
        out.append(
            {
                "type": "button",
                "sub_type": sub_type,
                "index": str(p.button_index),
                "parameters": [parameter],
            }
        )
    return out
