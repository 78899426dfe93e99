"""Training runners: the user's own command (command.py) and the built-in pipeline (sklearn.py).

Kept empty so that importing one runner does not import the other's heavy libraries.
"""
