"""The public notice (公告, D2) with the six statutory fields of D3, as printable HTML, DOCX and PDF.

The HTML is self-contained (inline CSS, no external asset: the system runs offline) and escapes every value.
The PDF is drawn by fpdf2 (pure Python) with a CJK TrueType font from the system (WenQuanYi Micro Hei by
default, ``DIMING_NAMING_PDF_FONT``), subset and embedded, so it prints the same everywhere.
"""

from __future__ import annotations

import html
import io
from pathlib import Path
from typing import TYPE_CHECKING

from gis_api.errors import DimingError
from gis_api.naming.service import Notice, zh_date

if TYPE_CHECKING:
    from fpdf import FPDF


class Unavailable(DimingError):
    status = 503
    code = "unavailable"

CSS = """
@page { size: A4; margin: 25mm 22mm; }
* { box-sizing: border-box; }
body { font-family: "FangSong", "STFangsong", "SimSun", "Songti SC", "Noto Serif CJK SC", "WenQuanYi Micro Hei",
       serif; color: #000; background: #fff; margin: 0; line-height: 1.8; font-size: 16pt; }
main { max-width: 170mm; margin: 0 auto; padding: 12mm 0; }
h1 { font-family: "SimHei", "Heiti SC", "Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif; font-size: 22pt;
     text-align: center; font-weight: bold; margin: 0 0 4mm; line-height: 1.4; }
.no { text-align: center; margin: 0 0 8mm; }
p.lead { text-indent: 2em; margin: 0 0 6mm; }
table { width: 100%; border-collapse: collapse; margin: 0 0 10mm; font-size: 14pt; }
th, td { border: 1px solid #000; padding: 2mm 3mm; vertical-align: top; text-align: left; }
th { width: 32%; font-weight: bold; white-space: nowrap; }
.sign { text-align: right; margin-top: 14mm; }
.draft { border: 1px dashed #888; color: #555; font-size: 11pt; padding: 2mm 3mm; margin-bottom: 6mm; }
@media print { .draft { display: none; } main { padding: 0; } }
"""


def _lead(n: Notice) -> str:
    name = n.field("标准名称")
    what = f"将“{n.old_name}”更名为“{name}”" if n.old_name else f"将该地理实体命名为“{name}”"
    return (f"经{n.field('批准机关')}于{n.field('批准时间')}批准（{n.approval_doc_no}），{what}。"
            "根据《地名管理条例》规定，现将标准地名公告如下：")


def _number(n: Notice) -> str:
    return n.notice_no or "〔　　〕第　　号"


def _date(n: Notice) -> str:
    return zh_date(n.announced_on) if n.announced_on else "　　年　　月　　日"


def render_html(n: Notice) -> str:
    e = html.escape
    rows = "\n".join(f"      <tr><th scope=\"row\">{e(label)}</th><td>{e(value)}</td></tr>"
                     for label, value in n.fields)
    old = (f"      <tr><th scope=\"row\">原名称</th><td>{e(n.old_name)}</td></tr>\n" if n.old_name else "")
    draft = ("" if n.notice_no else
             '    <p class="draft">草稿：尚未登记公告编号和公告日期（办理“公告”步骤后自动填入）。</p>\n')
    return f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{e(n.title)}</title>
  <style>{CSS}</style>
</head>
<body>
  <main>
{draft}    <h1>{e(n.title)}</h1>
    <p class="no">{e(_number(n))}</p>
    <p class="lead">{e(_lead(n))}</p>
    <table>
{old}{rows}
    </table>
    <p class="lead">特此公告。</p>
    <div class="sign">
      <div>{e(n.issuer)}</div>
      <div>{e(_date(n))}</div>
    </div>
  </main>
</body>
</html>
"""


def render_docx(n: Notice) -> bytes:
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Pt

    doc = Document()
    normal = doc.styles["Normal"]
    normal.font.name = "FangSong"
    normal.font.size = Pt(14)
    # Word picks the East Asian font from w:eastAsia, which python-docx does not set by itself.
    rpr = normal.element.get_or_add_rPr()
    rpr.get_or_add_rFonts().set(qn("w:eastAsia"), "仿宋")

    title = doc.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = title.add_run(n.title)
    run.bold = True
    run.font.size = Pt(22)
    number = doc.add_paragraph(_number(n))
    number.alignment = WD_ALIGN_PARAGRAPH.CENTER
    lead = doc.add_paragraph(_lead(n))
    lead.paragraph_format.first_line_indent = Pt(28)

    rows = ([("原名称", n.old_name)] if n.old_name else []) + list(n.fields)
    table = doc.add_table(rows=len(rows), cols=2)
    table.style = "Table Grid"
    for i, (label, value) in enumerate(rows):
        left, right = table.rows[i].cells
        left.text = label
        right.text = value
        for r in left.paragraphs[0].runs:
            r.bold = True

    end = doc.add_paragraph("特此公告。")
    end.paragraph_format.first_line_indent = Pt(28)
    for line in (n.issuer, _date(n)):
        p = doc.add_paragraph(line)
        p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    doc.core_properties.title = n.title
    doc.core_properties.author = n.issuer
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def _indented(pdf: FPDF, paragraph: str, line_height: float = 8) -> None:
    """A paragraph with a two-character first-line indent (multi_cell would trim a leading 全角 space)."""
    pdf.set_x(pdf.l_margin + pdf.get_string_width("\u4e2d\u4e2d"))
    pdf.write(line_height, paragraph)
    pdf.ln(line_height)


def render_pdf(n: Notice, font_path: str) -> bytes:
    """A4 PDF of the notice; needs a TrueType/TrueType-collection font with CJK glyphs."""
    if not Path(font_path).is_file():
        raise Unavailable(
            f"PDF needs a CJK font at {font_path} (Debian: apt-get install fonts-wqy-microhei, or set "
            "DIMING_NAMING_PDF_FONT); the HTML and DOCX notices work without it",
            f"生成PDF需要中文字体 {font_path}（可安装 fonts-wqy-microhei 或设置 DIMING_NAMING_PDF_FONT）；"
            "HTML和DOCX公告不受影响", field="font",
        )
    from fpdf import FPDF
    from fpdf.enums import Align, XPos, YPos

    pdf = FPDF(format="A4")
    pdf.set_margins(22, 25, 22)
    pdf.set_auto_page_break(True, margin=25)
    pdf.set_title(n.title)
    pdf.set_author(n.issuer)
    pdf.add_font("cjk", fname=font_path)
    pdf.add_page()
    width = pdf.epw
    pdf.set_font("cjk", size=20)
    pdf.multi_cell(width, 11, n.title, align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("cjk", size=13)
    pdf.cell(width, 9, _number(n), align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    _indented(pdf, _lead(n))
    pdf.ln(4)
    rows = ([("原名称", n.old_name)] if n.old_name else []) + list(n.fields)
    with pdf.table(col_widths=(32, 68), first_row_as_headings=False, line_height=8) as table:
        for label, value in rows:
            row = table.row()
            row.cell(label)
            row.cell(value)
    pdf.ln(6)
    _indented(pdf, "特此公告。")
    pdf.ln(10)
    for line in (n.issuer, _date(n)):
        pdf.cell(width, 8, line, align=Align.R, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())
