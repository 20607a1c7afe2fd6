"""Render examples/sample_page.png, the README's example: a printed page with Chinese and English lines.

    python examples/make_sample_page.py        (needs Debian fonts-noto-cjk and fonts-liberation2)

Its text was written for this page (not taken from the training corpora); sample_page.jsonl holds the truth (a DESIGN.md page manifest).
"""
import json
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
CJK = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2)
CJK_SERIF = ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", 2)
LATIN = ("/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf", 0)
LATIN_BOLD = ("/usr/share/fonts/truetype/liberation2/LiberationSans-Bold.ttf", 0)

LINES = [
    (CJK, 34, "上海市明光科技有限公司 采购订单"),
    (LATIN_BOLD, 30, "Purchase Order No. PO-2026-0418"),
    (CJK, 26, "日期：2026年3月18日  联系电话：021-6835 2291"),
    (CJK_SERIF, 26, "收货地址：上海市浦东新区张江路88号5楼"),
    (LATIN, 26, "Ship to: 88 Zhangjiang Road, Floor 5, Shanghai"),
    (CJK, 26, "商品名称：激光打印机硒鼓，数量：12，单价：¥365.00"),
    (LATIN, 26, "Item: laser printer toner, qty 12, unit price 365.00"),
    (CJK_SERIF, 26, "请于三个工作日内发货，并附上发票和装箱单。"),
    (LATIN, 26, "Please ship within three working days with the invoice."),
    (CJK, 26, "合计金额：人民币肆仟叁佰捌拾元整（¥4,380.00）"),
]


def main() -> None:
    width, margin, y = 1000, 60, 50
    page = Image.new("RGB", (width, 720), "white")
    draw = ImageDraw.Draw(page)
    truth = []
    for (path, index), size, text in LINES:
        font = ImageFont.truetype(path, size, index=index)
        draw.text((margin, y), text, font=font, fill=(20, 20, 20))
        x0, y0, x1, y1 = draw.textbbox((margin, y), text, font=font)
        truth.append({"text": text, "points": [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]})
        y += int(size * 1.9)
    page.save(HERE / "sample_page.png", optimize=True)
    (HERE / "sample_page.jsonl").write_text(
        json.dumps({"image": "sample_page.png", "lines": truth}, ensure_ascii=False) + "\n", encoding="utf-8"
    )


if __name__ == "__main__":
    main()
