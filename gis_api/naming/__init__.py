"""Naming and renaming procedure (命名、更名审批, domain.md §1.3): proposals, documents, steps, notices."""
