"""``compstat serve``: commanders and the chair on the web, in the same store as the CLI (``web.app``)."""
