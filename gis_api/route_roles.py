"""Which roles a route requires, read from the route's own ``auth.require(...)`` call — so the check can run
before the request body is validated (permission comes before validation: a viewer sending an invalid PATCH
gets 403, not a 422 that lists the fields it may not write anyway).

Routes keep their role check where it is (``auth.require(user, *EDITORS)`` as the handler's first statement);
``deps.optional_user`` — a dependency of every route that knows its user, solved before the body is validated —
asks ``required_roles(endpoint)`` and applies the same check early. Only unconditional calls count: a
statement at the top level of the handler, or of a helper of the same module that such a statement calls
(``return _close(…)``, ``c, editor, user = _editor(…)``); a check inside an ``if`` (a user changing their own
password) is left to the handler. Roles that cannot be read without running the handler (``*roles_for(body.to)``,
``*c.editor.roles``) count as "any role that writes" — every role but viewer — so nobody who might be allowed is
refused early.
"""

from __future__ import annotations

import ast
import functools
import inspect
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gis_api.auth import Role

# Every role that can write something: what an unreadable role list is taken to mean.
WRITING_ROLES: tuple[Role, ...] = tuple(r for r in Role if r is not Role.viewer)


def _function_def(fn: Callable[..., Any]) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The module-level definition of ``fn``, found by name in its module's source (not by line number: the
    file may have been edited since it was imported, and then the line numbers point elsewhere)."""
    try:
        path = inspect.getsourcefile(fn)
    except TypeError:
        return None
    if path is None:
        return None
    for node in _module_tree(path).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == fn.__name__:
            return node
    return None


# CPython 3.11's ast.parse is not safe in concurrent threads ("AST constructor recursion depth mismatch", seen as a
# 500 when the first requests of a route arrive together): parse one module at a time.
_PARSE = threading.Lock()


@functools.cache
def _module_tree(path: str) -> ast.Module:
    try:
        with _PARSE:
            return ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return ast.Module(body=[], type_ignores=[])


def _top_level_calls(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[ast.Call]:
    """Calls made by the function's top-level statements, whatever happens (not inside if/for/try/with)."""
    for stmt in fn.body:
        if isinstance(stmt, ast.Expr | ast.Assign | ast.AnnAssign | ast.Return) and stmt.value is not None:
            yield from (n for n in ast.walk(stmt.value) if isinstance(n, ast.Call))


def _is_require(call: ast.Call) -> bool:
    f = call.func
    return (isinstance(f, ast.Attribute) and f.attr == "require" and isinstance(f.value, ast.Name)
            and f.value.id == "auth") or (isinstance(f, ast.Name) and f.id == "require")


def _resolve(node: ast.expr, scope: dict[str, Any]) -> Any:
    """The value of a name or a dotted name (``EDITORS``, ``auth.Role.officer``) in ``scope``; KeyError else."""
    if isinstance(node, ast.Name):
        return scope[node.id]
    if isinstance(node, ast.Attribute):
        try:
            return getattr(_resolve(node.value, scope), node.attr)
        except AttributeError:
            raise KeyError(node.attr) from None
    raise KeyError(ast.dump(node))


def _roles_of(call: ast.Call, scope: dict[str, Any]) -> set[Role]:
    args = call.args[1:]  # the first argument is the user
    if not args:
        return {Role.admin}  # auth.require(user): admin only
    out: set[Role] = set()
    for a in args:
        try:
            value = _resolve(a.value if isinstance(a, ast.Starred) else a, scope)
            values = list(value) if isinstance(a, ast.Starred) else [value]
            if not values or not all(isinstance(v, Role) for v in values):
                raise KeyError("not roles")
        except (KeyError, TypeError):
            return set(WRITING_ROLES)  # computed from the request: any role that writes may be allowed
        out.update(values)
    return out


def _collect(fn: Callable[..., Any], depth: int) -> tuple[set[Role] | None, bool]:
    """(Roles required unconditionally or None, whether the check is the very first thing the function does)."""
    node = _function_def(fn)
    if node is None:
        return None, False
    scope: dict[str, Any] = getattr(fn, "__globals__", {})
    found: set[Role] | None = None
    first = False
    for i, call in enumerate(_top_level_calls(node)):
        roles: set[Role] | None = None
        at_start = False
        if _is_require(call):
            roles, at_start = _roles_of(call, scope), True
        elif depth > 0 and isinstance(call.func, ast.Name):
            helper = scope.get(call.func.id)
            if inspect.isfunction(helper) and helper.__module__ == getattr(fn, "__module__", None):
                roles, at_start = _collect(helper, depth - 1)
        if roles is not None:
            # Two unconditional checks: the user must pass both; keep the stricter reading (their intersection).
            found = roles if found is None else (found & roles or found)
            first = first or (at_start and i == 0 and node.body[0].end_lineno == call.end_lineno)
    return found, first


@dataclass(frozen=True)
class Required:
    roles: tuple[Role, ...]  # any one suffices; admin always does
    first: bool  # the handler checks them before anything else (so an anonymous caller gets 401 at once)


@functools.cache
def required_roles(endpoint: Callable[..., Any]) -> Required | None:
    """The roles the handler requires unconditionally, or None."""
    roles, first = _collect(endpoint, depth=1)
    return None if roles is None else Required(tuple(sorted(roles, key=list(Role).index)), first)
