"""The local web viewer (`rooflens web`): one page and a JSON API over `rooflens.api`."""

from rooflens.web.app import create_app

__all__ = ["create_app"]
