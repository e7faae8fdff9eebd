"""Flows: what a flow document is, when it may be published, and how it runs.

Pure Python (pydantic for the document's shape): no database, no HTTP. The service
``madoguchi.services.flows.definitions`` stores and publishes documents; ``services.flows.runner``
feeds the engine with the customer's messages, timers and HTTP answers and carries out
the actions it returns.
"""

from madoguchi.domain.flows.definition import (
    BUILTIN_VARIABLES,
    DefinitionError,
    FlowDefinition,
    Problem,
    parse_definition,
)
from madoguchi.domain.flows.engine import MAX_STEPS, Advance, Context, RunState, advance
from madoguchi.domain.flows.validation import Context as ValidationContext
from madoguchi.domain.flows.validation import validate

__all__ = [
    "BUILTIN_VARIABLES",
    "MAX_STEPS",
    "Advance",
    "Context",
    "DefinitionError",
    "FlowDefinition",
    "Problem",
    "RunState",
    "ValidationContext",
    "advance",
    "parse_definition",
    "validate",
]
