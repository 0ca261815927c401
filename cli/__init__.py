"""tscimg's command-line front end (installed as the ``tscimg_cli`` package)."""
