"""The dashboard: server-rendered pages and the static assets they load (no build step, no CDN)."""
