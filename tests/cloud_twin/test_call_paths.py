"""Every call the kit makes into a Google client library is listed in ``tests/README.md``.

The scan follows, within each module of ``mlops_kit/``, the values that come from Google: names
imported from ``google.*``, returned by ``import_sdk("google...")`` or by the
SDK getters of :mod:`mlops_kit.gcp` (:data:`SDK_GETTERS`), then whatever is assigned from them
(locals, attributes of ``self`` and members of that name on other objects, methods and properties
that return them, ``with`` and ``for`` targets). A call of a lower-case attribute on such a value is
a call path; constructors (capitalised: ``bigquery.Client(...)``, ``aiplatform_v1.Model(...)``)
and the local builders in
:data:`NO_REQUEST` are not, as they send nothing.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).parents[2]
PACKAGE = ROOT / "mlops_kit"
TABLE = ROOT / "tests" / "README.md"
NO_REQUEST = {"bucket", "blob", "with_timeout", "rsplit", "rpartition", "split"}
"""Methods that send no request: builders of Google objects, ``str`` methods of their fields."""
SDK_GETTERS = {"import_google_sdk", "vertex_sdk"}
"""Functions of :mod:`mlops_kit.gcp` that return a Google client library module."""


class _ModuleScan:
    """The Google call paths of one module, found by a fixpoint over its assignments."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tree = ast.parse(path.read_text(encoding="utf-8"))
        self.tainted_names: set[str] = set()
        self.tainted_members: set[str] = set()  # self.X attributes, methods and properties
        self.tainted_functions: set[str] = set()  # module functions that return Google values

    def google_import(self, node: ast.AST) -> None:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("google"):
            self.tainted_names.update(alias.asname or alias.name for alias in node.names)
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("google"):
                    self.tainted_names.add(alias.asname or alias.name.split(".")[0])

    def tainted(self, node: ast.AST | None) -> bool:  # noqa: PLR0911 - one case per node kind
        match node:
            case ast.Name(id=name):
                return name in self.tainted_names
            case ast.Attribute(value=ast.Name(id="self"), attr=attr):
                return attr in self.tainted_members
            case ast.Attribute(attr=attr) if attr in self.tainted_members:
                return True  # another object's member of that name: ``self.warehouse._client``
            case ast.Attribute(value=value):
                return self.tainted(value)
            case ast.Call(
                func=ast.Name(id="import_sdk"), args=[ast.Constant(value=str(module)), *_]
            ):
                return module.startswith("google")
            case ast.Call(func=ast.Name(id=name)):
                return (
                    name in SDK_GETTERS
                    or name in self.tainted_functions
                    or name in self.tainted_names
                )
            case ast.Call(func=func):
                return self.tainted(func)
            case ast.Subscript(value=value):
                return self.tainted(value)
            case ast.IfExp(body=body, orelse=orelse):
                return self.tainted(body) or self.tainted(orelse)
        return False

    def propagate(self) -> None:
        for node in ast.walk(self.tree):
            self.google_import(node)
        changed = True
        while changed:
            before = (
                len(self.tainted_names),
                len(self.tainted_members),
                len(self.tainted_functions),
            )
            for node in ast.walk(self.tree):
                self._assignments(node)
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    self._returns(node)
            after = (
                len(self.tainted_names),
                len(self.tainted_members),
                len(self.tainted_functions),
            )
            changed = before != after

    def _assignments(self, node: ast.AST) -> None:
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign) and self.tainted(node.value):
            targets = list(node.targets)
        elif (isinstance(node, ast.AnnAssign | ast.NamedExpr) and self.tainted(node.value)) or (
            isinstance(node, ast.For) and self.tainted(node.iter)
        ):
            targets = [node.target]
        elif isinstance(node, ast.With):
            targets = [
                i.optional_vars
                for i in node.items
                if i.optional_vars and self.tainted(i.context_expr)
            ]
        for target in targets:
            if isinstance(target, ast.Name):
                self.tainted_names.add(target.id)
            elif (
                isinstance(target, ast.Attribute)
                and isinstance(target.value, ast.Name)
                and target.value.id == "self"
            ):
                self.tainted_members.add(target.attr)

    def _returns(self, function: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        returned = [n.value for n in ast.walk(function) if isinstance(n, ast.Return)]
        if any(self.tainted(value) for value in returned):
            is_method = bool(function.args.args) and function.args.args[0].arg == "self"
            (self.tainted_members if is_method else self.tainted_functions).add(function.name)

    def calls(self) -> set[tuple[str, str]]:
        """``(call, module:qualified function)`` of every Google call in the module."""
        self.propagate()
        module = self.path.relative_to(ROOT).as_posix()
        found: set[tuple[str, str]] = set()

        def visit(node: ast.AST, scope: list[str]) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                    visit(child, [*scope, child.name])
                    continue
                if (
                    isinstance(child, ast.Call)
                    and isinstance(child.func, ast.Attribute)
                    and child.func.attr[0].islower()
                    and child.func.attr not in NO_REQUEST
                    and self.tainted(child.func.value)
                ):
                    owner = child.func.value
                    prefix = (
                        f"{owner.attr}."
                        if isinstance(owner, ast.Attribute) and owner.attr[0].isupper()
                        else ""
                    )
                    found.add((f"{prefix}{child.func.attr}", f"{module}:{'.'.join(scope)}"))
                visit(child, scope)

        visit(self.tree, [])
        return found


def scan(package: Path = PACKAGE) -> set[tuple[str, str]]:
    """Every Google call path of ``package``: ``(call, module:function)``."""
    found: set[tuple[str, str]] = set()
    for path in sorted(package.rglob("*.py")):
        found |= _ModuleScan(path).calls()
    return found


def table_rows(text: str) -> dict[tuple[str, str], tuple[str, str]]:
    """The Google call table of ``tests/README.md``: ``(call, where) -> (test, kind)``."""
    start = text.index("<!-- google-calls -->")
    end = text.index("<!-- /google-calls -->")
    rows = {}
    for line in text[start:end].splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`"):
            call, where, test, kind = (re.sub(r"`", "", cell) for cell in cells)
            rows[(call, where)] = (test, kind)
    return rows


def test_every_google_call_of_the_kit_is_in_the_table() -> None:
    rows = table_rows(TABLE.read_text(encoding="utf-8"))
    found = scan()
    missing = sorted(found - set(rows))
    assert not missing, f"Google calls missing from {TABLE.name} (add a row, and a test): {missing}"
    stale = sorted(set(rows) - found)
    assert not stale, f"rows of {TABLE.name} naming calls the kit no longer makes: {stale}"


def test_each_row_names_an_existing_test_and_a_known_kind() -> None:
    for (call, where), (test, kind) in table_rows(TABLE.read_text(encoding="utf-8")).items():
        assert kind in {"emulator", "REST", "gRPC", "local", "mock", "untested"}, (
            call,
            where,
            kind,
        )
        if kind != "untested":
            path = test.split("::")[0]
            assert (ROOT / path).is_file(), f"{call} at {where}: no test file {path}"


def test_the_scan_finds_calls_through_clients_properties_and_returned_values(
    tmp_path: Path,
) -> None:
    package = tmp_path / "kit"
    package.mkdir()
    (package / "backend.py").write_text(
        "from functools import cached_property\n"
        "from google.cloud import bigquery\n"
        "def _sdk():\n"
        "    return import_sdk('google.cloud.storage', package='p', extra='e', purpose='x')\n"
        "class Store:\n"
        "    @cached_property\n"
        "    def _client(self):\n"
        "        return bigquery.Client()\n"
        "    def read(self):\n"
        "        job = self._client.query('SELECT 1')\n"
        "        return job.result()\n"
        "    def write(self, local):\n"
        "        bucket = _sdk().Client().bucket('b')\n"
        "        bucket.blob('k').upload_from_filename('f')\n"
        "        local.query('not google')\n",
        encoding="utf-8",
    )
    global ROOT  # the scan names modules relative to ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        found = scan(package)
    finally:
        ROOT = saved
    assert found == {
        ("query", "kit/backend.py:Store.read"),
        ("result", "kit/backend.py:Store.read"),
        ("upload_from_filename", "kit/backend.py:Store.write"),
    }
