"""Pure parsers: EDGAR bytes in, rows out. No file or network I/O happens in this package."""
