"""`mlci init`: what a repository already has, and the starter files."""
