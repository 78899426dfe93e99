"""report.html: the markdown report as one self-contained page, its images inlined."""

from __future__ import annotations

import base64
import html as htmllib
import mimetypes
from collections.abc import Mapping
from pathlib import Path


def to_html(markdown_text: str, title: str, images: Mapping[str, Path]) -> str:
    """One self-contained page with the same content: images inlined as data URIs."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough")
    body = md.render(markdown_text)
    for src, path in images.items():
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        mime = mimetypes.guess_type(path.name)[0] or "image/png"
        body = body.replace(f'src="{htmllib.escape(src)}"', f'src="data:{mime};base64,{data}"')
    return HTML_PAGE.format(title=htmllib.escape(title), body=body)


HTML_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy"
  content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>{title}</title>
<style>
body {{ font: 14px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1f2328;
  max-width: 980px; margin: 24px auto; padding: 0 16px; }}
table {{ border-collapse: collapse; margin: 8px 0 16px; }}
th, td {{ border: 1px solid #d1d9e0; padding: 4px 10px; }}
th {{ background: #f6f8fa; }} tr:nth-child(even) td {{ background: #fbfbfc; }}
code {{ background: #eff1f3; padding: 1px 4px; border-radius: 4px; font-size: 90%; }}
pre {{ background: #f6f8fa; padding: 12px; overflow: auto; border-radius: 6px; }}
pre code {{ background: none; padding: 0; }}
img {{ max-width: 100%; height: auto; display: block; margin: 8px 0; }}
blockquote {{ margin: 8px 0; padding: 0 12px; color: #59636e; border-left: 4px solid #d1d9e0; }}
details {{ margin: 8px 0; }} summary {{ cursor: pointer; }}
</style></head>
<body>
{body}
</body></html>
"""
