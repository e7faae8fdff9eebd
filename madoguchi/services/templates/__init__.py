"""Message templates: kept in step with Meta (submit, sync, delete, status and quality
webhooks), checked and filled in before a send. May use ``channel``; must not import
``contact_center``, ``flows`` or the web layer.
"""
