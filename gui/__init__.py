"""User interfaces: the command line (``raphe.gui.cli``) and the Qt application.

Importing this package must stay cheap and must not import Qt, so headless
commands start fast and work without a display.
"""
