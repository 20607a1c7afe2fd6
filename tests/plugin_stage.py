"""A user-defined stage loaded by import path in the config tests (not registered with lineocr)."""


class UpsideDown:
    def __init__(self, angle: int = 180) -> None:
        self.angle = angle

    def __call__(self, crops: list) -> list[int]:
        return [self.angle] * len(crops)
