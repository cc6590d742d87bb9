"""report.html: the Markdown report rendered as one self-contained page to publish or mail: every chart is
embedded as a base64 PNG; no script, font, stylesheet or image is fetched from anywhere.

The Markdown is the report's only text (``engine.evaluation.report`` writes it); this module knows the
subset it uses: headings, paragraphs, ``-`` lists, pipe tables, fenced code blocks, a chart alone on a
line as ``![name](file.png)``, and inline ``code``.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1060px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1, h2, h3 { line-height: 1.2; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .8em 0; font-size: .88em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
pre { background: #f6f6f6; padding: .8em; overflow-x: auto; font-size: .85em; }
code { background: #f6f6f6; padding: 0 .2em; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .8em; color: #666; }
"""

IMAGE = re.compile(r"^!\[(?P<alt>[^\]]*)\]\((?P<src>[^)]+)\)$")
HEADING = re.compile(r"^(?P<level>#{1,6}) (?P<text>.*)$")


def render(markdown: str, directory: Path, *, title: str) -> str:
    """The page for ``markdown`` whose charts are files in ``directory``."""
    lines = markdown.splitlines()
    body: list[str] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            body.append(f"<p>{_inline(' '.join(paragraph))}</p>")
            paragraph.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("```"):
            flush()
            end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), len(lines))
            body.append(f"<pre><code>{html.escape(chr(10).join(lines[i + 1 : end]))}</code></pre>")
            i = end + 1
            continue
        if heading := HEADING.match(stripped):
            flush()
            level = len(heading["level"])
            body.append(f"<h{level}>{_inline(heading['text'])}</h{level}>")
        elif image := IMAGE.match(stripped):
            flush()
            body.append(_figure(image["alt"], directory / image["src"]))
        elif stripped.startswith("|"):
            flush()
            end = next((j for j in range(i, len(lines)) if not lines[j].strip().startswith("|")), len(lines))
            body.append(_table(lines[i:end]))
            i = end
            continue
        elif stripped.startswith("- "):
            flush()
            end = next((j for j in range(i, len(lines)) if not lines[j].strip().startswith("- ")), len(lines))
            items = "".join(f"<li>{_inline(x.strip()[2:])}</li>" for x in lines[i:end])
            body.append(f"<ul>{items}</ul>")
            i = end
            continue
        elif stripped:
            paragraph.append(stripped)
        else:
            flush()
        i += 1
    flush()
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n"
        f"<style>{STYLE}</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )


def _inline(text: str) -> str:
    """Escaped text with ``code`` spans."""
    parts = text.split("`")
    return "".join(
        f"<code>{html.escape(part)}</code>" if k % 2 else html.escape(part) for k, part in enumerate(parts)
    )


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _table(rows: list[str]) -> str:
    header, body = (
        _cells(rows[0]),
        [r for r in rows[1:] if not set(r.replace("|", "").strip()) <= {"-", ":", " "}],
    )
    head = "".join(f"<th>{_inline(c)}</th>" for c in header)
    cells = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in _cells(r)) + "</tr>" for r in body)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>"


def _figure(name: str, path: Path) -> str:
    """The chart embedded as a data URI; a missing file becomes a visible note, not a broken link."""
    if not path.is_file():
        return f'<p class="missing">chart {html.escape(name)}: {html.escape(path.name)} was not written</p>'
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure id="{html.escape(name)}"><img alt="{html.escape(name)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(path.name)}</figcaption></figure>"
    )
