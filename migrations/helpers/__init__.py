"""Helpers for migrations (imported by revision scripts as ``migrations.helpers.…``)."""
