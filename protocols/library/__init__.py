"""The bundled protocols: ``raphe run systemic-drug`` finds ``systemic_drug.py`` here."""
