from .light_siamese import LightSiamese

__all__ = ['LightSiamese']
