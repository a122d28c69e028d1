"""Speech, language and embedding engines, one module per provider, found by name in ``registry``."""
