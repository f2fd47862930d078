"""The public report card (issue #15): disclosure control (``disclosure``), the figures (``card``), SVG
charts (``svg``), area maps (``map``) and the static site with its open data (``site``)."""
