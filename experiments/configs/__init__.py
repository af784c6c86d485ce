"""Study configs: each module's ``get_config()`` returns the ``ml_collections.ConfigDict`` of one
study."""
