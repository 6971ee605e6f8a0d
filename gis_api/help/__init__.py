"""The manuals and documentation served offline at /help (rendered from docs/**/*.md)."""
