"""The simulator as a uvicorn factory, for the sender benchmark.

``python -m uvicorn bench.simapp:app --factory --no-access-log`` with ``BENCH_SIM_CONFIG``
naming a JSON ``SimulatorConfig``. Two differences from ``madoguchi simulator``:

- uvicorn's access log is off: at 1,000 sends/s plus their status webhooks, a log line per
  request would cost the simulator (which shares the machine with the product) CPU that
  Meta's side would not cost the product in real life;
- ``POST /_bench/webhooks {"enabled": false}`` stops webhook deliveries (they are logged
  as ``skipped``), and ``{"enabled": true}`` restores them. The sender benchmark uses it
  for one run of the sender alone, without the status webhooks each send causes, to tell
  the sender's own limits from those of ingesting the statuses. Switch only while no
  delivery is in flight.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI, Request

from madoguchi.gc_tuning import freeze_startup_heap, freeze_survivors_of_full_collections
from madoguchi.simulator.app import create_app
from madoguchi.simulator.config import SimulatorConfig


def app() -> FastAPI:
    config = SimulatorConfig.model_validate_json(Path(os.environ["BENCH_SIM_CONFIG"]).read_text())
    webhook_url = config.webhook_url
    application = create_app(config)

    @application.post("/_bench/webhooks")
    async def webhooks(request: Request) -> dict:
        enabled = bool((await request.json()).get("enabled"))
        request.app.state.sim.config.webhook_url = webhook_url if enabled else None
        return {"enabled": enabled}

    # Before the Graph API's catch-all routes, which would otherwise answer this path.
    application.router.routes.insert(0, application.router.routes.pop())
    freeze_startup_heap()  # as `madoguchi simulator` does
    freeze_survivors_of_full_collections()
    return application
