"""Make a module's decorated functions and module-level tables visible to mutmut.

mutmut 3 mutates only the bodies of undecorated functions and methods. This pre-pass
rewrites one file of the mutation working copy (never the source tree) so that more
of it is mutated, with the same behaviour:

- ``@transaction.atomic`` on a function becomes ``with transaction.atomic():``
  around its body (after its docstring). Other decorators are left alone and
  listed, because mutmut skips their functions.
- A module-level table (an UPPER_CASE name bound to a non-empty dict, set, list or
  tuple display, or to a number or string) moves into an accessor function,
  ``def _mutation_table_NAME(): return <table>``; the module still binds
  ``NAME = _mutation_table_NAME()`` for its importers, and every read of ``NAME``
  inside the module's own functions calls the accessor, so that a mutant of the
  table is seen when the functions of this module run. Importers of ``NAME`` in
  other modules still see the original table, so a table that no function of the
  module reads is left alone.
"""

import re
import sys
from pathlib import Path

import libcst as cst

CONTEXT_MANAGER_DECORATORS = {"transaction.atomic", "atomic"}
TABLE_NAME = re.compile(r"^[A-Z][A-Z0-9_]+$")
ACCESSOR_PREFIX = "_mutation_table_"


def _dotted(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr.value}" if head else None
    return None


def _is_table(value: cst.BaseExpression) -> bool:
    if isinstance(value, (cst.Dict, cst.Set, cst.List, cst.Tuple)):
        return bool(value.elements)
    return isinstance(value, (cst.Integer, cst.Float, cst.SimpleString, cst.ConcatenatedString))


def _table_assignment(statement: cst.CSTNode) -> tuple[str, cst.BaseExpression] | None:
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return None
    small = statement.body[0]
    if isinstance(small, cst.Assign) and len(small.targets) == 1:
        target, value = small.targets[0].target, small.value
    elif isinstance(small, cst.AnnAssign) and small.value is not None:
        target, value = small.target, small.value
    else:
        return None
    if isinstance(target, cst.Name) and TABLE_NAME.match(target.value) and _is_table(value):
        return target.value, value
    return None


class _ReadsToAccessors(cst.CSTTransformer):
    """Inside functions, replace each read of a lifted table by a call of its accessor."""

    def __init__(self, tables: set[str]):
        self.tables = tables
        self.depth = 0
        self.skip: set[int] = set()

    def visit_FunctionDef(self, node):
        self.depth += 1

    def leave_FunctionDef(self, original, updated):
        self.depth -= 1
        return updated

    def visit_Attribute(self, node):
        self.skip.add(id(node.attr))

    def visit_Arg(self, node):
        if node.keyword is not None:
            self.skip.add(id(node.keyword))

    def visit_Param(self, node):
        self.skip.add(id(node.name))

    def visit_AssignTarget(self, node):
        if isinstance(node.target, cst.Name):
            self.skip.add(id(node.target))

    def leave_Name(self, original, updated):
        if self.depth and original.value in self.tables and id(original) not in self.skip:
            return cst.Call(func=cst.Name(ACCESSOR_PREFIX + original.value))
        return updated


class _ReadsInFunctions(cst.CSTVisitor):
    """The module-level names read inside the module's functions."""

    def __init__(self):
        self.depth = 0
        self.names: set[str] = set()

    def visit_FunctionDef(self, node):
        self.depth += 1

    def leave_FunctionDef(self, node):
        self.depth -= 1

    def visit_Attribute(self, node):
        node.value.visit(self)
        return False

    def visit_Name(self, node):
        if self.depth:
            self.names.add(node.value)


class _AtomicToWith(cst.CSTTransformer):
    def __init__(self):
        self.rewritten: list[str] = []
        self.left_decorated: list[str] = []

    def leave_FunctionDef(self, original, updated):
        if not updated.decorators:
            return updated
        decorators = [_dotted(d.decorator) or "" for d in updated.decorators]
        call = updated.decorators[0].decorator if len(decorators) == 1 else None
        if isinstance(call, cst.Call) and _dotted(call.func) in CONTEXT_MANAGER_DECORATORS:
            manager = call
        elif decorators[0] in CONTEXT_MANAGER_DECORATORS and len(decorators) == 1:
            manager = cst.Call(func=updated.decorators[0].decorator)
        else:
            if decorators not in (["staticmethod"], ["classmethod"]):
                self.left_decorated.append(updated.name.value)
            return updated
        body = list(updated.body.body)
        head = []
        if body and isinstance(body[0], cst.SimpleStatementLine) and isinstance(body[0].body[0], cst.Expr):
            if isinstance(body[0].body[0].value, (cst.SimpleString, cst.ConcatenatedString)):
                head = [body.pop(0)]
        block = cst.With(items=[cst.WithItem(item=manager)], body=cst.IndentedBlock(body=body))
        self.rewritten.append(updated.name.value)
        return updated.with_changes(
            decorators=[],
            leading_lines=[*updated.leading_lines, *updated.decorators[0].leading_lines],
            body=updated.body.with_changes(body=[*head, block]),
        )


def rewrite(source: str) -> tuple[str, dict[str, list[str]]]:
    module = cst.parse_module(source)
    reads = _ReadsInFunctions()
    module.visit(reads)

    tables = {}
    statements = []
    for statement in module.body:
        found = _table_assignment(statement)
        if found is None or found[0] not in reads.names:
            # A table that no function of this module reads stays as it is: its
            # readers import it, and would never see a mutant of the accessor.
            statements.append(statement)
            continue
        name, value = found
        tables[name] = value
        accessor = ACCESSOR_PREFIX + name
        statements.append(
            cst.FunctionDef(
                name=cst.Name(accessor),
                params=cst.Parameters(),
                body=cst.IndentedBlock(body=[cst.SimpleStatementLine(body=[cst.Return(value=value)])]),
                leading_lines=statement.leading_lines,
            )
        )
        statements.append(
            cst.SimpleStatementLine(
                body=[
                    cst.Assign(
                        targets=[cst.AssignTarget(target=cst.Name(name))],
                        value=cst.Call(func=cst.Name(accessor)),
                    )
                ]
            )
        )
    module = module.with_changes(body=statements)

    atomic = _AtomicToWith()
    module = module.visit(atomic)
    module = module.visit(_ReadsToAccessors(set(tables)))
    report = {"tables": sorted(tables), "atomic": atomic.rewritten, "left_decorated": atomic.left_decorated}
    return module.code, report


def main(path: str) -> None:
    file = Path(path)
    code, report = rewrite(file.read_text())
    compile(code, str(file), "exec")
    file.write_text(code)
    print(f"pre-pass {path}: tables {report['tables'] or '-'}; @transaction.atomic -> with: {report['atomic'] or '-'}")
    if report["left_decorated"]:
        print(f"  still decorated (mutmut skips them): {report['left_decorated']}")


if __name__ == "__main__":
    main(sys.argv[1])
