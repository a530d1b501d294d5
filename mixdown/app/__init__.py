"""The studio: a local web app over the library (``mixdown serve``): upload stems, mix, adjust, compare,
download, and run listening tests. See docs/studio.md."""
