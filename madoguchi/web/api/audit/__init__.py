"""The audit log, read by admins (nothing in the product edits or deletes it)."""
