"""docs/flows.md shows the guide's flow in JSON and YAML: both must be the real thing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from madoguchi.domain.flows import parse_definition, validate
from madoguchi.domain.flows.examples import guide_flow

DOC = Path(__file__).resolve().parents[2] / "docs" / "flows.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_the_documented_guide_is_the_seeded_guide():
    expected = parse_definition(guide_flow(["100000000000001"])).to_json()
    as_json = [json.loads(b) for b in blocks("json") if '"Route_to_Sales"' in b]
    as_yaml = [yaml.safe_load(b) for b in blocks("yaml") if "Route_to_Sales" in b]
    assert len(as_json) == 1 and len(as_yaml) == 1
    assert parse_definition(as_json[0]).to_json() == expected
    [flow] = as_yaml[0]["flows"]
    assert parse_definition(flow["definition"]).to_json() == expected
    assert validate(parse_definition(as_json[0])) == []


def test_the_small_example_is_valid():
    small = next(json.loads(b) for b in blocks("json") if '"Hello"' in b)
    assert validate(parse_definition(small)) == []
