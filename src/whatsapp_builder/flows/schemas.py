"""JSON Schemas (Draft 2020-12) for the ``data`` of every node type.

The API validates saved chatbots with them and the web UI renders node forms from them. Rules that JSON
Schema cannot express well (unique button ids, ≤10 list rows in total, valid regexes...) are checked in
:mod:`whatsapp_builder.flows.validation`.
"""

from __future__ import annotations

from typing import Any, Final

DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
VARIABLE_PATTERN: Final = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$"
MEDIA_TYPES: Final = ("image", "video", "audio", "document", "sticker")
VALIDATION_TYPES: Final = ("text", "number", "email", "phone", "date", "options", "regex")
# The answer types whose length flows/answers.py checks.
_LENGTH_CHECKED: Final = ["text", "email", "regex"]
# A form hint, not a rule (JSON Schema ignores keywords it does not know): the builder shows the property only
# while each named sibling has one of the listed values, or when it holds a value already.
X_WHEN: Final = "x-when"
OPERATORS: Final = (
    "equals",
    "not_equals",
    "contains",
    "starts_with",
    "matches_regex",
    "greater_than",
    "less_than",
    "is_set",
    "is_not_set",
)
HTTP_METHODS: Final = ("GET", "POST", "PUT", "PATCH", "DELETE")
MAX_DELAY_SECONDS: Final = 604_800


def _variable(
    title: str = "Variable", description: str = "Variable name, e.g. `name` or `order.size`."
) -> dict[str, Any]:
    return {
        "type": "string",
        "title": title,
        "description": description,
        "pattern": VARIABLE_PATTERN,
        "minLength": 1,
        "maxLength": 100,
    }


def _text(title: str, max_length: int, description: str, min_length: int = 0) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "string",
        "title": title,
        "description": description,
        "maxLength": max_length,
    }
    if min_length:
        schema["minLength"] = min_length
    return schema


def _node(title: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "$schema": DIALECT,
        "type": "object",
        "title": title,
        "description": description,
        "properties": properties,
        "required": required,
    }


_TEMPLATED = " Supports {{variables}}."

START: Final = _node(
    "Start",
    "Entry point of the chatbot. A new conversation starts this chatbot when its message equals a trigger "
    "keyword or starts with one followed by a space (case-insensitive, ignoring punctuation around words: 'Hi!' "
    "matches 'hi').",
    {
        "triggerKeywords": {
            "type": "array",
            "title": "Trigger keywords",
            "description": "Keywords that start this chatbot. Leave empty for a catch-all chatbot.",
            "items": {"type": "string", "minLength": 1, "maxLength": 100},
            "maxItems": 50,
        },
        "label": _text("Label", 100, "Shown on the canvas only."),
    },
    [],
)

MESSAGE: Final = _node(
    "Message",
    "Sends a text and/or a media message, then continues along its single outgoing edge.",
    {
        "text": _text("Text", 4096, "Message text." + _TEMPLATED),
        "media": {
            "type": "object",
            "title": "Media",
            "description": "An image, video, audio, document or sticker sent after the text.",
            "properties": {
                "type": {"type": "string", "title": "Media type", "enum": list(MEDIA_TYPES)},
                "url": _text("URL", 2048, "Public https URL of the file." + _TEMPLATED, min_length=1),
                "caption": _text("Caption", 1024, "Caption (image, video, document)." + _TEMPLATED),
                "filename": _text("File name", 240, "File name shown for documents."),
            },
            "required": ["type", "url"],
        },
    },
    [],
)
MESSAGE["anyOf"] = [{"required": ["text"]}, {"required": ["media"]}]

QUESTION: Final = _node(
    "Question",
    "Asks a question and waits for a valid answer, stored in a variable. Handles: default (valid answer) "
    "and `gave_up` (after `maxRetries` invalid answers).",
    {
        "text": _text("Question", 4096, "The question sent to the customer." + _TEMPLATED, min_length=1),
        "variable": _variable(description="Where the answer is stored."),
        "validation": {
            "type": "object",
            "title": "Validation",
            "description": "Which answers are accepted and how they are stored.",
            "properties": {
                "type": {"type": "string", "title": "Answer type", "enum": list(VALIDATION_TYPES)},
                "options": {
                    "type": "array",
                    "title": "Options",
                    "description": "Accepted answers (type `options`), matched case-insensitively, ignoring punctuation around words.",
                    "items": {"type": "string", "minLength": 1, "maxLength": 100},
                    "minItems": 1,
                    "maxItems": 50,
                    X_WHEN: {"type": ["options"]},
                },
                "pattern": {
                    **_text("Pattern", 500, "Regular expression the whole answer must match (type `regex`)."),
                    X_WHEN: {"type": ["regex"]},
                },
                "minLength": {
                    "type": "integer",
                    "title": "Minimum length",
                    "minimum": 0,
                    "maximum": 4096,
                    X_WHEN: {"type": _LENGTH_CHECKED},
                },
                "maxLength": {
                    "type": "integer",
                    "title": "Maximum length",
                    "minimum": 1,
                    "maximum": 4096,
                    X_WHEN: {"type": _LENGTH_CHECKED},
                },
                "min": {
                    "type": "number",
                    "title": "Minimum",
                    "description": "Smallest accepted number.",
                    X_WHEN: {"type": ["number"]},
                },
                "max": {
                    "type": "number",
                    "title": "Maximum",
                    "description": "Largest accepted number.",
                    X_WHEN: {"type": ["number"]},
                },
                "wholeNumber": {
                    "type": "boolean",
                    "title": "Whole numbers only",
                    "description": "Refuse fractions and exponents (type `number`): for counts like a quantity.",
                    X_WHEN: {"type": ["number"]},
                },
            },
            "required": ["type"],
        },
        "retryPrompt": _text("Retry prompt", 4096, "Sent after an invalid answer." + _TEMPLATED),
        "maxRetries": {
            "type": "integer",
            "title": "Maximum invalid answers",
            "description": "After this many invalid answers the flow follows `gave_up` (default 2).",
            "minimum": 0,
            "maximum": 10,
            "default": 2,
        },
    },
    ["text", "variable", "validation"],
)


def _takes_first_message(option: str) -> dict[str, Any]:
    return {
        "type": "boolean",
        "title": "Answered by the first message",
        "description": f"When a conversation starts and this is the first question it reaches, the customer's first"
        f" message may already name a {option}: its title, or the first words of one title ('order' for 'Order a"
        f" pizza'). That {option} is taken and this message is not sent.",
    }


BUTTONS: Final = _node(
    "Reply buttons",
    "Sends up to three reply buttons and waits. One handle per button (the edge's sourceHandle is the button id).",
    {
        "text": _text("Body", 1024, "Message body." + _TEMPLATED, min_length=1),
        "header": _text("Header", 60, "Optional header text." + _TEMPLATED),
        "footer": _text("Footer", 60, "Optional footer text." + _TEMPLATED),
        "buttons": {
            "type": "array",
            "title": "Buttons",
            "minItems": 1,
            "maxItems": 3,
            "items": {
                "type": "object",
                "properties": {
                    "id": _text("Id", 256, "Unique id; also the handle of the edge.", min_length=1),
                    "title": _text("Title", 20, "Button text.", min_length=1),
                },
                "required": ["id", "title"],
            },
        },
        "variable": _variable(description="Optional: stores the chosen button's title."),
        "invalidPrompt": _text("Invalid answer prompt", 4096, "Sent before the buttons again." + _TEMPLATED),
        "takesFirstMessage": _takes_first_message("button"),
    },
    ["text", "buttons"],
)

LIST: Final = _node(
    "List",
    "Sends a list message (up to 10 rows) and waits. One handle per row (sourceHandle is the row id).",
    {
        "text": _text("Body", 4096, "Message body." + _TEMPLATED, min_length=1),
        "buttonLabel": _text("Button label", 20, "Label of the button that opens the list.", min_length=1),
        "header": _text("Header", 60, "Optional header text." + _TEMPLATED),
        "footer": _text("Footer", 60, "Optional footer text." + _TEMPLATED),
        "sections": {
            "type": "array",
            "title": "Sections",
            "description": "At most 10 sections and 10 rows in total; titles required with several sections.",
            "minItems": 1,
            "maxItems": 10,
            "items": {
                "type": "object",
                "properties": {
                    "title": _text("Section title", 24, "Required when there is more than one section."),
                    "rows": {
                        "type": "array",
                        "title": "Rows",
                        "minItems": 1,
                        "maxItems": 10,
                        "items": {
                            "type": "object",
                            "properties": {
                                "id": _text("Id", 200, "Unique id; also the handle of the edge.", min_length=1),
                                "title": _text("Title", 24, "Row title.", min_length=1),
                                "description": _text("Description", 72, "Optional row description."),
                            },
                            "required": ["id", "title"],
                        },
                    },
                },
                "required": ["rows"],
            },
        },
        "variable": _variable(description="Optional: stores the chosen row's title."),
        "invalidPrompt": _text("Invalid answer prompt", 4096, "Sent before the list again." + _TEMPLATED),
        "takesFirstMessage": _takes_first_message("row"),
    },
    ["text", "buttonLabel", "sections"],
)

CONDITION: Final = _node(
    "Condition",
    "Checks variables and follows handle `true` or `false`.",
    {
        "match": {
            "type": "string",
            "title": "Match",
            "description": "`all`: every rule must hold; `any`: one is enough.",
            "enum": ["all", "any"],
            "default": "all",
        },
        "rules": {
            "type": "array",
            "title": "Rules",
            "minItems": 1,
            "maxItems": 20,
            "items": {
                "type": "object",
                "properties": {
                    "variable": _variable(),
                    "operator": {"type": "string", "title": "Operator", "enum": list(OPERATORS)},
                    "value": {
                        "type": ["string", "number"],
                        "title": "Value",
                        "description": "Compared value (not needed for is_set / is_not_set)." + _TEMPLATED,
                        "maxLength": 1000,
                    },
                },
                "required": ["variable", "operator"],
            },
        },
    },
    ["match", "rules"],
)

_ASSIGNED_VALUE: Final[dict[str, Any]] = {
    "type": ["string", "number", "boolean"],
    "title": "Value",
    "description": "Value to store." + _TEMPLATED,
    "maxLength": 4096,
}
_ASSIGNMENT: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {"variable": _variable(), "value": _ASSIGNED_VALUE},
    "required": ["variable", "value"],
}

SET_VARIABLE: Final = _node(
    "Set variables",
    "Stores values in variables, then continues. Use `assignments`, or the single form `{variable, value}`.",
    {
        "assignments": {
            "type": "array",
            "title": "Assignments",
            "minItems": 1,
            "maxItems": 50,
            "items": _ASSIGNMENT,
        },
        "variable": _variable(),
        "value": _ASSIGNED_VALUE,
    },
    [],
)
SET_VARIABLE["anyOf"] = [{"required": ["assignments"]}, {"required": ["variable", "value"]}]

HTTP_REQUEST: Final = _node(
    "HTTP request",
    "Calls an external HTTP API. Handles: `success` (2xx) and `error` (anything else, timeouts, refused addresses).",
    {
        "method": {"type": "string", "title": "Method", "enum": list(HTTP_METHODS)},
        "url": _text("URL", 2048, "http(s) URL." + _TEMPLATED, min_length=1),
        "headers": {
            "type": "object",
            "title": "Headers",
            "additionalProperties": {"type": "string", "maxLength": 4096},
            "maxProperties": 30,
        },
        "body": {
            "type": ["string", "object", "array"],
            "title": "Body",
            "description": "A string, or a JSON value sent as JSON. Strings inside support {{variables}}.",
        },
        "timeoutSeconds": {
            "type": "number",
            "title": "Timeout (seconds)",
            "exclusiveMinimum": 0,
            "maximum": 30,
            "default": 10,
        },
        "responseMapping": {
            "type": "array",
            "title": "Response mapping",
            "description": "Copies values from the JSON response, e.g. path `data.items.0.name`.",
            "maxItems": 30,
            "items": {
                "type": "object",
                "properties": {
                    "variable": _variable("Into variable", "The variable that gets the value found at Path."),
                    "path": {"type": "string", "title": "Path", "maxLength": 500},
                },
                "required": ["variable", "path"],
            },
        },
        "statusVariable": _variable("Status variable", "Optional: the variable that gets the HTTP status code."),
    },
    ["method", "url"],
)

DELAY: Final = _node(
    "Delay",
    "Waits, then continues along its single outgoing edge. Customer messages during the wait are ignored "
    "(except restart keywords).",
    {
        "seconds": {
            "type": "integer",
            "title": "Seconds",
            "description": "How long to wait (1 second to 7 days).",
            "minimum": 1,
            "maximum": MAX_DELAY_SECONDS,
        }
    },
    ["seconds"],
)

JUMP: Final = _node(
    "Jump",
    "Continues at another node, without an edge.",
    {"targetNodeId": {"type": "string", "title": "Target node", "minLength": 1, "maxLength": 255}},
    ["targetNodeId"],
)

HANDOFF: Final = _node(
    "Hand off to a human",
    "Optionally sends a message, then ends the bot's part: an operator takes over.",
    {"text": _text("Text", 4096, "Optional message." + _TEMPLATED)},
    [],
)

END: Final = _node(
    "End",
    "Optionally sends a message, then ends the conversation's context as completed.",
    {"text": _text("Text", 4096, "Optional message." + _TEMPLATED)},
    [],
)

NODE_SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    "start": START,
    "message": MESSAGE,
    "question": QUESTION,
    "buttons": BUTTONS,
    "list": LIST,
    "condition": CONDITION,
    "set_variable": SET_VARIABLE,
    "http_request": HTTP_REQUEST,
    "delay": DELAY,
    "jump": JUMP,
    "handoff": HANDOFF,
    "end": END,
}
"""JSON Schema of ``data`` per node type. Treat as read-only."""
