"""Web adapters: HTTP API, pages, cookie banner."""
