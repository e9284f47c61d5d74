"""The main window's panels, one module each; each reads the session model it is given."""
