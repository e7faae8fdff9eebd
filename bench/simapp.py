"""The simulator as a uvicorn factory, for the sender benchmark.

``python -m uvicorn bench.simapp:app --factory --no-access-log`` with ``BENCH_SIM_CONFIG``
naming a JSON ``SimulatorConfig``. Unlike ``madoguchi simulator`` this leaves uvicorn's
access log off: at 1,000 sends/s plus their status webhooks, writing a log line per
request would cost the simulator (which shares the machine with the product) CPU that
Meta's side would not cost the product in real life.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI

from madoguchi.simulator.app import create_app
from madoguchi.simulator.config import SimulatorConfig


def app() -> FastAPI:
    text = Path(os.environ["BENCH_SIM_CONFIG"]).read_text()
    return create_app(SimulatorConfig.model_validate_json(text))
