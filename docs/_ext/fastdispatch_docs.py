"""Sphinx directives that render tables from the files that own them.

The docs never copy a number or a table row by hand:

``.. bad-input-table:: ../tests/test_bad_input_table.py``
    The bad-input table, from the test module whose rows are the tests
    (through its ``markdown_table()``, the same text it prints).

``.. markdown-include:: ../benchmarks/results.md``
    A generated markdown report (the benchmarks), whole or one section of it
    (``:section: Heading text``). A ``*`` in the path includes every matching
    file, in name order, each under a rubric naming it.

And for autodoc: the names fastdispatch imports only for type checkers
(``if TYPE_CHECKING:`` blocks; ``import fastdispatch`` imports no ``typing``
at run time) are made visible to it, so that the signatures show the types a
type checker sees (``Callable[..., Any]``, not an unresolved ``Receiver``),
and a class named where it is defined (``fastdispatch._info.Connection``)
links to where it is documented (``fastdispatch.Connection``).

Only the markdown those files use is understood: headings, paragraphs,
``-`` bullet lists, pipe tables, images on a line of their own, fenced code,
and inline ```code```, ``**bold**`` and ``[links](https://...)``. Anything
else is kept as paragraph text, never dropped.
"""

from __future__ import annotations

import ast
import glob
import importlib.machinery
import importlib.util
import inspect
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

# -- markdown, the subset the generated files use -----------------------------------------------


@dataclass
class Block:
    kind: str  # "heading", "paragraph", "list", "table", "image", "code"
    text: str = ""
    level: int = 0  # headings
    items: list[str] = field(default_factory=list)  # list items
    rows: list[list[str]] = field(default_factory=list)  # table rows, header first
    target: str = ""  # image path


_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_IMAGE = re.compile(r"^!\[(?P<alt>[^\]]*)\]\((?P<target>[^)\s]+)\)$")
_TABLE_RULE = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?$")
_INLINE = re.compile(
    r"`(?P<code>[^`]+)`"
    r"|\*\*(?P<strong>.+?)\*\*"
    r"|\[(?P<text>[^\]]+)\]\((?P<url>[^)\s]+)\)"
)


def split_row(line: str) -> list[str]:
    """The cells of a pipe-table line (a ``|`` inside inline code does not split)."""
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    cells: list[str] = []
    current: list[str] = []
    in_code = False
    escaped = False
    for char in line:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "`":
            in_code = not in_code
            current.append(char)
        elif char == "|" and not in_code:
            cells.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    cells.append("".join(current).strip())
    return cells


def parse_markdown(text: str) -> list[Block]:
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            i += 1
        elif stripped.startswith("```"):
            body = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                body.append(lines[i])
                i += 1
            i += 1  # the closing fence
            blocks.append(Block("code", text="\n".join(body)))
        elif match := _HEADING.match(stripped):
            blocks.append(Block("heading", text=match.group(2), level=len(match.group(1))))
            i += 1
        elif match := _IMAGE.match(stripped):
            blocks.append(Block("image", text=match.group("alt"), target=match.group("target")))
            i += 1
        elif stripped.startswith("|"):
            table_lines = []
            while i < len(lines) and lines[i].strip().startswith("|"):
                table_lines.append(lines[i])
                i += 1
            if len(table_lines) < 2 or not _TABLE_RULE.match(table_lines[1].strip()):
                blocks.append(Block("paragraph", text=" ".join(s.strip() for s in table_lines)))
                continue
            rows = [split_row(table_lines[0])] + [split_row(r) for r in table_lines[2:]]
            width = len(rows[0])
            # A short row is padded (GitHub renders it so); a long one is an error in the file.
            for row in rows:
                if len(row) > width:
                    raise ValueError(f"table row has {len(row)} cells, header has {width}: {row}")
                row.extend([""] * (width - len(row)))
            blocks.append(Block("table", rows=rows))
        elif stripped.startswith(("- ", "* ")):
            items: list[str] = []
            while i < len(lines):
                current = lines[i]
                if current.strip().startswith(("- ", "* ")):
                    items.append(current.strip()[2:].strip())
                elif current.strip() and current.startswith((" ", "\t")) and items:
                    items[-1] += " " + current.strip()  # a continuation line
                else:
                    break
                i += 1
            blocks.append(Block("list", items=items))
        else:
            paragraph = []
            while i < len(lines) and lines[i].strip() and not _starts_block(lines[i].strip()):
                paragraph.append(lines[i].strip())
                i += 1
            blocks.append(Block("paragraph", text=" ".join(paragraph)))
    return blocks


def _starts_block(stripped: str) -> bool:
    return bool(
        stripped.startswith(("|", "```", "- ", "* "))
        or _HEADING.match(stripped)
        or _IMAGE.match(stripped)
    )


def select_section(blocks: list[Block], title: str | None) -> list[Block]:
    """The blocks under the heading ``title`` (to the next heading of its level or
    above); without a title, everything but a leading top-level heading."""
    if title is None:
        if blocks and blocks[0].kind == "heading" and blocks[0].level == 1:
            return blocks[1:]
        return blocks
    for start, block in enumerate(blocks):
        if block.kind == "heading" and block.text == title:
            selected = []
            for following in blocks[start + 1 :]:
                if following.kind == "heading" and following.level <= block.level:
                    break
                selected.append(following)
            return selected
    headings = [b.text for b in blocks if b.kind == "heading"]
    raise LookupError(f"no heading {title!r}; the headings are {headings}")


# -- docutils nodes ------------------------------------------------------------------------------


def inline_nodes(text: str) -> list[nodes.Node]:
    result: list[nodes.Node] = []
    position = 0
    for match in _INLINE.finditer(text):
        if match.start() > position:
            result.append(nodes.Text(text[position : match.start()]))
        if match.group("code") is not None:
            code = match.group("code")
            result.append(nodes.literal(code, code))
        elif match.group("strong") is not None:
            strong = nodes.strong()
            strong.extend(inline_nodes(match.group("strong")))
            result.append(strong)
        else:
            label, url = match.group("text"), match.group("url")
            if re.match(r"^https?://", url):
                reference = nodes.reference("", "", refuri=url)
                reference.extend(inline_nodes(label))
                result.append(reference)
            else:  # a path in the repository: no page to link to
                result.extend(inline_nodes(label))
        position = match.end()
    if position < len(text):
        result.append(nodes.Text(text[position:]))
    return result


def paragraph(text: str) -> nodes.paragraph:
    node = nodes.paragraph()
    node.extend(inline_nodes(text))
    return node


def table_node(rows: list[list[str]]) -> nodes.table:
    header, body = rows[0], rows[1:]
    table = nodes.table(classes=["fastdispatch-generated"])
    group = nodes.tgroup(cols=len(header))
    table += group
    for _ in header:
        group += nodes.colspec(colwidth=1)

    def row_node(cells: list[str]) -> nodes.row:
        row = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            if cell:
                entry += paragraph(cell)
            row += entry
        return row

    head = nodes.thead()
    head += row_node(header)
    group += head
    tbody = nodes.tbody()
    for cells in body:
        tbody += row_node(cells)
    group += tbody
    return table


def block_nodes(blocks: list[Block], base: Path, document_dir: Path) -> list[nodes.Node]:
    """Nodes for ``blocks`` read from a file in ``base``, placed in a document in
    ``document_dir`` (image paths are made relative to the document)."""
    result: list[nodes.Node] = []
    for block in blocks:
        if block.kind == "heading":
            # Headings inside an included file become rubrics: the rst page
            # owns the section structure.
            result.append(nodes.rubric(block.text, "", *inline_nodes(block.text)))
        elif block.kind == "paragraph":
            result.append(paragraph(block.text))
        elif block.kind == "list":
            bullets = nodes.bullet_list()
            for item in block.items:
                list_item = nodes.list_item()
                list_item += paragraph(item)
                bullets += list_item
            result.append(bullets)
        elif block.kind == "table":
            result.append(table_node(block.rows))
        elif block.kind == "image":
            uri = os.path.relpath(base / block.target, document_dir).replace(os.sep, "/")
            result.append(nodes.image(uri=uri, alt=block.text))
        elif block.kind == "code":
            result.append(nodes.literal_block(block.text, block.text))
    return result


# -- the directives ------------------------------------------------------------------------------


def load_module_from(path: Path) -> ModuleType:
    """Import a file as a module of a private package made of its folder, so
    that its relative imports (``from .helpers import ...``) resolve.

    Not as ``tests.*``: another installed distribution may own a top-level
    ``tests`` package. The package runs the folder's ``__init__.py``, if any.
    """
    package = "_fastdispatch_docs_" + re.sub(r"\W", "_", path.parent.name)
    if package not in sys.modules:
        init = path.parent / "__init__.py"
        if init.exists():
            spec = importlib.util.spec_from_file_location(
                package, init, submodule_search_locations=[str(path.parent)]
            )
        else:  # a namespace package: just the folder
            spec = importlib.machinery.ModuleSpec(package, None, is_package=True)
            spec.submodule_search_locations = [str(path.parent)]
        if spec is None:
            raise ImportError(f"cannot import {path.parent} as a package")
        module = importlib.util.module_from_spec(spec)
        sys.modules[package] = module
        try:
            if spec.loader is not None:
                spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[package]
            raise
    return importlib.import_module(f"{package}.{path.stem}")


class BadInputTable(SphinxDirective):
    """The bad-input table, rendered from the test module that checks every row."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        _, filename = self.env.relfn2path(self.arguments[0], self.env.docname)
        path = Path(filename)
        self.env.note_dependency(str(path))
        try:
            module = load_module_from(path)
            blocks = parse_markdown(module.markdown_table())
        except Exception as error:
            raise self.error(f"bad-input-table: cannot render {path}: {error!r}") from error
        tables = [block for block in blocks if block.kind == "table"]
        expected = len(module.ROWS)
        if len(blocks) != 1 or len(tables) != 1 or len(tables[0].rows) - 1 != expected:
            raise self.error(
                f"bad-input-table: {path}'s markdown_table() should be one table of "
                f"{expected} rows (its ROWS); got {[block.kind for block in blocks]}"
            )
        return [table_node(tables[0].rows)]


class MarkdownInclude(SphinxDirective):
    """A generated markdown file (or one section of it), as part of the page."""

    required_arguments = 1
    option_spec = {"section": directives.unchanged_required}

    def run(self) -> list[nodes.Node]:
        pattern = self.arguments[0]
        _, filename = self.env.relfn2path(pattern, self.env.docname)
        paths = sorted(Path(p) for p in glob.glob(filename)) if "*" in pattern else [Path(filename)]
        if not paths:
            raise self.error(f"markdown-include: no file matches {pattern}")
        document_dir = Path(self.env.doc2path(self.env.docname)).parent
        result: list[nodes.Node] = []
        for path in paths:
            self.env.note_dependency(str(path))
            try:
                blocks = parse_markdown(path.read_text(encoding="utf-8"))
                selected = select_section(blocks, self.options.get("section"))
            except (OSError, ValueError, LookupError) as error:
                raise self.error(f"markdown-include: {path}: {error}") from error
            if len(paths) > 1:
                result.append(nodes.rubric(path.name, path.name))
            result.extend(block_nodes(selected, path.parent, document_dir))
        return result


# -- the annotations autodoc shows ---------------------------------------------------------------

_seen_modules: set[str] = set()


def _type_checking_blocks(source: str) -> list[ast.stmt]:
    """The statements of a module's top-level ``if TYPE_CHECKING:`` blocks."""
    statements: list[ast.stmt] = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.If) and (
            (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
            or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING")
        ):
            statements.extend(node.body)
    return statements


def add_type_checking_names(module: ModuleType) -> None:
    """Run ``module``'s ``if TYPE_CHECKING:`` blocks in a copy of its namespace
    and add the names they define that the module lacks (never replacing one),
    so that autodoc can evaluate its string annotations. Nothing the module
    runs reads these names: they exist only for type checkers."""
    name = module.__name__
    if name in _seen_modules or not name.startswith("fastdispatch"):
        return
    _seen_modules.add(name)
    try:
        source = inspect.getsource(module)
    except (OSError, TypeError):
        return
    statements = _type_checking_blocks(source)
    if not statements:
        return
    # The modules it imports from first (``from ._signal import Receiver``).
    for statement in statements:
        if isinstance(statement, ast.ImportFrom) and statement.level:
            base = importlib.util.resolve_name("." * statement.level + (statement.module or ""),
                                               module.__package__ or name)
            imported = sys.modules.get(base)
            if imported is not None:
                add_type_checking_names(imported)
    namespace = dict(vars(module))
    code = compile(ast.Module(body=statements, type_ignores=[]), module.__file__ or name, "exec")
    exec(code, namespace)  # the package's own source
    for key, value in namespace.items():
        if key not in vars(module):
            setattr(module, key, value)


def _before_signature(app: Sphinx, obj: Any, bound_method: bool) -> None:
    module = sys.modules.get(getattr(obj, "__module__", None) or "")
    if module is not None:
        add_type_checking_names(module)


_PRIVATE_MODULE = re.compile(r"\._[A-Za-z]\w*(?=\.)")


def _public_name(
    app: Sphinx, env: Any, node: Any, contnode: nodes.Node
) -> nodes.Node | None:
    """Resolve ``fastdispatch._info.Connection`` (where a class is defined, as
    an annotation names it) to where it is documented, ``fastdispatch.Connection``
    (the private modules' names dropped), if it is documented there."""
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    if not target.startswith("fastdispatch.") or not _PRIVATE_MODULE.search(target):
        return None
    public = _PRIVATE_MODULE.sub("", target)
    domain = env.get_domain("py")
    if public not in domain.objects:
        return None
    node["reftarget"] = public
    return domain.resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], public, node, contnode
    )


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("bad-input-table", BadInputTable)
    app.add_directive("markdown-include", MarkdownInclude)
    app.connect("autodoc-before-process-signature", _before_signature)
    app.connect("missing-reference", _public_name)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
