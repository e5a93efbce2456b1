version: str
__version__: str
