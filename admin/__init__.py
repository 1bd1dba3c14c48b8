"""The console: the licensor's admin pages, the licensee portal and the JSON API behind them."""

from pathlib import Path

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"
