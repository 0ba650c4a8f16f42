"""Built-in extractors: one module per family, each registering itself with ``@register``."""
