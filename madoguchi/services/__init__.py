"""The use cases of Madoguchi, one package per capability.

``channel`` (WhatsApp in and out), ``contact_center`` (queues, agents, conversations),
``flows``, ``templates``, ``access`` (users, sessions, tokens, workspaces),
``configuration`` (the workspace file and the demo seed) and ``scheduling`` (durable
timers). Later capabilities get packages of their own beside them (``supervision``,
``reporting``, ``assist``, ``billing``, ``calling``, ``onboarding``, ``campaigns``,
``audit``). Services never import the web layer (``madoguchi.web``), the CLI or the
composition root (``madoguchi.runtime``): workers receive the collaborators they use.
"""
