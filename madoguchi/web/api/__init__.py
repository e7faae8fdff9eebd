"""The REST API under ``/api/v1``, one package per capability (mirroring ``services/``).

Each module holds one router that only translates HTTP to the capability's use cases and
back. ``ROUTERS`` is the order the app includes them in.
"""

from __future__ import annotations

from madoguchi.web.api.access import auth, tokens, users, workspace
from madoguchi.web.api.assist import insights as assist_insights
from madoguchi.web.api.assist import knowledge as assist_knowledge
from madoguchi.web.api.assist import settings as assist_settings
from madoguchi.web.api.audit import log as audit_log
from madoguchi.web.api.billing import estimates, rate_cards
from madoguchi.web.api.billing import reports as cost_reports
from madoguchi.web.api.calling import calls
from madoguchi.web.api.campaigns import campaigns
from madoguchi.web.api.channel import marketing_optout, numbers, service_window
from madoguchi.web.api.contact_center import (
    canned_responses,
    conversations,
    lifecycle,
    outreach,
    presence,
    queues,
)
from madoguchi.web.api.flows import definitions, draft_tests
from madoguchi.web.api.onboarding import health as number_health
from madoguchi.web.api.onboarding import signup
from madoguchi.web.api.reporting import reports as reporting_reports
from madoguchi.web.api.supervision import actions as supervision_actions
from madoguchi.web.api.supervision import wallboard
from madoguchi.web.api.templates import catalog

ROUTERS = [
    conversations.router,
    queues.router,
    presence.router,
    lifecycle.router,
    definitions.router,
    draft_tests.router,
    auth.router,
    users.router,
    tokens.router,
    catalog.router,
    service_window.router,
    marketing_optout.router,
    outreach.router,
    canned_responses.router,
    numbers.router,
    workspace.router,
    calls.router,
    assist_insights.router,
    assist_knowledge.router,
    assist_settings.router,
    audit_log.router,
    wallboard.router,
    supervision_actions.router,
    signup.router,
    number_health.router,
    rate_cards.router,
    estimates.router,
    cost_reports.router,
    campaigns.router,
    reporting_reports.router,
]
