"""What must be true before a flow version is published; every problem names the widget
and the field, so an editor can put the message next to the box that needs fixing.

Checks: one Start (bound to a number or callable); unique widget ids; edges that join
existing exits to existing widgets, one edge per exit, every exit connected; every widget
reachable from the Start; every ``{{variable}}`` and Condition variable defined (built in,
declared in ``variables``, or set by some widget); loops broken by a wait (a Collect
Input); each widget's own settings; and, given a ``Context``, that Route To targets,
Business Hours queues and Start numbers exist and no number starts two flows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from madoguchi.domain.flows import templating
from madoguchi.domain.flows.definition import (
    BUILTIN_VARIABLES,
    NODE_ID,
    RESERVED_NAMESPACES,
    BusinessHoursWidget,
    FlowDefinition,
    Problem,
    RouteToWidget,
    StartWidget,
)


@dataclass(frozen=True)
class Context:
    """What exists around the flow. ``None`` leaves that kind of reference unchecked."""

    queues: frozenset[str] | None = None
    agents: frozenset[str] | None = None  # e-mails, lowercase
    flows: frozenset[str] | None = None  # flows a Route To may continue in
    numbers: frozenset[str] | None = None  # Meta phone number ids of the workspace
    numbers_taken: Mapping[str, str] = field(default_factory=dict)  # number -> other flow
    flow_name: str | None = None


def known_variables(definition: FlowDefinition) -> set[str]:
    known = set(BUILTIN_VARIABLES) | set(definition.variables)
    for node in definition.nodes:
        known.update(name for _, name in node.variables_written())
    return known


def validate(definition: FlowDefinition, context: Context | None = None) -> list[Problem]:
    context = context or Context()
    problems: list[Problem] = []
    add = problems.append
    nodes = {}
    for i, node in enumerate(definition.nodes):
        if not NODE_ID.match(node.id):
            add(
                Problem(
                    node.id or f"nodes[{i}]",
                    "id",
                    "an id is a letter then letters, digits, _ or - (at most 64)",
                )
            )
        if node.id in nodes:
            add(Problem(node.id, "id", f"two widgets have the id {node.id!r}"))
            continue
        nodes[node.id] = node

    starts = [n for n in definition.nodes if isinstance(n, StartWidget)]
    if not starts:
        add(Problem(None, "nodes", "the flow has no Start widget"))
    for extra in starts[1:]:
        add(Problem(extra.id, "type", f"a flow has one Start; {starts[0].id} is already one"))

    # Edges.
    targets: dict[tuple[str, str], str] = {}
    for i, edge in enumerate(definition.edges):
        where = f"edges[{i}]"
        source = nodes.get(edge.source)
        if source is None:
            add(Problem(None, f"{where}.from", f"no widget {edge.source!r}"))
            continue
        if edge.exit not in source.exits():
            exits = ", ".join(source.exits()) or "none"
            add(
                Problem(
                    source.id,
                    f"exits.{edge.exit}",
                    f"{source.type} widget has no exit {edge.exit!r} (exits: {exits})",
                )
            )
            continue
        if edge.to not in nodes:
            add(Problem(source.id, f"exits.{edge.exit}", f"leads to no widget {edge.to!r}"))
            continue
        if isinstance(nodes[edge.to], StartWidget):
            add(Problem(source.id, f"exits.{edge.exit}", "cannot lead back to the Start"))
            continue
        if (edge.source, edge.exit) in targets:
            add(
                Problem(
                    source.id,
                    f"exits.{edge.exit}",
                    f"connected twice (to {targets[(edge.source, edge.exit)]} and {edge.to})",
                )
            )
            continue
        targets[(edge.source, edge.exit)] = edge.to
    for node in nodes.values():
        for exit_name in node.exits():
            if (node.id, exit_name) not in targets:
                add(Problem(node.id, f"exits.{exit_name}", f"exit {exit_name!r} is not connected"))

    # Reachability.
    if starts:
        seen = {starts[0].id}
        todo = [starts[0].id]
        while todo:
            current = todo.pop()
            for (source, _), to in targets.items():
                if source == current and to not in seen:
                    seen.add(to)
                    todo.append(to)
        for node in nodes.values():
            if node.id not in seen and not isinstance(node, StartWidget):
                add(Problem(node.id, "id", "unreachable: no exit leads here from the Start"))

    # Loops that never wait for the customer.
    for cycle in _loops_without_wait(nodes, targets):
        path = " → ".join([*cycle, cycle[0]])
        add(
            Problem(
                cycle[0],
                "exits",
                f"loop without a wait: {path} (a Collect Input in the "
                "loop would wait for the customer)",
            )
        )

    # Variables.
    known = known_variables(definition)
    for name in definition.variables:
        if not templating.VARIABLE_NAME.match(name):
            add(Problem(None, f"variables.{name}", "not a variable name"))
        elif name.split(".")[0] in RESERVED_NAMESPACES:
            add(
                Problem(None, f"variables.{name}", f"{name.split('.')[0]}. is a built-in namespace")
            )
    for node in nodes.values():
        for where, name in node.variables_written():
            if not templating.VARIABLE_NAME.match(name):
                add(
                    Problem(
                        node.id,
                        where,
                        f"{name!r} is not a variable name (letters, digits, _ and dots)",
                    )
                )
            elif name.split(".")[0] in RESERVED_NAMESPACES:
                add(
                    Problem(
                        node.id,
                        where,
                        f"{name.split('.')[0]}. is a built-in namespace; pick another name",
                    )
                )
        for where, text in node.texts():
            for bad in templating.malformed(text):
                add(Problem(node.id, where, f"{bad} is not a variable reference"))
            for name in dict.fromkeys(templating.references(text)):
                if name not in known:
                    add(Problem(node.id, where, f"unknown variable {{{{{name}}}}}"))
        for where, name in node.variables_read():
            if name not in known:
                add(Problem(node.id, where, f"unknown variable {name!r}"))

    # Each widget's settings, then the world around the flow.
    for node in nodes.values():
        for where, message in node.problems():
            add(Problem(node.id, where, message))
        problems.extend(_references(node, context))
    return problems


def _references(node, context: Context) -> list[Problem]:
    out = []
    if isinstance(node, RouteToWidget | BusinessHoursWidget):
        queue = node.queue
        if queue and context.queues is not None and queue not in context.queues:
            out.append(Problem(node.id, "queue", f"no queue named {queue!r}"))
    if isinstance(node, RouteToWidget):
        agents = context.agents
        unknown_agent = agents is not None and (node.agent or "").lower() not in agents
        if node.target == "agent" and node.agent and unknown_agent:
            out.append(Problem(node.id, "agent", f"no user {node.agent!r} in this workspace"))
        if node.target == "flow" and node.flow:
            if context.flow_name is not None and node.flow == context.flow_name:
                out.append(
                    Problem(
                        node.id,
                        "flow",
                        "a flow cannot route to itself (use an exit to go back to a widget)",
                    )
                )
            elif context.flows is not None and node.flow not in context.flows:
                out.append(Problem(node.id, "flow", f"no published flow named {node.flow!r}"))
    if isinstance(node, StartWidget):
        for i, number in enumerate(node.numbers):
            if not number.isdigit():
                continue  # reported by the widget's own check
            if context.numbers is not None and number not in context.numbers:
                out.append(
                    Problem(
                        node.id, f"numbers[{i}]", f"no WhatsApp number {number} in this workspace"
                    )
                )
            elif number in context.numbers_taken:
                out.append(
                    Problem(
                        node.id,
                        f"numbers[{i}]",
                        f"{number} already starts the "
                        f"flow {context.numbers_taken[number]!r}; a number starts "
                        "one flow",
                    )
                )
    return out


def _loops_without_wait(nodes: dict, targets: dict[tuple[str, str], str]) -> list[list[str]]:
    """Cycles of the graph without the exits of waiting widgets (Tarjan's SCCs)."""
    graph: dict[str, list[str]] = {node_id: [] for node_id in nodes}
    for (source, _), to in targets.items():
        if not nodes[source].waits:
            graph[source].append(to)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(start: str) -> None:
        # Iterative Tarjan, so a long chain of widgets cannot exhaust the recursion limit.
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph[node]:
                    found.append(_cycle_order(component, graph))

    for node_id in graph:
        if node_id not in index:
            visit(node_id)
    return found


def _cycle_order(component: list[str], graph: dict[str, list[str]]) -> list[str]:
    """The component's members in the order the exits visit them (for a readable path)."""
    members = set(component)
    first = min(component)
    order = [first]
    current = first
    while True:
        nxt = next((c for c in graph[current] if c in members and c not in order), None)
        if nxt is None:
            break
        order.append(nxt)
        current = nxt
    order.extend(sorted(members - set(order)))
    return order
