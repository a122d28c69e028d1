"""What a document is (judged from its bytes, never from its name) and the text in it.

Types: pdf (pypdf), docx (python-docx), html (trafilatura, which drops navigation and boilerplate),
markdown, csv and plain text. The extracted text is Markdown-like: headings stay headings (``#``),
so the chunker can split by structure. A file that claims to be one thing and is another, or that
cannot be read (a damaged PDF, an encrypted one), raises ``ExtractionError`` with a reason a user can
act on.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile

import filetype

KINDS = ("pdf", "docx", "html", "markdown", "csv", "text")


class UnsupportedType(ValueError):
    """The bytes are not a type we ingest."""


class ExtractionError(ValueError):
    """The document is of a supported type but its text cannot be read."""


_HTML = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)\b", re.IGNORECASE | re.DOTALL)
_HTML_TAGS = re.compile(r"<(p|div|h[1-6]|ul|ol|li|table|span|a|br)\b[^>]*>", re.IGNORECASE)
_MD = re.compile(r"^(#{1,6} \S|[-*+] \S|\d+\. \S|```|> \S)|\[[^\]]+\]\([^)]+\)", re.MULTILINE)


def _decode(data: bytes) -> str | None:
    """The bytes as text, if they are text: UTF-8 (with or without BOM), UTF-16 with a BOM, or Latin-1
    when there are no control bytes."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        if any(b < 9 or 13 < b < 32 for b in data[:4096]):
            return None
        text = data.decode("latin-1")
    if "\x00" in text:
        return None
    controls = sum(1 for ch in text[:4096] if ord(ch) < 32 and ch not in "\t\n\r\f")
    return None if controls > 4 else text


def sniff(data: bytes, *, filename: str = "", declared: str = "") -> str:
    """The document's kind from its content. ``filename`` and ``declared`` (a Content-Type) only pick
    between text flavours the bytes cannot tell apart (Markdown vs plain text vs CSV)."""
    if not data.strip():
        raise UnsupportedType("the document is empty")
    if data.startswith(b"%PDF-"):
        return "pdf"
    guess = filetype.guess(data[:8192])
    if guess is not None and guess.extension in ("zip", "docx"):
        return _zip_kind(data)
    if guess is not None:
        raise UnsupportedType(f"{guess.mime} files are not supported; upload PDF, DOCX, HTML, Markdown, CSV or text")
    text = _decode(data[:65536])
    if text is None:
        raise UnsupportedType("binary content of an unknown type; upload PDF, DOCX, HTML, Markdown, CSV or text")
    if _HTML.match(data[:4096]) or len(_HTML_TAGS.findall(text[:8192])) >= 3:
        return "html"
    name, declared = filename.lower(), declared.lower()
    if name.endswith(".csv") or "text/csv" in declared or _looks_like_csv(text):
        return "csv"
    if name.endswith((".md", ".markdown")) or "markdown" in declared or len(_MD.findall(text[:8192])) >= 2:
        return "markdown"
    return "text"


def _zip_kind(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, ValueError) as exc:
        raise UnsupportedType(f"a damaged ZIP container: {exc}") from None
    if "word/document.xml" in names:
        return "docx"
    raise UnsupportedType("a ZIP archive that is not a Word document; upload PDF, DOCX, HTML, Markdown, CSV or text")


def _looks_like_csv(text: str) -> bool:
    lines = [line for line in text.splitlines()[:20] if line.strip()]
    if len(lines) < 3:
        return False
    try:
        dialect = csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t")
    except csv.Error:
        return False
    widths = {len(row) for row in csv.reader(lines, dialect)}
    return len(widths) == 1 and widths.pop() >= 2


def extract(data: bytes, kind: str) -> str:
    """The document's text (Markdown-like); raises ``ExtractionError`` when it has none we can read."""
    if kind == "pdf":
        text = _pdf(data)
    elif kind == "docx":
        text = _docx(data)
    elif kind == "html":
        text = _html(data)
    elif kind == "csv":
        text = _csv(data)
    else:
        text = _decode(data) or ""
    text = re.sub(r"[ \t]+\n", "\n", text.replace("\r\n", "\n")).strip()
    if not text:
        raise ExtractionError("no text found in the document (a scanned PDF needs OCR first)")
    return text


def _pdf(data: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise ExtractionError("the PDF is encrypted; upload it without a password")
        pages = [page.extract_text() or "" for page in reader.pages]
    except ExtractionError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError) as exc:
        raise ExtractionError(f"the PDF cannot be read: {exc or type(exc).__name__}") from None
    if not pages:
        raise ExtractionError("the PDF has no pages")
    return "\n\n".join(p.strip() for p in pages if p.strip())


def _docx(data: bytes) -> str:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise ExtractionError(f"the Word document cannot be read: {exc or type(exc).__name__}") from None
    lines: list[str] = []
    for paragraph in document.paragraphs:
        text = paragraph.text.strip()
        if not text:
            continue
        style = (paragraph.style.name if paragraph.style is not None else "") or ""
        level = re.match(r"Heading (\d)", style)
        if style == "Title":
            lines.append(f"# {text}")
        elif level:
            lines.append("#" * min(int(level.group(1)) + 1, 6) + " " + text)
        else:
            lines.append(text)
        lines.append("")
    for table in document.tables:
        for row in table.rows:
            cells = [cell.text.strip() for cell in row.cells]
            lines.append(" | ".join(cells))
        lines.append("")
    return "\n".join(lines)


def _html(data: bytes) -> str:
    import trafilatura

    html = data.decode("utf-8", errors="replace")
    text = trafilatura.extract(
        html, output_format="markdown", include_tables=True, include_comments=False, favor_recall=True
    )
    if text:
        title = re.search(r"<title[^>]*>(.*?)</title>", html, re.IGNORECASE | re.DOTALL)
        heading = title.group(1).strip() if title else ""
        return f"# {heading}\n\n{text}" if heading and heading not in text[:200] else text
    # Pages trafilatura judges to be all boilerplate still have text: fall back to every text node.
    import lxml.html

    try:
        root = lxml.html.fromstring(html)
    except (ValueError, lxml.etree.ParserError):
        return ""
    for bad in root.xpath("//script|//style|//noscript"):
        bad.drop_tree()
    return "\n".join(line.strip() for line in root.text_content().splitlines() if line.strip())


def _csv(data: bytes) -> str:
    text = _decode(data) or ""
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(io.StringIO(text), dialect))
    if not rows:
        return ""
    header, body = rows[0], rows[1:]
    if not body:
        return " | ".join(header)
    # Each row as "column: value" pairs, so a row found by search carries its own labels.
    return "\n\n".join("; ".join(f"{h}: {v}" for h, v in zip(header, row, strict=False) if v.strip()) for row in body)
