"""In the field (issue 16): work packages for offline patrols, attachments, and an idempotent sync of the queue."""
