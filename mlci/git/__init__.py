"""Git: the repository adapter, metric notes and fetching."""
