"""The web service: an upload page and a JSON API over Predictor."""

from .app import create_app

__all__ = ["create_app"]
