"""Stand-in for ``comfy_api.latest._ui``: preview outputs that keep what they show.

The host writes previews as PNG files into its temp folder; the stand-in keeps
the tensor so a test can check what a node would have shown.
"""
from __future__ import annotations

from ._io import FolderType, _UIOutput


class SavedResult(dict):
    def __init__(self, filename: str, subfolder: str, type: FolderType):
        super().__init__(filename=filename, subfolder=subfolder, type=type.value)


class PreviewImage(_UIOutput):
    def __init__(self, image, animated: bool = False, cls=None, **kwargs):
        self.image = image
        self.animated = animated
        self.values = [SavedResult(f"preview_{i:05}_.png", "", FolderType.temp) for i in range(len(image))]

    def as_dict(self):
        return {"images": self.values, "animated": (self.animated,)}


class PreviewText(_UIOutput):
    def __init__(self, value: str, **kwargs):
        self.value = value

    def as_dict(self):
        return {"text": (self.value,)}
