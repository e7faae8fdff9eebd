"""All tables, one module per capability; importing this package registers every model.

``core`` holds the WhatsApp channel (workspaces, numbers, contacts, conversations,
messages, media, outbox); each later capability adds its own module here and its own
Alembic migration.
"""

from madoguchi.store.models.assist import *  # noqa: E402,F403
from madoguchi.store.models.audit import *  # noqa: E402,F403
from madoguchi.store.models.billing import *  # noqa: E402,F403
from madoguchi.store.models.calling import *  # noqa: E402,F403
from madoguchi.store.models.campaigns import *  # noqa: E402,F403
from madoguchi.store.models.canned import *  # noqa: E402,F403
from madoguchi.store.models.contact_center import *  # noqa: E402,F403
from madoguchi.store.models.core import *  # noqa: F403
from madoguchi.store.models.core import Base, utcnow  # noqa: F401
from madoguchi.store.models.flows import *  # noqa: E402,F403
from madoguchi.store.models.onboarding import *  # noqa: E402,F403
from madoguchi.store.models.rejected import *  # noqa: E402,F403
from madoguchi.store.models.reporting import *  # noqa: E402,F403
from madoguchi.store.models.supervision import *  # noqa: E402,F403
from madoguchi.store.models.templates import *  # noqa: E402,F403
