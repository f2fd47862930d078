"""Packaging beyond pyproject.toml: the top-level ``templates/`` ships in the wheel as ``compstat/templates``
(``compstat.resources.templates_dir`` finds it there), with the store's migrations."""

from setuptools import find_namespace_packages, setup

setup(
    packages=[*find_namespace_packages(include=["compstat*"], exclude=["*.__pycache__"]), "compstat.templates"],
    package_dir={"compstat.templates": "templates"},
    package_data={"compstat.store.migrations": ["*.mako"], "compstat.templates": ["*.html", "*.css", "*.md", "web/*.html", "web/static/*", "public/*.html", "public/*.css"]},
)
