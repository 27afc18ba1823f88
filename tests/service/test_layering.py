"""The layers import downwards only: gateway -> schema -> resolvers -> auth -> db (issue 12).

Every import statement counts, those under `if TYPE_CHECKING:` and inside functions too: a type-only import of a
higher layer is still a dependency a reader has to follow.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAYERS = ("gateway", "schema", "resolvers", "auth", "db")
# Third-party packages a layer must not import (schema/extensions/error_codes.py read SQLAlchemy's exceptions).
FORBIDDEN_LIBRARIES = {"schema/extensions": ("sqlalchemy",)}


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
            yield node.lineno, node.module


def offences(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(REPO)}:{line} imports {module}"
        for path in sorted((REPO / package).rglob("*.py"))
        for line, module in imported_modules(path)
        if module.split(".")[0] in forbidden
    ]


@pytest.mark.parametrize("layer", LAYERS[1:])
def test_a_layer_imports_no_layer_above_it(layer: str) -> None:
    above = LAYERS[: LAYERS.index(layer)]
    assert offences(layer, above) == []


@pytest.mark.parametrize(("package", "libraries"), sorted(FORBIDDEN_LIBRARIES.items()))
def test_a_package_imports_none_of_its_forbidden_libraries(package: str, libraries: tuple[str, ...]) -> None:
    assert offences(package, libraries) == []


def test_the_check_sees_type_checking_imports(tmp_path: Path) -> None:
    module = tmp_path / "typed.py"
    module.write_text("if TYPE_CHECKING:\n    from gateway.settings import Settings\n")
    assert (2, "gateway.settings") in set(imported_modules(module))
