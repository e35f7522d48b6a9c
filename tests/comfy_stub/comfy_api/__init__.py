"""Test stand-in for ComfyUI's ``comfy_api`` package (schema surface only)."""
