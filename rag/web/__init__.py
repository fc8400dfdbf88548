"""The web page: static files served by the API at `/` (rag.api.routes.web)."""
