"""Configs of the downsampling study: each module's ``get_config()`` returns one study's
``ml_collections.ConfigDict`` and its docstring gives the command and the expected result."""
