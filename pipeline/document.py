"""Data model: Document -> Page -> Line, with shapely polygons in the original image's pixel coordinates."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from shapely.geometry import Polygon


@dataclass
class Line:
    """One text line: its polygon (clockwise from top-left), text, confidence 0..1, the rotation applied to read
    it (0/90/180/270) and whether it was set vertically."""

    polygon: Polygon
    text: str = ""
    confidence: float = 0.0
    angle: int = 0
    vertical: bool = False

    @property
    def points(self) -> list[list[int]]:
        return [[int(round(x)), int(round(y))] for x, y in list(self.polygon.exterior.coords)[:-1]]

    def to_dict(self) -> dict:
        return {"text": self.text, "confidence": round(float(self.confidence), 4), "points": self.points,
                "angle": self.angle, "vertical": self.vertical}


@dataclass
class Page:
    page: int
    width: int
    height: int
    lines: list[Line] = field(default_factory=list)
    rotation: int = 0

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    def to_dict(self) -> dict:
        return {"page": self.page, "width": self.width, "height": self.height, "rotation": self.rotation,
                "lines": [line.to_dict() for line in self.lines]}


@dataclass
class Document:
    """The result for one input (an image or every page of a PDF); `error` says why an input could not be read."""

    source: str
    pages: list[Page] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    error: str | None = None

    @property
    def text(self) -> str:
        """All lines in reading order, one per line."""
        return "\n".join(page.text for page in self.pages if page.lines)

    def to_dict(self) -> dict:
        out = {"source": self.source, "pages": [p.to_dict() for p in self.pages], "text": self.text,
               "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()}}
        if self.error is not None:
            out["error"] = self.error
        return out

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)
